// Package proxy is the exchange core of a security server: the client proxy,
// which serves the information systems of the members it hosts with X-Road
// REST r1 (PR-REST) and sends their requests, signed, to the provider's
// security server, and the server proxy, which receives such requests from
// other security servers and calls the provider's service.
//
// It composes the building blocks of its neighbours and adds none of its
// own crypto: identifiers and the r1 path come from internal/xroad, the
// signed message format from securityserver/message, SS↔SS trust (mTLS,
// OCSP, sign material) from securityserver/peer, errors on the wire from
// internal/xerr. Local configuration (hosted clients, services, access
// rights, metaservice data) and the message log are reached through the
// small interfaces of this package (LocalClients, Access, Metadata,
// MessageLog, Signer, Configuration, PeerTransport, PeerAuthenticator), so
// that the proxies can be tested with fakes. It does not store anything
// or serve SOAP (yet). Each proxy reports every exchange, once it has
// ended, to an optional Observer (ExchangeEvent: X-Road's operational
// monitoring fields, no payloads); ExchangeMetrics is the observer that
// keeps the exchange metrics, securityserver/opmon the one that keeps
// operational monitoring records.
//
// # Client proxy
//
// ClientProxy serves, for an information system (IS):
//
//	{METHOD} /r1/{INST}/{CLASS}/{CODE}/{SUB}/{SERVICECODE}[/path][?query]
//	GET /listClients[?xRoadInstance=X]
//
// For an r1 request it checks, in this order: the global configuration is
// current; the path parses segment by segment (xroad.ParseServicePath over
// the escaped path) and has no "." or ".." segment; X-Road-Client is present
// (the last one wins when repeated), well formed, registered, listed in the
// configuration as a client of this security server (ClientConfig.ServerID)
// and hosted per LocalClients; LocalClients.AuthorizeIS accepts the IS
// connection; X-Road-Security-Server, X-Road-Id (a UUID v4 is made when
// absent), X-Road-UserId, X-Road-Issue and X-Road-Represented-Party are well
// formed; a provider server is available. It then spools the body (one pass,
// SHA-256 and SHA-512), signs the request with the client's member's sign
// key, commits it to the message log (nothing is sent if that fails), and
// sends it to a provider security server. The response is decoded, verified
// (signed by the provider's member, bound to our request), committed to the
// log, and returned: the service's status and end-to-end headers, the body,
// and the headers X-Road-Client, X-Road-Service, X-Road-Id,
// X-Road-Request-Id and X-Road-Request-Hash, which overwrite any the service
// sent. X-Road-Request-Hash is computed as PR-REST defines it over jisr's
// header part, the signed canonical request (message.RequestHash); the
// consumer computes it from the request it signed, and the provider's
// response signature covers that request's digest, which binds the two as
// X-Road's provider-computed hash does. Redirects are passed back, never
// followed. There is no CORS handling.
//
// Provider selection: every address of every security server that hosts the
// provider subsystem (globalconf.Document.ServersFor) and is not in
// maintenance mode, or only the server X-Road-Security-Server names.
// Addresses are tried round robin; one that cannot be used before anything
// was sent (dial or TLS failure, or the peer is not the server the
// configuration names) is marked down for ClientConfig.DownFor by the
// injected clock and the next is tried with the same signed message. Down
// addresses are tried last, not never. Once request headers were written to
// a provider, there is no failover.
//
// Metaservices: listClients is answered by the client proxy from the global
// configuration (JSON when Accept names JSON, X-Road's XML otherwise).
// listMethods, allowedMethods and getOpenAPI?serviceCode= (PR-MREST) are
// ordinary signed exchanges whose service code is reserved; the provider's
// server proxy answers them from Metadata without calling a service, in
// X-Road's JSON shape. Only GET without a path is accepted for them.
//
// # Server proxy
//
// ServerProxy serves the SS↔SS listener (peer.Server's TLS configuration).
// For each request it authenticates the peer (PeerAuthenticator), decodes
// the jisr/1 headers strictly, checks that the client is hosted by the peer
// server per the configuration and that the provider is hosted here, spools
// the body, verifies the request (signature by the client's member, body
// digest, clock skew, certificate chain, stapled OCSP, replay guard), makes
// the access decision (service exists, Access.Allowed for the client,
// method and path, service not disabled), obtains the provider member's
// sign material, commits the request to the log, and calls the service:
// base URL + escaped path + raw query, the verified end-to-end headers plus
// X-Road-Client, X-Road-Service, X-Road-Id, X-Road-UserId, X-Road-Issue,
// X-Road-Represented-Party and X-Road-Request-Id, the per-service timeout
// and TLS verification, no redirects followed, no transparent
// decompression. The service's answer is spooled, signed (bound to the
// request digest), committed to the log, and sent back. A service's own
// error responses are ordinary answers and pass through unchanged.
//
// # SS↔SS HTTP mapping
//
// Every exchange is one HTTP/2 request over peer.Transport:
//
//	POST https://{provider address}/jisr/r1
//	X-Jisr-*              the signed request header (message.EncodeRequest)
//	X-Road-Request-Id     unsigned correlation id (logged, given to the service)
//	end-to-end headers    as signed
//	body                  the client's body, byte for byte
//
// The method, path and query of the exchange travel only in the signed
// X-Jisr-Method, X-Jisr-Path and X-Jisr-Query headers; the hop's own
// request line is always POST /jisr/r1 (HopPath), so no intermediary
// method semantics (HEAD, GET bodies) apply to the hop. A signed answer
// carries the X-Jisr-* response headers (message.EncodeResponse, copied as
// is) with the service's status as the hop status. A fault raised by the
// server proxy is an unsigned xerr JSON body with X-Road-Error; the client
// proxy passes on Server.ServerProxy.* and Signer.* faults with their type,
// message and detail (re-encoded as JSON or XML per the IS's Accept) and
// treats anything else unsigned as Server.ClientProxy.InvalidResponse.
//
// The hop's transport (peer.Transport) disables Go's transparent
// compression, so no unsigned Accept-Encoding is added and bodies are not
// decompressed behind the signature.
//
// # Errors
//
// Errors are written only by xerr.Write: status 400 for Client.*, 500
// otherwise, header X-Road-Error, JSON (or XML per Accept) body with type,
// message and detail. The codes, by where they arise (X-Road's
// ErrorCodes.java names):
//
//	Client.BadRequest                         malformed r1 path or "."/".." segment, malformed
//	                                          X-Road-Client/-Id/-UserId/-Issue/-Represented-Party/
//	                                          -Security-Server, invalid metaservice call,
//	                                          request body over MaxBodySize (PR-REST §4.6 ex. 3)
//	Client.MissingHeaderField                 no X-Road-Client
//	Server.ClientProxy.OutdatedGlobalConf     no current global configuration
//	Server.ClientProxy.UnknownMember          client not registered / not on this server /
//	                                          not hosted here; provider hosted by no server
//	Server.ClientProxy.SslAuthenticationFailed IS not authorised (AuthorizeIS); provider's
//	                                          certificate not registered (peer.ToXRoad)
//	Server.ClientProxy.InvalidSecurityServer  X-Road-Security-Server unknown or not hosting
//	                                          the provider
//	Server.ClientProxy.MaintenanceMode        every candidate server in maintenance mode
//	Server.ClientProxy.LoggingFailed          request or response not committed to the log
//	Server.ClientProxy.NetworkError,          SS↔SS connection failures (peer.ToXRoad)
//	  CertValidation, OcspFailed
//	Server.ClientProxy.InvalidSignatureValue, response refused (message.ToXRoad):
//	  InvalidResponse, CertValidation,        tampered, not bound to our request,
//	  IncorrectValidationInfo,                unsigned without a provider fault, …
//	  InconsistentResponse
//	Signer.CannotCreateSignature              no sign key for the member, or the key
//	                                          store's material cannot sign
//	Server.ServerProxy.SslAuthenticationFailed peer not admitted (peer.ToXRoad), or the
//	                                          client is not hosted by the peer server
//	Server.ServerProxy.OutdatedGlobalConf     no current global configuration
//	Server.ServerProxy.InvalidRequest,        request refused (message.ToXRoad): malformed,
//	  InvalidSignatureValue, CertValidation,  tampered header or body, clock skew, replayed
//	  IncorrectValidationInfo, InternalError  message id, revoked or foreign signer, …
//	Server.ServerProxy.UnknownMember          provider subsystem not hosted here
//	Server.ServerProxy.UnknownService         no such service (or getOpenAPI service code)
//	Server.ServerProxy.AccessDenied           not granted to the client, or not the endpoint
//	Server.ServerProxy.ServiceDisabled        disabled; the message carries the notice
//	Server.ServerProxy.LoggingFailed          request or response not committed to the log
//	Server.ServerProxy.NetworkError           cannot connect to the service
//	Server.ServerProxy.ServiceFailed          service did not answer within its timeout, its
//	                                          answer could not be read or is too large
//
// Every refusal is logged by xerr.Write with its internal cause and detail
// id; only code, message and detail reach the caller.
package proxy
