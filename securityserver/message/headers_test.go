package message

import (
	"net/http"
	"reflect"
	"testing"
)

func TestEndToEnd(t *testing.T) {
	for name, want := range map[string]bool{
		"Accept": true, "authorization": true, "Content-Type": true, "Cookie": true, "X-Forwarded-For": true,
		"Forwarded": true, "Date": true, "X-Custom_Header": true,
		"Connection": false, "keep-alive": false, "Proxy-Authorization": false, "proxy-connection": false,
		"TE": false, "Trailer": false, "Transfer-Encoding": false, "Upgrade": false, "HTTP2-Settings": false,
		"Host": false, "Content-Length": false, "User-Agent": false, "Server": false, "Expect": false,
		"X-Road-Client": false, "x-road-request-hash": false, "X-Road-Error": false, "X-Jisr-Signature": false,
		"": false, "Bad Name": false, ":path": false, "Ünicode": false,
	} {
		if got := EndToEnd(name); got != want {
			t.Errorf("EndToEnd(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestFilterHeaders(t *testing.T) {
	tests := []struct {
		name string
		in   http.Header
		want http.Header
	}{
		{"nil", nil, http.Header{}},
		{"hop-by-hop and bus headers dropped", http.Header{
			"Accept": {"a"}, "Connection": {"close"}, "Host": {"x"}, "User-Agent": {"ua"},
			"X-Road-Client": {"PS/GOV/MOI"}, "X-Jisr-Id": {"1"}, "Content-Length": {"3"},
		}, http.Header{"Accept": {"a"}}},
		{"Connection-nominated dropped", http.Header{
			"Connection": {"X-Secret, keep-alive"}, "X-Secret": {"s"}, "X-Public": {"p"},
		}, http.Header{"X-Public": {"p"}}},
		{"names canonicalised, spellings merged in byte order, values in order", http.Header{
			"x-a": {"3"}, "X-A": {"1", "2"}, "accept": {"a"},
		}, http.Header{"X-A": {"1", "2", "3"}, "Accept": {"a"}}},
		{"white space trimmed", http.Header{"X-A": {"  v w\t"}}, http.Header{"X-A": {"v w"}}},
		{"cookies joined as HTTP/2 does", http.Header{"Cookie": {"a=1;b=2", "c=3; ", " d=4"}},
			http.Header{"Cookie": {"a=1; b=2; c=3; d=4"}}},
		{"empty cookie dropped", http.Header{"Cookie": {""}}, http.Header{}},
		{"empty value kept", http.Header{"X-Empty": {""}}, http.Header{"X-Empty": {""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FilterHeaders(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			if again := FilterHeaders(got); !reflect.DeepEqual(again, got) {
				t.Fatalf("not idempotent: %v → %v", got, again)
			}
		})
	}
}

func TestCheckHeaders(t *testing.T) {
	for name, h := range map[string]http.Header{
		"non-canonical name":   {"accept": {"a"}},
		"hop-by-hop":           {"Connection": {"close"}},
		"no values":            {"Accept": {}},
		"control character":    {"Accept": {"a\x00b"}},
		"newline":              {"Accept": {"a\nb"}},
		"invalid UTF-8":        {"Accept": {"\xff"}},
		"trailing space":       {"Accept": {"a "}},
		"cookie not joined":    {"Cookie": {"a=1", "b=2"}},
		"cookie not canonical": {"Cookie": {"a=1;b=2"}},
		"too many values":      {"Accept": make([]string, MaxHeaderValues+1)},
	} {
		if err := checkHeaders(h); err == nil {
			t.Errorf("%s: accepted %v", name, h)
		}
	}
	if err := checkHeaders(http.Header{"Accept": {"a\tb", "ünïcode"}, "Cookie": {"a=1; b=2"}}); err != nil {
		t.Errorf("refused valid headers: %v", err)
	}
}
