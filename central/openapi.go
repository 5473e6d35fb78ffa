package central

import (
	"bytes"
	_ "embed"
)

//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns the OpenAPI 3 description of the admin API (a copy; the
// embedded bytes stay unchanged).
func OpenAPI() []byte { return bytes.Clone(openAPI) }
