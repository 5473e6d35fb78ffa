package webui

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/xerr"
)

// Prefix is the path a console is mounted at on its admin listener; every
// console path starts with it.
const Prefix = "/console"

// Defaults of Config.
const (
	DefaultIdleTimeout = 30 * time.Minute
	DefaultMaxLifetime = 8 * time.Hour
	DefaultMaxSessions = 1000
	// DefaultMaxForm bounds a submitted form: an uploaded OpenAPI
	// document (4 MiB) and the rest of the form.
	DefaultMaxForm = 4<<20 + 64<<10
)

// loginTokenTTL is how long a sign-in form stays usable.
const loginTokenTTL = 10 * time.Minute

// Identity is who an API key is, as the console shows it: the key's name,
// its roles and when it expires (zero: never).
type Identity struct {
	Name      string
	Roles     []string
	ExpiresAt time.Time
}

// Has reports whether the identity holds any of roles.
func (i Identity) Has(roles ...string) bool {
	for _, r := range roles {
		if slices.Contains(i.Roles, r) {
			return true
		}
	}
	return false
}

// ErrUnknownKey is what an IdentifyFunc's error wraps when the key is not
// one the API accepts: unknown, revoked or expired.
var ErrUnknownKey = errors.New("the API key is unknown, revoked or expired")

// IdentifyFunc returns the identity of the API key whose secret is given,
// or an error wrapping ErrUnknownKey when the admin API would refuse it
// with 401; any other error is an internal failure. It is used once, at
// sign-in, to decide what the pages show: what is allowed is decided by
// the API on every call.
type IdentifyFunc func(ctx context.Context, secret string) (Identity, error)

// NavItem is an entry of the navigation bar: shown to identities holding
// any of Roles (to everyone when Roles is empty). Text is a key of the
// text catalogue.
type NavItem struct {
	Path  string
	Text  string
	Roles []string
}

// Config configures New.
type Config struct {
	// Product names the product in the title bar ("Security server");
	// Subtitle names this server ("PS/GOV/MOI/ss1").
	Product, Subtitle string
	// CookieName is the base name of the session cookie; a tag of the
	// listener's host and port is appended, so that consoles on one host
	// keep separate sessions (cookies do not tell ports apart).
	CookieName string
	// API serves the admin API under APIPrefix (and, for Fetch, anything
	// else the console reads in-process, such as /readyz).
	API       http.Handler
	APIPrefix string
	// Identify reads an API key's identity at sign-in. Required.
	Identify IdentifyFunc
	// Pages holds the product's page templates: one *.html file per page,
	// each defining "content" (rendered inside the layout); a page is
	// named by its file name without .html.
	Pages fs.FS
	// Text is the product's text catalogue, merged over the shared one:
	// every text a template shows is looked up here by key with {{t "…"}},
	// and New fails if a template names a key that is missing.
	Text map[string]string
	// Nav is the navigation bar; the first entry the identity may see is
	// its home page.
	Nav []NavItem
	// Clock decides session expiry (clock.System() when nil).
	Clock clock.Clock
	// Logger receives internal errors (discarded when nil).
	Logger *slog.Logger
	// IdleTimeout, MaxLifetime and MaxSessions bound sessions; MaxForm
	// bounds a submitted form. Zero means the default.
	IdleTimeout, MaxLifetime time.Duration
	MaxSessions              int
	MaxForm                  int64
}

// UI is one console: the shared routes and the product's pages. Create it
// with New and serve Handler at Prefix+"/".
type UI struct {
	cfg      Config
	clk      clock.Clock
	log      *slog.Logger
	sessions *sessions
	text     map[string]string
	pages    map[string]*pageTemplate
	cop      *http.CrossOriginProtection
}

//go:embed templates static
var assets embed.FS

// New returns the console described by cfg.
func New(cfg Config) (*UI, error) {
	if cfg.API == nil || cfg.Identify == nil || cfg.Pages == nil {
		return nil, errors.New("webui: API, Identify and Pages are required")
	}
	if cfg.CookieName == "" || strings.ContainsAny(cfg.CookieName, " ;=,\t\r\n") {
		return nil, fmt.Errorf("webui: cookie name %q", cfg.CookieName)
	}
	u := &UI{cfg: cfg, clk: cfg.Clock, log: cfg.Logger, cop: http.NewCrossOriginProtection()}
	if u.clk == nil {
		u.clk = clock.System()
	}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	if u.cfg.IdleTimeout <= 0 {
		u.cfg.IdleTimeout = DefaultIdleTimeout
	}
	if u.cfg.MaxLifetime <= 0 {
		u.cfg.MaxLifetime = DefaultMaxLifetime
	}
	if u.cfg.MaxSessions <= 0 {
		u.cfg.MaxSessions = DefaultMaxSessions
	}
	if u.cfg.MaxForm <= 0 {
		u.cfg.MaxForm = DefaultMaxForm
	}
	u.sessions = newSessions(u.clk, u.cfg.IdleTimeout, u.cfg.MaxLifetime, u.cfg.MaxSessions)
	u.text = sharedText()
	for k, v := range cfg.Text {
		u.text[k] = v
	}
	for _, n := range cfg.Nav {
		if _, ok := u.text[n.Text]; !ok {
			return nil, fmt.Errorf("webui: navigation entry %s: no text %q", n.Path, n.Text)
		}
	}
	var err error
	if u.pages, err = u.parsePages(); err != nil {
		return nil, err
	}
	return u, nil
}

// ctxKey carries the request's *Ctx in its context.
type ctxKey struct{}

// Ctx is one console request of a signed-in operator, handed to the
// product's page handlers.
type Ctx struct {
	W http.ResponseWriter
	R *http.Request

	ui     *UI
	cookie string
	sess   session
}

// Identity returns the signed-in operator's identity.
func (c *Ctx) Identity() Identity { return c.sess.identity }

// Can reports whether the operator holds any of roles: for what a page
// shows, never for what it allows.
func (c *Ctx) Can(roles ...string) bool { return c.sess.identity.Has(roles...) }

// Now returns the console's clock's time.
func (c *Ctx) Now() time.Time { return c.ui.clk.Now() }

// Param returns the chi path parameter name.
func (c *Ctx) Param(name string) string { return chi.URLParam(c.R, name) }

// Form returns a submitted form value, trimmed.
func (c *Ctx) Form(name string) string { return strings.TrimSpace(c.R.PostFormValue(name)) }

// Redirect ends a successful POST: the browser is sent to target (a path
// under Prefix) with a one-shot message for the page it lands on.
func (c *Ctx) Redirect(target, flash string) error {
	if flash != "" {
		c.ui.sessions.setFlash(c.cookie, flash)
	}
	http.Redirect(c.W, c.R, target, http.StatusSeeOther)
	return nil
}

// Text returns the catalogue's text for key.
func (c *Ctx) Text(key string) string { return c.ui.t(key) }

// Invalid returns the error a page handler returns for a form it cannot
// use: shown with status 400 and msg, nothing having been sent to the API.
func Invalid(format string, args ...any) error {
	return &xerr.Error{Code: xerr.PrefixClient + "InvalidRequest", Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// Page adapts a page handler. Its error is shown by the one place that
// turns errors into pages (fail).
func (u *UI) Page(fn func(c *Ctx) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := r.Context().Value(ctxKey{}).(*Ctx)
		if !ok {
			u.fail(&Ctx{W: w, R: r, ui: u}, errors.New("webui: page handler outside a session"))
			return
		}
		c.W, c.R = w, r
		if err := fn(c); err != nil {
			u.fail(c, err)
		}
	}
}

// Handler returns the console's handler, to be served at Prefix+"/":
// static assets, sign-in and sign-out, and the product's routes, which
// routes registers with full paths (Prefix included) and which run only
// for a signed-in operator, POSTs only with the session's CSRF token.
func (u *UI) Handler(routes func(r chi.Router)) http.Handler {
	r := chi.NewRouter()
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		u.fail(&Ctx{W: w, R: r, ui: u}, &xerr.Error{Code: xerr.PrefixClient + "NotFound", Message: u.t("error.noSuchPage"), Status: http.StatusNotFound})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		u.fail(&Ctx{W: w, R: r, ui: u}, &xerr.Error{Code: xerr.PrefixClient + "MethodNotAllowed", Message: u.t("error.method"), Status: http.StatusMethodNotAllowed})
	})
	static, _ := fs.Sub(assets, "static")
	files := http.StripPrefix(Prefix+"/static/", http.FileServerFS(static))
	r.Get(Prefix+"/static/*", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		files.ServeHTTP(w, r)
	})
	r.Get(Prefix+"/login", u.loginForm)
	r.Post(Prefix+"/login", u.login)
	r.Group(func(r chi.Router) {
		r.Use(u.requireSession)
		r.Post(Prefix+"/logout", u.Page(u.logout))
		r.Get(Prefix+"/", u.Page(u.home))
		routes(r)
	})
	return u.headers(u.cop.Handler(r))
}

// headers sets the security headers of every console answer.
func (u *UI) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
			"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// cookieName is the session cookie's name on the listener r came to.
func (u *UI) cookieName(r *http.Request) string {
	sum := sha256.Sum256([]byte(strings.ToLower(r.Host)))
	return u.cfg.CookieName + "-" + hex.EncodeToString(sum[:4])
}

func (u *UI) loginCookieName(r *http.Request) string { return u.cookieName(r) + "-login" }

func (u *UI) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// requireSession lets through only requests of a live session, and POSTs
// only with its CSRF token; everything else goes to the sign-in page.
func (u *UI) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(u.cookieName(r))
		var sess session
		ok := false
		if err == nil {
			sess, ok = u.sessions.get(ck.Value)
		}
		if !ok {
			http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
			return
		}
		c := &Ctx{W: w, R: r, ui: u, cookie: ck.Value, sess: sess}
		// The key is checked again on every request, so that a revoked or
		// expired key ends its sessions at once, also on pages that call
		// no API.
		id, err := u.cfg.Identify(r.Context(), sess.secret)
		if errors.Is(err, ErrUnknownKey) {
			u.fail(c, &xerr.Error{Code: xerr.PrefixClient + "Unauthorized", Message: err.Error(), Status: http.StatusUnauthorized})
			return
		}
		if err != nil {
			u.fail(c, fmt.Errorf("webui: identify the API key: %w", err))
			return
		}
		c.sess.identity = id
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := u.parseForm(w, r, u.cfg.MaxForm); err != nil {
				u.fail(c, err)
				return
			}
			if !sameToken(r.PostFormValue("csrf"), sess.csrf) {
				u.fail(c, &xerr.Error{Code: xerr.PrefixClient + "Forbidden", Message: u.t("error.csrf"), Status: http.StatusForbidden})
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, c)))
		if r.MultipartForm != nil {
			_ = r.MultipartForm.RemoveAll()
		}
	})
}

// maxLoginForm bounds the sign-in form, which anyone may send.
const maxLoginForm = 16 << 10

// parseForm reads a urlencoded or multipart form of at most limit bytes
// (multipart files are kept in memory up to that bound).
func (u *UI) parseForm(w http.ResponseWriter, r *http.Request, limit int64) error {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(limit)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return &xerr.Error{Code: xerr.PrefixClient + "InvalidRequest", Message: fmt.Sprintf(u.t("error.tooLarge"), limit), Status: http.StatusRequestEntityTooLarge}
		}
		return Invalid("%s: %v", u.t("error.badForm"), err)
	}
	return nil
}

func sameToken(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// visibleNav returns the navigation entries id may see.
func (u *UI) visibleNav(id Identity) []NavItem {
	var out []NavItem
	for _, n := range u.cfg.Nav {
		if len(n.Roles) == 0 || id.Has(n.Roles...) {
			out = append(out, n)
		}
	}
	return out
}

// home sends the operator to the first page their roles show.
func (u *UI) home(c *Ctx) error {
	if nav := u.visibleNav(c.sess.identity); len(nav) > 0 {
		http.Redirect(c.W, c.R, nav[0].Path, http.StatusSeeOther)
		return nil
	}
	return c.Render("home", "home.title", nil)
}

type loginData struct {
	Token   string
	Message string
}

func (u *UI) loginForm(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(u.cookieName(r)); err == nil {
		if _, ok := u.sessions.get(ck.Value); ok {
			http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
			return
		}
	}
	u.renderLogin(w, r, http.StatusOK, "")
}

// renderLogin shows the sign-in form with a fresh sign-in token, also set
// as a short-lived cookie: the POST must carry both (login CSRF).
func (u *UI) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	tok := randomToken()
	u.setCookie(w, r, u.loginCookieName(r), tok, Prefix+"/login", int(loginTokenTTL/time.Second))
	c := &Ctx{W: w, R: r, ui: u}
	if err := c.render(status, "login", "login.title", loginData{Token: tok, Message: msg}); err != nil {
		u.fail(c, err)
	}
}

func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	if err := u.parseForm(w, r, maxLoginForm); err != nil {
		u.fail(&Ctx{W: w, R: r, ui: u}, err)
		return
	}
	ck, err := r.Cookie(u.loginCookieName(r))
	if err != nil || !sameToken(r.PostFormValue("csrf"), ck.Value) {
		u.renderLogin(w, r, http.StatusForbidden, u.t("login.expired"))
		return
	}
	secret := strings.TrimSpace(r.PostFormValue("apiKey"))
	if secret == "" {
		u.renderLogin(w, r, http.StatusBadRequest, u.t("login.empty"))
		return
	}
	id, err := u.cfg.Identify(r.Context(), secret)
	if errors.Is(err, ErrUnknownKey) {
		u.log.Warn("console: sign-in refused", "remote", r.RemoteAddr, "err", err)
		u.renderLogin(w, r, http.StatusUnauthorized, u.t("login.refused"))
		return
	}
	if err != nil {
		u.fail(&Ctx{W: w, R: r, ui: u}, fmt.Errorf("webui: identify the API key: %w", err))
		return
	}
	// A fresh session id at every sign-in (no fixation); an earlier session
	// of this browser ends.
	if old, err := r.Cookie(u.cookieName(r)); err == nil {
		u.sessions.drop(old.Value)
	}
	cookie, _ := u.sessions.create(secret, id)
	u.setCookie(w, r, u.cookieName(r), cookie, Prefix+"/", 0)
	u.setCookie(w, r, u.loginCookieName(r), "", Prefix+"/login", -1)
	u.log.Info("console: signed in", "key", id.Name, "roles", id.Roles, "remote", r.RemoteAddr)
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
}

func (u *UI) logout(c *Ctx) error {
	u.sessions.drop(c.cookie)
	u.setCookie(c.W, c.R, u.cookieName(c.R), "", Prefix+"/", -1)
	http.Redirect(c.W, c.R, Prefix+"/login", http.StatusSeeOther)
	return nil
}

// errorData is what the error page shows.
type errorData struct {
	Status  int
	Code    string
	Message string
	Detail  string
	Back    string
}

// fail is the one place where an error becomes a page. The API's
// refusals and failures (*xerr.Error with a status) are shown as they
// came — status, code, message, detail id — and a 401 ends the session;
// anything else is an internal error, logged with a detail id that the
// page shows.
func (u *UI) fail(c *Ctx, err error) {
	var xe *xerr.Error
	if !errors.As(err, &xe) || xe.Status == 0 {
		xe = xerr.New(xerr.PrefixServer+"InternalError", u.t("error.internal"), err)
		xe.Status = http.StatusInternalServerError
		u.log.Error("console: request failed", "method", c.R.Method, "path", c.R.URL.Path, "detail", xe.Detail, "err", err)
	}
	if xe.Status == http.StatusUnauthorized && c.cookie != "" {
		u.sessions.drop(c.cookie)
		u.setCookie(c.W, c.R, u.cookieName(c.R), "", Prefix+"/", -1)
		u.renderLogin(c.W, c.R, http.StatusUnauthorized, u.t("login.ended")+" "+xe.Message)
		return
	}
	d := errorData{Status: xe.Status, Code: xe.Code, Message: xe.Message, Detail: xe.Detail, Back: u.back(c.R)}
	if rerr := c.render(xe.Status, "error", errorTitle(xe.Status), d); rerr != nil {
		u.log.Error("console: error page failed", "err", rerr)
		http.Error(c.W, xe.Message, xe.Status)
	}
}

// errorTitle is the text key of the error page's title for a status.
func errorTitle(status int) string {
	switch status {
	case http.StatusForbidden:
		return "error.403"
	case http.StatusNotFound:
		return "error.404"
	case http.StatusConflict:
		return "error.409"
	case http.StatusServiceUnavailable:
		return "error.503"
	}
	if status < 500 {
		return "error.400"
	}
	return "error.500"
}

// back is where the error page's back link goes: the referring console
// page of the same listener, else the console's home.
func (u *UI) back(r *http.Request) string {
	if ref, err := url.Parse(r.Referer()); err == nil && ref.Host == r.Host && strings.HasPrefix(ref.Path, Prefix+"/") {
		if ref.RawQuery != "" {
			return ref.Path + "?" + ref.RawQuery
		}
		return ref.Path
	}
	return Prefix + "/"
}
