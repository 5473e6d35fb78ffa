package admin

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

// defaultServiceTimeout is a new service's backend timeout when none is
// given.
const defaultServiceTimeout = 30 * time.Second

func xerrNotFound(format string, args ...any) error {
	return xerr.Newf(codeNotFound, nil, format, args...)
}

func (c *call) serviceID() (xroad.ServiceID, error) {
	s, err := c.param("serviceId")
	if err != nil {
		return xroad.ServiceID{}, err
	}
	return ParseServiceID(s)
}

// findService returns the provider's service id names and the description
// that holds it. A version in id must be the service's.
func (a *API) findService(ctx context.Context, id xroad.ServiceID) (conf.ServiceDescription, conf.Service, error) {
	ds, err := a.backend.ServiceDescriptions(ctx, id.Provider)
	if err != nil {
		return conf.ServiceDescription{}, conf.Service{}, err
	}
	for _, d := range ds {
		for _, s := range d.Services {
			if s.Code == id.Code && (id.Version == "" || id.Version == s.Version) {
				return d, s, nil
			}
		}
	}
	return conf.ServiceDescription{}, conf.Service{}, xerrNotFound("no service %s", FormatServiceID(id))
}

func (a *API) listServices(ctx context.Context, c *call) (result, error) {
	id, err := c.clientID()
	if err != nil {
		return result{}, err
	}
	ds, err := a.backend.ServiceDescriptions(ctx, id)
	if err != nil {
		return result{}, err
	}
	return result{body: toServices(ds)}, nil
}

func (a *API) getService(ctx context.Context, c *call) (result, error) {
	id, err := c.serviceID()
	if err != nil {
		return result{}, err
	}
	d, s, err := a.findService(ctx, id)
	if err != nil {
		return result{}, err
	}
	return result{body: toService(d, s)}, nil
}

func (a *API) getServiceOpenAPI(ctx context.Context, c *call) (result, error) {
	id, err := c.serviceID()
	if err != nil {
		return result{}, err
	}
	d, _, err := a.findService(ctx, id)
	if err != nil {
		return result{}, err
	}
	if d.Type != conf.DescriptionOpenAPI || len(d.Document) == 0 {
		return result{}, xerrNotFound("service %s has no OpenAPI description", FormatServiceID(id))
	}
	ct := "application/yaml"
	if b := bytes.TrimSpace(d.Document); len(b) > 0 && b[0] == '{' {
		ct = "application/json"
	}
	return result{raw: d.Document, contentType: ct}, nil
}

// subsystem parses a provider, which must be a subsystem.
func subsystem(s string) (xroad.ClientID, error) {
	id, err := ParseClientID(s)
	if err != nil {
		return xroad.ClientID{}, err
	}
	if !id.IsSubsystem() {
		return xroad.ClientID{}, badRequest("provider %q: only a subsystem provides services", s)
	}
	return id, nil
}

func (a *API) addService(ctx context.Context, c *call) (result, error) {
	var in NewServiceRequest
	if err := c.decode(&in); err != nil {
		return result{}, err
	}
	p, err := subsystem(in.Provider)
	if err != nil {
		return result{}, err
	}
	if in.OpenAPI != "" && in.OpenAPIURL != "" {
		return result{}, badRequest("give openapi or openapiUrl, not both")
	}
	if in.TimeoutSeconds < 0 || time.Duration(in.TimeoutSeconds)*time.Second > conf.MaxTimeout {
		return result{}, badRequest("timeoutSeconds: want 1 to %d", int(conf.MaxTimeout.Seconds()))
	}
	ns := NewService{Provider: p, Code: in.Code, Version: in.Version, URL: in.URL, Timeout: time.Duration(in.TimeoutSeconds) * time.Second,
		VerifyTLS: in.VerifyTLS == nil || *in.VerifyTLS, OpenAPI: []byte(in.OpenAPI), DescriptionURL: in.OpenAPIURL,
		Publish: in.Publish, Title: in.Title, Description: in.Description}
	if ns.Timeout == 0 {
		ns.Timeout = defaultServiceTimeout
	}
	if in.OpenAPIURL != "" {
		if ns.OpenAPI, err = a.fetcher.Fetch(ctx, in.OpenAPIURL); err != nil {
			return result{}, err
		}
	}
	if len(ns.OpenAPI) == 0 {
		ns.OpenAPI = nil
	}
	d, pub, err := a.backend.AddService(ctx, ns)
	if err != nil {
		return result{}, err
	}
	id := xroad.ServiceID{Provider: p, Code: in.Code}
	var svc Service
	found := false
	for _, s := range d.Services {
		if s.Code == in.Code {
			svc, found = toService(d, s), true
		}
	}
	if !found {
		return result{}, fmt.Errorf("admin: the added description %d lacks service %s", d.ID, in.Code)
	}
	out := ServiceAdded{Service: svc, Publication: toManagementRequest(pub)}
	return result{status: http.StatusCreated, body: out, target: id.Typed(),
		detail: map[string]any{"url": in.URL, "descriptionType": d.Type, "descriptionUrl": in.OpenAPIURL, "endpoints": len(svc.Endpoints),
			"publication": out.Publication}}, nil
}

func (a *API) updateService(ctx context.Context, c *call) (result, error) {
	id, err := c.serviceID()
	if err != nil {
		return result{}, err
	}
	var in ServiceUpdate
	if err := c.decode(&in); err != nil {
		return result{}, err
	}
	_, s, err := a.findService(ctx, id)
	if err != nil {
		return result{}, err
	}
	if in.Version != nil {
		s.Version = *in.Version
	}
	if in.URL != nil {
		s.URL = *in.URL
	}
	if in.TimeoutSeconds != nil {
		if *in.TimeoutSeconds < 1 || time.Duration(*in.TimeoutSeconds)*time.Second > conf.MaxTimeout {
			return result{}, badRequest("timeoutSeconds: want 1 to %d", int(conf.MaxTimeout.Seconds()))
		}
		s.Timeout = time.Duration(*in.TimeoutSeconds) * time.Second
	}
	if in.VerifyTLS != nil {
		s.VerifyTLS = *in.VerifyTLS
	}
	if in.Disabled != nil {
		s.Disabled = *in.Disabled
	}
	if in.DisabledNotice != nil {
		s.DisabledNotice = *in.DisabledNotice
	}
	if err := a.backend.UpdateService(ctx, id.Provider, s); err != nil {
		return result{}, err
	}
	d, s, err := a.findService(ctx, xroad.ServiceID{Provider: id.Provider, Code: id.Code})
	if err != nil {
		return result{}, err
	}
	return result{body: toService(d, s), target: id.Unversioned().Typed(), detail: in}, nil
}

func (a *API) deleteService(ctx context.Context, c *call) (result, error) {
	id, err := c.serviceID()
	if err != nil {
		return result{}, err
	}
	if _, _, err := a.findService(ctx, id); err != nil {
		return result{}, err
	}
	if err := a.backend.DeleteService(ctx, id.Provider, id.Code); err != nil {
		return result{}, err
	}
	return result{status: http.StatusNoContent, target: id.Unversioned().Typed()}, nil
}

func (a *API) refreshService(ctx context.Context, c *call) (result, error) {
	id, err := c.serviceID()
	if err != nil {
		return result{}, err
	}
	var in ServiceRefresh
	if err := c.decodeOptional(&in); err != nil {
		return result{}, err
	}
	d, _, err := a.findService(ctx, id)
	if err != nil {
		return result{}, err
	}
	if d.Type != conf.DescriptionOpenAPI {
		return result{}, badRequest("service %s has a REST description: there is no document to refresh", FormatServiceID(id))
	}
	var doc []byte
	src := ""
	switch {
	case in.OpenAPI != "" && in.OpenAPIURL != "":
		return result{}, badRequest("give openapi or openapiUrl, not both")
	case in.OpenAPI != "":
		doc = []byte(in.OpenAPI)
	default:
		src = in.OpenAPIURL
		if src == "" {
			src = d.URL
		}
		if src == "" {
			return result{}, badRequest("service %s's description was uploaded, not fetched: give openapi or openapiUrl", FormatServiceID(id))
		}
		if doc, err = a.fetcher.Fetch(ctx, src); err != nil {
			return result{}, err
		}
	}
	nd, err := a.backend.RefreshService(ctx, id.Provider, id.Code, src, doc)
	if err != nil {
		return result{}, err
	}
	for _, s := range nd.Services {
		if s.Code == id.Code {
			svc := toService(nd, s)
			return result{body: svc, target: id.Unversioned().Typed(),
				detail: map[string]any{"descriptionId": nd.ID, "descriptionUrl": src, "endpoints": len(svc.Endpoints)}}, nil
		}
	}
	return result{}, fmt.Errorf("admin: the refreshed description %d lacks service %s", nd.ID, id.Code)
}

// Access rights.

func (a *API) listAccessRights(ctx context.Context, c *call) (result, error) {
	id, err := c.serviceID()
	if err != nil {
		return result{}, err
	}
	if _, _, err := a.findService(ctx, id); err != nil {
		return result{}, err
	}
	rs, err := a.backend.AccessRights(ctx, id.Provider)
	if err != nil {
		return result{}, err
	}
	out := []AccessRight{}
	for _, r := range rs {
		if r.ServiceCode == id.Code {
			out = append(out, toAccessRight(r))
		}
	}
	return result{body: out}, nil
}

// accessRight builds the right named by a provider, a service code, a
// subject and an optional endpoint.
func accessRight(provider xroad.ClientID, service, subject, method, path string) (conf.AccessRight, error) {
	if err := xroad.ValidatePart(service); err != nil {
		return conf.AccessRight{}, err
	}
	subj, err := ParseSubject(subject)
	if err != nil {
		return conf.AccessRight{}, err
	}
	if (method == "") != (path == "") {
		return conf.AccessRight{}, badRequest("method and path name an endpoint together: give both or neither")
	}
	return conf.AccessRight{Provider: provider, ServiceCode: service, Subject: subj, Endpoint: conf.EndpointSpec{Method: method, Path: path}}, nil
}

func (a *API) grantAccessRight(ctx context.Context, c *call) (result, error) {
	var in AccessRequest
	if err := c.decode(&in); err != nil {
		return result{}, err
	}
	p, err := subsystem(in.Provider)
	if err != nil {
		return result{}, err
	}
	r, err := accessRight(p, in.Service, in.Subject, in.Method, in.Path)
	if err != nil {
		return result{}, err
	}
	if err := a.backend.GrantAccess(ctx, r); err != nil {
		return result{}, err
	}
	out := toAccessRight(r)
	out.GrantedAt = a.clk.Now().UTC()
	if rs, err := a.backend.AccessRights(ctx, p); err == nil {
		for _, g := range rs {
			if g.ServiceCode == r.ServiceCode && g.Endpoint == r.Endpoint && g.Subject.Typed() == r.Subject.Typed() {
				out = toAccessRight(g)
			}
		}
	}
	svc := xroad.ServiceID{Provider: p, Code: in.Service}
	return result{status: http.StatusCreated, body: out, target: svc.Typed(),
		detail: map[string]any{"subject": out.Subject, "endpoint": out.Endpoint}}, nil
}

func (a *API) revokeAccessRight(ctx context.Context, c *call) (result, error) {
	id, err := c.serviceID()
	if err != nil {
		return result{}, err
	}
	q := c.r.URL.Query()
	if q.Get("subject") == "" {
		return result{}, badRequest("subject: required")
	}
	r, err := accessRight(id.Provider, id.Code, q.Get("subject"), q.Get("method"), q.Get("path"))
	if err != nil {
		return result{}, err
	}
	if err := a.backend.RevokeAccess(ctx, r); err != nil {
		return result{}, err
	}
	out := toAccessRight(r)
	return result{status: http.StatusNoContent, target: id.Unversioned().Typed(),
		detail: map[string]any{"subject": out.Subject, "endpoint": out.Endpoint}}, nil
}
