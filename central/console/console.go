// Package console is the central server's web console: server-rendered
// pages (html/template, usable without JavaScript) for the configuration
// status and its regeneration, members and subsystems, security servers,
// global groups, the trusted CAs and TSAs, management requests with
// approve and reject, the service catalogue, API keys and the admin audit
// trail.
//
// Every read and every change goes through the central server's admin API
// (package central) in-process, with the signed-in operator's API key, so
// the API's roles and audit trail apply unchanged; the shared machinery —
// sessions, CSRF, layout, error pages — is internal/webui. The package
// cannot import central (central mounts it), so it reads the API's JSON
// into types of its own (types.go) that hold what the pages show.
package console

import (
	"embed"
	"errors"
	"fmt"
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
	"github.com/jisr-bus/jisr/internal/xerr"
)

// APIPrefix is the central admin API's path prefix (central.APIPrefix).
const APIPrefix = "/api/v1"

// The central admin API's roles (central.AllRoles; a test keeps them
// equal).
const (
	RoleSystemAdministrator = "SYSTEM_ADMINISTRATOR"
	RoleRegistrationOfficer = "REGISTRATION_OFFICER"
	RoleSecurityOfficer     = "SECURITY_OFFICER"
	RoleObserver            = "OBSERVER"
)

// AllRoles returns the roles, in central.AllRoles' order.
func AllRoles() []string {
	return []string{RoleSystemAdministrator, RoleRegistrationOfficer, RoleSecurityOfficer, RoleObserver}
}

// Config configures New.
type Config struct {
	// Instance is the X-Road instance the central server serves.
	Instance string
	// Admin is the admin listener's handler: the admin API under
	// /api/v1 and /readyz. Required.
	Admin http.Handler
	// Identify reads an API key's name and roles at sign-in. Required.
	Identify webui.IdentifyFunc
	// Clock and Logger: see webui.Config.
	Clock  clock.Clock
	Logger *slog.Logger
}

//go:embed templates
var templates embed.FS

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
		Product: text()["product"], Subtitle: cfg.Instance, CookieName: "jisr-central-console",
		API: cfg.Admin, APIPrefix: APIPrefix, Identify: cfg.Identify, Pages: pages, Text: text(),
		Nav: []webui.NavItem{
			{Path: webui.Prefix + "/configuration", Text: "nav.configuration"},
			{Path: webui.Prefix + "/requests", Text: "nav.requests"},
			{Path: webui.Prefix + "/members", Text: "nav.members"},
			{Path: webui.Prefix + "/security-servers", Text: "nav.servers"},
			{Path: webui.Prefix + "/global-groups", Text: "nav.groups"},
			{Path: webui.Prefix + "/trust", Text: "nav.trust"},
			{Path: webui.Prefix + "/catalogue", Text: "nav.catalogue"},
			{Path: webui.Prefix + "/api-keys", Text: "nav.apiKeys", Roles: []string{RoleSystemAdministrator}},
			{Path: webui.Prefix + "/audit", Text: "nav.audit", Roles: []string{RoleSystemAdministrator}},
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
	r.Get(p+"/configuration", page(c.configuration))
	r.Post(p+"/configuration/regenerate", page(c.regenerate))

	r.Get(p+"/requests", page(c.requests))
	r.Get(p+"/requests/{id}", page(c.request))
	r.Post(p+"/requests/{id}/approve", page(c.approve))
	r.Post(p+"/requests/{id}/reject", page(c.reject))

	r.Get(p+"/members", page(c.members))
	r.Post(p+"/members", page(c.addMember))
	r.Post(p+"/members/{member}/subsystems", page(c.addSubsystem))
	r.Post(p+"/members/{member}/subsystems/{subsystem}/delete", page(c.deleteSubsystem))

	r.Get(p+"/security-servers", page(c.servers))

	r.Get(p+"/global-groups", page(c.groups))
	r.Post(p+"/global-groups", page(c.addGroup))
	r.Post(p+"/global-groups/{group}/members", page(c.addGroupMember))
	r.Post(p+"/global-groups/{group}/members/remove", page(c.removeGroupMember))
	r.Post(p+"/global-groups/{group}/delete", page(c.deleteGroup))

	r.Get(p+"/trust", page(c.trust))
	r.Post(p+"/trust/cas", page(c.addCA))
	r.Post(p+"/trust/tsas", page(c.addTSA))

	r.Get(p+"/catalogue", page(c.catalogue))
	r.Get(p+"/catalogue/{service}", page(c.catalogueDocument))

	r.Get(p+"/api-keys", page(c.apiKeys))
	r.Post(p+"/api-keys", page(c.createAPIKey))
	r.Post(p+"/api-keys/{key}/revoke", page(c.revokeAPIKey))
	r.Get(p+"/audit", page(c.audit))
}

func param(x *webui.Ctx, name string) (string, error) {
	s, err := url.PathUnescape(x.Param(name))
	if err != nil || s == "" {
		return "", webui.Invalid("%s: %q", name, x.Param(name))
	}
	return s, nil
}

func esc(s string) string { return url.PathEscape(s) }

// Configuration.

// Check is one readiness check.
type Check struct {
	Name   string
	OK     bool
	Reason string
}

type configurationData struct {
	// Status is nil before the first publication.
	Status   *ConfigurationStatus
	Settings Settings
	Ready    bool
	Checks   []Check
}

func (c *console) configuration(x *webui.Ctx) error {
	var d configurationData
	var st ConfigurationStatus
	err := x.Get("/configuration", &st)
	var xe *xerr.Error
	switch {
	case err == nil:
		d.Status = &st
	case errors.As(err, &xe) && xe.Status == http.StatusNotFound:
	default:
		return err
	}
	if err := x.Get("/settings", &d.Settings); err != nil {
		return err
	}
	a, err := x.Fetch(c.cfg.Admin, "/readyz", nil)
	if err != nil {
		return err
	}
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if err := decode(a.Body, &ready); err != nil {
		return fmt.Errorf("console: /readyz answered %d: %w", a.Status, err)
	}
	d.Ready = a.Status == http.StatusOK && ready.Status == "ok"
	for name, v := range ready.Checks {
		d.Checks = append(d.Checks, Check{Name: name, OK: v == "ok", Reason: v})
	}
	sort.Slice(d.Checks, func(i, j int) bool { return d.Checks[i].Name < d.Checks[j].Name })
	return x.Render("configuration", "configuration.title", d)
}

func (c *console) regenerate(x *webui.Ctx) error {
	var st ConfigurationStatus
	if err := x.Call(http.MethodPost, "/configuration/regenerate", nil, &st); err != nil {
		return err
	}
	key := "configuration.regenerated"
	if !st.Published {
		key = "configuration.notPublished"
	}
	return x.Redirect(webui.Prefix+"/configuration", fmt.Sprintf(x.Text(key), st.Serial))
}

// Management requests.

type requestsData struct {
	Status   string
	Statuses []string
	Requests []ManagementRequest
}

func requestStatuses() []string { return []string{"PENDING", "APPROVED", "REJECTED", "FAILED", ""} }

func (c *console) requests(x *webui.Ctx) error {
	d := requestsData{Status: "PENDING", Statuses: requestStatuses()}
	if q := x.R.URL.Query(); q.Has("status") {
		d.Status = q.Get("status")
	}
	path := "/management-requests"
	if d.Status != "" {
		path += "?status=" + url.QueryEscape(d.Status)
	}
	if err := x.Get(path, &d.Requests); err != nil {
		return err
	}
	// Newest first.
	sort.Slice(d.Requests, func(i, j int) bool { return d.Requests[i].ID > d.Requests[j].ID })
	return x.Render("requests", "requests.title", d)
}

func requestID(x *webui.Ctx) (string, error) {
	id, err := param(x, "id")
	if err != nil {
		return "", err
	}
	if n, err := strconv.ParseInt(id, 10, 64); err != nil || n <= 0 {
		return "", webui.Invalid("request id %q", id)
	}
	return id, nil
}

func (c *console) request(x *webui.Ctx) error {
	id, err := requestID(x)
	if err != nil {
		return err
	}
	var r ManagementRequest
	if err := x.Get("/management-requests/"+id, &r); err != nil {
		return err
	}
	return x.Render("request", "request.title", r)
}

func (c *console) approve(x *webui.Ctx) error {
	id, err := requestID(x)
	if err != nil {
		return err
	}
	var r ManagementRequest
	if err := x.Call(http.MethodPost, "/management-requests/"+id+"/approve", nil, &r); err != nil {
		return err
	}
	return x.Redirect(webui.Prefix+"/requests", fmt.Sprintf(x.Text("requests.decided"), r.ID, r.Type, r.Status))
}

func (c *console) reject(x *webui.Ctx) error {
	id, err := requestID(x)
	if err != nil {
		return err
	}
	var r ManagementRequest
	if err := x.Call(http.MethodPost, "/management-requests/"+id+"/reject", map[string]string{"comment": x.Form("comment")}, &r); err != nil {
		return err
	}
	return x.Redirect(webui.Prefix+"/requests", fmt.Sprintf(x.Text("requests.decided"), r.ID, r.Type, r.Status))
}

// Members and subsystems.

type membersData struct {
	Members []Member
	Classes []MemberClass
}

func (c *console) members(x *webui.Ctx) error {
	var d membersData
	if err := x.Get("/members", &d.Members); err != nil {
		return err
	}
	if err := x.Get("/member-classes", &d.Classes); err != nil {
		return err
	}
	return x.Render("members", "members.title", d)
}

func (c *console) addMember(x *webui.Ctx) error {
	in := map[string]string{"memberClass": x.Form("memberClass"), "memberCode": x.Form("memberCode"), "name": x.Form("name")}
	var m Member
	if err := x.Call(http.MethodPost, "/members", in, &m); err != nil {
		return err
	}
	return x.Redirect(webui.Prefix+"/members", fmt.Sprintf(x.Text("members.added"), m.ID, m.Name))
}

func (c *console) addSubsystem(x *webui.Ctx) error {
	member, err := param(x, "member")
	if err != nil {
		return err
	}
	code := x.Form("subsystemCode")
	if err := x.Call(http.MethodPost, "/members/"+esc(member)+"/subsystems", map[string]string{"subsystemCode": code}, nil); err != nil {
		return err
	}
	return x.Redirect(webui.Prefix+"/members", fmt.Sprintf(x.Text("members.subsystemAdded"), member+":"+code))
}

func (c *console) deleteSubsystem(x *webui.Ctx) error {
	member, err := param(x, "member")
	if err != nil {
		return err
	}
	sub, err := param(x, "subsystem")
	if err != nil {
		return err
	}
	if err := x.Call(http.MethodDelete, "/members/"+esc(member)+"/subsystems/"+esc(sub), nil, nil); err != nil {
		return err
	}
	return x.Redirect(webui.Prefix+"/members", fmt.Sprintf(x.Text("members.subsystemDeleted"), member+":"+sub))
}

// Security servers.

func (c *console) servers(x *webui.Ctx) error {
	var ss []SecurityServer
	if err := x.Get("/security-servers", &ss); err != nil {
		return err
	}
	return x.Render("servers", "servers.title", ss)
}

// Global groups.

func (c *console) groups(x *webui.Ctx) error {
	var gs []GlobalGroup
	if err := x.Get("/global-groups", &gs); err != nil {
		return err
	}
	return x.Render("groups", "groups.title", gs)
}

func (c *console) addGroup(x *webui.Ctx) error {
	in := map[string]string{"code": x.Form("code"), "description": x.Form("description")}
	if err := x.Call(http.MethodPost, "/global-groups", in, nil); err != nil {
		return err
	}
	return x.Redirect(webui.Prefix+"/global-groups", fmt.Sprintf(x.Text("groups.added"), in["code"]))
}

func (c *console) addGroupMember(x *webui.Ctx) error {
	g, err := param(x, "group")
	if err != nil {
		return err
	}
	// The API takes the admin form; the header form is accepted here too.
	m := x.Form("client")
	if strings.Contains(m, "/") {
		m = strings.ReplaceAll(m, "/", ":")
	}
	if err := x.Call(http.MethodPost, "/global-groups/"+esc(g)+"/members", map[string]string{"client": m}, nil); err != nil {
		return err
	}
	return x.Redirect(webui.Prefix+"/global-groups", fmt.Sprintf(x.Text("groups.memberAdded"), m, g))
}

func (c *console) removeGroupMember(x *webui.Ctx) error {
	g, err := param(x, "group")
	if err != nil {
		return err
	}
	m := x.Form("client")
	if err := x.Call(http.MethodDelete, "/global-groups/"+esc(g)+"/members/"+esc(m), nil, nil); err != nil {
		return err
	}
	return x.Redirect(webui.Prefix+"/global-groups", fmt.Sprintf(x.Text("groups.memberRemoved"), m, g))
}

func (c *console) deleteGroup(x *webui.Ctx) error {
	g, err := param(x, "group")
	if err != nil {
		return err
	}
	if err := x.Call(http.MethodDelete, "/global-groups/"+esc(g), nil, nil); err != nil {
		return err
	}
	return x.Redirect(webui.Prefix+"/global-groups", fmt.Sprintf(x.Text("groups.deleted"), g))
}

// Trust services.

type trustData struct {
	CAs  []ApprovedCA
	TSAs []ApprovedTSA
}

func (c *console) trust(x *webui.Ctx) error {
	var d trustData
	if err := x.Get("/approved-cas", &d.CAs); err != nil {
		return err
	}
	if err := x.Get("/approved-tsas", &d.TSAs); err != nil {
		return err
	}
	return x.Render("trust", "trust.title", d)
}

func (c *console) addCA(x *webui.Ctx) error {
	in := map[string]any{"name": x.Form("name"), "roots": x.Form("roots")}
	if p := x.Form("profile"); p != "" {
		in["profile"] = p
	}
	if s := x.Form("intermediates"); s != "" {
		in["intermediates"] = s
	}
	if u := x.Form("ocspUrl"); u != "" {
		in["ocspResponders"] = []map[string]string{{"url": u}}
	}
	if err := x.Call(http.MethodPost, "/approved-cas", in, nil); err != nil {
		return err
	}
	return x.Redirect(webui.Prefix+"/trust", fmt.Sprintf(x.Text("trust.caAdded"), in["name"]))
}

func (c *console) addTSA(x *webui.Ctx) error {
	in := map[string]string{"name": x.Form("name"), "url": x.Form("url"), "certificate": x.Form("certificate")}
	if err := x.Call(http.MethodPost, "/approved-tsas", in, nil); err != nil {
		return err
	}
	return x.Redirect(webui.Prefix+"/trust", fmt.Sprintf(x.Text("trust.tsaAdded"), in["name"]))
}

// Catalogue.

type catalogueData struct {
	Query    string
	Services []CatalogueService
}

func (c *console) catalogue(x *webui.Ctx) error {
	d := catalogueData{Query: x.R.URL.Query().Get("q")}
	path := "/catalogue"
	if d.Query != "" {
		path += "?q=" + url.QueryEscape(d.Query)
	}
	if err := x.Get(path, &d.Services); err != nil {
		return err
	}
	return x.Render("catalogue", "catalogue.title", d)
}

type documentData struct {
	Service     string
	ContentType string
	Document    string
}

func (c *console) catalogueDocument(x *webui.Ctx) error {
	id, err := param(x, "service")
	if err != nil {
		return err
	}
	a, err := x.API(http.MethodGet, "/catalogue/"+esc(id)+"/openapi", nil)
	if err != nil {
		return err
	}
	return x.Render("document", "document.title", documentData{Service: id, ContentType: a.Header.Get("Content-Type"), Document: string(a.Body)})
}

// API keys and the audit trail.

type apiKeysData struct {
	Keys    []APIKey
	Roles   []string
	Created *CreatedAPIKey
}

func (c *console) apiKeys(x *webui.Ctx) error {
	d := apiKeysData{Roles: AllRoles()}
	if err := x.Get("/api-keys", &d.Keys); err != nil {
		return err
	}
	return x.Render("apikeys", "apiKeys.title", d)
}

func (c *console) createAPIKey(x *webui.Ctx) error {
	in := map[string]any{"name": x.Form("name"), "roles": x.R.PostForm["roles"]}
	if s := x.Form("expiresInDays"); s != "" {
		days, err := strconv.Atoi(s)
		if err != nil || days < 1 {
			return webui.Invalid("expiresInDays: want a positive number of days")
		}
		in["expiresAt"] = x.Now().Add(time.Duration(days) * 24 * time.Hour).UTC().Truncate(time.Second)
	}
	var out CreatedAPIKey
	if err := x.Call(http.MethodPost, "/api-keys", in, &out); err != nil {
		return err
	}
	// The secret is shown on this answer only.
	d := apiKeysData{Roles: AllRoles(), Created: &out}
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
	if err := x.Call(http.MethodDelete, "/api-keys/"+esc(id), nil, nil); err != nil {
		return err
	}
	return x.Redirect(webui.Prefix+"/api-keys", fmt.Sprintf(x.Text("apiKeys.revoked"), id))
}

type auditData struct {
	Events []AuditEvent
	Next   string
}

// auditPage is how many events the audit page shows.
const auditPage = 50

func (c *console) audit(x *webui.Ctx) error {
	q := url.Values{"order": {"desc"}, "limit": {strconv.Itoa(auditPage)}}
	if b := x.R.URL.Query().Get("before"); b != "" {
		q.Set("before", b)
	}
	var d auditData
	if err := x.Get("/audit?"+q.Encode(), &d.Events); err != nil {
		return err
	}
	if len(d.Events) == auditPage {
		d.Next = strconv.FormatInt(d.Events[len(d.Events)-1].ID, 10)
	}
	return x.Render("audit", "audit.title", d)
}
