package proxy

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/message"
)

// clientIDJSON is an X-Road client identifier in the JSON form of the
// metaservices (X-Road's Jackson output: members in alphabetical order).
type clientIDJSON struct {
	MemberClass   string `json:"member_class"`
	MemberCode    string `json:"member_code"`
	ObjectType    string `json:"object_type"`
	SubsystemCode string `json:"subsystem_code,omitempty"`
	XRoadInstance string `json:"xroad_instance"`
}

type clientJSON struct {
	ID   clientIDJSON `json:"id"`
	Name string       `json:"name"`
}

type clientListJSON struct {
	Member []clientJSON `json:"member"`
}

// listedClient is one entry of listClients.
type listedClient struct {
	id   xroad.ClientID
	name string
}

// clientList returns the members and subsystems of doc, in document order
// (each member followed by its subsystems), when instance is "" or doc's
// instance; nil otherwise (jisr knows no federated instances).
func clientList(doc *globalconf.Document, instance string) []listedClient {
	if instance != "" && instance != doc.Instance {
		return nil
	}
	var out []listedClient
	for _, m := range doc.Members {
		id := xroad.MemberID{Instance: doc.Instance, Class: m.Class, Code: m.Code}
		out = append(out, listedClient{id: id.Client(), name: m.Name})
		for _, s := range m.Subsystems {
			out = append(out, listedClient{id: id.Subsystem(s.Code), name: m.Name})
		}
	}
	return out
}

// listClients answers GET /listClients[?xRoadInstance=X] from the global
// configuration: JSON when Accept names JSON, otherwise X-Road's XML.
func (p *ClientProxy) listClients(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return clientErr(CodeBadRequest, "listClients takes GET", nil)
	}
	doc, err := current(p.cfg.Conf, xerr.PrefixClientProxy)
	if err != nil {
		return err
	}
	list := clientList(doc, r.URL.Query().Get("xRoadInstance"))
	var body []byte
	var ctype string
	if strings.Contains(strings.ToLower(r.Header.Get("Accept")), "json") {
		body, ctype = listClientsJSON(list), "application/json; charset=utf-8"
	} else {
		body, ctype = listClientsXML(list), "text/xml; charset=utf-8"
	}
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

func listClientsJSON(list []listedClient) []byte {
	out := clientListJSON{Member: []clientJSON{}}
	for _, c := range list {
		out.Member = append(out.Member, clientJSON{ID: clientIDJSON{
			MemberClass: c.id.Class, MemberCode: c.id.Code, ObjectType: string(c.id.Type()),
			SubsystemCode: c.id.Subsystem, XRoadInstance: c.id.Instance,
		}, Name: c.name})
	}
	return marshalJSON(out)
}

// listClientsXML writes X-Road's clientList document (PR-META).
func listClientsXML(list []listedClient) []byte {
	var b bytes.Buffer
	esc := func(s string) { _ = xml.EscapeText(&b, []byte(s)) }
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n")
	b.WriteString(`<ns2:clientList xmlns:ns1="http://x-road.eu/xsd/identifiers" xmlns:ns2="http://x-road.eu/xsd/xroad.xsd">` + "\n")
	for _, c := range list {
		b.WriteString(`  <ns2:member>` + "\n")
		b.WriteString(`    <ns2:id ns1:objectType="` + string(c.id.Type()) + `">` + "\n")
		for _, f := range []struct{ tag, v string }{
			{"xRoadInstance", c.id.Instance}, {"memberClass", c.id.Class},
			{"memberCode", c.id.Code}, {"subsystemCode", c.id.Subsystem},
		} {
			if f.v == "" {
				continue
			}
			b.WriteString(`      <ns1:` + f.tag + `>`)
			esc(f.v)
			b.WriteString(`</ns1:` + f.tag + `>` + "\n")
		}
		b.WriteString(`    </ns2:id>` + "\n")
		b.WriteString(`    <ns2:name>`)
		esc(c.name)
		b.WriteString(`</ns2:name>` + "\n")
		b.WriteString(`  </ns2:member>` + "\n")
	}
	b.WriteString(`</ns2:clientList>` + "\n")
	return b.Bytes()
}

// serviceJSON is one service of listMethods and allowedMethods (PR-MREST
// Annex B).
type serviceJSON struct {
	MemberClass    string         `json:"member_class"`
	MemberCode     string         `json:"member_code"`
	ObjectType     string         `json:"object_type"`
	ServiceCode    string         `json:"service_code"`
	ServiceType    string         `json:"service_type"`
	ServiceVersion string         `json:"service_version,omitempty"`
	SubsystemCode  string         `json:"subsystem_code"`
	XRoadInstance  string         `json:"xroad_instance"`
	EndpointList   []endpointJSON `json:"endpoint_list"`
}

type endpointJSON struct {
	Method string `json:"method"`
	Path   string `json:"path"`
}

type serviceListJSON struct {
	Service []serviceJSON `json:"service"`
}

// serviceListBody encodes descriptions, leaving out the metaservices
// themselves (PR-MREST §4).
func serviceListBody(list []ServiceDescription) []byte {
	out := serviceListJSON{Service: []serviceJSON{}}
	for _, d := range list {
		if isMetaservice(d.Service.Code) {
			continue
		}
		p := d.Service.Provider
		s := serviceJSON{
			MemberClass: p.Class, MemberCode: p.Code, ObjectType: string(xroad.TypeService),
			ServiceCode: d.Service.Code, ServiceType: d.Type, ServiceVersion: d.Service.Version,
			SubsystemCode: p.Subsystem, XRoadInstance: p.Instance, EndpointList: []endpointJSON{},
		}
		for _, e := range d.Endpoints {
			s.EndpointList = append(s.EndpointList, endpointJSON(e))
		}
		out.Service = append(out.Service, s)
	}
	return marshalJSON(out)
}

// marshalJSON encodes v as indented JSON without HTML escaping. It only
// sees types of this file, which cannot fail to encode.
func marshalJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		panic("proxy: encoding metaservice answer: " + err.Error())
	}
	return b.Bytes()
}

// metaAnswer is a metaservice's answer on the provider side.
type metaAnswer struct {
	header http.Header
	body   []byte
}

// metaservice answers listMethods, allowedMethods or getOpenAPI for the
// verified request h from the provider's local configuration.
func (s *ServerProxy) metaservice(doc *globalconf.Document, h *message.RequestHeader) (*metaAnswer, error) {
	if s.cfg.Metadata == nil {
		return nil, spErr(CodeUnknownService, "metaservices are not offered by this security server", nil)
	}
	provider := h.Service.Provider
	jsonHeader := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	switch h.Service.Code {
	case MetaListMethods, MetaAllowedMethods:
		var list []ServiceDescription
		var err error
		if h.Service.Code == MetaListMethods {
			list, err = s.cfg.Metadata.ListMethods(provider)
		} else {
			list, err = s.cfg.Metadata.AllowedMethods(doc, h.Client, provider)
		}
		if err != nil {
			return nil, spErr(CodeInternalError, "cannot list the provider's services", err)
		}
		return &metaAnswer{header: jsonHeader, body: serviceListBody(list)}, nil
	case MetaGetOpenAPI:
		q, err := url.ParseQuery(h.RawQuery)
		code := q.Get("serviceCode")
		if err != nil || xroad.ValidatePart(code) != nil {
			return nil, spErr("InvalidRequest", "getOpenAPI needs a valid serviceCode query parameter", err)
		}
		svc := xroad.ServiceID{Provider: provider, Code: code}
		content, mediaType, err := s.cfg.Metadata.OpenAPI(svc)
		if errors.Is(err, ErrUnknownService) {
			return nil, spErr(CodeUnknownService, "unknown service: "+svc.String(), err)
		}
		if err != nil {
			return nil, spErr(CodeInternalError, "cannot read the service description", err)
		}
		if mediaType == "" {
			mediaType = "application/json"
		}
		return &metaAnswer{header: http.Header{"Content-Type": {mediaType}}, body: content}, nil
	}
	return nil, spErr(CodeUnknownService, "unknown service: "+h.Service.String(), nil)
}
