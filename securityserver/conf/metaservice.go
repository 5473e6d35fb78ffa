package conf

import (
	"bytes"
	"fmt"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// ServiceList is the JSON body of X-Road's REST metaservices listMethods and
// allowedMethods (PR-MREST §4, Annex B):
// {"service":[{"xroad_instance":…,"endpoint_list":[…]},…]}.
type ServiceList struct {
	Service []ServiceEntry `json:"service"`
}

// ServiceEntry is one service in a ServiceList, with X-Road's field names
// and order.
type ServiceEntry struct {
	XRoadInstance string `json:"xroad_instance"`
	MemberClass   string `json:"member_class"`
	MemberCode    string `json:"member_code"`
	SubsystemCode string `json:"subsystem_code"`
	ServiceCode   string `json:"service_code"`
	// ServiceVersion is omitted when the service has no version.
	ServiceVersion string `json:"service_version,omitempty"`
	// ServiceType is "OPENAPI" or "REST".
	ServiceType DescriptionType `json:"service_type"`
	// ObjectType is always "SERVICE".
	ObjectType xroad.ObjectType `json:"object_type"`
	// EndpointList is never null: a service without endpoints has [].
	EndpointList []EndpointEntry `json:"endpoint_list"`
}

// EndpointEntry is one endpoint in a ServiceEntry.
type EndpointEntry struct {
	Method string `json:"method"`
	Path   string `json:"path"`
}

// entry starts the ServiceEntry of a service.
func (e *serviceEntry) entry() ServiceEntry {
	return ServiceEntry{
		XRoadInstance:  e.provider.Instance,
		MemberClass:    e.provider.Class,
		MemberCode:     e.provider.Code,
		SubsystemCode:  e.provider.Subsystem,
		ServiceCode:    e.svc.Code,
		ServiceVersion: e.svc.Version,
		ServiceType:    e.typ,
		ObjectType:     xroad.TypeService,
		EndpointList:   []EndpointEntry{},
	}
}

// ListMethods returns the services of provider with all their endpoints
// (X-Road's listMethods), by service code; endpoints are by path, then
// method, without the base endpoint (the service itself). Disabled services
// are listed, as X-Road lists them. An unknown provider has no services:
// the result is empty, never nil.
func (v *View) ListMethods(provider xroad.ClientID) []ServiceEntry {
	out := []ServiceEntry{}
	for _, e := range v.byProvider[provider] {
		se := e.entry()
		for _, ep := range e.svc.Endpoints {
			se.EndpointList = append(se.EndpointList, EndpointEntry{Method: ep.Method, Path: ep.Path})
		}
		out = append(out, se)
	}
	return out
}

// AllowedMethods returns the services of provider that client holds at
// least one access right on (X-Road's allowedMethods), by service code. As
// in X-Road (ServerConfImpl.getAllowedRestServices), a service's
// endpoint_list holds those of its endpoints that one of the client's rights
// matches, the endpoint's method and path pattern being matched as a
// request would be but without normalization (so a right on "GET /persons/*"
// lists the endpoint "GET /persons/*", and a right on the whole service
// lists every endpoint); a service the client may call but whose listed
// endpoints no right matches is listed with an empty endpoint_list.
// groups answers global group membership (nil: none).
func (v *View) AllowedMethods(provider, client xroad.ClientID, groups GroupMembership) []ServiceEntry {
	out := []ServiceEntry{}
	var rights []grant
	for _, e := range v.byProvider[provider] {
		rights = append(rights[:0], e.byClient[client]...)
		if groups != nil {
			for _, gg := range e.global {
				if groups.IsMember(gg.group, client) {
					rights = append(rights, gg.grants...)
				}
			}
		}
		if len(rights) == 0 {
			continue
		}
		se := e.entry()
		for _, ep := range e.svc.Endpoints {
			for _, g := range rights {
				if g.endpoint.IsService() || (matchMethod(g.endpoint.Method, ep.Method) && g.pattern.match(ep.Path)) {
					se.EndpointList = append(se.EndpointList, EndpointEntry{Method: ep.Method, Path: ep.Path})
					break
				}
			}
		}
		out = append(out, se)
	}
	return out
}

// OpenAPI returns a copy of the stored OpenAPI document of provider's
// service serviceCode (X-Road's getOpenAPI). It is ErrNotFound for an
// unknown service and ErrInvalid for a REST service, which has no document.
// Unlike X-Road, which fetches the document from the description's URL on
// every call, jisr serves the copy stored when the description was added or
// last refreshed.
func (v *View) OpenAPI(provider xroad.ClientID, serviceCode string) ([]byte, error) {
	e := v.services[serviceKey{provider, serviceCode}]
	if e == nil {
		return nil, notFound("service %s of %s", serviceCode, provider)
	}
	if e.typ != DescriptionOpenAPI {
		return nil, fmt.Errorf("%w: service %s of %s is not described by an OpenAPI document", ErrInvalid, serviceCode, provider)
	}
	return bytes.Clone(e.document), nil
}
