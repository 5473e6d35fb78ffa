// Package ports is the one place where jisr's default listen ports live.
// Configuration files may override every one of them.
package ports

// Security server.
const (
	SSClientHTTP  = 8080 // information systems, plain HTTP
	SSClientHTTPS = 8443 // information systems, HTTPS
	SSPeer        = 5500 // SS↔SS mutual TLS
	SSAdmin       = 4000 // admin API and metrics
)

// Central server.
const (
	CentralAdmin      = 4400 // admin API
	CentralConfig     = 4401 // global configuration download
	CentralManagement = 4402 // management requests from security servers
)

// Instance PKI.
const (
	PKICA    = 4443 // CA API including ACME (HTTPS)
	PKIOCSP  = 4480 // OCSP responder (HTTP)
	PKITSA   = 4318 // time-stamping authority (HTTP)
	PKIAdmin = 4490 // PKI admin API (loopback), /metrics, /healthz
)
