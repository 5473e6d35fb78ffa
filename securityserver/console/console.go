// Package console is the security server's web console: server-rendered
// pages (html/template, usable without JavaScript) for its clients and
// their registration, services and their OpenAPI descriptions, access
// rights, local groups, keys and certificates, health, recent exchanges,
// API keys and the admin audit trail.
//
// Every read and every change goes through the admin API
// (securityserver/admin) in-process, with the signed-in operator's API
// key, so the API's roles and audit trail apply unchanged; the shared
// machinery — sessions, CSRF, layout, error pages — is internal/webui.
// Recent exchanges come from the operational monitoring query API
// (securityserver/opmon), asked in-process on behalf of a registered
// client the operator picks, under that API's own visibility rule; an
// auditor sees the message log's metadata through the admin API instead.
//
// The package does no security-server work of its own and holds no state
// but the sessions.
package console

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/webui"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/admin"
)

// Config configures New.
type Config struct {
	// Server is the security server's identifier; its owner member is the
	// client whose monitoring view is offered first.
	Server xroad.ServerID
	// Admin is the admin listener's handler: the admin API under /api/v1
	// and /readyz. Required.
	Admin http.Handler
	// Exchanges is the operational monitoring query API
	// (opmon.NewHandler); nil leaves recent exchanges out.
	Exchanges http.Handler
	// Identify reads an API key's name and roles at sign-in. Required.
	Identify webui.IdentifyFunc
	// Clock and Logger: see webui.Config.
	Clock  clock.Clock
	Logger *slog.Logger
}

//go:embed templates
var templates embed.FS

// Roles, as the admin API names them.
var (
	roleSysadmin     = string(admin.RoleSystemAdministrator)
	roleSecurity     = string(admin.RoleSecurityOfficer)
	roleRegistration = string(admin.RoleRegistrationOfficer)
	roleServices     = string(admin.RoleServiceAdministrator)
	roleObserver     = string(admin.RoleObserver)
	roleAuditor      = string(admin.RoleAuditor)
)

// readers are the roles that read the configuration (admin.readers).
func readers() []string {
	return []string{roleSysadmin, roleSecurity, roleRegistration, roleServices, roleObserver}
}

type console struct {
	cfg Config
	ui  *webui.UI
}

// New returns the console's handler, to be served at webui.Prefix+"/" on
// the admin listener.
func New(cfg Config) (http.Handler, error) {
	if cfg.Admin == nil || cfg.Identify == nil {
		return nil, errors.New("console: the admin handler and Identify are required")
	}
	pages, err := fs.Sub(templates, "templates")
	if err != nil {
		return nil, err
	}
	c := &console{cfg: cfg}
	c.ui, err = webui.New(webui.Config{
		Product: text()["product"], Subtitle: cfg.Server.String(), CookieName: "jisr-ss-console",
		API: cfg.Admin, APIPrefix: admin.APIPrefix, Identify: cfg.Identify, Pages: pages, Text: text(),
		Nav: []webui.NavItem{
			{Path: webui.Prefix + "/clients", Text: "nav.clients", Roles: readers()},
			{Path: webui.Prefix + "/keys", Text: "nav.keys", Roles: readers()},
			{Path: webui.Prefix + "/exchanges", Text: "nav.exchanges"},
			{Path: webui.Prefix + "/health", Text: "nav.health"},
			{Path: webui.Prefix + "/api-keys", Text: "nav.apiKeys", Roles: []string{roleSysadmin}},
			{Path: webui.Prefix + "/audit", Text: "nav.audit", Roles: []string{roleSysadmin}},
		},
		Clock: cfg.Clock, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return c.ui.Handler(c.routes), nil
}

func (c *console) routes(r chi.Router) {
	p, page := webui.Prefix, c.ui.Page
	r.Get(p+"/clients", page(c.clients))
	r.Post(p+"/clients", page(c.addClient))
	r.Get(p+"/clients/{client}", page(c.client))
	r.Post(p+"/clients/{client}/register", page(c.registerClient))
	r.Post(p+"/clients/{client}/unregister", page(c.unregisterClient))
	r.Post(p+"/clients/{client}/delete", page(c.deleteClient))
	r.Post(p+"/clients/{client}/settings", page(c.clientSettings))
	r.Post(p+"/clients/{client}/services", page(c.addService))
	r.Post(p+"/clients/{client}/local-groups", page(c.addLocalGroup))
	r.Post(p+"/clients/{client}/local-groups/{group}/members", page(c.addGroupMember))
	r.Post(p+"/clients/{client}/local-groups/{group}/members/remove", page(c.removeGroupMember))
	r.Post(p+"/clients/{client}/local-groups/{group}/delete", page(c.deleteLocalGroup))

	r.Get(p+"/services/{service}", page(c.service))
	r.Get(p+"/services/{service}/openapi", page(c.openAPI))
	r.Post(p+"/services/{service}/state", page(c.serviceState))
	r.Post(p+"/services/{service}/settings", page(c.serviceSettings))
	r.Post(p+"/services/{service}/refresh", page(c.refreshService))
	r.Post(p+"/services/{service}/delete", page(c.deleteService))
	r.Post(p+"/services/{service}/access-rights", page(c.grant))
	r.Post(p+"/services/{service}/access-rights/revoke", page(c.revoke))

	r.Get(p+"/keys", page(c.keys))
	r.Post(p+"/keys/{key}/register", page(c.keyAction("register", "keys.registeredF")))
	r.Post(p+"/keys/{key}/activate", page(c.keyAction("activate", "keys.activatedF")))

	r.Get(p+"/health", page(c.health))
	r.Get(p+"/exchanges", page(c.exchanges))

	r.Get(p+"/api-keys", page(c.apiKeys))
	r.Post(p+"/api-keys", page(c.createAPIKey))
	r.Post(p+"/api-keys/{key}/revoke", page(c.revokeAPIKey))
	r.Get(p+"/audit", page(c.audit))
}

// param returns a path parameter, percent-decoded (chi hands over the
// escaped form when the path had escapes).
func param(x *webui.Ctx, name string) (string, error) {
	s, err := url.PathUnescape(x.Param(name))
	if err != nil || s == "" {
		return "", webui.Invalid("%s: %q", name, x.Param(name))
	}
	return s, nil
}

// esc escapes one path segment.
func esc(s string) string { return url.PathEscape(s) }

func clientPage(id string) string  { return webui.Prefix + "/clients/" + esc(id) }
func servicePage(id string) string { return webui.Prefix + "/services/" + esc(id) }

// checked reads a checkbox.
func checked(x *webui.Ctx, name string) bool { return x.Form(name) != "" }

// Clients.

type clientsData struct {
	Clients      []admin.Client
	Connections  []string
	BodyLoggings []string
}

func connectionTypes() []string { return []string{"HTTP", "HTTPS", "HTTPS_CERT"} }
func bodyLoggings() []string    { return []string{"FULL", "METADATA_ONLY"} }

func (c *console) clients(x *webui.Ctx) error {
	var cs []admin.Client
	if err := x.Get("/clients", &cs); err != nil {
		return err
	}
	return x.Render("clients", "clients.title", clientsData{Clients: cs, Connections: connectionTypes(), BodyLoggings: bodyLoggings()})
}

// changeFlash describes a client change and the management request it
// sent, if any.
func (c *console) changeFlash(x *webui.Ctx, key string, ch admin.ClientChange) string {
	msg := fmt.Sprintf(x.Text(key), ch.Client.ID, ch.Client.Status)
	if m := ch.ManagementRequest; m != nil {
		msg += " " + fmt.Sprintf(x.Text("clients.request"), m.ID, m.Type, m.Status)
	}
	return msg
}

func (c *console) addClient(x *webui.Ctx) error {
	register := checked(x, "register")
	in := admin.NewClient{Client: x.Form("client"), ConnectionType: x.Form("connectionType"), BodyLogging: x.Form("bodyLogging"), Register: &register}
	if in.Client == "" {
		return webui.Invalid("%s", x.Text("clients.needID"))
	}
	var out admin.ClientChange
	if err := x.Call(http.MethodPost, "/clients", in, &out); err != nil {
		return err
	}
	return x.Redirect(clientPage(out.Client.ID), c.changeFlash(x, "clients.added", out))
}

type clientData struct {
	Client       admin.Client
	Services     []admin.Service
	Groups       []admin.LocalGroup
	Connections  []string
	BodyLoggings []string
}

func (c *console) client(x *webui.Ctx) error {
	id, err := param(x, "client")
	if err != nil {
		return err
	}
	d := clientData{Connections: connectionTypes(), BodyLoggings: bodyLoggings(), Services: []admin.Service{}, Groups: []admin.LocalGroup{}}
	if err := x.Get("/clients/"+esc(id), &d.Client); err != nil {
		return err
	}
	if d.Client.SubsystemCode != "" {
		if err := x.Get("/clients/"+esc(id)+"/services", &d.Services); err != nil {
			return err
		}
		if err := x.Get("/clients/"+esc(id)+"/local-groups", &d.Groups); err != nil {
			return err
		}
	}
	return x.Render("client", "client.title", d)
}

func (c *console) registerClient(x *webui.Ctx) error {
	return c.clientChange(x, "register", "clients.registered")
}
func (c *console) unregisterClient(x *webui.Ctx) error {
	return c.clientChange(x, "unregister", "clients.unregistered")
}

func (c *console) clientChange(x *webui.Ctx, op, flash string) error {
	id, err := param(x, "client")
	if err != nil {
		return err
	}
	var out admin.ClientChange
	if err := x.Call(http.MethodPost, "/clients/"+esc(id)+"/"+op, nil, &out); err != nil {
		return err
	}
	return x.Redirect(clientPage(id), c.changeFlash(x, flash, out))
}

func (c *console) deleteClient(x *webui.Ctx) error {
	id, err := param(x, "client")
	if err != nil {
		return err
	}
	if err := x.Call(http.MethodDelete, "/clients/"+esc(id), nil, nil); err != nil {
		return err
	}
	return x.Redirect(webui.Prefix+"/clients", fmt.Sprintf(x.Text("clients.deleted"), id))
}

func (c *console) clientSettings(x *webui.Ctx) error {
	id, err := param(x, "client")
	if err != nil {
		return err
	}
	in := admin.ClientUpdate{ConnectionType: x.Form("connectionType"), BodyLogging: x.Form("bodyLogging")}
	var out admin.Client
	if err := x.Call(http.MethodPatch, "/clients/"+esc(id), in, &out); err != nil {
		return err
	}
	return x.Redirect(clientPage(id), fmt.Sprintf(x.Text("clients.updated"), out.ID, out.ConnectionType, out.BodyLogging))
}

// Services.

// uploaded returns the content of the file field name, "" when no file
// was chosen. The form's size was bounded when it was parsed.
func uploaded(x *webui.Ctx, name string) (string, error) {
	f, _, err := x.R.FormFile(name)
	if errors.Is(err, http.ErrMissingFile) || errors.Is(err, http.ErrNotMultipart) {
		return "", nil
	}
	if err != nil {
		return "", webui.Invalid("%s: %v", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return "", webui.Invalid("%s: %v", name, err)
	}
	return string(b), nil
}

// description reads where an OpenAPI description comes from: an uploaded
// file or a URL (or neither: a REST service without one).
func description(x *webui.Ctx) (doc, docURL string, err error) {
	if doc, err = uploaded(x, "openapi"); err != nil {
		return "", "", err
	}
	docURL = x.Form("openapiUrl")
	if doc != "" && docURL != "" {
		return "", "", webui.Invalid("%s", x.Text("services.fileOrURL"))
	}
	return doc, docURL, nil
}

func formInt(x *webui.Ctx, name string) (int, error) {
	s := x.Form(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, webui.Invalid("%s: %q is not a number", name, s)
	}
	return n, nil
}

func (c *console) addService(x *webui.Ctx) error {
	provider, err := param(x, "client")
	if err != nil {
		return err
	}
	timeout, err := formInt(x, "timeoutSeconds")
	if err != nil {
		return err
	}
	doc, docURL, err := description(x)
	if err != nil {
		return err
	}
	verify := checked(x, "verifyTls")
	in := admin.NewServiceRequest{Provider: provider, Code: x.Form("code"), Version: x.Form("version"), URL: x.Form("url"),
		TimeoutSeconds: timeout, VerifyTLS: &verify, OpenAPI: doc, OpenAPIURL: docURL, Publish: checked(x, "publish"),
		Title: x.Form("title"), Description: x.Form("description")}
	var out admin.ServiceAdded
	if err := x.Call(http.MethodPost, "/services", in, &out); err != nil {
		return err
	}
	msg := fmt.Sprintf(x.Text("services.added"), out.Service.ID, len(out.Service.Endpoints))
	if p := out.Publication; p != nil {
		msg += " " + fmt.Sprintf(x.Text("clients.request"), p.ID, p.Type, p.Status)
	}
	return x.Redirect(servicePage(out.Service.ID), msg)
}

type serviceData struct {
	Service admin.Service
	Rights  []admin.AccessRight
	Groups  []admin.LocalGroup
	// Instance is the provider's instance (a global group's default).
	Instance string
}

func (c *console) service(x *webui.Ctx) error {
	id, err := param(x, "service")
	if err != nil {
		return err
	}
	d := serviceData{Rights: []admin.AccessRight{}, Groups: []admin.LocalGroup{}}
	if err := x.Get("/services/"+esc(id), &d.Service); err != nil {
		return err
	}
	if err := x.Get("/services/"+esc(id)+"/access-rights", &d.Rights); err != nil {
		return err
	}
	if err := x.Get("/clients/"+esc(d.Service.Provider)+"/local-groups", &d.Groups); err != nil {
		return err
	}
	if p, err := admin.ParseClientID(d.Service.Provider); err == nil {
		d.Instance = p.Instance
	}
	return x.Render("service", "service.title", d)
}

type documentData struct {
	Service     string
	ContentType string
	Document    string
}

// openAPI shows a service's OpenAPI description as the admin API serves
// it (escaped text, never rendered).
func (c *console) openAPI(x *webui.Ctx) error {
	id, err := param(x, "service")
	if err != nil {
		return err
	}
	a, err := x.API(http.MethodGet, "/services/"+esc(id)+"/openapi", nil)
	if err != nil {
		return err
	}
	return x.Render("document", "document.title", documentData{Service: id, ContentType: a.Header.Get("Content-Type"), Document: string(a.Body)})
}

func (c *console) serviceUpdate(x *webui.Ctx, in admin.ServiceUpdate, flash string) error {
	id, err := param(x, "service")
	if err != nil {
		return err
	}
	var out admin.Service
	if err := x.Call(http.MethodPatch, "/services/"+esc(id), in, &out); err != nil {
		return err
	}
	return x.Redirect(servicePage(id), fmt.Sprintf(x.Text(flash), out.ID))
}

func (c *console) serviceState(x *webui.Ctx) error {
	disabled := x.Form("disabled") == "true"
	notice := x.Form("notice")
	flash := "services.enabled"
	if disabled {
		flash = "services.disabled"
	}
	return c.serviceUpdate(x, admin.ServiceUpdate{Disabled: &disabled, DisabledNotice: &notice}, flash)
}

func (c *console) serviceSettings(x *webui.Ctx) error {
	timeout, err := formInt(x, "timeoutSeconds")
	if err != nil {
		return err
	}
	u, v, verify := x.Form("url"), x.Form("version"), checked(x, "verifyTls")
	in := admin.ServiceUpdate{URL: &u, Version: &v, VerifyTLS: &verify}
	if timeout != 0 {
		in.TimeoutSeconds = &timeout
	}
	return c.serviceUpdate(x, in, "services.updated")
}

func (c *console) refreshService(x *webui.Ctx) error {
	id, err := param(x, "service")
	if err != nil {
		return err
	}
	doc, docURL, err := description(x)
	if err != nil {
		return err
	}
	var out admin.Service
	if err := x.Call(http.MethodPost, "/services/"+esc(id)+"/refresh", admin.ServiceRefresh{OpenAPI: doc, OpenAPIURL: docURL}, &out); err != nil {
		return err
	}
	return x.Redirect(servicePage(id), fmt.Sprintf(x.Text("services.refreshed"), out.ID, len(out.Endpoints)))
}

func (c *console) deleteService(x *webui.Ctx) error {
	id, err := param(x, "service")
	if err != nil {
		return err
	}
	sid, err := admin.ParseServiceID(id)
	if err != nil {
		return webui.Invalid("%v", err)
	}
	if err := x.Call(http.MethodDelete, "/services/"+esc(id), nil, nil); err != nil {
		return err
	}
	return x.Redirect(clientPage(admin.FormatClientID(sid.Provider)), fmt.Sprintf(x.Text("services.deleted"), id))
}

// subject builds the typed identifier of an access-right subject from the
// form: a subsystem ("PS/GOV/CAB/portal" or "PS:GOV:CAB:portal"), a
// global group ("PS/ministries", or "ministries" in the provider's
// instance) or a local group of the provider ("auditors").
func subject(kind, value, instance string) (string, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return "", webui.Invalid("the subject is empty")
	}
	switch xroad.ObjectType(kind) {
	case xroad.TypeSubsystem, xroad.TypeMember:
		if !strings.Contains(value, "/") {
			value = strings.ReplaceAll(value, ":", "/")
		}
	case xroad.TypeGlobalGroup:
		if !strings.Contains(value, "/") {
			value = instance + "/" + value
		}
	case xroad.TypeLocalGroup:
	default:
		return "", webui.Invalid("subject type %q: want SUBSYSTEM, GLOBALGROUP or LOCALGROUP", kind)
	}
	return kind + ":" + value, nil
}

func (c *console) grant(x *webui.Ctx) error {
	id, err := param(x, "service")
	if err != nil {
		return err
	}
	sid, err := admin.ParseServiceID(id)
	if err != nil {
		return webui.Invalid("%v", err)
	}
	subj, err := subject(x.Form("subjectType"), x.Form("subject"), sid.Provider.Instance)
	if err != nil {
		return err
	}
	in := admin.AccessRequest{Provider: admin.FormatClientID(sid.Provider), Service: sid.Code, Subject: subj,
		Method: x.Form("method"), Path: x.Form("path")}
	var out admin.AccessRight
	if err := x.Call(http.MethodPost, "/access-rights", in, &out); err != nil {
		return err
	}
	return x.Redirect(servicePage(id), fmt.Sprintf(x.Text("rights.granted"), out.Subject, out.ServiceID))
}

func (c *console) revoke(x *webui.Ctx) error {
	id, err := param(x, "service")
	if err != nil {
		return err
	}
	q := url.Values{"subject": {x.Form("subject")}}
	if m, p := x.Form("method"), x.Form("path"); m != "" || p != "" {
		q.Set("method", m)
		q.Set("path", p)
	}
	if err := x.Call(http.MethodDelete, "/services/"+esc(id)+"/access-rights?"+q.Encode(), nil, nil); err != nil {
		return err
	}
	return x.Redirect(servicePage(id), fmt.Sprintf(x.Text("rights.revoked"), x.Form("subject")))
}

// Local groups.

func (c *console) addLocalGroup(x *webui.Ctx) error {
	id, err := param(x, "client")
	if err != nil {
		return err
	}
	in := admin.NewLocalGroup{Code: x.Form("code"), Description: x.Form("description")}
	if err := x.Call(http.MethodPost, "/clients/"+esc(id)+"/local-groups", in, nil); err != nil {
		return err
	}
	return x.Redirect(clientPage(id), fmt.Sprintf(x.Text("groups.added"), in.Code))
}

func groupRef(x *webui.Ctx) (client, group string, err error) {
	if client, err = param(x, "client"); err != nil {
		return "", "", err
	}
	if group, err = param(x, "group"); err != nil {
		return "", "", err
	}
	return client, group, nil
}

func (c *console) addGroupMember(x *webui.Ctx) error {
	id, group, err := groupRef(x)
	if err != nil {
		return err
	}
	in := admin.GroupMember{Member: x.Form("member")}
	if err := x.Call(http.MethodPost, "/clients/"+esc(id)+"/local-groups/"+esc(group)+"/members", in, nil); err != nil {
		return err
	}
	return x.Redirect(clientPage(id), fmt.Sprintf(x.Text("groups.memberAdded"), in.Member, group))
}

func (c *console) removeGroupMember(x *webui.Ctx) error {
	id, group, err := groupRef(x)
	if err != nil {
		return err
	}
	m := x.Form("member")
	if err := x.Call(http.MethodDelete, "/clients/"+esc(id)+"/local-groups/"+esc(group)+"/members/"+esc(m), nil, nil); err != nil {
		return err
	}
	return x.Redirect(clientPage(id), fmt.Sprintf(x.Text("groups.memberRemoved"), m, group))
}

func (c *console) deleteLocalGroup(x *webui.Ctx) error {
	id, group, err := groupRef(x)
	if err != nil {
		return err
	}
	if err := x.Call(http.MethodDelete, "/clients/"+esc(id)+"/local-groups/"+esc(group), nil, nil); err != nil {
		return err
	}
	return x.Redirect(clientPage(id), fmt.Sprintf(x.Text("groups.deleted"), group))
}

// Keys and certificates.

func (c *console) keys(x *webui.Ctx) error {
	var ks []admin.Key
	if err := x.Get("/keys", &ks); err != nil {
		return err
	}
	return x.Render("keys", "keys.title", ks)
}

func (c *console) keyAction(op, flash string) func(x *webui.Ctx) error {
	return func(x *webui.Ctx) error {
		id, err := param(x, "key")
		if err != nil {
			return err
		}
		if err := x.Call(http.MethodPost, "/keys/"+esc(id)+"/"+op, nil, nil); err != nil {
			return err
		}
		return x.Redirect(webui.Prefix+"/keys", fmt.Sprintf(x.Text(flash), id))
	}
}

// Health.

// Check is one readiness check.
type Check struct {
	Name   string
	OK     bool
	Reason string
}

type healthData struct {
	Status int
	Ready  bool
	Checks []Check
}

// readiness reads /readyz: {"status":"ok"|"fail","checks":{name:"ok"|reason}}.
func readiness(x *webui.Ctx, h http.Handler) (healthData, error) {
	a, err := x.Fetch(h, "/readyz", nil)
	if err != nil {
		return healthData{}, err
	}
	var body struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if err := jsonDecode(a.Body, &body); err != nil {
		return healthData{}, fmt.Errorf("console: /readyz answered %d: %w", a.Status, err)
	}
	d := healthData{Status: a.Status, Ready: body.Status == "ok" && a.Status == http.StatusOK}
	for name, v := range body.Checks {
		d.Checks = append(d.Checks, Check{Name: name, OK: v == "ok", Reason: v})
	}
	sort.Slice(d.Checks, func(i, j int) bool { return d.Checks[i].Name < d.Checks[j].Name })
	return d, nil
}

func (c *console) health(x *webui.Ctx) error {
	d, err := readiness(x, c.cfg.Admin)
	if err != nil {
		return err
	}
	return x.Render("health", "health.title", d)
}

// API keys and the audit trail.

type apiKeysData struct {
	Keys    []admin.APIKey
	Roles   []string
	Created *admin.CreatedAPIKey
}

func allRoles() []string {
	out := []string{}
	for _, r := range admin.AllRoles() {
		out = append(out, string(r))
	}
	return out
}

func (c *console) apiKeys(x *webui.Ctx) error {
	d := apiKeysData{Roles: allRoles()}
	if err := x.Get("/api-keys", &d.Keys); err != nil {
		return err
	}
	return x.Render("apikeys", "apiKeys.title", d)
}

func (c *console) createAPIKey(x *webui.Ctx) error {
	in := admin.NewAPIKey{Name: x.Form("name"), Roles: x.R.PostForm["roles"]}
	days, err := formInt(x, "expiresInDays")
	if err != nil {
		return err
	}
	if days < 0 {
		return webui.Invalid("expiresInDays: want a positive number of days")
	}
	if days > 0 {
		t := x.Now().Add(time.Duration(days) * 24 * time.Hour).UTC().Truncate(time.Second)
		in.ExpiresAt = &t
	}
	var out admin.CreatedAPIKey
	if err := x.Call(http.MethodPost, "/api-keys", in, &out); err != nil {
		return err
	}
	// The secret is shown on this answer only: it is not kept for a
	// redirect.
	d := apiKeysData{Roles: allRoles(), Created: &out}
	if err := x.Get("/api-keys", &d.Keys); err != nil {
		return err
	}
	return x.RenderStatus(http.StatusCreated, "apikeys", "apiKeys.title", d)
}

func (c *console) revokeAPIKey(x *webui.Ctx) error {
	id, err := param(x, "key")
	if err != nil {
		return err
	}
	var out admin.APIKey
	if err := x.Call(http.MethodDelete, "/api-keys/"+esc(id), nil, &out); err != nil {
		return err
	}
	return x.Redirect(webui.Prefix+"/api-keys", fmt.Sprintf(x.Text("apiKeys.revoked"), id))
}

type auditData struct {
	Events []admin.AuditEvent
	Next   string
}

func (c *console) audit(x *webui.Ctx) error {
	q := url.Values{"order": {"desc"}, "limit": {"50"}}
	if cur := x.R.URL.Query().Get("cursor"); cur != "" {
		q.Set("cursor", cur)
	}
	var page admin.AuditPage
	if err := x.Get("/audit?"+q.Encode(), &page); err != nil {
		return err
	}
	return x.Render("audit", "audit.title", auditData{Events: page.Events, Next: page.NextCursor})
}
