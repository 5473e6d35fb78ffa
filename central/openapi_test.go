package central

import (
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"
)

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPI())
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
		out = append(out, Role(s))
	}
	return out
}

// TestOpenAPIMatchesRoutes checks that the description is valid OpenAPI 3,
// that every chi route is an operation of the description and every
// operation a route, and that each operation's x-roles and operationId are
// those of the route table.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newTestEnv(t)
	// With health and metrics handlers, as the Service mounts them.
	api, err := NewAPI(APIConfig{Store: e.store, Publisher: e.pub, Health: http.NotFoundHandler(), Metrics: http.NotFoundHandler()})
	if err != nil {
		t.Fatal(err)
	}
	doc := loadSpec(t)

	routes := map[string]bool{}
	err = chi.Walk(api.Handler().(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
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

	t.Run("roles and ids", func(t *testing.T) {
		for _, op := range api.ops {
			key := op.method + " " + APIPrefix + op.pattern
			t.Run(key, func(t *testing.T) {
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
				if (op.action != "") != (op.method != http.MethodGet) {
					t.Errorf("audit action %q for a %s", op.action, op.method)
				}
				if op.method != http.MethodGet && so.Responses.Value("403") == nil {
					t.Error("write without a documented 403")
				}
			})
		}
	})
	t.Run("public routes", func(t *testing.T) {
		for _, key := range []string{"GET /openapi.yaml", "GET /healthz", "GET /metrics"} {
			so := specOps[key]
			if so == nil {
				t.Errorf("%s not in the description", key)
				continue
			}
			if roles := specRoles(t, so); len(roles) != 0 {
				t.Errorf("%s: x-roles %v, want none (public)", key, roles)
			}
		}
	})
}
