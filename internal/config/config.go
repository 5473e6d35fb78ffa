// Package config loads jisr's YAML configuration files strictly: unknown
// fields are an error, so a typo never silently falls back to a default.
// Secrets never live in these files; they are referenced by file path or
// environment variable name and read by the component that needs them.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// Validator is implemented by configuration structs that can check
// themselves after loading (and fill in defaults).
type Validator interface {
	Validate() error
}

// Load reads path into v, rejecting unknown fields, then calls v.Validate if
// v implements Validator.
func Load(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := Decode(b, v); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// Decode parses YAML bytes into v strictly and validates it.
func Decode(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if val, ok := v.(Validator); ok {
		if err := val.Validate(); err != nil {
			return fmt.Errorf("invalid configuration: %w", err)
		}
	}
	return nil
}

// Write marshals v as YAML to path with mode 0600, atomically.
func Write(path string, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// DecodeOnly parses YAML bytes into v strictly (unknown fields rejected)
// without validating, for callers that must adjust v (resolve paths) first.
func DecodeOnly(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// AbsPath makes a command-line path absolute ("" stays ""), so that files
// written into a configuration keep working from another directory.
func AbsPath(p string) string {
	if p == "" {
		return ""
	}
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}
