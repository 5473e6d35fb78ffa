// Package admin is the security server's admin REST API: the HTTP layer
// over which administrators and tools (the web console, scripts) manage
// one security server — its clients, services, access rights, local
// groups, keys and certificates, the TLS certificates of its information
// systems, API keys — and over which auditors search its message log.
//
// It follows the central server's admin API (central/api.go): one route
// table (routes.go) with an operation id and the roles allowed per route,
// an embedded OpenAPI 3 description (openapi.yaml, served at
// /api/openapi.yaml) that repeats the roles as x-roles, API keys sent as
// "Authorization: X-Road-ApiKey token=<secret>", and X-Road's roles plus
// jisr's AUDITOR (roles.go). Every write, every refused write and every
// read of the message log is recorded in an audit trail; a write is
// recorded before it is carried out, and refused when it cannot be (audit
// fails closed).
//
// The package does no security-server work itself: it authenticates,
// authorises, validates, audits and maps errors, and calls a Backend that
// package securityserver implements (this package cannot import it). API
// keys and the audit trail live in the local configuration database
// (conf.AdminStore). It does not serve /healthz, /readyz or /metrics; the
// security server mounts those beside it on the admin listener.
package admin
