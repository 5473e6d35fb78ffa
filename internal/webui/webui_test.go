package webui

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
)

var t0 = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

func identify(context.Context, string) (Identity, error) { return Identity{Name: "k"}, nil }

func config(pages fstest.MapFS, text map[string]string) Config {
	return Config{Product: "Test", CookieName: "jisr-test", API: http.NotFoundHandler(), APIPrefix: "/api/v1",
		Identify: identify, Pages: pages, Text: text, Nav: []NavItem{{Path: Prefix + "/a", Text: "nav.a"}}}
}

// TestNewChecksTemplates: a page naming a text key missing from the
// catalogue, a page without content, a navigation entry without text and
// a bad cookie name are refused when the console is built, not when the
// page is shown.
func TestNewChecksTemplates(t *testing.T) {
	good := fstest.MapFS{"a.html": {Data: []byte(`{{define "content"}}{{t "a.title"}}{{if .Can "X"}}{{range .Nav}}{{t "a.inner"}}{{end}}{{end}}{{end}}`)}}
	text := map[string]string{"nav.a": "A", "a.title": "Title", "a.inner": "Inner"}
	if _, err := New(config(good, text)); err != nil {
		t.Fatalf("good console: %v", err)
	}
	for name, tc := range map[string]struct {
		pages  fstest.MapFS
		text   map[string]string
		cookie string
		want   string
	}{
		"missing key":        {good, map[string]string{"nav.a": "A", "a.title": "Title"}, "", "a.inner"},
		"no content":         {fstest.MapFS{"a.html": {Data: []byte(`{{define "other"}}x{{end}}`)}}, text, "", "defines no content"},
		"nav without text":   {good, map[string]string{"a.title": "Title", "a.inner": "Inner"}, "", `no text "nav.a"`},
		"page shadows login": {fstest.MapFS{"login.html": {Data: []byte(`{{define "content"}}x{{end}}`)}}, text, "", "defined twice"},
		"cookie name":        {good, text, "bad name;", "cookie name"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := config(tc.pages, tc.text)
			if tc.cookie != "" {
				cfg.CookieName = tc.cookie
			}
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
		})
	}
}

// TestSessions: sessions end after the idle timeout, at their absolute
// end (the key's expiry when sooner), when dropped; a full store evicts
// the expired first, then the least recently used.
func TestSessions(t *testing.T) {
	clk := clock.NewFake(t0)
	s := newSessions(clk, 30*time.Minute, 8*time.Hour, 3)

	a, sa := s.create("secret-a", Identity{Name: "a"})
	if a == "secret-a" || strings.Contains(a, "secret") || sa.csrf == "" || len(a) < 40 {
		t.Fatalf("cookie %q, csrf %q", a, sa.csrf)
	}
	if got, ok := s.get(a); !ok || got.secret != "secret-a" {
		t.Fatal("fresh session not found")
	}
	clk.Add(29 * time.Minute)
	if _, ok := s.get(a); !ok {
		t.Fatal("session ended before its idle timeout")
	}
	clk.Add(29 * time.Minute) // used 29 minutes ago: still alive
	if _, ok := s.get(a); !ok {
		t.Fatal("a used session ended")
	}
	clk.Add(30 * time.Minute)
	if _, ok := s.get(a); ok {
		t.Fatal("idle session still alive")
	}

	b, _ := s.create("secret-b", Identity{Name: "b", ExpiresAt: clk.Now().Add(10 * time.Minute)})
	clk.Add(10 * time.Minute)
	if _, ok := s.get(b); ok {
		t.Fatal("session outlived its key")
	}

	c, _ := s.create("c", Identity{})
	end := clk.Now().Add(8 * time.Hour)
	for clk.Add(20 * time.Minute); clk.Now().Before(end); clk.Add(20 * time.Minute) {
		if _, ok := s.get(c); !ok {
			t.Fatalf("a session in use ended at %s, before its lifetime", clk.Now())
		}
	}
	if _, ok := s.get(c); ok {
		t.Fatal("session outlived its lifetime")
	}

	// Eviction.
	clk.Add(time.Hour)
	x, _ := s.create("x", Identity{})
	clk.Add(time.Minute)
	y, _ := s.create("y", Identity{})
	clk.Add(time.Minute)
	z, _ := s.create("z", Identity{})
	clk.Add(time.Minute)
	if _, ok := s.get(x); !ok { // x is now the most recently used
		t.Fatal("x missing")
	}
	w, _ := s.create("w", Identity{})
	if _, ok := s.get(y); ok {
		t.Error("the least recently used session survived a full store")
	}
	for _, k := range []string{x, z, w} {
		if _, ok := s.get(k); !ok {
			t.Errorf("session %q evicted", k)
		}
	}
	if n := s.len(); n != 3 {
		t.Errorf("%d sessions, want 3", n)
	}

	s.setFlash(w, "done")
	if f := s.takeFlash(w); f != "done" {
		t.Errorf("flash %q", f)
	}
	if f := s.takeFlash(w); f != "" {
		t.Errorf("flash shown twice: %q", f)
	}
	s.drop(w)
	if _, ok := s.get(w); ok {
		t.Error("dropped session alive")
	}
}

// TestAnswerError: an API's X-Road style error body becomes the error the
// console shows; an answer without one keeps its status.
func TestAnswerError(t *testing.T) {
	e := answerError(Answer{Status: 403, Header: http.Header{}, Body: []byte(`{"type":"Client.AccessDenied","message":"no","detail":"d"}`)})
	if e.Status != 403 || e.Code != "Client.AccessDenied" || e.Message != "no" || e.Detail != "d" {
		t.Errorf("%+v", e)
	}
	e = answerError(Answer{Status: 502, Header: http.Header{"X-Road-Error": {"Server.X"}}, Body: []byte("<html>")})
	if e.Status != 502 || e.Code != "Server.X" || e.Message != "Bad Gateway" {
		t.Errorf("%+v", e)
	}
}
