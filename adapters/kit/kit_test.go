package kit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jisr-bus/jisr/internal/store"
	"github.com/jisr-bus/jisr/internal/store/storetest"
)

func forEachDatabase(t *testing.T, fn func(t *testing.T, db Database)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, Database{Driver: DriverSQLite, Path: storetest.SQLitePath(t)}) })
	t.Run("postgres", func(t *testing.T) { fn(t, Database{Driver: DriverPostgres, DSN: storetest.PostgresDSN(t)}) })
}

func testMigrations() fstest.MapFS {
	return fstest.MapFS{"00001_t.sql": {Data: []byte("-- +goose Up\nCREATE TABLE t_items (name TEXT PRIMARY KEY);\n-- +goose Down\nDROP TABLE t_items;\n")}}
}

func TestDatabaseValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		db Database
		ok bool
	}{
		"sqlite default":       {Database{Path: "/tmp/x.db"}, true},
		"sqlite without path":  {Database{Driver: DriverSQLite}, false},
		"sqlite with DSN":      {Database{Path: "/tmp/x.db", DSN: "postgres://"}, false},
		"postgres":             {Database{Driver: DriverPostgres, DSN: "postgres://h/db"}, true},
		"postgres without DSN": {Database{Driver: DriverPostgres}, false},
		"postgres with path":   {Database{Driver: DriverPostgres, DSN: "postgres://h/db", Path: "/x"}, false},
		"mysql":                {Database{Driver: "mysql", DSN: "x"}, false},
	} {
		if err := tc.db.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestStorage is the conformance test of kit's storage helpers on both
// databases: migrations, sequences without gaps or repeats under
// concurrency, and seeding exactly once.
func TestStorage(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, d Database) {
		ctx := t.Context()
		db, err := Open(ctx, d, testMigrations(), "t_schema_version")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		// Opening again is a no-op migration.
		db2, err := Open(ctx, d, testMigrations(), "t_schema_version")
		if err != nil {
			t.Fatal(err)
		}
		defer db2.Close()

		const n = 20
		got := make([]int64, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				err := store.InTx(ctx, db.SQL, nil, func(tx *sql.Tx) error {
					v, err := NextSequence(ctx, tx, "t.seq")
					got[i] = v
					return err
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		seen := map[int64]bool{}
		for _, v := range got {
			if v < 1 || v > n || seen[v] {
				t.Fatalf("sequence values %v: want 1..%d once each", got, n)
			}
			seen[v] = true
		}
		// A rolled-back transaction gives its number back.
		_ = store.InTx(ctx, db.SQL, nil, func(tx *sql.Tx) error {
			_, _ = NextSequence(ctx, tx, "t.seq")
			return errors.New("roll back")
		})
		if v, err := NextSequence(ctx, db.SQL, "t.seq"); err != nil || v != n+1 {
			t.Fatalf("after a rollback: %d %v", v, err)
		}

		loads := 0
		var mu sync.Mutex
		results := make([]bool, 4)
		for i := range results {
			wg.Go(func() {
				loaded, err := SeedOnce(ctx, []*DB{db, db2}[i%2], "t.seed", "v1", func(tx *sql.Tx) error {
					mu.Lock()
					loads++
					mu.Unlock()
					_, err := tx.ExecContext(ctx, `INSERT INTO t_items (name) VALUES ('a'), ('b')`)
					return err
				})
				if err != nil {
					t.Error(err)
				}
				results[i] = loaded
			})
		}
		wg.Wait()
		var count, trues int
		if err := db.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM t_items`).Scan(&count); err != nil || count != 2 {
			t.Fatalf("%d items after seeding four times at once (%v)", count, err)
		}
		for _, r := range results {
			if r {
				trues++
			}
		}
		if trues != 1 {
			t.Fatalf("%d calls report loading the seed, want 1", trues)
		}
		if v, ok, err := Meta(ctx, db.SQL, "t.seed"); err != nil || !ok || v != "v1" {
			t.Fatalf("meta %q %v %v", v, ok, err)
		}
		if err := SetMeta(ctx, db.SQL, "t.seed", "v2"); err != nil {
			t.Fatal(err)
		}
		if v, _, _ := Meta(ctx, db.SQL, "t.seed"); v != "v2" {
			t.Fatalf("meta after SetMeta %q", v)
		}
	})
}

const apiSpec = `openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /v1/items:
    post:
      operationId: addItem
      parameters:
        - {name: X-Road-UserId, in: header, required: true, schema: {type: string, pattern: '^[0-9]{9}$'}}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [name]
              properties:
                name: {type: string, maxLength: 10}
      responses:
        "201": {description: added}
        "400": {description: problem}
  /v1/items/{id}:
    get:
      operationId: getItem
      parameters:
        - {name: id, in: path, required: true, schema: {type: string, pattern: '^[a-z]+$'}}
      responses:
        "200": {description: item}
        "400": {description: problem}
  /v1/boom:
    get:
      operationId: boom
      responses:
        "500": {description: problem}
`

type apiEnv struct {
	api     *API
	reg     *prometheus.Registry
	log     *bytes.Buffer
	handled int
	health  error
}

func newAPI(t *testing.T) *apiEnv {
	t.Helper()
	e := &apiEnv{reg: prometheus.NewRegistry(), log: &bytes.Buffer{}}
	api, err := NewAPI(APIConfig{
		Name: "test", OpenAPI: []byte(apiSpec), Registerer: e.reg,
		Log:    slog.New(slog.NewJSONHandler(e.log, nil)),
		Health: func(context.Context) error { return e.health },
	})
	if err != nil {
		t.Fatal(err)
	}
	api.Router.Post("/v1/items", api.Handle(func(w http.ResponseWriter, r *http.Request) error {
		var v struct {
			Name string `json:"name"`
		}
		if err := DecodeJSON(r, &v); err != nil {
			return err
		}
		if v.Name == "taken" {
			return WithFields(Conflict("item %s exists", v.Name), map[string]any{"existing": []string{"taken"}, "status": 999})
		}
		if v.Name == "secret" {
			return errors.New("database password is hunter2")
		}
		e.handled++
		WriteJSON(w, http.StatusCreated, v)
		return nil
	}))
	api.Router.Get("/v1/items/{id}", api.Handle(func(w http.ResponseWriter, r *http.Request) error {
		e.handled++
		WriteJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
		return nil
	}))
	api.Router.Get("/v1/boom", func(http.ResponseWriter, *http.Request) { panic("bug: nil map") })
	e.api = api
	return e
}

func (e *apiEnv) do(method, path, body string, headers ...string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	e.api.Handler().ServeHTTP(rec, req)
	return rec
}

func problemOf(t *testing.T, rec *httptest.ResponseRecorder) Problem {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != ProblemMediaType {
		t.Fatalf("content type %q: %s", ct, rec.Body)
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Status != rec.Code || p.Type != ProblemTypePrefix+p.Code || !strings.HasPrefix(p.Instance, "urn:uuid:") || p.Title != http.StatusText(rec.Code) {
		t.Fatalf("malformed problem: %s", rec.Body)
	}
	return p
}

func TestAPI(t *testing.T) {
	e := newAPI(t)
	user := []string{HeaderUserID, "123456782"}
	for _, tc := range []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		code                     string
	}{
		{"valid", "POST", "/v1/items", `{"name":"pen"}`, user, 201, ""},
		{"missing header", "POST", "/v1/items", `{"name":"pen"}`, nil, 400, CodeBadRequest},
		{"header fails its pattern", "POST", "/v1/items", `{"name":"pen"}`, []string{HeaderUserID, "abc"}, 400, CodeBadRequest},
		{"unknown member", "POST", "/v1/items", `{"name":"pen","x":1}`, user, 400, CodeBadRequest},
		{"too long", "POST", "/v1/items", `{"name":"a very long name"}`, user, 400, CodeBadRequest},
		{"not JSON", "POST", "/v1/items", `{"name":`, user, 400, CodeBadRequest},
		{"no body", "POST", "/v1/items", ``, user, 400, CodeBadRequest},
		{"not JSON media type", "POST", "/v1/items", `{"name":"pen"}`, append([]string{"Content-Type", "text/plain"}, user...), 415, CodeUnsupportedMedia},
		{"too large", "POST", "/v1/items", `{"name":"` + strings.Repeat("x", MaxBodySize) + `"}`, user, 413, CodeTooLarge},
		{"path parameter fails its pattern", "GET", "/v1/items/ABC", ``, nil, 400, CodeBadRequest},
		{"path parameter", "GET", "/v1/items/abc", ``, nil, 200, ""},
		{"unknown path", "GET", "/v1/nothing", ``, nil, 404, CodeNotFound},
		{"method not allowed", "DELETE", "/v1/items/abc", ``, nil, 405, CodeMethodNotAllowed},
		{"business rule with fields", "POST", "/v1/items", `{"name":"taken"}`, user, 409, CodeConflict},
		{"internal error hides its cause", "POST", "/v1/items", `{"name":"secret"}`, user, 500, CodeInternal},
		{"panic", "GET", "/v1/boom", ``, nil, 500, CodeInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.handled
			rec := e.do(tc.method, tc.path, tc.body, tc.headers...)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.code == "" {
				if e.handled != before+1 {
					t.Fatal("handler not run")
				}
				return
			}
			p := problemOf(t, rec)
			if p.Code != tc.code {
				t.Fatalf("code %s, want %s", p.Code, tc.code)
			}
			if tc.status == 400 && e.handled != before {
				t.Fatal("an invalid request reached the handler")
			}
			if strings.Contains(rec.Body.String(), "hunter2") || strings.Contains(rec.Body.String(), "nil map") {
				t.Fatalf("internal cause leaked: %s", rec.Body)
			}
			if tc.name == "business rule with fields" {
				if p.Status != 409 || len(p.Fields) != 1 || p.Fields["existing"] == nil {
					t.Fatalf("fields %v (status must not be overridden)", p.Fields)
				}
			}
			if tc.status == 500 && !strings.Contains(e.log.String(), strings.TrimPrefix(p.Instance, "urn:uuid:")) {
				t.Fatal("the detail id of a 500 is not in the log")
			}
		})
	}
	if !strings.Contains(e.log.String(), "hunter2") || !strings.Contains(e.log.String(), "handler panicked") {
		t.Fatal("internal causes are not logged")
	}
	if strings.Contains(e.log.String(), "123456782") {
		t.Fatal("the citizen's national ID was logged")
	}
	if n := testutil.ToFloat64(e.api.metrics.requests.WithLabelValues("/v1/items/{id}", "GET", "200")); n != 1 {
		t.Fatalf("request counter %v", n)
	}

	t.Run("health", func(t *testing.T) {
		if rec := e.do("GET", "/healthz", ""); rec.Code != 200 {
			t.Fatalf("%d", rec.Code)
		}
		e.health = errors.New("database gone")
		if rec := e.do("GET", "/healthz", ""); rec.Code != 503 || strings.Contains(rec.Body.String(), "gone") {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("openapi", func(t *testing.T) {
		if rec := e.do("GET", "/openapi.yaml", ""); rec.Code != 200 || rec.Body.String() != apiSpec {
			t.Fatalf("%d", rec.Code)
		}
	})
}

func TestNewAPIRefusesInvalidDescription(t *testing.T) {
	for name, spec := range map[string]string{
		"not YAML":        "{",
		"no paths":        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\n",
		"bad reference":   "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /x:\n    get:\n      responses:\n        '200': {$ref: '#/components/responses/Nope'}\n",
		"bad schema type": "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /x:\n    get:\n      responses:\n        '200':\n          description: x\n          content:\n            application/json: {schema: {type: banana}}\n",
	} {
		if _, err := NewAPI(APIConfig{Name: "t", OpenAPI: []byte(spec)}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDecodeJSON(t *testing.T) {
	for _, tc := range []struct {
		name, ct, body string
		status         int
	}{
		{"ok", "application/json", `{"a":1}`, 0},
		{"charset", "application/json; charset=utf-8", `{"a":1}`, 0},
		{"wrong type", "text/plain", `{"a":1}`, 415},
		{"trailing", "application/json", `{"a":1} {"a":2}`, 400},
		{"unknown", "application/json", `{"a":1,"b":2}`, 400},
		{"wrong member type", "application/json", `{"a":"x"}`, 400},
	} {
		req := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.ct)
		var v struct {
			A int `json:"a"`
		}
		err := DecodeJSON(req, &v)
		if tc.status == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		xe := Errorf("", 0, nil, "")
		if !errors.As(err, &xe) || xe.HTTPStatus() != tc.status {
			t.Errorf("%s: %v, want status %d", tc.name, err, tc.status)
		}
	}
}

func TestRequester(t *testing.T) {
	for v, ok := range map[string]bool{"123456782": true, "PS123456782": true, "": false, "123456789": false, "PS/123456782": false, "EE123456782": false, "PSPS123456782": false} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set(HeaderUserID, v)
		id, err := Requester(req)
		if (err == nil) != ok || (ok && id.String() != strings.TrimPrefix(v, "PS")) {
			t.Errorf("Requester(%q) = %v, %v", v, id, err)
		}
	}
}

func TestPaymentError(t *testing.T) {
	refusal := PaymentError(&PaymentRefusal{Reason: "not paid"})
	if refusal.Status != 422 || !strings.Contains(refusal.Message, "not paid") {
		t.Fatalf("%+v", refusal)
	}
	down := PaymentError(errors.New("connection refused"))
	if down.Status != 503 || strings.Contains(down.Message, "refused") {
		t.Fatalf("%+v", down)
	}
}
