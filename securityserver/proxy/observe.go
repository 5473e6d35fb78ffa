package proxy

import (
	"net"
	"net/http"
	"time"

	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/message"
)

// Observer is told about every exchange a proxy handled, once, when the
// exchange has ended — succeeded or refused — and after the answer was
// written. It is what operational monitoring (securityserver/opmon) and the
// exchange metrics hang on; it must not block (queue, count, return) and
// must be safe for concurrent use. The event is passed by value and shares
// no memory that the proxy reuses, so an observer may keep it.
//
// The client proxy reports r1 requests (not listClients); the server proxy
// reports every request that reached the SS↔SS listener.
type Observer interface {
	ObserveExchange(ev ExchangeEvent)
}

// Observers fans an event out to several observers, in order. Nil entries
// are skipped.
type Observers []Observer

// ObserveExchange implements Observer.
func (o Observers) ObserveExchange(ev ExchangeEvent) {
	for _, x := range o {
		if x != nil {
			x.ObserveExchange(ev)
		}
	}
}

var _ Observer = Observers(nil)

// ExchangeEvent is one exchange as one security server handled it: the
// fields of X-Road's operational monitoring record (PR-OPMON) that a proxy
// knows. It never holds a payload. Fields the exchange did not reach are
// zero (a request refused before its client was parsed has no Client).
type ExchangeEvent struct {
	// Side is ClientSide (consumer's server, X-Road's "Client") or
	// ServerSide (provider's server, X-Road's "Producer").
	Side Side

	// RequestIn is when the request arrived (from the information system
	// on the client side, from the consumer's security server on the
	// server side). RequestOut is when it was sent on (to the provider's
	// security server; to the service), ResponseIn when the answer to it
	// arrived, ResponseOut when the answer (or the error) was written back.
	// All four come from the proxy's injected clock.
	RequestIn, RequestOut, ResponseIn, ResponseOut time.Time

	// Client and Service identify the exchange as the request named them
	// (not yet authorised when the exchange was refused early).
	Client  xroad.ClientID
	Service xroad.ServiceID
	// Method and Path are the REST method and the escaped path after the
	// service code.
	Method, Path string
	// MessageID (X-Road-Id), UserID, Issue and RepresentedParty ("[CLASS/]CODE")
	// are the optional X-Road fields of the request; ProtocolVersion is
	// the version of the signed message format between security servers.
	MessageID, UserID, Issue, RepresentedParty, ProtocolVersion string
	// RequestID is X-Road-Request-Id, which correlates the records of one
	// exchange on both sides.
	RequestID string

	// ClientServer is the consumer's security server, ServiceServer the
	// provider's (zero when not known yet). ServiceServerAddress is the
	// SS↔SS address the client proxy sent the request to.
	ClientServer, ServiceServer xroad.ServerID
	ServiceServerAddress        string
	// LocalAddr is the address of this server's listener the request
	// arrived on (X-Road's securityServerInternalIp); nil when unknown.
	LocalAddr net.Addr

	// RequestSize and ResponseSize are the body sizes in bytes; -1 when the
	// body was not read.
	RequestSize, ResponseSize int64

	// Succeeded is true when the bus carried the exchange to the end: the
	// service's answer, whatever its status, was returned.
	Succeeded bool
	// FaultCode and FaultString are the X-Road error raised inside the bus
	// (code and the message sent to the caller) when it did not succeed.
	FaultCode, FaultString string
	// Status is the HTTP status this server answered with: the service's
	// status, or that of the bus error.
	Status int
}

// newEvent starts the event of a request that has just arrived.
func newEvent(side Side, now time.Time, r *http.Request) ExchangeEvent {
	ev := ExchangeEvent{Side: side, RequestIn: now, Method: r.Method, RequestSize: -1, ResponseSize: -1}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		ev.LocalAddr = a
	}
	return ev
}

// setRequest records the fields of the request header.
func (ev *ExchangeEvent) setRequest(h *message.RequestHeader) {
	ev.Client, ev.Service = h.Client, h.Service
	ev.Method, ev.Path = h.Method, h.Path
	ev.MessageID, ev.UserID, ev.Issue, ev.RepresentedParty = h.ID, h.UserID, h.Issue, h.RepresentedParty
	ev.ProtocolVersion = h.Version
}

// fail records the boundary error the exchange ended with.
func (ev *ExchangeEvent) fail(e *xerr.Error, now time.Time) {
	ev.Succeeded = false
	ev.FaultCode, ev.FaultString = e.Code, e.Message
	ev.Status = e.HTTPStatus()
	ev.ResponseOut = now
}

// Duration is how long this server held the exchange: from RequestIn to
// ResponseOut (zero when either is unknown).
func (ev *ExchangeEvent) Duration() time.Duration {
	if ev.RequestIn.IsZero() || ev.ResponseOut.IsZero() {
		return 0
	}
	return ev.ResponseOut.Sub(ev.RequestIn)
}

// Outcome is "ok" for an exchange that succeeded, else its fault code.
func (ev *ExchangeEvent) Outcome() string {
	if ev.Succeeded {
		return "ok"
	}
	return ev.FaultCode
}
