package conf

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// MaxDocumentSize bounds an OpenAPI document, in bytes.
const MaxDocumentSize = 4 << 20

// ImportOpenAPI loads an OpenAPI 3 document (JSON or YAML) with kin-openapi,
// validates it, and returns its endpoints: one per operation, with the
// operation's method and its path where every "{parameter}" is replaced by
// "*" (as X-Road does), so "/persons/{id}" becomes "/persons/*" and
// "/files/{name}.pdf" becomes "/files/*.pdf". A literal "*" or backslash in
// a path is escaped. Endpoints are sorted by path, then method; servers are
// ignored (paths are relative to the service's URL).
//
// A document that does not load or validate, refers to anything outside
// itself (external references are refused, so nothing is fetched), is
// larger than MaxDocumentSize, or yields a path that is not a valid endpoint
// path is refused with an error wrapping ErrInvalid that gives the reason.
func ImportOpenAPI(ctx context.Context, doc []byte) ([]EndpointSpec, error) {
	if len(doc) == 0 {
		return nil, fmt.Errorf("%w: the OpenAPI document is empty", ErrInvalid)
	}
	if len(doc) > MaxDocumentSize {
		return nil, fmt.Errorf("%w: the OpenAPI document is larger than %d bytes", ErrInvalid, MaxDocumentSize)
	}
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	loader.Context = ctx
	d, err := loader.LoadFromData(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: the OpenAPI document does not load: %w", ErrInvalid, err)
	}
	if !strings.HasPrefix(d.OpenAPI, "3.") {
		return nil, fmt.Errorf("%w: the document is not OpenAPI 3 (openapi: %q)", ErrInvalid, d.OpenAPI)
	}
	if err := d.Validate(ctx); err != nil {
		return nil, fmt.Errorf("%w: the OpenAPI document is not valid: %w", ErrInvalid, err)
	}
	out := []EndpointSpec{}
	if d.Paths == nil {
		return out, nil
	}
	for path, item := range d.Paths.Map() {
		if item == nil {
			continue
		}
		pattern := openAPIPathPattern(path)
		if err := checkEndpointPath(pattern); err != nil {
			return nil, fmt.Errorf("OpenAPI path %q: %w", path, err)
		}
		for method := range item.Operations() {
			m := strings.ToUpper(method)
			if !isEndpointMethod(m) || m == AnyMethod {
				return nil, fmt.Errorf("%w: OpenAPI path %q: method %q not supported", ErrInvalid, path, method)
			}
			out = append(out, EndpointSpec{Method: m, Path: pattern})
		}
	}
	slices.SortFunc(out, compareEndpoints)
	return slices.Compact(out), nil
}

// compareEndpoints orders endpoints by path, then method.
func compareEndpoints(a, b EndpointSpec) int {
	return cmp.Or(strings.Compare(a.Path, b.Path), strings.Compare(a.Method, b.Method))
}

// openAPIPathPattern turns an OpenAPI path template into an endpoint path
// pattern: "{…}" becomes "*", and literal "*" and "\" are escaped.
func openAPIPathPattern(path string) string {
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '{':
			if j := strings.IndexByte(path[i:], '}'); j > 0 {
				b.WriteByte('*')
				i += j
				continue
			}
			b.WriteByte(c)
		case '*', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
