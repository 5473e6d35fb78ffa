package portal

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/adapters/interior"
)

func (s *Service) home(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "home", "portal.name", pageData{})
}

// ---- citizens ----

type loginForm struct {
	NationalID string
	Next       string
}

func (s *Service) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login", "login.title", pageData{D: loginForm{Next: localPath(r.URL.Query().Get("next"))}})
}

func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	v := visitOf(r)
	nid := strings.TrimSpace(r.PostForm.Get("nationalId"))
	password := r.PostForm.Get("password")
	form := loginForm{NationalID: nid, Next: localPath(r.PostForm.Get("next"))}
	refuse := func(status int, msg string) {
		s.render(w, r, status, "login", "login.title", pageData{Error: msg, D: form})
	}
	if checkNationalID(nid) != nil || password == "" {
		s.metrics.signIns.WithLabelValues("citizen", "failed").Inc()
		refuse(http.StatusUnauthorized, s.text.text(v.lang, "login.failed"))
		return
	}
	ok, err := s.checkPassword(r, "citizen:"+nid, password, func() (string, error) {
		a, err := s.account(r.Context(), nid)
		if errors.Is(err, errNotFound) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		if !a.Activated {
			return "", nil
		}
		return a.PasswordHash, nil
	})
	if err != nil {
		var locked *lockedError
		if errors.As(err, &locked) {
			s.metrics.signIns.WithLabelValues("citizen", "locked").Inc()
			refuse(http.StatusTooManyRequests, s.text.format(v.lang, "login.locked", map[string]string{"minutes": locked.minutes()}))
			return
		}
		s.fail(w, r, err)
		return
	}
	if !ok {
		s.metrics.signIns.WithLabelValues("citizen", "failed").Inc()
		refuse(http.StatusUnauthorized, s.text.text(v.lang, "login.failed"))
		return
	}
	s.metrics.signIns.WithLabelValues("citizen", "ok").Inc()
	s.startSession(w, r, "citizen", nid, form.Next)
}

// lockedError says an account is locked until a time.
type lockedError struct {
	until time.Time
	now   time.Time
}

func (e *lockedError) Error() string {
	return "portal: account locked until " + e.until.Format(time.RFC3339)
}

func (e *lockedError) minutes() string {
	m := int(e.until.Sub(e.now).Minutes() + 0.999)
	return strconv.Itoa(max(m, 1))
}

// checkPassword throttles and checks a sign-in for account: a locked
// account is refused before the password is looked at; a wrong password
// counts a failure; the right one clears them. hash returns the stored
// hash, or "" for no such (or no active) account — then a dummy hash is
// checked so that timing does not tell accounts apart.
func (s *Service) checkPassword(r *http.Request, account, password string, hash func() (string, error)) (bool, error) {
	ctx := r.Context()
	until, err := s.locked(ctx, account)
	if err != nil {
		return false, err
	}
	if !until.IsZero() {
		return false, &lockedError{until: until, now: s.clock.Now()}
	}
	h, err := hash()
	if err != nil {
		return false, err
	}
	ok := false
	if h == "" {
		_, _ = VerifyPassword(password, s.dummyHash())
	} else if ok, err = VerifyPassword(password, h); err != nil {
		return false, fmt.Errorf("check password of %s: %w", account, err)
	}
	if !ok {
		if err := s.recordFailure(ctx, account); err != nil {
			return false, err
		}
		return false, nil
	}
	return true, s.clearFailures(ctx, account)
}

// dummyHash is a fixed hash with the configured cost, checked when there
// is no account (computed once).
func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() {
		s.dummy, _ = HashPassword("no account has this password", s.cfg.Argon2)
	})
	return s.dummy
}

func (s *Service) startSession(w http.ResponseWriter, r *http.Request, kind, subject, next string) {
	v := visitOf(r)
	if v.sessID != "" {
		_ = s.deleteSession(r.Context(), v.sessID)
	}
	id, _, err := s.createSession(r.Context(), kind, subject)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.setCookie(w, sessionCookie, id)
	s.clearCookie(w, anonCSRFCookie)
	http.Redirect(w, r, localPath(next), http.StatusSeeOther)
}

func (s *Service) logout(w http.ResponseWriter, r *http.Request) {
	if v := visitOf(r); v.sessID != "" {
		if err := s.deleteSession(r.Context(), v.sessID); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.clearCookie(w, sessionCookie)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

type activateForm struct {
	NationalID string
	Min        int
}

func (s *Service) activatePage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "activate", "activate.title", pageData{D: activateForm{Min: MinPasswordLen}})
}

func (s *Service) activateAccount(w http.ResponseWriter, r *http.Request) {
	v := visitOf(r)
	nid := strings.TrimSpace(r.PostForm.Get("nationalId"))
	code := r.PostForm.Get("code")
	p1, p2 := r.PostForm.Get("password"), r.PostForm.Get("password2")
	form := activateForm{NationalID: nid, Min: MinPasswordLen}
	refuse := func(status int, key string) {
		s.render(w, r, status, "activate", "activate.title", pageData{Error: s.text.text(v.lang, key), D: form})
	}
	switch {
	case p1 != p2:
		refuse(http.StatusBadRequest, "activate.mismatch")
		return
	case len([]rune(p1)) < MinPasswordLen || len(p1) > maxPasswordLen:
		refuse(http.StatusBadRequest, "activate.short")
		return
	case checkNationalID(nid) != nil || code == "":
		refuse(http.StatusBadRequest, "activate.bad")
		return
	}
	// Guessing codes is throttled like guessing passwords.
	account := "activate:" + nid
	if until, err := s.locked(r.Context(), account); err != nil {
		s.fail(w, r, err)
		return
	} else if !until.IsZero() {
		refuse(http.StatusTooManyRequests, "activate.bad")
		return
	}
	hash, err := HashPassword(p1, s.cfg.Argon2)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.activate(r.Context(), nid, code, hash); err != nil {
		if errors.Is(err, errCodeInvalid) {
			if err := s.recordFailure(r.Context(), account); err != nil {
				s.fail(w, r, err)
				return
			}
			refuse(http.StatusBadRequest, "activate.bad")
			return
		}
		s.fail(w, r, err)
		return
	}
	_ = s.clearFailures(r.Context(), account)
	_ = s.clearFailures(r.Context(), "citizen:"+nid)
	s.render(w, r, http.StatusOK, "login", "login.title", pageData{Notice: s.text.text(v.lang, "activate.done"), D: loginForm{NationalID: nid, Next: "/"}})
}

// ---- registration officers ----

func (s *Service) officerLoginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "officer_login", "officer.login", pageData{})
}

func (s *Service) officerLogin(w http.ResponseWriter, r *http.Request) {
	v := visitOf(r)
	user := strings.TrimSpace(r.PostForm.Get("username"))
	ok, err := s.checkPassword(r, "officer:"+user, r.PostForm.Get("password"), func() (string, error) {
		for _, o := range s.cfg.Officers {
			if subtle.ConstantTimeCompare([]byte(o.Username), []byte(user)) == 1 {
				return o.PasswordHash, nil
			}
		}
		return "", nil
	})
	if err != nil {
		var locked *lockedError
		if errors.As(err, &locked) {
			s.metrics.signIns.WithLabelValues("officer", "locked").Inc()
			s.render(w, r, http.StatusTooManyRequests, "officer_login", "officer.login",
				pageData{Error: s.text.format(v.lang, "login.locked", map[string]string{"minutes": locked.minutes()})})
			return
		}
		s.fail(w, r, err)
		return
	}
	if !ok {
		s.metrics.signIns.WithLabelValues("officer", "failed").Inc()
		s.render(w, r, http.StatusUnauthorized, "officer_login", "officer.login", pageData{Error: s.text.text(v.lang, "login.failed")})
		return
	}
	s.metrics.signIns.WithLabelValues("officer", "ok").Inc()
	s.startSession(w, r, "officer", user, "/officer")
}

// officerView is the console's state.
type officerView struct {
	NationalID string
	Issue      string
	Person     *interior.PersonJSON
	Code       string
	Expires    string
}

func (s *Service) officerConsole(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "officer", "officer.title", pageData{D: officerView{}})
}

// officerLookup opens an account-opening application and reads the person
// from the civil registry through the bus.
func (s *Service) officerLookup(w http.ResponseWriter, r *http.Request) {
	v := visitOf(r)
	nid := strings.TrimSpace(r.PostForm.Get("nationalId"))
	view := officerView{NationalID: nid}
	if checkNationalID(nid) != nil {
		s.render(w, r, http.StatusBadRequest, "officer", "officer.title", pageData{Error: s.text.text(v.lang, "err.badRequest"), D: view})
		return
	}
	app, err := s.openApplication(r.Context(), nid, "account-opening", "officer:"+v.sess.Subject+":"+randomToken(12), appData{Subject: nid})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	view.Issue = app.Number
	var p interior.PersonJSON
	if _, err := s.call(r.Context(), Call{Ministry: Interior, Method: http.MethodGet, Path: "/v1/persons/" + nid, UserID: nid, Issue: app.Number}, &p); err != nil {
		_ = s.saveApplication(r.Context(), app, StatusFailed, "")
		s.render(w, r, http.StatusUnprocessableEntity, "officer", "officer.title", pageData{Error: s.message(r.Context(), v.lang, err), D: view})
		return
	}
	name := p.Name
	app.Data.SubjectName = &name
	if err := s.saveApplication(r.Context(), app, StatusInProgress, "identity read from the civil registry by "+v.sess.Subject); err != nil {
		s.fail(w, r, err)
		return
	}
	view.Person = &p
	s.render(w, r, http.StatusOK, "officer", "officer.title", pageData{D: view})
}

// officerIssueCode issues an activation code for the person looked up
// under the application named in the form.
func (s *Service) officerIssueCode(w http.ResponseWriter, r *http.Request) {
	v := visitOf(r)
	app, err := s.application(r.Context(), r.PostForm.Get("issue"))
	if err != nil || app.Service != "account-opening" || app.Data.SubjectName == nil || app.Status != StatusInProgress ||
		!strings.HasPrefix(app.Token, "officer:"+v.sess.Subject+":") {
		s.render(w, r, http.StatusBadRequest, "officer", "officer.title", pageData{Error: s.text.text(v.lang, "err.badRequest"), D: officerView{}})
		return
	}
	code, expires, err := s.issueActivationCode(r.Context(), app.NationalID, app.Data.SubjectName.AR, app.Data.SubjectName.EN, v.sess.Subject, app.Number)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.saveApplication(r.Context(), app, StatusCodeIssued, "activation code issued by "+v.sess.Subject); err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "officer", "officer.title", pageData{D: officerView{NationalID: app.NationalID, Issue: app.Number,
		Code: code, Expires: expires.UTC().Format("2006-01-02 15:04 UTC")}})
}
