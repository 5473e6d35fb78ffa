// Package conf is a security server's local configuration and the access
// decisions made from it: the clients the server hosts (connection type,
// registered information system certificates, registration status, body
// logging), their service descriptions (OpenAPI 3 documents or REST base
// paths) with services (backend URL, timeout, TLS verification, disabled
// notice) and endpoints (method and path pattern), the access rights
// providers grant, and their local groups.
//
// # Storage
//
// One SQL code path and one schema serve SQLite (OpenSQLite, the embedded
// default) and PostgreSQL (OpenPostgres, for several nodes sharing one
// configuration), with embedded goose migrations recorded in their own
// table (MigrationTable) and tables prefixed "ss_". The conftest package
// holds the conformance suite both pass. As in central/registry, access is
// split: the proxy holds a ReadOnly, the admin API a Store whose writes run
// in transactions (Update). Every committed transaction that changes the
// configuration bumps Reader.Version, so each node notices changes by
// polling it and reloads its View. Removing a client, service description,
// service, endpoint or local group removes the access rights that depended
// on it (see Writer).
//
// # Access decisions
//
// A View is an immutable, indexed snapshot (LoadView) for the proxy's hot
// path: View.Allowed decides one request, View.ListMethods,
// View.AllowedMethods and View.OpenAPI answer the REST metaservices in
// X-Road's JSON shapes (ServiceList). The semantics follow X-Road's
// security server (UG-SS §6–8, PR-MREST, and its ServerConfImpl, PathGlob
// and ServerRestMessageProcessor):
//
//   - default deny; rights are per service code (any version) and
//     optionally per endpoint;
//   - subjects are matched exactly: a right granted to a member does not
//     extend to its subsystems (X-Road compares the client identifier with
//     the subject with equals; its user guide lists only subsystems,
//     global groups and local groups as subjects), global groups as the
//     global configuration says (GroupMembership), local groups by their
//     listed members;
//   - endpoint patterns are X-Road path globs ("*" within a segment, "**"
//     across segments, trailing slash significant), matched against the
//     request path after dot-segment removal and percent-decoding
//     (MatchEndpoint, NormalizePath);
//   - an unknown service is UnknownService, a request no right covers is
//     AccessDenied, and a covered request to a disabled service is
//     ServiceDisabled with the administrator's notice.
//
// This package does not fetch service descriptions, talk to the central
// server, check TLS certificates or signatures, or proxy requests: it
// stores what the administrator configured and answers what it implies.
package conf
