package admin

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/go-chi/chi/v5"
)

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI())
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(t.Context()); err != nil {
		t.Fatalf("openapi.yaml does not validate: %v", err)
	}
	return doc
}

// specRoles returns an operation's x-roles.
func specRoles(t *testing.T, op *openapi3.Operation) []Role {
	t.Helper()
	raw, ok := op.Extensions["x-roles"]
	if !ok {
		t.Fatalf("operation %s has no x-roles", op.OperationID)
	}
	list, ok := raw.([]any)
	if !ok {
		t.Fatalf("operation %s: x-roles is %T, want a list", op.OperationID, raw)
	}
	out := []Role{}
	for _, r := range list {
		s, ok := r.(string)
		if !ok {
			t.Fatalf("operation %s: x-roles holds %T", op.OperationID, r)
		}
		if _, err := ParseRole(s); err != nil {
			t.Fatalf("operation %s: %v", op.OperationID, err)
		}
		out = append(out, Role(s))
	}
	return out
}

// TestOpenAPIMatchesRoutes checks that the description is valid OpenAPI 3,
// that every chi route is an operation of the description and every
// operation a route, and that each operation's x-roles and operationId are
// those of the route table; that writes and message-log reads, and only
// they, are audited; and that every operation documents 401 and 403.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newTestEnv(t)
	doc := loadSpec(t)

	routes := map[string]bool{}
	err := chi.Walk(e.api.Handler().(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routes[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	specOps := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			specOps[strings.ToUpper(method)+" "+path] = op
		}
	}
	var missingInSpec, missingInRouter []string
	for r := range routes {
		if specOps[r] == nil {
			missingInSpec = append(missingInSpec, r)
		}
	}
	for r := range specOps {
		if !routes[r] {
			missingInRouter = append(missingInRouter, r)
		}
	}
	sort.Strings(missingInSpec)
	sort.Strings(missingInRouter)
	if len(missingInSpec) > 0 {
		t.Errorf("routes missing from openapi.yaml: %v", missingInSpec)
	}
	if len(missingInRouter) > 0 {
		t.Errorf("openapi.yaml operations without a route: %v", missingInRouter)
	}

	ids := map[string]bool{}
	for _, op := range e.api.ops {
		key := op.method + " " + APIPrefix + op.pattern
		t.Run(key, func(t *testing.T) {
			if ids[op.id] {
				t.Errorf("operation id %s used twice", op.id)
			}
			ids[op.id] = true
			so := specOps[key]
			if so == nil {
				t.Fatal("not in the description")
			}
			if so.OperationID != op.id {
				t.Errorf("operationId %q, route table says %q", so.OperationID, op.id)
			}
			got, want := specRoles(t, so), slices.Clone(op.roles)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("x-roles %v, route table enforces %v", got, want)
			}
			audited := op.method != http.MethodGet || slices.Equal(op.roles, auditors())
			if (op.action != "") != audited {
				t.Errorf("audit action %q for a %s by %v", op.action, op.method, op.roles)
			}
			for _, code := range []string{"401", "403"} {
				if so.Responses.Value(code) == nil {
					t.Errorf("no documented %s", code)
				}
			}
			if op.action != "" && so.Responses.Value("503") == nil {
				t.Error("an audited operation without a documented 503 (audit trail unavailable)")
			}
			if slices.Contains(op.roles, RoleAuditor) && len(op.roles) != 1 {
				t.Error("AUDITOR shares an operation with another role")
			}
		})
	}
	t.Run("public description", func(t *testing.T) {
		so := specOps["GET "+OpenAPIPath]
		if so == nil {
			t.Fatalf("%s not in the description", OpenAPIPath)
		}
		if roles := specRoles(t, so); len(roles) != 0 {
			t.Errorf("x-roles %v, want none (public)", roles)
		}
		resp, body := e.do(http.MethodGet, OpenAPIPath, "", nil)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, OpenAPI()) {
			t.Errorf("GET %s: %d, %d bytes", OpenAPIPath, resp.StatusCode, len(body))
		}
	})
}

// specValidator checks requests and responses against openapi.yaml.
type specValidator struct {
	router routers.Router
}

func newSpecValidator(t *testing.T) *specValidator {
	t.Helper()
	doc := loadSpec(t)
	// Route by path only: the servers entry names the default listener.
	doc.Servers = nil
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &specValidator{router: r}
}

// check validates one exchange: the response's status must be documented
// and its body must fit the documented schema.
func (v *specValidator) check(t *testing.T, method, path string, reqBody []byte, resp *http.Response, body []byte) {
	t.Helper()
	req, err := http.NewRequest(method, path, bytes.NewReader(reqBody))
	if err != nil {
		t.Fatal(err)
	}
	if reqBody != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s: not in the description: %v", method, path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	// Bodies other than JSON (documents, evidence files) are checked by
	// the tests that fetch them.
	opts := &openapi3filter.Options{IncludeResponseStatus: true,
		ExcludeResponseBody: !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json")}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: opts}
	if err := openapi3filter.ValidateResponse(t.Context(), out); err != nil {
		t.Errorf("%s %s → %d does not fit openapi.yaml: %v\nbody: %s", method, path, resp.StatusCode, err, body)
	}
}
