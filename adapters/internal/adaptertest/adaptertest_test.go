package adaptertest

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

const spec = `openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /thing:
    get:
      operationId: getThing
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                type: object
                additionalProperties: false
                required: [id]
                properties:
                  id: {type: string}
`

// TestValidateResponse: the client's check against the description is not
// vacuous — an answer with an undocumented status, a wrong body or a wrong
// media type is reported.
func TestValidateResponse(t *testing.T) {
	for _, tc := range []struct {
		name, body, ct string
		status         int
		ok             bool
	}{
		{"documented", `{"id":"x"}`, "application/json", 200, true},
		{"missing member", `{}`, "application/json", 200, false},
		{"extra member", `{"id":"x","secret":1}`, "application/json", 200, false},
		{"wrong type", `{"id":5}`, "application/json", 200, false},
		{"undocumented status", `{"id":"x"}`, "application/json", 500, false},
		{"undocumented media type", `id=x`, "text/plain", 200, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tc.ct)
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})
			c := NewClient(t, h, []byte(spec))
			req := httptest.NewRequest("GET", "/thing", nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			err := c.validateResponse(req, nil, &Response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()})
			if (err == nil) != tc.ok {
				t.Fatalf("validateResponse = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
