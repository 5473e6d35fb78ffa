package conf_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jisr-bus/jisr/securityserver/conf"
)

func TestImportOpenAPI(t *testing.T) {
	yamlDoc, err := os.ReadFile(filepath.Join("testdata", "persons.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	jsonDoc := `{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{
		"/a/{x}/b/{y}":{"put":{"responses":{"200":{"description":"ok"}}},
			"parameters":[{"name":"x","in":"path","required":true,"schema":{"type":"string"}},
				{"name":"y","in":"path","required":true,"schema":{"type":"string"}}]},
		"/star*":{"options":{"responses":{"200":{"description":"ok"}}}}}}`
	ep := func(m, p string) conf.EndpointSpec { return conf.EndpointSpec{Method: m, Path: p} }
	for _, tc := range []struct {
		name string
		doc  []byte
		want []conf.EndpointSpec
	}{
		{"YAML", yamlDoc, []conf.EndpointSpec{
			ep("GET", "/files/*.pdf"),
			ep("GET", "/persons"), ep("POST", "/persons"),
			ep("DELETE", "/persons/*"), ep("GET", "/persons/*"),
			ep("GET", "/persons/*/addresses"),
		}},
		{"JSON, 3.1, literal star escaped", []byte(jsonDoc), []conf.EndpointSpec{ep("PUT", "/a/*/b/*"), ep("OPTIONS", `/star\*`)}},
		{"no paths", []byte("openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n"), []conf.EndpointSpec{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := conf.ImportOpenAPI(t.Context(), tc.doc)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestImportOpenAPIRefuses(t *testing.T) {
	const info = "info: {title: t, version: '1'}\n"
	op := "{responses: {'200': {description: ok}}}"
	for _, tc := range []struct {
		name   string
		doc    string
		reason string // a substring of the error
	}{
		{"empty", "", "empty"},
		{"not YAML or JSON", "{{{", "does not load"},
		{"Swagger 2", "swagger: '2.0'\n" + info + "paths: {}\n", "not OpenAPI 3"},
		{"no info", "openapi: 3.0.3\npaths: {}\n", "not valid"},
		{"undeclared path parameter", "openapi: 3.0.3\n" + info + "paths:\n  /a/{id}:\n    get: " + op + "\n", "not valid"},
		{"path without slash", "openapi: 3.0.3\n" + info + "paths:\n  a:\n    get: " + op + "\n", "not valid"},
		{"response without description", "openapi: 3.0.3\n" + info + "paths:\n  /a:\n    get: {responses: {'200': {}}}\n", "not valid"},
		{"external reference", "openapi: 3.0.3\n" + info + "paths:\n  /a:\n    $ref: 'https://example.org/a.yaml'\n", "load"},
		{"too large", "openapi: 3.0.3\n" + info + "paths: {}\n#" + strings.Repeat("x", conf.MaxDocumentSize), "larger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := conf.ImportOpenAPI(t.Context(), []byte(tc.doc))
			if !errors.Is(err, conf.ErrInvalid) {
				t.Fatalf("error %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not give the reason %q", err, tc.reason)
			}
		})
	}
}
