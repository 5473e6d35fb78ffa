package mgmtproto

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// Schema is the value of every payload's "schema" member. A payload with
// another schema is refused.
const Schema = "jisr.mgmt/v1"

// Size limits. A signed request larger than MaxSignedSize, or a payload
// larger than MaxPayloadSize, is refused before it is decoded.
const (
	// MaxPayloadSize bounds the JSON payload (an OpenAPI document included).
	MaxPayloadSize = 4 << 20
	// MaxSignedSize bounds the signed request: the base64url payload plus
	// two signatures with their certificate chains and OCSP responses.
	MaxSignedSize = MaxPayloadSize/3*4 + 4 + MaxSignatures*(maxHeaderSize+2048) + 256
	// MaxAddresses bounds Request.Addresses.
	MaxAddresses = 16
	// MaxTextSize bounds a service description's title and description.
	MaxTextSize = 4096
)

// ErrMalformed is wrapped by every error that reports a signed request or a
// payload that is not in the format docs/protocol.md describes (syntax, schema,
// canonical form, missing or superfluous members, size). Test with errors.Is.
var ErrMalformed = errors.New("mgmtproto: malformed management request")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Type is the kind of a management request. The values are X-Road's names
// and equal those of central/registry.RequestType.
type Type string

// The management request types.
const (
	// TypeAuthCertRegistration registers an authentication certificate for
	// a security server, registering the server itself (with Addresses) if
	// it is new.
	TypeAuthCertRegistration Type = "authCertRegistration"
	// TypeClientRegistration registers a client (member or subsystem) on a
	// security server; a subsystem that does not exist yet is created.
	TypeClientRegistration Type = "clientRegistration"
	// TypeClientDeletion unregisters a client from a security server.
	TypeClientDeletion Type = "clientDeletion"
	// TypeAddressChange replaces a security server's addresses.
	TypeAddressChange Type = "addressChange"
	// TypeMaintenanceOn puts a security server into maintenance mode.
	TypeMaintenanceOn Type = "maintenanceOn"
	// TypeMaintenanceOff takes a security server out of maintenance mode.
	TypeMaintenanceOff Type = "maintenanceOff"
	// TypeServiceDescriptionPublish publishes (creates or replaces) a
	// service description in the central catalogue.
	TypeServiceDescriptionPublish Type = "serviceDescriptionPublish"
)

// Valid reports whether t is one of the defined types.
func (t Type) Valid() bool {
	switch t {
	case TypeAuthCertRegistration, TypeClientRegistration, TypeClientDeletion,
		TypeAddressChange, TypeMaintenanceOn, TypeMaintenanceOff,
		TypeServiceDescriptionPublish:
		return true
	}
	return false
}

// namesClient reports whether requests of type t carry Request.Client.
func (t Type) namesClient() bool {
	return t == TypeClientRegistration || t == TypeClientDeletion
}

// carriesAddresses reports whether requests of type t carry
// Request.Addresses.
func (t Type) carriesAddresses() bool {
	return t == TypeAuthCertRegistration || t == TypeAddressChange
}

// ServiceType is the kind of a published service.
type ServiceType string

// The service types.
const (
	// ServiceOpenAPI is a REST service described by an OpenAPI 3 document.
	ServiceOpenAPI ServiceType = "OPENAPI"
	// ServiceREST is a REST service published without a description.
	ServiceREST ServiceType = "REST"
)

// Request is the content of a management request: what the signatures
// cover. Which members are present depends on Type (see Validate).
type Request struct {
	// ID is a random UUID (NewRequestID), lower-case with hyphens. The
	// central server accepts each ID once per security server: it is the
	// replay key.
	ID string
	// Type is the kind of request.
	Type Type
	// Server is the security server the request is about and that submits
	// it.
	Server xroad.ServerID
	// Client is the member or subsystem to register or delete
	// (clientRegistration, clientDeletion only).
	Client xroad.ClientID
	// CreatedAt is when the request was made. It is encoded in UTC with
	// whole seconds; fractions are dropped. The central server refuses a
	// request whose CreatedAt is too far from its own clock.
	CreatedAt time.Time
	// Addresses are the server's addresses, host or host:port, the first
	// preferred (authCertRegistration, addressChange only).
	Addresses []string
	// AuthCert is the DER of the authentication certificate to register
	// (authCertRegistration only).
	AuthCert []byte
	// ServiceDescription is the service to publish
	// (serviceDescriptionPublish only).
	ServiceDescription *ServiceDescription
}

// ServiceDescription is a service a provider subsystem publishes.
type ServiceDescription struct {
	// Service is the provider subsystem, the service code and optionally
	// the service version.
	Service xroad.ServiceID
	// Type is OPENAPI (OpenAPI must hold the document) or REST (OpenAPI
	// must be empty).
	Type ServiceType
	// Title is a short human-readable name; required.
	Title string
	// Description is free text; optional.
	Description string
	// OpenAPI is the OpenAPI 3 document (JSON or YAML) for an OPENAPI
	// service.
	OpenAPI string
}

// ResponsibleMember returns the member whose sign key must sign r: the
// client's member for clientRegistration and clientDeletion, the provider's
// member for serviceDescriptionPublish, and the server's owner otherwise.
func (r *Request) ResponsibleMember() xroad.MemberID {
	switch {
	case r.Type.namesClient():
		return r.Client.Member()
	case r.Type == TypeServiceDescriptionPublish && r.ServiceDescription != nil:
		return r.ServiceDescription.Service.Provider.Member()
	}
	return r.Server.Owner
}

// NewRequestID returns a random version-4 UUID for Request.ID.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// validRequestID accepts a UUID in its lower-case 8-4-4-4-12 form.
func validRequestID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// Validate checks r against the rules of docs/protocol.md: a well-formed ID, a
// known type, a valid server, a CreatedAt, and exactly the members the type
// needs: Client for client requests; Addresses (1 to MaxAddresses distinct
// host or host:port) for authCertRegistration and addressChange; AuthCert (an
// X.509 certificate) for authCertRegistration; ServiceDescription for
// serviceDescriptionPublish. Every identifier must belong to the server's
// instance. Errors wrap ErrMalformed.
func (r *Request) Validate() error {
	if !validRequestID(r.ID) {
		return malformed("id %q is not a lower-case UUID", r.ID)
	}
	if !r.Type.Valid() {
		return malformed("unknown request type %q", r.Type)
	}
	if err := r.Server.Validate(); err != nil {
		return fmt.Errorf("%w: server: %w", ErrMalformed, err)
	}
	inst := r.Server.Owner.Instance
	if r.CreatedAt.IsZero() {
		return malformed("createdAt missing")
	}
	if r.Type.namesClient() {
		if err := r.Client.Validate(); err != nil {
			return fmt.Errorf("%w: client: %w", ErrMalformed, err)
		}
		if r.Client.Instance != inst {
			return malformed("client %s is not of instance %s", r.Client, inst)
		}
	} else if r.Client != (xroad.ClientID{}) {
		return malformed("a %s request names no client", r.Type)
	}
	if r.Type.carriesAddresses() {
		if err := validateAddresses(r.Addresses); err != nil {
			return err
		}
	} else if len(r.Addresses) > 0 {
		return malformed("a %s request carries no addresses", r.Type)
	}
	if r.Type == TypeAuthCertRegistration {
		if len(r.AuthCert) == 0 {
			return malformed("authCert missing")
		}
		if len(r.AuthCert) > maxCertSize {
			return malformed("authCert larger than %d bytes", maxCertSize)
		}
		if _, err := x509.ParseCertificate(r.AuthCert); err != nil {
			return fmt.Errorf("%w: authCert: %w", ErrMalformed, err)
		}
	} else if len(r.AuthCert) > 0 {
		return malformed("a %s request carries no authCert", r.Type)
	}
	if r.Type == TypeServiceDescriptionPublish {
		if r.ServiceDescription == nil {
			return malformed("serviceDescription missing")
		}
		if err := r.ServiceDescription.validate(inst); err != nil {
			return err
		}
	} else if r.ServiceDescription != nil {
		return malformed("a %s request carries no serviceDescription", r.Type)
	}
	return nil
}

func (d *ServiceDescription) validate(inst string) error {
	if err := d.Service.Validate(); err != nil {
		return fmt.Errorf("%w: serviceDescription.service: %w", ErrMalformed, err)
	}
	if d.Service.Provider.Instance != inst {
		return malformed("service %s is not of instance %s", d.Service, inst)
	}
	switch d.Type {
	case ServiceOpenAPI:
		if d.OpenAPI == "" {
			return malformed("an %s service needs an openapi document", d.Type)
		}
	case ServiceREST:
		if d.OpenAPI != "" {
			return malformed("a %s service carries no openapi document", d.Type)
		}
	default:
		return malformed("unknown service type %q", d.Type)
	}
	if strings.TrimSpace(d.Title) == "" {
		return malformed("serviceDescription.title missing")
	}
	if len(d.Title) > MaxTextSize || len(d.Description) > MaxTextSize {
		return malformed("serviceDescription title or description longer than %d bytes", MaxTextSize)
	}
	return nil
}

// validateAddresses applies the registry's rule: 1 to MaxAddresses distinct
// entries, each host or host:port with a port in 1..65535, at most 255
// bytes, the host free of white space and URL punctuation.
func validateAddresses(addrs []string) error {
	if len(addrs) == 0 || len(addrs) > MaxAddresses {
		return malformed("want 1 to %d addresses, got %d", MaxAddresses, len(addrs))
	}
	seen := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		host := a
		if h, port, err := net.SplitHostPort(a); err == nil {
			if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 || port != strconv.FormatUint(p, 10) {
				return malformed("address %q: bad port", a)
			}
			host = h
		}
		if host == "" || len(a) > 255 || strings.ContainsAny(host, " \t\r\n/?#@[]\\") {
			return malformed("address %q is not host or host:port", a)
		}
		if seen[a] {
			return malformed("address %q given twice", a)
		}
		seen[a] = true
	}
	return nil
}

// wireRequest is the payload's JSON encoding; its field order is the
// canonical member order.
type wireRequest struct {
	Schema             string       `json:"schema"`
	ID                 string       `json:"id"`
	Type               string       `json:"type"`
	Server             string       `json:"server"`
	Client             string       `json:"client,omitempty"`
	CreatedAt          string       `json:"createdAt"`
	Addresses          []string     `json:"addresses,omitempty"`
	AuthCert           string       `json:"authCert,omitempty"`
	ServiceDescription *wireService `json:"serviceDescription,omitempty"`
}

type wireService struct {
	Service     string `json:"service"`
	Version     string `json:"version,omitempty"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	OpenAPI     string `json:"openapi,omitempty"`
}

// timeFormat is RFC 3339 in UTC with whole seconds.
const timeFormat = "2006-01-02T15:04:05Z"

// MarshalPayload validates r and returns its canonical JSON encoding, the
// bytes that are signed: the members of docs/protocol.md in that order, absent
// optional members omitted, no white space, strings escaped as Go's
// encoding/json escapes them (including <, > and &), CreatedAt in UTC with
// whole seconds, AuthCert in standard base64, identifiers in header form
// except serviceDescription.service, which is the typed form of the
// unversioned service ("SERVICE:PS/GOV/MOI/civil-registry/persons") with the
// version in serviceDescription.version.
func MarshalPayload(r *Request) ([]byte, error) {
	c := *r
	c.CreatedAt = c.CreatedAt.UTC().Truncate(time.Second)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	w := wireRequest{
		Schema:    Schema,
		ID:        c.ID,
		Type:      string(c.Type),
		Server:    c.Server.String(),
		CreatedAt: c.CreatedAt.Format(timeFormat),
		Addresses: c.Addresses,
	}
	if c.Type.namesClient() {
		w.Client = c.Client.String()
	}
	if len(c.AuthCert) > 0 {
		w.AuthCert = base64.StdEncoding.EncodeToString(c.AuthCert)
	}
	if d := c.ServiceDescription; d != nil {
		w.ServiceDescription = &wireService{
			Service:     d.Service.Unversioned().Typed(),
			Version:     d.Service.Version,
			Type:        string(d.Type),
			Title:       d.Title,
			Description: d.Description,
			OpenAPI:     d.OpenAPI,
		}
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("mgmtproto: encoding payload: %w", err)
	}
	if len(b) > MaxPayloadSize {
		return nil, malformed("payload of %d bytes exceeds %d", len(b), MaxPayloadSize)
	}
	return b, nil
}

// ParsePayload decodes a payload: strict JSON (unknown members and trailing
// data refused), schema Schema, a request that passes Validate, and bytes
// equal to MarshalPayload of the result (so duplicate members, white space,
// other member orders and non-canonical values are refused too). It does not
// check signatures. Errors wrap ErrMalformed.
func ParsePayload(b []byte) (*Request, error) {
	if len(b) > MaxPayloadSize {
		return nil, malformed("payload larger than %d bytes", MaxPayloadSize)
	}
	var w wireRequest
	if err := strictUnmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	if w.Schema != Schema {
		return nil, malformed("schema %q, want %q", w.Schema, Schema)
	}
	r := &Request{ID: w.ID, Type: Type(w.Type), Addresses: w.Addresses}
	var err error
	if r.Server, err = xroad.ParseServer(w.Server); err != nil {
		return nil, fmt.Errorf("%w: server: %w", ErrMalformed, err)
	}
	if w.Client != "" {
		if r.Client, err = xroad.ParseClient(w.Client); err != nil {
			return nil, fmt.Errorf("%w: client: %w", ErrMalformed, err)
		}
	}
	if r.CreatedAt, err = time.Parse(timeFormat, w.CreatedAt); err != nil {
		return nil, fmt.Errorf("%w: createdAt: %w", ErrMalformed, err)
	}
	if w.AuthCert != "" {
		if r.AuthCert, err = base64.StdEncoding.Strict().DecodeString(w.AuthCert); err != nil {
			return nil, fmt.Errorf("%w: authCert: %w", ErrMalformed, err)
		}
	}
	if ws := w.ServiceDescription; ws != nil {
		id, err := xroad.ParseTyped(ws.Service)
		if err != nil {
			return nil, fmt.Errorf("%w: serviceDescription.service: %w", ErrMalformed, err)
		}
		svc, ok := id.(xroad.ServiceID)
		if !ok || svc.Version != "" {
			return nil, malformed("serviceDescription.service %q is not an unversioned SERVICE identifier", ws.Service)
		}
		if ws.Version != "" {
			if err := xroad.ValidatePart(ws.Version); err != nil {
				return nil, fmt.Errorf("%w: serviceDescription.version: %w", ErrMalformed, err)
			}
			svc.Version = ws.Version
		}
		r.ServiceDescription = &ServiceDescription{
			Service:     svc,
			Type:        ServiceType(ws.Type),
			Title:       ws.Title,
			Description: ws.Description,
			OpenAPI:     ws.OpenAPI,
		}
	}
	again, err := MarshalPayload(r)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, b) {
		return nil, malformed("payload is not in canonical form")
	}
	return r, nil
}

// strictUnmarshal decodes exactly one JSON value into v, refusing unknown
// object members and trailing data.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after JSON value")
	}
	return nil
}
