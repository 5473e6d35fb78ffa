package central

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// Who may do what. These four sets and the route table below are the only
// place roles are decided; the OpenAPI description repeats them per
// operation (x-roles) and a test checks that both agree.

// readers may read the registry, the catalogue, management requests and
// the configuration status.
func readers() []Role {
	return []Role{RoleSystemAdministrator, RoleRegistrationOfficer, RoleSecurityOfficer, RoleObserver}
}

// registration may change members, subsystems, security servers and global
// groups, and decide management requests.
func registration() []Role { return []Role{RoleSystemAdministrator, RoleRegistrationOfficer} }

// security may change the trust services and the settings, and regenerate
// the configuration.
func security() []Role { return []Role{RoleSystemAdministrator, RoleSecurityOfficer} }

// sysadmin alone manages API keys and reads the audit trail.
func sysadmin() []Role { return []Role{RoleSystemAdministrator} }

// operations returns the admin API's route table.
func (a *API) operations() []*operation {
	return []*operation{
		{method: http.MethodGet, pattern: "/instance", id: "getInstance", roles: readers(), read: a.getInstance},

		{method: http.MethodGet, pattern: "/member-classes", id: "listMemberClasses", roles: readers(), read: a.listMemberClasses},
		{method: http.MethodPost, pattern: "/member-classes", id: "addMemberClass", roles: registration(), action: "memberClass.add", write: a.addMemberClass},

		{method: http.MethodGet, pattern: "/members", id: "listMembers", roles: readers(), read: a.listMembers},
		{method: http.MethodPost, pattern: "/members", id: "addMember", roles: registration(), action: "member.add", write: a.addMember},
		{method: http.MethodGet, pattern: "/members/{memberId}", id: "getMember", roles: readers(), read: a.getMember},
		{method: http.MethodPatch, pattern: "/members/{memberId}", id: "updateMember", roles: registration(), action: "member.update", write: a.updateMember},
		{method: http.MethodDelete, pattern: "/members/{memberId}", id: "deleteMember", roles: registration(), action: "member.delete", write: a.deleteMember},
		{method: http.MethodPost, pattern: "/members/{memberId}/subsystems", id: "addSubsystem", roles: registration(), action: "subsystem.add", write: a.addSubsystem},
		{method: http.MethodDelete, pattern: "/members/{memberId}/subsystems/{subsystemCode}", id: "deleteSubsystem", roles: registration(), action: "subsystem.delete", write: a.deleteSubsystem},

		{method: http.MethodGet, pattern: "/security-servers", id: "listSecurityServers", roles: readers(), read: a.listServers},
		{method: http.MethodGet, pattern: "/security-servers/{serverId}", id: "getSecurityServer", roles: readers(), read: a.getServer},
		{method: http.MethodDelete, pattern: "/security-servers/{serverId}", id: "deleteSecurityServer", roles: registration(), action: "securityServer.delete", write: a.deleteServer},

		{method: http.MethodGet, pattern: "/global-groups", id: "listGlobalGroups", roles: readers(), read: a.listGroups},
		{method: http.MethodPost, pattern: "/global-groups", id: "addGlobalGroup", roles: registration(), action: "globalGroup.add", write: a.addGroup},
		{method: http.MethodGet, pattern: "/global-groups/{groupCode}", id: "getGlobalGroup", roles: readers(), read: a.getGroup},
		{method: http.MethodDelete, pattern: "/global-groups/{groupCode}", id: "deleteGlobalGroup", roles: registration(), action: "globalGroup.delete", write: a.deleteGroup},
		{method: http.MethodPost, pattern: "/global-groups/{groupCode}/members", id: "addGlobalGroupMember", roles: registration(), action: "globalGroup.addMember", write: a.addGroupMember},
		{method: http.MethodDelete, pattern: "/global-groups/{groupCode}/members/{clientId}", id: "removeGlobalGroupMember", roles: registration(), action: "globalGroup.removeMember", write: a.removeGroupMember},

		{method: http.MethodGet, pattern: "/approved-cas", id: "listApprovedCAs", roles: readers(), read: a.listCAs},
		{method: http.MethodPost, pattern: "/approved-cas", id: "addApprovedCA", roles: security(), action: "approvedCA.add", write: a.addCA},
		{method: http.MethodDelete, pattern: "/approved-cas/{name}", id: "deleteApprovedCA", roles: security(), action: "approvedCA.delete", write: a.deleteCA},

		{method: http.MethodGet, pattern: "/approved-tsas", id: "listApprovedTSAs", roles: readers(), read: a.listTSAs},
		{method: http.MethodPost, pattern: "/approved-tsas", id: "addApprovedTSA", roles: security(), action: "approvedTSA.add", write: a.addTSA},
		{method: http.MethodDelete, pattern: "/approved-tsas/{name}", id: "deleteApprovedTSA", roles: security(), action: "approvedTSA.delete", write: a.deleteTSA},

		{method: http.MethodGet, pattern: "/settings", id: "getSettings", roles: readers(), read: a.getSettings},
		{method: http.MethodPatch, pattern: "/settings", id: "updateSettings", roles: security(), action: "settings.update", write: a.updateSettings},

		{method: http.MethodGet, pattern: "/management-requests", id: "listManagementRequests", roles: readers(), read: a.listRequests},
		{method: http.MethodGet, pattern: "/management-requests/{requestId}", id: "getManagementRequest", roles: readers(), read: a.getRequest},
		{method: http.MethodPost, pattern: "/management-requests/{requestId}/approve", id: "approveManagementRequest", roles: registration(), action: "managementRequest.approve", direct: a.approveRequest},
		{method: http.MethodPost, pattern: "/management-requests/{requestId}/reject", id: "rejectManagementRequest", roles: registration(), action: "managementRequest.reject", direct: a.rejectRequest},

		{method: http.MethodGet, pattern: "/catalogue", id: "searchCatalogue", roles: readers(), read: a.searchCatalogue},
		{method: http.MethodGet, pattern: "/catalogue/{serviceId}/openapi", id: "getServiceOpenAPI", roles: readers(), read: a.getServiceOpenAPI},

		{method: http.MethodGet, pattern: "/api-keys", id: "listAPIKeys", roles: sysadmin(), read: a.listAPIKeys},
		{method: http.MethodPost, pattern: "/api-keys", id: "createAPIKey", roles: sysadmin(), action: "apiKey.create", write: a.createAPIKey},
		{method: http.MethodDelete, pattern: "/api-keys/{keyId}", id: "revokeAPIKey", roles: sysadmin(), action: "apiKey.revoke", write: a.revokeAPIKey},

		{method: http.MethodGet, pattern: "/audit", id: "listAuditEvents", roles: sysadmin(), read: a.listAudit},

		{method: http.MethodGet, pattern: "/configuration", id: "getConfigurationStatus", roles: readers(), read: a.getConfiguration},
		{method: http.MethodPost, pattern: "/configuration/regenerate", id: "regenerateConfiguration", roles: security(), action: "configuration.regenerate", direct: a.regenerateConfiguration},
	}
}

// instance returns the registry's instance code.
func (a *API) instance(ctx context.Context) (string, error) {
	return a.store.Instance(ctx)
}

func (a *API) getInstance(ctx context.Context, _ *call) (any, error) {
	var out InstanceInfo
	err := a.store.View(ctx, func(r registry.Reader) error {
		var err error
		if out.Instance, err = r.Instance(ctx); err != nil {
			return err
		}
		out.RegistryVersion, err = r.Version(ctx)
		return err
	})
	return out, err
}

// Member classes.

func (a *API) listMemberClasses(ctx context.Context, _ *call) (any, error) {
	cs, err := a.store.MemberClasses(ctx)
	return mapSlice(cs, func(c registry.MemberClass) MemberClass { return MemberClass(c) }), err
}

func (a *API) addMemberClass(c *call) (apply, error) {
	var in MemberClass
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx registry.Tx) (result, error) {
		if err := tx.AddMemberClass(ctx, registry.MemberClass(in)); err != nil {
			return result{}, err
		}
		return result{status: http.StatusCreated, body: in, target: in.Code, detail: in}, nil
	}, nil
}

// Members and subsystems.

func (a *API) listMembers(ctx context.Context, _ *call) (any, error) {
	ms, err := a.store.Members(ctx)
	return mapSlice(ms, toMember), err
}

func (a *API) getMember(ctx context.Context, c *call) (any, error) {
	id, err := ParseMemberID(c.param("memberId"))
	if err != nil {
		return nil, err
	}
	m, err := a.store.Member(ctx, id)
	return toMember(m), err
}

func (a *API) addMember(c *call) (apply, error) {
	var in NewMember
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx registry.Tx) (result, error) {
		inst, err := tx.Instance(ctx)
		if err != nil {
			return result{}, err
		}
		id := xroad.MemberID{Instance: inst, Class: in.MemberClass, Code: in.MemberCode}
		if err := tx.AddMember(ctx, id, in.Name); err != nil {
			return result{}, err
		}
		m, err := tx.Member(ctx, id)
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusCreated, body: toMember(m), target: id.Typed(), detail: in}, nil
	}, nil
}

func (a *API) updateMember(c *call) (apply, error) {
	id, err := ParseMemberID(c.param("memberId"))
	if err != nil {
		return nil, err
	}
	var in MemberUpdate
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx registry.Tx) (result, error) {
		if err := tx.RenameMember(ctx, id, in.Name); err != nil {
			return result{}, err
		}
		m, err := tx.Member(ctx, id)
		if err != nil {
			return result{}, err
		}
		return result{body: toMember(m), target: id.Typed(), detail: in}, nil
	}, nil
}

func (a *API) deleteMember(c *call) (apply, error) {
	id, err := ParseMemberID(c.param("memberId"))
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx registry.Tx) (result, error) {
		if err := tx.DeleteMember(ctx, id); err != nil {
			return result{}, err
		}
		return result{status: http.StatusNoContent, target: id.Typed()}, nil
	}, nil
}

func (a *API) addSubsystem(c *call) (apply, error) {
	member, err := ParseMemberID(c.param("memberId"))
	if err != nil {
		return nil, err
	}
	var in NewSubsystem
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	id := member.Subsystem(in.SubsystemCode)
	return func(ctx context.Context, tx registry.Tx) (result, error) {
		if err := tx.AddSubsystem(ctx, id); err != nil {
			return result{}, err
		}
		m, err := tx.Member(ctx, member)
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusCreated, body: toMember(m), target: id.Typed()}, nil
	}, nil
}

func (a *API) deleteSubsystem(c *call) (apply, error) {
	member, err := ParseMemberID(c.param("memberId"))
	if err != nil {
		return nil, err
	}
	code := c.param("subsystemCode")
	if err := xroad.ValidatePart(code); err != nil {
		return nil, err
	}
	id := member.Subsystem(code)
	return func(ctx context.Context, tx registry.Tx) (result, error) {
		if err := tx.DeleteSubsystem(ctx, id); err != nil {
			return result{}, err
		}
		return result{status: http.StatusNoContent, target: id.Typed()}, nil
	}, nil
}

// Security servers.

func (a *API) listServers(ctx context.Context, _ *call) (any, error) {
	ss, err := a.store.SecurityServers(ctx)
	return mapSlice(ss, toServer), err
}

func (a *API) getServer(ctx context.Context, c *call) (any, error) {
	id, err := ParseServerID(c.param("serverId"))
	if err != nil {
		return nil, err
	}
	s, err := a.store.SecurityServer(ctx, id)
	return toServer(s), err
}

func (a *API) deleteServer(c *call) (apply, error) {
	id, err := ParseServerID(c.param("serverId"))
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx registry.Tx) (result, error) {
		if err := tx.DeleteSecurityServer(ctx, id); err != nil {
			return result{}, err
		}
		return result{status: http.StatusNoContent, target: id.Typed()}, nil
	}, nil
}

// Global groups.

func (a *API) groupID(ctx context.Context, code string) (xroad.GlobalGroupID, error) {
	if err := xroad.ValidatePart(code); err != nil {
		return xroad.GlobalGroupID{}, err
	}
	inst, err := a.instance(ctx)
	if err != nil {
		return xroad.GlobalGroupID{}, err
	}
	return xroad.GlobalGroupID{Instance: inst, Code: code}, nil
}

func (a *API) listGroups(ctx context.Context, _ *call) (any, error) {
	gs, err := a.store.GlobalGroups(ctx)
	return mapSlice(gs, toGroup), err
}

func (a *API) getGroup(ctx context.Context, c *call) (any, error) {
	id, err := a.groupID(ctx, c.param("groupCode"))
	if err != nil {
		return nil, err
	}
	g, err := a.store.GlobalGroup(ctx, id)
	return toGroup(g), err
}

func (a *API) addGroup(c *call) (apply, error) {
	var in NewGlobalGroup
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	id, err := a.groupID(c.r.Context(), in.Code)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx registry.Tx) (result, error) {
		if err := tx.AddGlobalGroup(ctx, registry.GlobalGroup{ID: id, Description: in.Description}); err != nil {
			return result{}, err
		}
		g, err := tx.GlobalGroup(ctx, id)
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusCreated, body: toGroup(g), target: id.Typed(), detail: in}, nil
	}, nil
}

func (a *API) deleteGroup(c *call) (apply, error) {
	id, err := a.groupID(c.r.Context(), c.param("groupCode"))
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx registry.Tx) (result, error) {
		if err := tx.DeleteGlobalGroup(ctx, id); err != nil {
			return result{}, err
		}
		return result{status: http.StatusNoContent, target: id.Typed()}, nil
	}, nil
}

func (a *API) addGroupMember(c *call) (apply, error) {
	id, err := a.groupID(c.r.Context(), c.param("groupCode"))
	if err != nil {
		return nil, err
	}
	var in GroupMemberRef
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	client, err := ParseClientID(in.Client)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx registry.Tx) (result, error) {
		if err := tx.AddGroupMember(ctx, id, client); err != nil {
			return result{}, err
		}
		g, err := tx.GlobalGroup(ctx, id)
		if err != nil {
			return result{}, err
		}
		return result{body: toGroup(g), target: id.Typed(), detail: map[string]string{"client": client.Typed()}}, nil
	}, nil
}

func (a *API) removeGroupMember(c *call) (apply, error) {
	id, err := a.groupID(c.r.Context(), c.param("groupCode"))
	if err != nil {
		return nil, err
	}
	client, err := ParseClientID(c.param("clientId"))
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx registry.Tx) (result, error) {
		if err := tx.RemoveGroupMember(ctx, id, client); err != nil {
			return result{}, err
		}
		return result{status: http.StatusNoContent, target: id.Typed(), detail: map[string]string{"client": client.Typed()}}, nil
	}, nil
}

// Approved CAs and TSAs.

func (a *API) listCAs(ctx context.Context, _ *call) (any, error) {
	cs, err := a.store.ApprovedCAs(ctx)
	return mapSlice(cs, toCA), err
}

func (a *API) addCA(c *call) (apply, error) {
	var in NewApprovedCA
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	ca := registry.ApprovedCA{Name: in.Name, Profile: in.Profile}
	if ca.Profile == "" {
		ca.Profile = DefaultProfile
	}
	var err error
	if ca.Roots, err = parsePEMCertificates("roots", in.Roots); err != nil {
		return nil, err
	}
	if in.Intermediates != "" {
		if ca.Intermediates, err = parsePEMCertificates("intermediates", in.Intermediates); err != nil {
			return nil, err
		}
	}
	for _, o := range in.OCSPResponders {
		if err := checkHTTPURL(o.URL); err != nil {
			return nil, badRequest("ocspResponders: %v", err)
		}
		r := registry.OCSPResponder{URL: o.URL}
		if o.Certificate != "" {
			ders, err := parsePEMCertificates("ocspResponders.certificate", o.Certificate)
			if err != nil {
				return nil, err
			}
			r.Cert = ders[0]
		}
		ca.OCSPResponders = append(ca.OCSPResponders, r)
	}
	// Refuse what the configuration could not carry (non-CA roots, …)
	// now rather than at the next publication.
	if err := checkCA(ca); err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx registry.Tx) (result, error) {
		if err := tx.AddApprovedCA(ctx, ca); err != nil {
			return result{}, err
		}
		out := toCA(ca)
		return result{status: http.StatusCreated, body: out, target: ca.Name, detail: caDetail(out)}, nil
	}, nil
}

// caDetail is what the audit trail records of an approved CA: names and
// hashes, not the certificates.
func caDetail(c ApprovedCA) map[string]any {
	hashes := func(cs []Certificate) []string {
		return mapSlice(cs, func(c Certificate) string { return c.SHA256 })
	}
	return map[string]any{"profile": c.Profile, "roots": hashes(c.Roots), "intermediates": hashes(c.Intermediates),
		"ocspResponders": mapSlice(c.OCSPResponders, func(o OCSPResponder) string { return o.URL })}
}

// checkCA validates an approved CA as the global configuration will.
func checkCA(ca registry.ApprovedCA) error {
	d := minimalDocument()
	d.ApprovedCAs = []globalconf.ApprovedCA{{Name: ca.Name, Profile: ca.Profile, Certificates: ca.Roots, Intermediates: ca.Intermediates,
		OCSPResponders: mapSlice(ca.OCSPResponders, func(o registry.OCSPResponder) globalconf.OCSPResponder {
			return globalconf.OCSPResponder{URL: o.URL, Certificate: o.Cert}
		})}}
	if err := d.Validate(); err != nil {
		return badRequest("approved CA: %v", err)
	}
	return nil
}

// checkTSA validates an approved TSA as the global configuration will.
func checkTSA(t registry.ApprovedTSA) error {
	d := minimalDocument()
	d.ApprovedTSAs = []globalconf.ApprovedTSA{{Name: t.Name, URL: t.URL, Certificate: t.Cert}}
	if err := d.Validate(); err != nil {
		return badRequest("approved TSA: %v", err)
	}
	return nil
}

// minimalDocument is a valid document with nothing in it, to validate one
// part of a document with globalconf's own rules.
func minimalDocument() *globalconf.Document {
	t := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	return &globalconf.Document{
		Schema: globalconf.Schema, Instance: "X", Serial: 1, GeneratedAt: t, ExpiresAt: t.Add(time.Hour),
		CentralServer: globalconf.CentralServer{ManagementURL: "https://x.invalid/", ConfigurationURLs: []string{"https://x.invalid/"}},
		Settings: globalconf.Settings{OCSPFreshnessSeconds: 1, TimestampingIntervalSeconds: 1, ConfigurationLifetimeSeconds: 3600,
			RefreshIntervalSeconds: 60},
	}
}

func (a *API) deleteCA(c *call) (apply, error) {
	name := c.param("name")
	return func(ctx context.Context, tx registry.Tx) (result, error) {
		if err := tx.DeleteApprovedCA(ctx, name); err != nil {
			return result{}, err
		}
		return result{status: http.StatusNoContent, target: name}, nil
	}, nil
}

func (a *API) listTSAs(ctx context.Context, _ *call) (any, error) {
	ts, err := a.store.ApprovedTSAs(ctx)
	return mapSlice(ts, toTSA), err
}

func (a *API) addTSA(c *call) (apply, error) {
	var in NewApprovedTSA
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := checkHTTPURL(in.URL); err != nil {
		return nil, badRequest("url: %v", err)
	}
	ders, err := parsePEMCertificates("certificate", in.Certificate)
	if err != nil {
		return nil, err
	}
	tsa := registry.ApprovedTSA{Name: in.Name, URL: in.URL, Cert: ders[0]}
	if err := checkTSA(tsa); err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx registry.Tx) (result, error) {
		if err := tx.AddApprovedTSA(ctx, tsa); err != nil {
			return result{}, err
		}
		out := toTSA(tsa)
		return result{status: http.StatusCreated, body: out, target: tsa.Name,
			detail: map[string]string{"url": tsa.URL, "certificate": out.Certificate.SHA256}}, nil
	}, nil
}

func (a *API) deleteTSA(c *call) (apply, error) {
	name := c.param("name")
	return func(ctx context.Context, tx registry.Tx) (result, error) {
		if err := tx.DeleteApprovedTSA(ctx, name); err != nil {
			return result{}, err
		}
		return result{status: http.StatusNoContent, target: name}, nil
	}, nil
}

// Settings.

func (a *API) getSettings(ctx context.Context, _ *call) (any, error) {
	s, err := a.store.Settings(ctx)
	return toSettings(s), err
}

func (a *API) updateSettings(c *call) (apply, error) {
	var in SettingsUpdate
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	changes := []struct {
		key registry.Setting
		val *int64
	}{
		{registry.SettingOCSPFreshness, in.OCSPFreshnessSeconds},
		{registry.SettingTimestampingInterval, in.TimestampingIntervalSeconds},
		{registry.SettingConfigurationLifetime, in.ConfigurationLifetimeSeconds},
		{registry.SettingConfigurationRefresh, in.ConfigurationRefreshIntervalSeconds},
		{registry.SettingTimestampingGrace, in.TimestampingGracePeriodSeconds},
	}
	const maxSeconds = 10 * 365 * 24 * 3600
	for _, ch := range changes {
		if ch.val != nil && (*ch.val < 1 || *ch.val > maxSeconds) {
			return nil, badRequest("%s: want 1 to %d seconds", ch.key, maxSeconds)
		}
	}
	return func(ctx context.Context, tx registry.Tx) (result, error) {
		for _, ch := range changes {
			if ch.val == nil {
				continue
			}
			if err := tx.SetSetting(ctx, ch.key, time.Duration(*ch.val)*time.Second); err != nil {
				return result{}, err
			}
		}
		s, err := tx.Settings(ctx)
		if err != nil {
			return result{}, err
		}
		if s.ConfigurationRefreshInterval >= s.ConfigurationLifetime {
			return result{}, badRequest("the configuration refresh interval (%s) must be shorter than its lifetime (%s)",
				s.ConfigurationRefreshInterval, s.ConfigurationLifetime)
		}
		return result{body: toSettings(s), target: "settings", detail: in}, nil
	}, nil
}

// Management requests.

func (a *API) listRequests(ctx context.Context, c *call) (any, error) {
	q := c.r.URL.Query()
	f := registry.RequestFilter{Status: registry.RequestStatus(q.Get("status"))}
	switch f.Status {
	case "", registry.StatusPending, registry.StatusApproved, registry.StatusRejected, registry.StatusFailed:
	default:
		return nil, badRequest("status: want PENDING, APPROVED, REJECTED or FAILED")
	}
	if s := q.Get("server"); s != "" {
		id, err := ParseServerID(s)
		if err != nil {
			return nil, err
		}
		f.Server = id
	}
	var err error
	if f.AfterID, err = queryInt(q.Get("after"), "after"); err != nil {
		return nil, err
	}
	limit, err := queryInt(q.Get("limit"), "limit")
	if err != nil {
		return nil, err
	}
	f.Limit = int(limit)
	rs, err := a.store.ManagementRequests(ctx, f)
	return mapSlice(rs, toRequest), err
}

func queryInt(s, name string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest("%s: want a non-negative integer", name)
	}
	return n, nil
}

func requestID(c *call) (int64, error) {
	id, err := strconv.ParseInt(c.param("requestId"), 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("request id: want a positive integer")
	}
	return id, nil
}

func (a *API) getRequest(ctx context.Context, c *call) (any, error) {
	id, err := requestID(c)
	if err != nil {
		return nil, err
	}
	r, err := a.store.ManagementRequest(ctx, id)
	return toRequest(r), err
}

func (a *API) approveRequest(ctx context.Context, c *call) (result, error) {
	id, err := requestID(c)
	if err != nil {
		return result{}, err
	}
	if a.decider == nil {
		return result{}, xerr.New(codeUnavailable, "management request processing is not configured on this node", nil)
	}
	r, err := a.decider.Approve(ctx, id, c.key.Name)
	if err != nil {
		return result{}, err
	}
	return result{body: toRequest(r), target: "request:" + strconv.FormatInt(id, 10),
		detail: map[string]string{"type": string(r.Type), "server": r.Server.Typed(), "status": string(r.Status)}}, nil
}

func (a *API) rejectRequest(ctx context.Context, c *call) (result, error) {
	id, err := requestID(c)
	if err != nil {
		return result{}, err
	}
	var in Rejection
	if err := c.decode(&in); err != nil {
		return result{}, err
	}
	if a.decider == nil {
		return result{}, xerr.New(codeUnavailable, "management request processing is not configured on this node", nil)
	}
	r, err := a.decider.Reject(ctx, id, c.key.Name, in.Comment)
	if err != nil {
		return result{}, err
	}
	return result{body: toRequest(r), target: "request:" + strconv.FormatInt(id, 10),
		detail: map[string]string{"type": string(r.Type), "server": r.Server.Typed(), "comment": in.Comment}}, nil
}

// Catalogue.

func (a *API) searchCatalogue(ctx context.Context, c *call) (any, error) {
	q := c.r.URL.Query()
	cq := registry.CatalogueQuery{Text: q.Get("q")}
	if m := q.Get("member"); m != "" {
		id, err := ParseMemberID(m)
		if err != nil {
			return nil, err
		}
		cq.Provider = id.Client()
		if s := q.Get("subsystem"); s != "" {
			if err := xroad.ValidatePart(s); err != nil {
				return nil, err
			}
			cq.Provider.Subsystem = s
		}
	} else if q.Get("subsystem") != "" {
		return nil, badRequest("subsystem needs member")
	}
	limit, err := queryInt(q.Get("limit"), "limit")
	if err != nil {
		return nil, err
	}
	cq.Limit = int(limit)
	ds, err := a.store.SearchServices(ctx, cq)
	return mapSlice(ds, toService), err
}

// rawDocument is a read result written as is, not as JSON.
type rawDocument struct {
	contentType string
	body        []byte
}

func (a *API) getServiceOpenAPI(ctx context.Context, c *call) (any, error) {
	id, err := ParseServiceID(c.param("serviceId"))
	if err != nil {
		return nil, err
	}
	d, err := a.store.ServiceDescription(ctx, id)
	if err != nil {
		return nil, err
	}
	ct := "application/yaml"
	if b := bytes.TrimSpace(d.Document); len(b) > 0 && b[0] == '{' {
		ct = "application/json"
	}
	return rawDocument{contentType: ct, body: d.Document}, nil
}

// API keys.

func (a *API) listAPIKeys(ctx context.Context, _ *call) (any, error) {
	ks, err := a.store.APIKeys(ctx)
	return mapSlice(ks, toAPIKey), err
}

func (a *API) createAPIKey(c *call) (apply, error) {
	var in NewAPIKey
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if len(in.Roles) == 0 {
		return nil, badRequest("roles: at least one role is required")
	}
	for _, r := range in.Roles {
		if !slices.Contains(AllRoles(), Role(r)) {
			return nil, badRequest("roles: unknown role %q", r)
		}
	}
	secret := NewAPIKeySecret()
	k := registry.APIKey{Name: in.Name, Hash: registry.HashAPIKeySecret([]byte(secret)), Roles: in.Roles}
	if in.ExpiresAt != nil {
		k.ExpiresAt = *in.ExpiresAt
	}
	return func(ctx context.Context, tx registry.Tx) (result, error) {
		created, err := tx.CreateAPIKey(ctx, k)
		if err != nil {
			return result{}, err
		}
		out := CreatedAPIKey{APIKey: toAPIKey(created), Secret: secret}
		return result{status: http.StatusCreated, body: out, target: "apikey:" + strconv.FormatInt(created.ID, 10),
			detail: toAPIKey(created)}, nil
	}, nil
}

func (a *API) revokeAPIKey(c *call) (apply, error) {
	id, err := strconv.ParseInt(c.param("keyId"), 10, 64)
	if err != nil || id <= 0 {
		return nil, badRequest("key id: want a positive integer")
	}
	return func(ctx context.Context, tx registry.Tx) (result, error) {
		if err := tx.RevokeAPIKey(ctx, id); err != nil {
			return result{}, err
		}
		return result{status: http.StatusNoContent, target: "apikey:" + strconv.FormatInt(id, 10)}, nil
	}, nil
}

// Audit trail.

func (a *API) listAudit(ctx context.Context, c *call) (any, error) {
	q := c.r.URL.Query()
	var aq registry.AuditQuery
	var err error
	if aq.AfterID, err = queryInt(q.Get("after"), "after"); err != nil {
		return nil, err
	}
	if aq.BeforeID, err = queryInt(q.Get("before"), "before"); err != nil {
		return nil, err
	}
	limit, err := queryInt(q.Get("limit"), "limit")
	if err != nil {
		return nil, err
	}
	aq.Limit = int(limit)
	switch q.Get("order") {
	case "", "asc":
	case "desc":
		aq.NewestFirst = true
	default:
		return nil, badRequest("order: want asc or desc")
	}
	es, err := a.store.AuditEvents(ctx, aq)
	return mapSlice(es, toAudit), err
}

// Configuration.

func (a *API) configurationStatus(ctx context.Context, pc registry.PublishedConfig) (ConfigurationStatus, error) {
	v, err := a.store.Version(ctx)
	if err != nil {
		return ConfigurationStatus{}, err
	}
	sum := sha256.Sum256(pc.Document)
	return ConfigurationStatus{
		Serial: pc.Serial, GeneratedAt: pc.GeneratedAt, ExpiresAt: pc.ExpiresAt,
		SHA256: hex.EncodeToString(sum[:]), ETag: globalconf.ETag(pc.Document), ContentHash: pc.ContentHash,
		RegistryVersion: pc.RegistryVersion, CurrentRegistryVersion: v, Expired: !a.clk.Now().Before(pc.ExpiresAt),
	}, nil
}

func (a *API) getConfiguration(ctx context.Context, _ *call) (any, error) {
	pc, err := a.publisher.Latest(ctx)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, notFoundErr("no configuration has been published yet")
	}
	if err != nil {
		return nil, err
	}
	return a.configurationStatus(ctx, pc)
}

func (a *API) regenerateConfiguration(ctx context.Context, _ *call) (result, error) {
	pc, published, err := a.publisher.Regenerate(ctx)
	if err != nil {
		return result{}, err
	}
	st, err := a.configurationStatus(ctx, pc)
	if err != nil {
		return result{}, err
	}
	st.Published = published
	return result{body: st, target: "configuration:" + strconv.FormatInt(pc.Serial, 10),
		detail: map[string]any{"serial": pc.Serial, "published": published, "sha256": st.SHA256}}, nil
}
