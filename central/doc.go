// Package central is the central server of a jisr instance, as one node
// (Service) of possibly several sharing a PostgreSQL registry:
//
//   - configuration publishing (Publisher): builds the global configuration
//     (internal/globalconf) from the registry in one consistent snapshot,
//     signs it with every configured configuration key (several during a
//     key rotation), and stores it under the next serial with the
//     registry's PublishNext; it republishes when the registry changes, when
//     the document's content would change (URLs, management certificates, keys),
//     and at half the document's lifetime. Nodes racing for a serial agree
//     through the database; every node serves the latest stored bytes at
//     /globalconf on the configuration listener, so all nodes answer with
//     the same ETag;
//   - the admin REST API (API; OpenAPI 3 description in openapi.yaml,
//     served at /openapi.yaml): X-Road style API keys and roles, one route
//     table deciding who may do what, every write and every refused write
//     audited (successful writes in the same transaction as the change);
//   - the management-request listener, served by a Management
//     implementation (central/mgmt) installed with WithManagement;
//   - initialisation of a central server directory (Init) and the anchor
//     security servers are bootstrapped with (ExportAnchor);
//   - /healthz on every listener and Prometheus metrics on the admin
//     listener.
//
// The registry itself (storage, its invariants) is central/registry; the
// verification of signed management requests and their application to the
// registry is central/mgmt; the document format, signing and verification
// are internal/globalconf. This package wires them and holds no
// package-level state.
package central
