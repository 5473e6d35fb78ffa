package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServe(t *testing.T) {
	var bound Bound
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello") })
	go func() {
		done <- Serve(ctx, "test", slog.New(slog.DiscardHandler), &bound,
			[]Listener{{Name: "a", Addr: "127.0.0.1:0", Handler: h}, {Name: "b", Addr: "127.0.0.1:0", Handler: h}},
			func() { close(ready) })
	}()
	<-ready
	for _, name := range []string{"a", "b"} {
		resp, err := http.Get("http://" + bound.Addr(name))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "hello" {
			t.Fatalf("%s answered %q", name, b)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
}

func TestServeListenFailureOpensNothing(t *testing.T) {
	var bound Bound
	err := Serve(context.Background(), "test", slog.New(slog.DiscardHandler), &bound,
		[]Listener{{Name: "ok", Addr: "127.0.0.1:0", Handler: http.NotFoundHandler()}, {Name: "bad", Addr: "256.0.0.1:1", Handler: http.NotFoundHandler()}}, nil)
	if err == nil || !strings.Contains(err.Error(), "listen bad") {
		t.Fatalf("err = %v", err)
	}
	if bound.Addr("ok") != "" {
		t.Fatal("a listener was recorded although Serve failed")
	}
}

func TestHealth(t *testing.T) {
	tests := []struct {
		name     string
		errs     map[string]error
		wantCode int
	}{
		{"all pass", map[string]error{"db": nil, "key": nil}, http.StatusOK},
		{"one fails", map[string]error{"db": nil, "key": errors.New("no key")}, http.StatusServiceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHealth()
			for k, v := range tc.errs {
				h.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.Write(rec)
			if rec.Code != tc.wantCode || !strings.Contains(rec.Body.String(), `"db":"ok"`) {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
		})
	}
}
