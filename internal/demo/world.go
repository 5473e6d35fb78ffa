package demo

import (
	"net/http"
	"slices"

	"github.com/jisr-bus/jisr/adapters/finance"
	"github.com/jisr-bus/jisr/adapters/health"
	"github.com/jisr-bus/jisr/adapters/interior"
	"github.com/jisr-bus/jisr/adapters/payments"
	"github.com/jisr-bus/jisr/adapters/post"
	"github.com/jisr-bus/jisr/adapters/transport"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

// Org is one organisation of the demo world: a member of class GOV with
// one security server (ss1) hosting one subsystem. Providers offer one
// service, served by their ministry adapter (adapters/…).
type Org struct {
	// Prefix is the member code in lower case: the security server's
	// folder (ss-<prefix>), its listeners' names and the adapter's name.
	Prefix string
	// Code and Name are the member's code and organisation name.
	Code, Name string
	// Subsystem is the subsystem the security server hosts.
	Subsystem string
	// Service is the service code of the adapter behind it; "" for the
	// consumer-only Cabinet Secretariat.
	Service string
	// Title and Description are published to the central catalogue.
	Title, Description string
}

// Member returns the organisation's member identifier.
func (o Org) Member() xroad.MemberID { return member(o.Code) }

// Server returns the organisation's security server.
func (o Org) Server() xroad.ServerID { return xroad.ServerID{Owner: o.Member(), Code: "ss1"} }

// Client returns the subsystem the organisation's security server hosts.
func (o Org) Client() xroad.ClientID { return o.Member().Subsystem(o.Subsystem) }

// ServiceID returns the provider's service (zero for the consumer).
func (o Org) ServiceID() xroad.ServiceID {
	if o.Service == "" {
		return xroad.ServiceID{}
	}
	return xroad.ServiceID{Provider: o.Client(), Code: o.Service}
}

// openAPI returns the description the adapter serves.
func (o Org) openAPI() []byte {
	switch o.Prefix {
	case "moi":
		return interior.OpenAPI()
	case "mot":
		return transport.OpenAPI()
	case "moh":
		return health.OpenAPI()
	case "pma":
		return payments.OpenAPI()
	case "mof":
		return finance.OpenAPI()
	case "post":
		return post.OpenAPI()
	}
	return nil
}

// Cabinet is the Cabinet Secretariat: the consumer whose security server
// the Hukumati portal calls through.
func Cabinet() Org {
	return Org{Prefix: "cab", Code: "CAB", Name: "Cabinet Secretariat", Subsystem: "portal"}
}

// Providers are the ministries, in the order of the product brief. The
// service codes are what the portal's bus configuration names.
func Providers() []Org {
	return []Org{
		{Prefix: "moi", Code: "MOI", Name: "Ministry of Interior", Subsystem: "civil-registry", Service: "registry",
			Title:       "Civil registry",
			Description: "Persons by national ID, birth records, certified birth certificates and civil-registry extracts with verifiable codes"},
		{Prefix: "mot", Code: "MOT", Name: "Ministry of Transport", Subsystem: "licensing", Service: "licensing",
			Title:       "Driving licences, vehicles and traffic fines",
			Description: "Driving-licence status and renewal, vehicle licences, traffic fines by national ID or plate and their payment"},
		{Prefix: "moh", Code: "MOH", Name: "Ministry of Health", Subsystem: "insurance", Service: "insurance",
			Title:       "Government health insurance",
			Description: "Government health-insurance policies and their renewal"},
		{Prefix: "pma", Code: "PMA", Name: "Palestine Monetary Authority", Subsystem: "payments", Service: "payments",
			Title:       "Payment orders",
			Description: "Payment orders by card, bank account or deposit voucher (ILS, JOD, USD), idempotent, with receipts"},
		{Prefix: "mof", Code: "MOF", Name: "Ministry of Finance", Subsystem: "revenue", Service: "revenue",
			Title:       "Fees and revenue ledger",
			Description: "Fee schedule per service, revenue ledger credited once per paid order, reconciliation"},
		{Prefix: "post", Code: "POST", Name: "Palestine Post", Subsystem: "delivery", Service: "delivery",
			Title:       "Delivery and appointments",
			Description: "Delivery orders with tracking, pick-up at post offices, registration-centre appointments"},
	}
}

// orgs is every organisation: the consumer first, then the providers.
func orgs() []Org { return append([]Org{Cabinet()}, Providers()...) }

// provider returns the provider with the prefix.
func provider(prefix string) Org {
	i := slices.IndexFunc(Providers(), func(o Org) bool { return o.Prefix == prefix })
	return Providers()[i]
}

// paysThroughBus lists the ministries whose adapters check payment
// orders at the Monetary Authority: they call it through their own
// security server.
func paysThroughBus() []string { return []string{"mot", "moh", "mof"} }

// endpoint is one endpoint of a service in X-Road's form ("{…}" is "*").
type endpoint struct{ method, path string }

// portalDenied are the endpoints the portal is not granted: what the
// ministries' own staff, banks or the Ministry of Finance use.
func portalDenied(prefix string) []endpoint {
	switch prefix {
	case "moi":
		// Revocation is a registry officer's act.
		return []endpoint{{http.MethodPost, "/v1/documents/*/revocation"}}
	case "pma":
		// Issuing deposit vouchers simulates a bank counter; the listing
		// of paid orders is reconciliation data.
		return []endpoint{{http.MethodPost, "/v1/deposit-vouchers"}, {http.MethodGet, "/v1/payment-orders"}}
	case "mof":
		return []endpoint{{http.MethodGet, "/v1/reconciliation"}}
	case "post":
		// Tracking events are recorded by the post's own staff.
		return []endpoint{{http.MethodPost, "/v1/deliveries/*/events"}}
	}
	return nil
}

// paymentCheck is the one endpoint the paid services' ministries are
// granted at the Monetary Authority: reading an order (payments.Client).
func paymentCheck() endpoint {
	return endpoint{http.MethodGet, payments.PaymentOrderPath + "*"}
}

// grantsFor returns the access rights a provider's security server gives:
// the portal every endpoint of the provider's description but those
// portalDenied lists, and, at the Monetary Authority, the ministries that
// check payments the order read.
func grantsFor(o Org, endpoints []conf.EndpointSpec) []conf.AccessRight {
	var out []conf.AccessRight
	denied := portalDenied(o.Prefix)
	for _, e := range endpoints {
		if slices.Contains(denied, endpoint{e.Method, e.Path}) {
			continue
		}
		out = append(out, conf.AccessRight{Provider: o.Client(), ServiceCode: o.Service, Endpoint: e, Subject: Cabinet().Client()})
	}
	if o.Prefix == "pma" {
		chk := paymentCheck()
		for _, p := range paysThroughBus() {
			out = append(out, conf.AccessRight{Provider: o.Client(), ServiceCode: o.Service,
				Endpoint: conf.EndpointSpec{Method: chk.method, Path: chk.path}, Subject: provider(p).Client()})
		}
	}
	return out
}
