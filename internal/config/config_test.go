package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type sample struct {
	Name  string        `yaml:"name"`
	Every time.Duration `yaml:"every"`
}

func (s *sample) Validate() error {
	if s.Name == "" {
		return errors.New("name is required")
	}
	return nil
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"ok", "name: a\nevery: 90s\n", ""},
		{"unknown field", "name: a\nevry: 90s\n", "evry"},
		{"validation", "every: 1m\n", "name is required"},
		{"bad duration", "name: a\nevery: soon\n", "time.Duration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s sample
			err := Decode([]byte(tc.in), &s)
			if tc.wantErr == "" {
				if err != nil || s.Every != 90*time.Second {
					t.Fatalf("got %+v, %v", s, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestWriteLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	in := sample{Name: "x", Every: time.Minute}
	if err := Write(p, &in); err != nil {
		t.Fatal(err)
	}
	var out sample
	if err := Load(p, &out); err != nil || out != in {
		t.Fatalf("got %+v, %v", out, err)
	}
}
