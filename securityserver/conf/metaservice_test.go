package conf_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares v, encoded as the metaservices encode it (indented for
// reading), with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n%s", name, got)
	}
}

func TestMetaservices(t *testing.T) {
	v := loadFixture(t)
	groups := memberships{citizens: {moh.Subsystem("hospitals")}}
	for _, tc := range []struct {
		file string
		list []conf.ServiceEntry
	}{
		{"listMethods-civil.golden.json", v.ListMethods(civil)},
		{"listMethods-archive.golden.json", v.ListMethods(archive)},
		{"listMethods-unknown.golden.json", v.ListMethods(moi.Subsystem("nope"))},
		// tax: the whole of persons, births and deaths.
		{"allowedMethods-civil-tax.golden.json", v.AllowedMethods(civil, tax, groups)},
		// clinics: GET /persons/* only; it lists the endpoint of that name.
		{"allowedMethods-civil-clinics.golden.json", v.AllowedMethods(civil, clinics, groups)},
		// the member MOF: GET /persons/*/addresses and POST /persons.
		{"allowedMethods-civil-mof.golden.json", v.AllowedMethods(civil, mof.Client(), groups)},
		// customs, through local group partners: DELETE /persons/*.
		{"allowedMethods-civil-customs.golden.json", v.AllowedMethods(civil, customs, groups)},
		// hospitals, through global group citizens: all of persons.
		{"allowedMethods-civil-hospitals.golden.json", v.AllowedMethods(civil, moh.Subsystem("hospitals"), groups)},
		{"allowedMethods-civil-nobody.golden.json", v.AllowedMethods(civil, moh.Subsystem("pharmacies"), groups)},
	} {
		t.Run(tc.file, func(t *testing.T) {
			golden(t, tc.file, conf.ServiceList{Service: tc.list})
		})
	}
}

// TestServiceListShape checks the exact JSON of one entry against the shape
// of xroad-reference.md and PR-MREST Annex B.
func TestServiceListShape(t *testing.T) {
	got, err := json.Marshal(conf.ServiceList{Service: []conf.ServiceEntry{{
		XRoadInstance: "PS", MemberClass: "GOV", MemberCode: "MOI", SubsystemCode: "civil-registry",
		ServiceCode: "persons", ServiceType: conf.DescriptionOpenAPI, ObjectType: xroad.TypeService,
		EndpointList: []conf.EndpointEntry{{Method: "GET", Path: "/persons/*"}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"service":[{"xroad_instance":"PS","member_class":"GOV","member_code":"MOI","subsystem_code":"civil-registry","service_code":"persons","service_type":"OPENAPI","object_type":"SERVICE","endpoint_list":[{"method":"GET","path":"/persons/*"}]}]}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestOpenAPI(t *testing.T) {
	v := loadFixture(t)
	want, err := os.ReadFile(filepath.Join("testdata", "persons.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := v.OpenAPI(civil, "persons")
	if err != nil || !bytes.Equal(doc, want) {
		t.Fatalf("OpenAPI(civil, persons) = %d bytes, %v", len(doc), err)
	}
	doc[0] = 'X' // a copy: the View keeps its own
	if again, _ := v.OpenAPI(civil, "persons"); !bytes.Equal(again, want) {
		t.Error("modifying the returned document changed the View")
	}
	if _, err := v.OpenAPI(civil, "births"); !errors.Is(err, conf.ErrInvalid) {
		t.Errorf("REST service: %v, want ErrInvalid", err)
	}
	if _, err := v.OpenAPI(civil, "nope"); !errors.Is(err, conf.ErrNotFound) {
		t.Errorf("unknown service: %v, want ErrNotFound", err)
	}
	if _, err := v.OpenAPI(tax, "persons"); !errors.Is(err, conf.ErrNotFound) {
		t.Errorf("unknown provider: %v, want ErrNotFound", err)
	}
}
