package portal

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/jisr-bus/jisr/adapters/nationalid"
	"github.com/jisr-bus/jisr/internal/xerr"
)

// Cookie names.
const (
	sessionCookie = "hukumati_session"
	// anonCSRFCookie carries the CSRF token of a visitor who is not signed
	// in (double-submit: the form field must equal it).
	anonCSRFCookie = "hukumati_csrf"
	// csrfField is the hidden form field every POST form carries.
	csrfField = "csrf"
)

// maxForm bounds a form body.
const maxForm = 64 << 10

type ctxKey struct{}

// visit is what the middleware learned about a request.
type visit struct {
	lang   string
	sessID string
	sess   *session
	csrf   string
}

func visitOf(r *http.Request) *visit {
	v, _ := r.Context().Value(ctxKey{}).(*visit)
	if v == nil {
		return &visit{lang: langAR}
	}
	return v
}

func (s *Service) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(s.recoverer, s.securityHeaders, s.visitor)
	r.Get("/healthz", s.health)
	r.Get("/static/portal.css", serveCSS)
	r.Get("/", s.home)
	r.Get("/lang/{lang}", s.switchLanguage)
	r.Get("/login", s.loginPage)
	r.Post("/login", s.checkCSRF(s.login))
	r.Post("/logout", s.checkCSRF(s.logout))
	r.Get("/activate", s.activatePage)
	r.Post("/activate", s.checkCSRF(s.activateAccount))
	r.Get("/verify", s.verifyPage)
	r.Post("/verify", s.checkCSRF(s.verifyDocument))
	r.Get("/officer/login", s.officerLoginPage)
	r.Post("/officer/login", s.checkCSRF(s.officerLogin))
	r.Get("/officer", s.officer(s.officerConsole))
	r.Post("/officer/lookup", s.checkCSRF(s.officer(s.officerLookup)))
	r.Post("/officer/codes", s.checkCSRF(s.officer(s.officerIssueCode)))
	r.Get("/services/licence-renewal", s.citizen(s.licencePage))
	r.Post("/services/licence-renewal", s.checkCSRF(s.citizen(s.licenceSubmit)))
	r.Get("/services/birth-certificate", s.citizen(s.birthCertificatePage))
	r.Post("/services/birth-certificate", s.checkCSRF(s.citizen(s.birthCertificateSubmit)))
	r.Get("/services/civil-registry-extract", s.citizen(s.extractPage))
	r.Post("/services/civil-registry-extract", s.checkCSRF(s.citizen(s.extractSubmit)))
	r.Get("/services/insurance-renewal", s.citizen(s.insurancePage))
	r.Post("/services/insurance-renewal", s.checkCSRF(s.citizen(s.insuranceSubmit)))
	r.Get("/services/traffic-fines", s.citizen(s.finesPage))
	r.Post("/services/traffic-fines", s.checkCSRF(s.citizen(s.fineSubmit)))
	r.Get("/applications", s.citizen(s.applicationsPage))
	r.Get("/applications/{number}", s.citizen(s.applicationPage))
	r.Get("/applications/{number}/qr.png", s.citizen(s.documentQR))
	r.Get("/receipts", s.citizen(s.receiptsPage))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, http.StatusNotFound, "message", "err.title", pageData{Error: s.text.text(visitOf(r).lang, "err.notFoundPage")})
	})
	return r
}

func (s *Service) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if err := s.db.SQL.PingContext(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"fail"}`))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ok"}`))
}

// recoverer turns a panic into the internal-error page (logged with its
// detail id), never a stack trace in the browser.
func (s *Service) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				e := xerr.New(xerr.PrefixServer+"InternalError", "internal error", errors.New("panic"))
				s.log.ErrorContext(r.Context(), "panic in handler", "detail", e.Detail, "panic", v, "path", r.URL.Path)
				s.render(w, r, http.StatusInternalServerError, "message", "err.title",
					pageData{Error: s.text.format(visitOf(r).lang, "err.internal", map[string]string{"ref": e.Detail})})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Service) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// visitor finds the language, the session and the CSRF token.
func (s *Service) visitor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := &visit{lang: language(r)}
		if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
			sess, err := s.lookupSession(r.Context(), c.Value)
			switch {
			case err == nil:
				v.sess, v.sessID, v.csrf = sess, c.Value, sess.CSRF
			case errors.Is(err, errNotFound):
				s.clearCookie(w, sessionCookie)
			default:
				s.fail(w, r, err)
				return
			}
		}
		if v.sess == nil {
			if c, err := r.Cookie(anonCSRFCookie); err == nil && len(c.Value) >= 32 {
				v.csrf = c.Value
			} else {
				v.csrf = randomToken(32)
				s.setCookie(w, anonCSRFCookie, v.csrf)
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, v)))
	})
}

func (s *Service) setCookie(w http.ResponseWriter, name, value string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: s.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode})
}

func (s *Service) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode})
}

// checkCSRF refuses a POST whose form token is not the session's (or,
// before sign-in, the visitor cookie's).
func (s *Service) checkCSRF(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			s.render(w, r, http.StatusBadRequest, "message", "err.title", pageData{Error: s.text.text(visitOf(r).lang, "err.badRequest")})
			return
		}
		v := visitOf(r)
		got := r.PostForm.Get(csrfField)
		if v.csrf == "" || subtle.ConstantTimeCompare([]byte(got), []byte(v.csrf)) != 1 {
			s.log.InfoContext(r.Context(), "CSRF token refused", "path", r.URL.Path)
			s.render(w, r, http.StatusForbidden, "message", "err.title", pageData{Error: s.text.text(v.lang, "err.csrf")})
			return
		}
		next(w, r)
	}
}

// citizen requires a signed-in citizen.
func (s *Service) citizen(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := visitOf(r)
		if v.sess == nil || v.sess.Kind != "citizen" {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		next(w, r)
	}
}

// officer requires a signed-in registration officer.
func (s *Service) officer(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := visitOf(r)
		if v.sess == nil || v.sess.Kind != "officer" {
			http.Redirect(w, r, "/officer/login", http.StatusSeeOther)
			return
		}
		next(w, r)
	}
}

func (s *Service) switchLanguage(w http.ResponseWriter, r *http.Request) {
	l := chi.URLParam(r, "lang")
	if l != langAR && l != langEN {
		l = langAR
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600, Secure: s.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode, HttpOnly: true})
	http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
}

// localPath returns p when it is a path on this site, else "/" (no open
// redirects).
func localPath(p string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return "/"
	}
	return p
}

// message turns an error into the plain-language message the citizen
// reads: the one place where errors become text. Internal errors are
// logged with a reference the citizen can quote.
func (s *Service) message(ctx context.Context, lang string, err error) string {
	var ce *CallError
	if errors.As(err, &ce) {
		key, args := callMessage(ce)
		args["ministry"] = s.text.text(lang, "ministry."+string(ce.Ministry))
		return s.text.format(lang, key, args)
	}
	if errors.Is(err, ErrBusUnreachable) {
		return s.text.text(lang, "err.unreachable")
	}
	e := xerr.As(err, xerr.PrefixServer+"InternalError")
	s.log.ErrorContext(ctx, "portal error", "detail", e.Detail, "code", e.Code, "err", err)
	return s.text.format(lang, "err.internal", map[string]string{"ref": e.Detail})
}

// callMessage chooses the message key for a failed call.
func callMessage(ce *CallError) (string, map[string]string) {
	args := map[string]string{}
	if ce.BusFault {
		switch {
		case strings.HasSuffix(ce.Code, "AccessDenied"):
			return "err.accessDenied", args
		case strings.Contains(ce.Code, "NetworkError"), strings.Contains(ce.Code, "ServiceFailed"),
			strings.Contains(ce.Code, "Timeout"), strings.Contains(ce.Code, "Unavailable"),
			strings.Contains(ce.Code, "UnknownService"), strings.Contains(ce.Code, "UnknownMember"):
			return "err.ministryDown", args
		}
		return "err.bus", args
	}
	switch ce.Code {
	case "Client.UnpaidFines":
		return "err.unpaidFines", args
	case "Client.RenewalNotAllowed":
		return "err.renewalNotAllowed", args
	case "Client.CertificateAlreadyIssued":
		return "err.alreadyIssued", args
	case "Client.PaymentNotAcceptable", "Client.PaymentAlreadyUsed":
		return "err.paymentNotAccepted", args
	case "Client.NotFound", "Client.UnknownDocument":
		return "err.notFound", args
	case "Client.Forbidden":
		return "err.forbidden", args
	case "Client.BadRequest":
		return "err.badRequest", args
	}
	switch {
	case ce.Status >= 500:
		return "err.ministryDown", args
	case ce.Status == http.StatusConflict:
		return "err.conflict", args
	}
	return "err.bus", args
}

// fail renders err as a page with the right status.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusBadGateway
	var ce *CallError
	switch {
	case errors.As(err, &ce) && !ce.BusFault && ce.Status < 500:
		status = http.StatusUnprocessableEntity
	case errors.As(err, &ce), errors.Is(err, ErrBusUnreachable):
		status = http.StatusBadGateway
	default:
		status = http.StatusInternalServerError
	}
	s.render(w, r, status, "message", "err.title", pageData{Error: s.message(r.Context(), visitOf(r).lang, err)})
}

// checkNationalID validates a nine-digit national ID with its check digit.
func checkNationalID(s string) error {
	_, err := nationalid.Parse(s)
	return err
}

func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0
	}
	return n
}
