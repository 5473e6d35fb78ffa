// Package logx builds the slog loggers jisr's commands use: JSON for
// production (the default), text for the demo and terminals.
package logx

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/pflag"
)

// New returns a logger writing to w in format "json" or "text" at level
// "debug", "info", "warn" or "error".
func New(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json", "":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want json or text", format)
}

// Flags are the --log-format and --log-level flags every serving command
// takes.
type Flags struct {
	Format, Level string
}

// Register adds the flags to fs with the defaults given.
func (f *Flags) Register(fs *pflag.FlagSet, format, level string) {
	fs.StringVar(&f.Format, "log-format", format, "log format: json or text")
	fs.StringVar(&f.Level, "log-level", level, "log level: debug, info, warn, error")
}

// New returns the logger the flags ask for, writing to w.
func (f *Flags) New(w io.Writer) (*slog.Logger, error) { return New(w, f.Format, f.Level) }
