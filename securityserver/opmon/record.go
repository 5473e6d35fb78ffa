package opmon

import (
	"net"
	"time"

	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/proxy"
)

// Security server types, as PR-OPMON names the two sides.
const (
	TypeClient   = "Client"
	TypeProducer = "Producer"
)

// MaxFaultString bounds FaultString, as PR-OPMON's schema does.
const MaxFaultString = 2048

// Record is one operational monitoring record: one exchange as one
// security server handled it. Zero values mean "not reached" or "not
// known" (a request refused before its client was parsed has a zero
// Client).
type Record struct {
	// ID is assigned by the store, increasing in commit order.
	ID int64
	// MonitoringDataTs is when the record was stored.
	MonitoringDataTs time.Time
	// SecurityServerInternalIP is the address of the listener the request
	// arrived on.
	SecurityServerInternalIP string
	// SecurityServerType is TypeClient (consumer's server) or TypeProducer.
	SecurityServerType string
	// RequestIn, RequestOut, ResponseIn and ResponseOut are the four
	// points of the exchange on this server (see proxy.ExchangeEvent).
	RequestIn, RequestOut, ResponseIn, ResponseOut time.Time
	// Client and Service identify the exchange.
	Client  xroad.ClientID
	Service xroad.ServiceID
	// RestMethod and RestPath are the request's method and path after the
	// service code.
	RestMethod, RestPath string
	// RepresentedParty is X-Road-Represented-Party, "[CLASS/]CODE".
	RepresentedParty string
	// MessageID, MessageUserID, MessageIssue and MessageProtocolVersion
	// are the message's X-Road fields.
	MessageID, MessageUserID, MessageIssue, MessageProtocolVersion string
	// ClientSecurityServerAddress and ServiceSecurityServerAddress are the
	// SS↔SS addresses of the two security servers, as the global
	// configuration lists them.
	ClientSecurityServerAddress, ServiceSecurityServerAddress string
	// RequestSize and ResponseSize are body sizes in bytes, -1 when not
	// known.
	RequestSize, ResponseSize int64
	// Succeeded, FaultCode and FaultString give the outcome.
	Succeeded              bool
	FaultCode, FaultString string
	// StatusCode is the HTTP status this server answered with (0 when
	// none).
	StatusCode int
	// XRequestID is X-Road-Request-Id.
	XRequestID string
}

// FromEvent makes the record of an exchange event, stored at storedAt.
// doc, if not nil, supplies the security servers' registered addresses.
func FromEvent(ev proxy.ExchangeEvent, storedAt time.Time, doc *globalconf.Document) Record {
	r := Record{
		MonitoringDataTs:   storedAt,
		SecurityServerType: TypeClient,
		RequestIn:          ev.RequestIn, RequestOut: ev.RequestOut, ResponseIn: ev.ResponseIn, ResponseOut: ev.ResponseOut,
		Client: ev.Client, Service: ev.Service,
		RestMethod: ev.Method, RestPath: ev.Path,
		RepresentedParty: ev.RepresentedParty,
		MessageID:        ev.MessageID, MessageUserID: ev.UserID, MessageIssue: ev.Issue,
		MessageProtocolVersion:       ev.ProtocolVersion,
		ServiceSecurityServerAddress: ev.ServiceServerAddress,
		RequestSize:                  ev.RequestSize, ResponseSize: ev.ResponseSize,
		Succeeded: ev.Succeeded, FaultCode: ev.FaultCode, FaultString: truncate(ev.FaultString, MaxFaultString),
		StatusCode: ev.Status,
		XRequestID: ev.RequestID,
	}
	if ev.Side == proxy.ServerSide {
		r.SecurityServerType = TypeProducer
	}
	if ev.LocalAddr != nil {
		r.SecurityServerInternalIP = hostOf(ev.LocalAddr)
	}
	if doc != nil {
		r.ClientSecurityServerAddress = address(doc, ev.ClientServer)
		if r.ServiceSecurityServerAddress == "" {
			r.ServiceSecurityServerAddress = address(doc, ev.ServiceServer)
		}
	}
	return r
}

// address returns the first registered address of server id ("" when the
// configuration does not list it).
func address(doc *globalconf.Document, id xroad.ServerID) string {
	if id == (xroad.ServerID{}) {
		return ""
	}
	if s, ok := doc.ServerByID(id); ok && len(s.Addresses) > 0 {
		return s.Addresses[0]
	}
	return ""
}

// hostOf returns the IP (or host) of a listener address.
func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	s := a.String()
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return s
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}
