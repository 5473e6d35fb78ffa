package mgmtproto_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jisr-bus/jisr/internal/mgmtproto"
	"github.com/jisr-bus/jisr/internal/xroad"
)

var allTypes = []mgmtproto.Type{
	mgmtproto.TypeAuthCertRegistration, mgmtproto.TypeClientRegistration, mgmtproto.TypeClientDeletion,
	mgmtproto.TypeAddressChange, mgmtproto.TypeMaintenanceOn, mgmtproto.TypeMaintenanceOff,
	mgmtproto.TypeServiceDescriptionPublish,
}

func TestPayloadRoundTrip(t *testing.T) {
	f := newFixture(t)
	for _, typ := range allTypes {
		t.Run(string(typ), func(t *testing.T) {
			r := request(typ, f.auth.Cert.Raw)
			b, err := mgmtproto.MarshalPayload(&r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := mgmtproto.ParsePayload(b)
			if err != nil {
				t.Fatalf("ParsePayload(%s): %v", b, err)
			}
			if !reflect.DeepEqual(*got, r) {
				t.Errorf("round trip:\n got %+v\nwant %+v", *got, r)
			}
			again, _ := mgmtproto.MarshalPayload(got)
			if !bytes.Equal(again, b) {
				t.Errorf("re-encoding differs:\n%s\n%s", again, b)
			}
		})
	}
}

func TestPayloadGolden(t *testing.T) {
	r := mgmtproto.Request{
		ID: "0f8fad5b-d9cb-469f-a165-70867728950e", Type: mgmtproto.TypeClientRegistration,
		Server: ss1, Client: civil, CreatedAt: now.Add(999 * time.Millisecond),
	}
	b, err := mgmtproto.MarshalPayload(&r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schema":"jisr.mgmt/v1","id":"0f8fad5b-d9cb-469f-a165-70867728950e","type":"clientRegistration",` +
		`"server":"PS/GOV/MOI/ss1","client":"PS/GOV/MOI/civil-registry","createdAt":"2026-05-01T10:00:00Z"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestValidateRefuses(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		typ    mgmtproto.Type
		mutate func(*mgmtproto.Request)
	}{
		{"bad id", mgmtproto.TypeMaintenanceOn, func(r *mgmtproto.Request) { r.ID = "not-a-uuid" }},
		{"upper-case id", mgmtproto.TypeMaintenanceOn, func(r *mgmtproto.Request) { r.ID = strings.ToUpper(mgmtproto.NewRequestID()) }},
		{"unknown type", mgmtproto.TypeMaintenanceOn, func(r *mgmtproto.Request) { r.Type = "memberDeletion" }},
		{"no server", mgmtproto.TypeMaintenanceOn, func(r *mgmtproto.Request) { r.Server = xroad.ServerID{} }},
		{"no createdAt", mgmtproto.TypeMaintenanceOn, func(r *mgmtproto.Request) { r.CreatedAt = time.Time{} }},
		{"client on server request", mgmtproto.TypeMaintenanceOn, func(r *mgmtproto.Request) { r.Client = civil }},
		{"client missing", mgmtproto.TypeClientRegistration, func(r *mgmtproto.Request) { r.Client = xroad.ClientID{} }},
		{"client of another instance", mgmtproto.TypeClientRegistration, func(r *mgmtproto.Request) { r.Client.Instance = "XX" }},
		{"no addresses", mgmtproto.TypeAddressChange, func(r *mgmtproto.Request) { r.Addresses = nil }},
		{"duplicate address", mgmtproto.TypeAddressChange, func(r *mgmtproto.Request) { r.Addresses = []string{"a:1", "a:1"} }},
		{"bad port", mgmtproto.TypeAddressChange, func(r *mgmtproto.Request) { r.Addresses = []string{"a:0"} }},
		{"url as address", mgmtproto.TypeAddressChange, func(r *mgmtproto.Request) { r.Addresses = []string{"https://a/"} }},
		{"addresses on maintenance", mgmtproto.TypeMaintenanceOff, func(r *mgmtproto.Request) { r.Addresses = []string{"a"} }},
		{"no auth cert", mgmtproto.TypeAuthCertRegistration, func(r *mgmtproto.Request) { r.AuthCert = nil }},
		{"garbage auth cert", mgmtproto.TypeAuthCertRegistration, func(r *mgmtproto.Request) { r.AuthCert = []byte{1, 2, 3} }},
		{"auth cert on address change", mgmtproto.TypeAddressChange, func(r *mgmtproto.Request) { r.AuthCert = f.auth.Cert.Raw }},
		{"no service description", mgmtproto.TypeServiceDescriptionPublish, func(r *mgmtproto.Request) { r.ServiceDescription = nil }},
		{"service of a member", mgmtproto.TypeServiceDescriptionPublish, func(r *mgmtproto.Request) {
			r.ServiceDescription.Service.Provider = moi.Client()
		}},
		{"unknown service type", mgmtproto.TypeServiceDescriptionPublish, func(r *mgmtproto.Request) { r.ServiceDescription.Type = "SOAP" }},
		{"openapi without document", mgmtproto.TypeServiceDescriptionPublish, func(r *mgmtproto.Request) { r.ServiceDescription.OpenAPI = "" }},
		{"rest with document", mgmtproto.TypeServiceDescriptionPublish, func(r *mgmtproto.Request) { r.ServiceDescription.Type = mgmtproto.ServiceREST }},
		{"no title", mgmtproto.TypeServiceDescriptionPublish, func(r *mgmtproto.Request) { r.ServiceDescription.Title = " " }},
		{"service description on maintenance", mgmtproto.TypeMaintenanceOn, func(r *mgmtproto.Request) {
			r.ServiceDescription = request(mgmtproto.TypeServiceDescriptionPublish, nil).ServiceDescription
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := request(tc.typ, f.auth.Cert.Raw)
			tc.mutate(&r)
			if err := r.Validate(); !errors.Is(err, mgmtproto.ErrMalformed) {
				t.Errorf("Validate: %v, want ErrMalformed", err)
			}
			if _, err := mgmtproto.MarshalPayload(&r); !errors.Is(err, mgmtproto.ErrMalformed) {
				t.Errorf("MarshalPayload: %v, want ErrMalformed", err)
			}
		})
	}
}

func TestParsePayloadRefusesNonCanonical(t *testing.T) {
	good := `{"schema":"jisr.mgmt/v1","id":"0f8fad5b-d9cb-469f-a165-70867728950e","type":"maintenanceOn","server":"PS/GOV/MOI/ss1","createdAt":"2026-05-01T10:00:00Z"}`
	if _, err := mgmtproto.ParsePayload([]byte(good)); err != nil {
		t.Fatalf("good payload refused: %v", err)
	}
	tests := map[string]string{
		"white space":       strings.Replace(good, `,"type"`, `, "type"`, 1),
		"member order":      strings.Replace(good, `"schema":"jisr.mgmt/v1","id":"0f8fad5b-d9cb-469f-a165-70867728950e"`, `"id":"0f8fad5b-d9cb-469f-a165-70867728950e","schema":"jisr.mgmt/v1"`, 1),
		"duplicate member":  strings.Replace(good, `"type":"maintenanceOn"`, `"type":"maintenanceOff","type":"maintenanceOn"`, 1),
		"unknown member":    strings.Replace(good, `}`, `,"extra":1}`, 1),
		"other schema":      strings.Replace(good, "jisr.mgmt/v1", "jisr.mgmt/v2", 1),
		"fractional time":   strings.Replace(good, "10:00:00Z", "10:00:00.5Z", 1),
		"offset time":       strings.Replace(good, "10:00:00Z", "12:00:00+02:00", 1),
		"empty addresses":   strings.Replace(good, `}`, `,"addresses":[]}`, 1),
		"trailing data":     good + " ",
		"escaped character": strings.Replace(good, `"maintenanceOn"`, `"maintenance\u004fn"`, 1),
		"not an object":     `[]`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := mgmtproto.ParsePayload([]byte(in)); !errors.Is(err, mgmtproto.ErrMalformed) {
				t.Errorf("ParsePayload(%s): %v, want ErrMalformed", in, err)
			}
		})
	}
}

func TestResponsibleMember(t *testing.T) {
	for _, tc := range []struct {
		typ  mgmtproto.Type
		edit func(*mgmtproto.Request)
		want xroad.MemberID
	}{
		{mgmtproto.TypeMaintenanceOn, nil, moi},
		{mgmtproto.TypeClientRegistration, func(r *mgmtproto.Request) { r.Client = tax }, mof},
		{mgmtproto.TypeClientDeletion, func(r *mgmtproto.Request) { r.Client = mof.Client() }, mof},
		{mgmtproto.TypeServiceDescriptionPublish, func(r *mgmtproto.Request) {
			r.ServiceDescription.Service.Provider = tax
		}, mof},
	} {
		r := request(tc.typ, nil)
		if tc.edit != nil {
			tc.edit(&r)
		}
		if got := r.ResponsibleMember(); got != tc.want {
			t.Errorf("%s: ResponsibleMember %s, want %s", tc.typ, got, tc.want)
		}
	}
}
