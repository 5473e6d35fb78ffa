// Package kit is what the demo world's ministry adapters (adapters/interior,
// transport, health, payments, finance, post) share: opening their database
// (SQLite by default, PostgreSQL optionally) and bringing their schema up to
// date, the HTTP plumbing every adapter serves its REST API with (chi,
// request validation against the adapter's embedded OpenAPI 3 description,
// request logging with slog, Prometheus metrics, panic containment), the one
// place where an adapter's errors become RFC 9457 problem objects on the
// wire, money amounts in ILS, JOD and USD, and the interface through which
// an adapter checks a payment order reference it is handed.
//
// The adapters are ministry back-ends behind security servers: they trust
// the bus for authentication of the calling information system and take the
// citizen on whose behalf a call is made from X-Road-UserId. kit does no
// cross-ministry calls itself.
package kit
