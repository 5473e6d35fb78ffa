package portal

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/skip2/go-qrcode"

	"github.com/jisr-bus/jisr/adapters/document"
	"github.com/jisr-bus/jisr/internal/xroad"
)

// maxCode bounds a pasted document code.
const maxCode = 16 << 10

// busStatus asks a document's issuer for its status through the bus
// (Interior's GET /v1/documents/{number}/status). The public page has no
// citizen: its calls carry no X-Road-UserId, and X-Road-Issue names the
// verification ("VERIFY-" and the document number).
type busStatus struct {
	s       *Service
	issuers map[string]Ministry
}

var _ document.StatusSource = (*busStatus)(nil)

// DocumentStatus implements document.StatusSource.
func (b *busStatus) DocumentStatus(ctx context.Context, issuer xroad.MemberID, number string) (document.StatusReport, error) {
	m, ok := b.issuers[issuer.String()]
	if !ok {
		return document.StatusReport{}, fmt.Errorf("portal: no status service for %s", issuer)
	}
	var s document.StatusJSON
	_, err := b.s.call(ctx, Call{Ministry: m, Method: http.MethodGet, Path: fmt.Sprintf(document.StatusPath, url.PathEscape(number)),
		Issue: "VERIFY-" + number}, &s)
	if ce, ok := err.(*CallError); ok && !ce.BusFault && ce.Status == http.StatusNotFound && ce.Code == document.CodeUnknownDocument {
		return document.StatusReport{}, fmt.Errorf("%w: %s", document.ErrUnknownDocument, number)
	}
	if err != nil {
		return document.StatusReport{}, err
	}
	if s.Status != document.StatusValid && s.Status != document.StatusRevoked {
		return document.StatusReport{}, fmt.Errorf("portal: status answer without a known status")
	}
	rep := document.StatusReport{Number: s.Number, Type: s.Type, Status: s.Status, Reason: s.Reason, CodeSHA256: s.CodeSHA256}
	if s.RevokedAt != nil {
		rep.RevokedAt = *s.RevokedAt
	}
	return rep, nil
}

// verifyView is the verification page's state.
type verifyView struct {
	Code      string
	Verdict   string
	Claims    *document.Claims
	Issuer    string
	Issued    string
	RevokedAt string
}

func (s *Service) verifyPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "verify", "verify.title", pageData{D: verifyView{}})
}

// verifyDocument checks a pasted code against the instance's trust
// anchors and asks the issuer through the bus whether it is registered
// and not revoked: valid, revoked or forged.
func (s *Service) verifyDocument(w http.ResponseWriter, r *http.Request) {
	v := visitOf(r)
	code := strings.Join(strings.Fields(r.PostForm.Get("code")), "")
	view := verifyView{Code: code}
	if code == "" || len(code) > maxCode {
		view.Verdict = string(document.Forged)
		s.metrics.verifications.WithLabelValues(view.Verdict).Inc()
		s.render(w, r, http.StatusOK, "verify", "verify.title", pageData{D: view})
		return
	}
	issuers := map[string]Ministry{}
	for _, ms := range s.cfg.Issuers {
		for _, m := range ms {
			issuers[m.String()] = Interior
		}
	}
	res, err := document.Verify(r.Context(), code, document.VerifyOptions{
		Roots: s.cfg.Roots, Issuers: s.cfg.Issuers, Status: &busStatus{s: s, issuers: issuers}, Now: s.clock.Now(),
	})
	if err != nil {
		s.metrics.verifications.WithLabelValues("error").Inc()
		s.log.InfoContext(r.Context(), "verification could not complete", "err", err)
		s.render(w, r, http.StatusBadGateway, "verify", "verify.title", pageData{Error: s.text.text(v.lang, "err.verifyUnavailable"), D: view})
		return
	}
	view.Verdict = string(res.Verdict)
	if res.Verdict != document.Forged {
		view.Claims = res.Claims
		view.Issuer = res.Issuer.String()
		view.Issued = res.Claims.IssuedTime().Format("2006-01-02 15:04 UTC")
		if !res.RevokedAt.IsZero() {
			view.RevokedAt = res.RevokedAt.UTC().Format("2006-01-02 15:04 UTC")
		}
	}
	s.metrics.verifications.WithLabelValues(view.Verdict).Inc()
	s.render(w, r, http.StatusOK, "verify", "verify.title", pageData{D: view})
}

// qrFits reports whether code fits in a QR symbol (version 40, low error
// correction holds 2,953 bytes).
func qrFits(code string) bool { return len(code) <= 2953 }

// documentQR serves the QR image of an application's document code.
func (s *Service) documentQR(w http.ResponseWriter, r *http.Request) {
	app, ok := s.ownApplication(w, r)
	if !ok {
		return
	}
	if app.Data.Document == nil || !qrFits(app.Data.Document.Code) {
		http.NotFound(w, r)
		return
	}
	png, err := qrcode.Encode(app.Data.Document.Code, qrcode.Low, 512)
	if err != nil {
		s.log.ErrorContext(r.Context(), "QR image", "application", chi.URLParam(r, "number"), "err", err)
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(png)
}
