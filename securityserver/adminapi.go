package securityserver

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

// AdminKeyFile holds the admin API key (mode 0600), created by Init. The
// API accepts it as "Authorization: X-Road-ApiKey token=<key>". Roles and
// several keys are the operations issue's work; until then this one key is
// the security server administrator.
const AdminKeyFile = "admin-api-key"

// ClientRequest is the body of POST /api/v1/clients.
type ClientRequest struct {
	// Client is the member or subsystem, header form.
	Client string `json:"client"`
	// Connection is HTTP (default), HTTPS or HTTPS_CERT.
	Connection string `json:"connection,omitempty"`
	// BodyLogging is FULL (default) or METADATA_ONLY.
	BodyLogging string `json:"bodyLogging,omitempty"`
}

// ServiceRequest is the body of POST /api/v1/services.
type ServiceRequest struct {
	// Provider is the subsystem offering the service, header form.
	Provider string `json:"provider"`
	Code     string `json:"code"`
	Version  string `json:"version,omitempty"`
	URL      string `json:"url"`
	// TimeoutSeconds bounds the backend call; default 30.
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`
	// OpenAPI is the OpenAPI 3 document (YAML or JSON); empty for REST.
	OpenAPI     string `json:"openapi,omitempty"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	// Publish sends the description to the central catalogue.
	Publish bool `json:"publish,omitempty"`
}

// AccessRequest is the body of POST /api/v1/access-rights.
type AccessRequest struct {
	Provider string `json:"provider"`
	Service  string `json:"service"`
	// Subject is a client in header form or a typed identifier
	// (GLOBALGROUP:INST/CODE, LOCALGROUP:CODE, SUBSYSTEM:…).
	Subject string `json:"subject"`
	// Method and Path name one endpoint; both empty for the whole service.
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
}

// adminAPI serves the management operations of `jisr ss` over HTTP on the
// admin listener: register a client (management request to central), add a
// service with its OpenAPI description, grant access. It calls the same
// functions as the CLI.
func (s *Service) adminAPI(mux *http.ServeMux) {
	keyHash, keyErr := adminKeyHash(s.cfg.Dir)
	auth := func(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "X-Road-ApiKey token=")
			sum := sha256.Sum256([]byte(tok))
			if keyErr != nil || !ok || subtle.ConstantTimeCompare(sum[:], keyHash) != 1 {
				w.Header().Set("WWW-Authenticate", "X-Road-ApiKey")
				e := xerr.New("Client.Unauthorized", "missing or invalid API key", keyErr)
				e.Status = http.StatusUnauthorized
				xerr.Write(w, r, s.log, e, "")
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, 4<<20)
			if err := h(w, r); err != nil {
				e := xerr.New("Server.InternalError", "internal error", err)
				switch {
				case errors.Is(err, conf.ErrInvalid), errors.Is(err, xroad.ErrInvalid), errors.Is(err, errBadRequest):
					e.Code, e.Message = "Client.InvalidRequest", err.Error()
				case errors.Is(err, conf.ErrConflict):
					e.Code, e.Message, e.Status = "Client.Conflict", err.Error(), http.StatusConflict
				case errors.Is(err, conf.ErrNotFound):
					e.Code, e.Message, e.Status = "Client.NotFound", err.Error(), http.StatusNotFound
				}
				xerr.Write(w, r, s.log, e, "")
			}
		}
	}
	mux.HandleFunc("POST /api/v1/clients", auth(func(w http.ResponseWriter, r *http.Request) error {
		var in ClientRequest
		if err := decodeStrict(r, &in); err != nil {
			return err
		}
		id, err := xroad.ParseClient(in.Client)
		if err != nil {
			return err
		}
		st, err := AddClient(r.Context(), s.cfg, id, conf.ConnectionType(in.Connection), conf.BodyLogging(in.BodyLogging))
		if err != nil {
			return err
		}
		return reply(w, http.StatusAccepted, st)
	}))
	mux.HandleFunc("POST /api/v1/services", auth(func(w http.ResponseWriter, r *http.Request) error {
		var in ServiceRequest
		if err := decodeStrict(r, &in); err != nil {
			return err
		}
		p, err := xroad.ParseSubsystem(in.Provider)
		if err != nil {
			return err
		}
		st, err := AddService(r.Context(), s.cfg, ServiceOptions{Provider: p, Code: in.Code, Version: in.Version, URL: in.URL,
			Timeout: time.Duration(in.TimeoutSeconds) * time.Second, OpenAPI: []byte(in.OpenAPI), Title: in.Title,
			Description: in.Description, Publish: in.Publish})
		if err != nil {
			return err
		}
		if err := s.local.Reload(r.Context()); err != nil {
			return err
		}
		return reply(w, http.StatusCreated, map[string]any{"provider": p.String(), "code": in.Code, "publication": st})
	}))
	mux.HandleFunc("POST /api/v1/access-rights", auth(func(w http.ResponseWriter, r *http.Request) error {
		var in AccessRequest
		if err := decodeStrict(r, &in); err != nil {
			return err
		}
		p, err := xroad.ParseSubsystem(in.Provider)
		if err != nil {
			return err
		}
		if err := Grant(r.Context(), s.cfg, p, in.Service, in.Subject, conf.EndpointSpec{Method: in.Method, Path: in.Path}); err != nil {
			return err
		}
		if err := s.local.Reload(r.Context()); err != nil {
			return err
		}
		return reply(w, http.StatusCreated, in)
	}))
}

var errBadRequest = errors.New("bad request body")

func decodeStrict(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.Join(errBadRequest, err)
	}
	return nil
}

func reply(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	return json.NewEncoder(w).Encode(v)
}

func adminKeyHash(dir string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, AdminKeyFile))
	if err != nil {
		return nil, err
	}
	k := strings.TrimSpace(string(b))
	if k == "" {
		return nil, errors.New("empty admin API key")
	}
	sum := sha256.Sum256([]byte(k))
	return sum[:], nil
}
