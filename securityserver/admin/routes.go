package admin

import (
	"context"
	"net/http"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

// operations returns the route table: the only place where what each role
// may do is decided. openapi.yaml repeats it (x-roles) and a test keeps
// both equal. Operations with an action are audited: every write, and the
// auditors' reads of the message log.
func (a *API) operations() []*operation {
	return []*operation{
		{method: http.MethodGet, pattern: "/clients", id: "listClients", roles: readers(), handle: a.listClients},
		{method: http.MethodPost, pattern: "/clients", id: "addClient", roles: registration(), action: "client.add", handle: a.addClient},
		{method: http.MethodGet, pattern: "/clients/{clientId}", id: "getClient", roles: readers(), handle: a.getClient},
		{method: http.MethodPatch, pattern: "/clients/{clientId}", id: "updateClient", roles: clientSettings(), action: "client.update", handle: a.updateClient},
		{method: http.MethodDelete, pattern: "/clients/{clientId}", id: "deleteClient", roles: registration(), action: "client.delete", handle: a.deleteClient},
		{method: http.MethodPost, pattern: "/clients/{clientId}/register", id: "registerClient", roles: registration(), action: "client.register", handle: a.registerClient},
		{method: http.MethodPost, pattern: "/clients/{clientId}/unregister", id: "unregisterClient", roles: registration(), action: "client.unregister", handle: a.unregisterClient},

		{method: http.MethodGet, pattern: "/clients/{clientId}/tls-certificates", id: "listTLSCertificates", roles: readers(), handle: a.listTLSCertificates},
		{method: http.MethodPost, pattern: "/clients/{clientId}/tls-certificates", id: "addTLSCertificate", roles: security(), action: "tlsCertificate.add", handle: a.addTLSCertificate},
		{method: http.MethodDelete, pattern: "/clients/{clientId}/tls-certificates/{hash}", id: "deleteTLSCertificate", roles: security(), action: "tlsCertificate.delete", handle: a.deleteTLSCertificate},
		{method: http.MethodGet, pattern: "/internal-tls-certificate", id: "getInternalTLSCertificate", roles: readers(), handle: a.getInternalTLSCertificate},

		{method: http.MethodGet, pattern: "/clients/{clientId}/local-groups", id: "listLocalGroups", roles: readers(), handle: a.listLocalGroups},
		{method: http.MethodPost, pattern: "/clients/{clientId}/local-groups", id: "addLocalGroup", roles: services(), action: "localGroup.add", handle: a.addLocalGroup},
		{method: http.MethodGet, pattern: "/clients/{clientId}/local-groups/{groupCode}", id: "getLocalGroup", roles: readers(), handle: a.getLocalGroup},
		{method: http.MethodDelete, pattern: "/clients/{clientId}/local-groups/{groupCode}", id: "deleteLocalGroup", roles: services(), action: "localGroup.delete", handle: a.deleteLocalGroup},
		{method: http.MethodPost, pattern: "/clients/{clientId}/local-groups/{groupCode}/members", id: "addLocalGroupMember", roles: services(), action: "localGroup.addMember", handle: a.addLocalGroupMember},
		{method: http.MethodDelete, pattern: "/clients/{clientId}/local-groups/{groupCode}/members/{memberId}", id: "removeLocalGroupMember", roles: services(), action: "localGroup.removeMember", handle: a.removeLocalGroupMember},

		{method: http.MethodGet, pattern: "/clients/{clientId}/services", id: "listServices", roles: readers(), handle: a.listServices},
		{method: http.MethodPost, pattern: "/services", id: "addService", roles: services(), action: "service.add", handle: a.addService},
		{method: http.MethodGet, pattern: "/services/{serviceId}", id: "getService", roles: readers(), handle: a.getService},
		{method: http.MethodPatch, pattern: "/services/{serviceId}", id: "updateService", roles: services(), action: "service.update", handle: a.updateService},
		{method: http.MethodDelete, pattern: "/services/{serviceId}", id: "deleteService", roles: services(), action: "service.delete", handle: a.deleteService},
		{method: http.MethodPost, pattern: "/services/{serviceId}/refresh", id: "refreshService", roles: services(), action: "service.refresh", handle: a.refreshService},
		{method: http.MethodGet, pattern: "/services/{serviceId}/openapi", id: "getServiceOpenAPI", roles: readers(), handle: a.getServiceOpenAPI},

		{method: http.MethodGet, pattern: "/services/{serviceId}/access-rights", id: "listAccessRights", roles: readers(), handle: a.listAccessRights},
		{method: http.MethodPost, pattern: "/access-rights", id: "grantAccessRight", roles: services(), action: "accessRight.grant", handle: a.grantAccessRight},
		{method: http.MethodDelete, pattern: "/services/{serviceId}/access-rights", id: "revokeAccessRight", roles: services(), action: "accessRight.revoke", handle: a.revokeAccessRight},

		{method: http.MethodGet, pattern: "/keys", id: "listKeys", roles: readers(), handle: a.listKeys},
		{method: http.MethodPost, pattern: "/keys", id: "generateSignKey", roles: security(), action: "key.generate", handle: a.generateSignKey},
		{method: http.MethodPost, pattern: "/keys/{keyId}/csr", id: "createCSR", roles: security(), action: "key.csr", handle: a.createCSR},
		{method: http.MethodPost, pattern: "/keys/{keyId}/enrol", id: "enrolCertificate", roles: security(), action: "key.enrol", handle: a.enrolCertificate},
		{method: http.MethodPost, pattern: "/keys/{keyId}/renew", id: "renewCertificate", roles: security(), action: "key.renew", handle: a.renewCertificate},
		{method: http.MethodPost, pattern: "/keys/{keyId}/register", id: "registerAuthCertificate", roles: security(), action: "key.register", handle: a.registerAuthCertificate},
		{method: http.MethodPost, pattern: "/keys/{keyId}/activate", id: "activateAuthCertificate", roles: security(), action: "key.activate", handle: a.activateAuthCertificate},
		{method: http.MethodPost, pattern: "/certificates", id: "importCertificate", roles: security(), action: "certificate.import", handle: a.importCertificate},

		{method: http.MethodGet, pattern: "/message-log/settings", id: "getMessageLogSettings", roles: readers(), handle: a.getMessageLogSettings},
		{method: http.MethodGet, pattern: "/message-log/records", id: "searchMessageLog", roles: auditors(), action: "messageLog.search", handle: a.searchMessageLog},
		{method: http.MethodGet, pattern: "/message-log/exchanges/{messageId}/evidence", id: "exportEvidence", roles: auditors(), action: "messageLog.export", handle: a.exportEvidence},

		{method: http.MethodGet, pattern: "/api-keys", id: "listAPIKeys", roles: sysadmin(), handle: a.listAPIKeys},
		{method: http.MethodPost, pattern: "/api-keys", id: "createAPIKey", roles: sysadmin(), action: "apiKey.create", handle: a.createAPIKey},
		{method: http.MethodDelete, pattern: "/api-keys/{keyId}", id: "revokeAPIKey", roles: sysadmin(), action: "apiKey.revoke", handle: a.revokeAPIKey},

		{method: http.MethodGet, pattern: "/audit", id: "listAuditEvents", roles: sysadmin(), handle: a.listAuditEvents},
	}
}

// Clients.

func (c *call) clientID() (xroad.ClientID, error) {
	s, err := c.param("clientId")
	if err != nil {
		return xroad.ClientID{}, err
	}
	return ParseClientID(s)
}

func (a *API) listClients(ctx context.Context, _ *call) (result, error) {
	cs, err := a.backend.Clients(ctx)
	if err != nil {
		return result{}, err
	}
	out := make([]Client, 0, len(cs))
	for _, c := range cs {
		out = append(out, toClient(c))
	}
	return result{body: out}, nil
}

func (a *API) getClient(ctx context.Context, c *call) (result, error) {
	id, err := c.clientID()
	if err != nil {
		return result{}, err
	}
	cl, err := a.backend.Client(ctx, id)
	if err != nil {
		return result{}, err
	}
	return result{body: toClient(cl)}, nil
}

func (a *API) addClient(ctx context.Context, c *call) (result, error) {
	var in NewClient
	if err := c.decode(&in); err != nil {
		return result{}, err
	}
	id, err := ParseClientID(in.Client)
	if err != nil {
		return result{}, err
	}
	conn := in.ConnectionType
	if in.Connection != "" {
		if conn != "" && conn != in.Connection {
			return result{}, badRequest("connection and connectionType differ")
		}
		conn = in.Connection
	}
	cl := conf.Client{ID: id, Connection: conf.ConnectionType(conn), BodyLogging: conf.BodyLogging(in.BodyLogging)}
	if cl.Connection == "" {
		cl.Connection = conf.ConnHTTP
	}
	if cl.BodyLogging == "" {
		cl.BodyLogging = conf.BodyLoggingFull
	}
	register := in.Register == nil || *in.Register
	added, st, err := a.backend.AddClient(ctx, cl, register)
	if err != nil {
		return result{}, err
	}
	status := http.StatusCreated
	if st != nil {
		status = http.StatusAccepted
	}
	out := ClientChange{Client: toClient(added), ManagementRequest: toManagementRequest(st)}
	return result{status: status, body: out, target: id.Typed(),
		detail: map[string]any{"connectionType": cl.Connection, "bodyLogging": cl.BodyLogging, "register": register,
			"managementRequest": out.ManagementRequest}}, nil
}

func (a *API) updateClient(ctx context.Context, c *call) (result, error) {
	id, err := c.clientID()
	if err != nil {
		return result{}, err
	}
	var in ClientUpdate
	if err := c.decode(&in); err != nil {
		return result{}, err
	}
	cl, err := a.backend.UpdateClient(ctx, id, conf.ConnectionType(in.ConnectionType), conf.BodyLogging(in.BodyLogging))
	if err != nil {
		return result{}, err
	}
	return result{body: toClient(cl), target: id.Typed(), detail: in}, nil
}

func (a *API) deleteClient(ctx context.Context, c *call) (result, error) {
	id, err := c.clientID()
	if err != nil {
		return result{}, err
	}
	if err := a.backend.DeleteClient(ctx, id); err != nil {
		return result{}, err
	}
	return result{status: http.StatusNoContent, target: id.Typed()}, nil
}

func (a *API) registerClient(ctx context.Context, c *call) (result, error) {
	id, err := c.clientID()
	if err != nil {
		return result{}, err
	}
	cl, st, err := a.backend.RegisterClient(ctx, id)
	if err != nil {
		return result{}, err
	}
	out := ClientChange{Client: toClient(cl), ManagementRequest: toManagementRequest(&st)}
	return result{status: http.StatusAccepted, body: out, target: id.Typed(), detail: map[string]any{"managementRequest": out.ManagementRequest}}, nil
}

func (a *API) unregisterClient(ctx context.Context, c *call) (result, error) {
	id, err := c.clientID()
	if err != nil {
		return result{}, err
	}
	cl, st, err := a.backend.UnregisterClient(ctx, id)
	if err != nil {
		return result{}, err
	}
	out := ClientChange{Client: toClient(cl), ManagementRequest: toManagementRequest(&st)}
	return result{status: http.StatusAccepted, body: out, target: id.Typed(), detail: map[string]any{"managementRequest": out.ManagementRequest}}, nil
}

// TLS certificates of information systems.

func (a *API) listTLSCertificates(ctx context.Context, c *call) (result, error) {
	id, err := c.clientID()
	if err != nil {
		return result{}, err
	}
	cs, err := a.backend.ISCertificates(ctx, id)
	if err != nil {
		return result{}, err
	}
	out := make([]TLSCertificate, 0, len(cs))
	for _, ic := range cs {
		out = append(out, toTLSCertificate(ic))
	}
	return result{body: out}, nil
}

func (a *API) addTLSCertificate(ctx context.Context, c *call) (result, error) {
	id, err := c.clientID()
	if err != nil {
		return result{}, err
	}
	var in NewCertificate
	if err := c.decode(&in); err != nil {
		return result{}, err
	}
	chain, err := parsePEMChain("pem", in.PEM)
	if err != nil {
		return result{}, err
	}
	if len(chain) != 1 {
		return result{}, badRequest("pem: want exactly one certificate, got %d", len(chain))
	}
	ic, err := a.backend.AddISCertificate(ctx, id, chain[0].Raw)
	if err != nil {
		return result{}, err
	}
	out := toTLSCertificate(ic)
	return result{status: http.StatusCreated, body: out, target: id.Typed(),
		detail: map[string]string{"hash": out.Hash, "subject": out.Subject}}, nil
}

func (a *API) deleteTLSCertificate(ctx context.Context, c *call) (result, error) {
	id, err := c.clientID()
	if err != nil {
		return result{}, err
	}
	hash, err := c.param("hash")
	if err != nil {
		return result{}, err
	}
	if err := a.backend.RemoveISCertificate(ctx, id, hash); err != nil {
		return result{}, err
	}
	return result{status: http.StatusNoContent, target: id.Typed(), detail: map[string]string{"hash": hash}}, nil
}

func (a *API) getInternalTLSCertificate(ctx context.Context, _ *call) (result, error) {
	chain, err := a.backend.InternalTLSCertificate(ctx)
	if err != nil {
		return result{}, err
	}
	if len(chain) == 0 {
		return result{}, xerrNotFound("no internal TLS certificate")
	}
	return result{body: toKeyCertificate(&CertInfo{Chain: chain, OCSPStatus: OCSPUnknown,
		OCSPError: "self-signed: not checked"}, a.clk.Now())}, nil
}

// Local groups.

func (c *call) groupRef() (xroad.ClientID, string, error) {
	id, err := c.clientID()
	if err != nil {
		return xroad.ClientID{}, "", err
	}
	code, err := c.param("groupCode")
	if err != nil {
		return xroad.ClientID{}, "", err
	}
	if err := xroad.ValidatePart(code); err != nil {
		return xroad.ClientID{}, "", err
	}
	return id, code, nil
}

func (a *API) listLocalGroups(ctx context.Context, c *call) (result, error) {
	id, err := c.clientID()
	if err != nil {
		return result{}, err
	}
	gs, err := a.backend.LocalGroups(ctx, id)
	if err != nil {
		return result{}, err
	}
	out := make([]LocalGroup, 0, len(gs))
	for _, g := range gs {
		out = append(out, toLocalGroup(g))
	}
	return result{body: out}, nil
}

func (a *API) getLocalGroup(ctx context.Context, c *call) (result, error) {
	id, code, err := c.groupRef()
	if err != nil {
		return result{}, err
	}
	g, err := a.backend.LocalGroup(ctx, id, code)
	if err != nil {
		return result{}, err
	}
	return result{body: toLocalGroup(g)}, nil
}

func (a *API) addLocalGroup(ctx context.Context, c *call) (result, error) {
	id, err := c.clientID()
	if err != nil {
		return result{}, err
	}
	var in NewLocalGroup
	if err := c.decode(&in); err != nil {
		return result{}, err
	}
	g, err := a.backend.AddLocalGroup(ctx, conf.LocalGroup{Client: id, Code: in.Code, Description: in.Description})
	if err != nil {
		return result{}, err
	}
	return result{status: http.StatusCreated, body: toLocalGroup(g), target: xroad.LocalGroupID{Code: in.Code}.Typed() + "@" + id.String(), detail: in}, nil
}

func (a *API) deleteLocalGroup(ctx context.Context, c *call) (result, error) {
	id, code, err := c.groupRef()
	if err != nil {
		return result{}, err
	}
	if err := a.backend.DeleteLocalGroup(ctx, id, code); err != nil {
		return result{}, err
	}
	return result{status: http.StatusNoContent, target: xroad.LocalGroupID{Code: code}.Typed() + "@" + id.String()}, nil
}

func (a *API) addLocalGroupMember(ctx context.Context, c *call) (result, error) {
	id, code, err := c.groupRef()
	if err != nil {
		return result{}, err
	}
	var in GroupMember
	if err := c.decode(&in); err != nil {
		return result{}, err
	}
	m, err := ParseClientID(in.Member)
	if err != nil {
		return result{}, err
	}
	g, err := a.backend.AddLocalGroupMember(ctx, id, code, m)
	if err != nil {
		return result{}, err
	}
	return result{body: toLocalGroup(g), target: xroad.LocalGroupID{Code: code}.Typed() + "@" + id.String(),
		detail: map[string]string{"member": m.Typed()}}, nil
}

func (a *API) removeLocalGroupMember(ctx context.Context, c *call) (result, error) {
	id, code, err := c.groupRef()
	if err != nil {
		return result{}, err
	}
	raw, err := c.param("memberId")
	if err != nil {
		return result{}, err
	}
	m, err := ParseClientID(raw)
	if err != nil {
		return result{}, err
	}
	if err := a.backend.RemoveLocalGroupMember(ctx, id, code, m); err != nil {
		return result{}, err
	}
	return result{status: http.StatusNoContent, target: xroad.LocalGroupID{Code: code}.Typed() + "@" + id.String(),
		detail: map[string]string{"member": m.Typed()}}, nil
}
