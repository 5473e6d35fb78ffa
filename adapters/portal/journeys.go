package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/jisr-bus/jisr/adapters/interior"
	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/payments"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/adapters/transport"
)

// Services (journeys) of the portal; the names are also the catalogue's
// "svc.*" keys.
const (
	svcLicence   = "licence-renewal"
	svcBirthNew  = "birth-certificate-new"
	svcBirthCopy = "birth-certificate-copy"
	svcExtract   = "civil-registry-extract"
	svcInsurance = "insurance-renewal"
	svcFines     = "traffic-fines"
)

// rejection is a journey's end that is the citizen's case, not a fault:
// the ministry refused (unpaid fines, not due…). key is a catalogue key.
type rejection struct {
	key  string
	args map[string]string
}

func (r *rejection) Error() string { return "portal: rejected: " + r.key }

// declined is a payment the acquirer declined.
type declined struct{ reason string }

func (d *declined) Error() string { return "portal: payment declined: " + d.reason }

// journeyPage is what a journey's form page shows.
type journeyPage struct {
	App      *application
	Person   *interior.PersonJSON
	Licence  *transport.LicenceJSON
	Fines    []transport.FineJSON
	Unpaid   kit.Money
	Fee      *kit.Money
	Delivery *kit.Money
	Offices  []office
	Policies []policyEntry
	Children []interior.PersonSummary
	Kind     string
	Records  []birthOption
	Blockers []string
	Card     bool
}

type office struct {
	Code string    `json:"code"`
	Name seed.Name `json:"name"`
}

type birthOption struct {
	Person interior.PersonSummary
	Next   string
}

// journey carries one request's citizen, language and application.
type journey struct {
	s    *Service
	ctx  context.Context
	nid  string
	lang string
	app  *application
}

func (j *journey) call(m Ministry, method, path string, body, out any) error {
	_, err := j.s.call(j.ctx, Call{Ministry: m, Method: method, Path: path, Body: body, UserID: j.nid, Issue: j.app.Number}, out)
	return err
}

func (s *Service) journeyFor(r *http.Request, service string) (*journey, error) {
	v := visitOf(r)
	app, err := s.draft(r.Context(), v.sess.Subject, service)
	if err != nil {
		return nil, err
	}
	return &journey{s: s, ctx: r.Context(), nid: v.sess.Subject, lang: v.lang, app: app}, nil
}

// submitted locks and reloads the application the form names (by its
// submission token); a completed one is shown instead of being redone.
func (s *Service) submitted(w http.ResponseWriter, r *http.Request, service string) (*journey, func(), bool) {
	v := visitOf(r)
	token := r.PostForm.Get("token")
	if token == "" || len(token) > 64 {
		s.render(w, r, http.StatusBadRequest, "message", "err.title", pageData{Error: s.text.text(v.lang, "err.badRequest")})
		return nil, nil, false
	}
	app, err := s.applicationByToken(r.Context(), v.sess.Subject, token)
	if err != nil || app.Service != service {
		s.render(w, r, http.StatusBadRequest, "message", "err.title", pageData{Error: s.text.text(v.lang, "err.badRequest")})
		return nil, nil, false
	}
	unlock := s.appLocks.lock(app.Number)
	if app, err = s.application(r.Context(), app.Number); err != nil {
		unlock()
		s.fail(w, r, err)
		return nil, nil, false
	}
	if app.Status == StatusCompleted || app.Status == StatusRejected {
		unlock()
		http.Redirect(w, r, "/applications/"+app.Number, http.StatusSeeOther)
		return nil, nil, false
	}
	return &journey{s: s, ctx: r.Context(), nid: v.sess.Subject, lang: v.lang, app: app}, unlock, true
}

// finish records how a journey's run ended and shows the application.
func (s *Service) finish(w http.ResponseWriter, r *http.Request, j *journey, runErr error, doneKey string) {
	status, note := StatusCompleted, ""
	j.app.Data.Message, j.app.Data.MessageArgs = "", nil
	var rej *rejection
	var dec *declined
	var ce *CallError
	switch {
	case runErr == nil:
		j.app.Data.Message = doneKey
	case errors.As(runErr, &dec):
		status, note = StatusPaymentDeclined, dec.reason
		key := "decline." + dec.reason
		if _, ok := s.text[key]; !ok {
			key = "decline.other"
		}
		j.app.Data.Message, j.app.Data.MessageArgs = "pay.declined", map[string]string{"reason@": key}
	case errors.As(runErr, &rej):
		status, note = StatusRejected, rej.key
		j.app.Data.Message, j.app.Data.MessageArgs = rej.key, rej.args
	case errors.As(runErr, &ce):
		status, note = StatusFailed, ce.Code
		key, args := callMessage(ce)
		args["ministry@"] = "ministry." + string(ce.Ministry)
		j.app.Data.Message, j.app.Data.MessageArgs = key, args
		if !ce.BusFault && ce.Status < 500 && ce.Status != http.StatusNotFound {
			// The ministry refused the case itself.
			status = StatusRejected
		}
	case errors.Is(runErr, ErrBusUnreachable):
		status, note = StatusFailed, "bus unreachable"
		j.app.Data.Message = "err.unreachable"
	default:
		// An internal fault: logged with a reference, the application can
		// be retried.
		msg := s.message(j.ctx, langEN, runErr)
		status, note = StatusFailed, "internal error"
		j.app.Data.Message, j.app.Data.MessageArgs = "err.internal", map[string]string{"ref": strings.TrimPrefix(msg, "An internal error occurred. Reference: ")}
	}
	if err := s.saveApplication(r.Context(), j.app, status, note); err != nil {
		s.fail(w, r, err)
		return
	}
	s.metrics.applications.WithLabelValues(j.app.Service, status).Inc()
	http.Redirect(w, r, "/applications/"+j.app.Number, http.StatusSeeOther)
}

// ---- payment ----

var (
	cardNumberRe = regexp.MustCompile(`^[0-9]{12,19}$`)
	cvvRe        = regexp.MustCompile(`^[0-9]{3,4}$`)
)

// cardFrom reads the card fields of a form (never stored).
func cardFrom(f url.Values) (*payments.CardRequest, bool) {
	number := strings.NewReplacer(" ", "", "-", "").Replace(f.Get("cardNumber"))
	c := &payments.CardRequest{Number: number, ExpiryMonth: atoi(f.Get("expiryMonth")), ExpiryYear: atoi(f.Get("expiryYear")),
		CVV: strings.TrimSpace(f.Get("cvv")), Holder: strings.TrimSpace(f.Get("cardHolder"))}
	if len(c.Holder) > 100 {
		c.Holder = c.Holder[:100]
	}
	ok := cardNumberRe.MatchString(c.Number) && cvvRe.MatchString(c.CVV) && c.ExpiryMonth >= 1 && c.ExpiryMonth <= 12 &&
		c.ExpiryYear >= 2000 && c.ExpiryYear <= 2100
	return c, ok
}

// payment returns the application's record of step, or nil.
func (a *application) payment(step string) *paymentRecord {
	for i := len(a.Data.Payments) - 1; i >= 0; i-- {
		if a.Data.Payments[i].Step == step {
			return &a.Data.Payments[i]
		}
	}
	return nil
}

// pay charges amount for step by card at the Monetary Authority, once:
// the Idempotency-Key is APPLICATION:STEP:ATTEMPT, and the attempt is
// saved before the call, so a repeated submit (or one after a crash)
// replays the same order instead of charging again. Only a declined
// payment moves on to a new attempt. The paid order is then credited to
// Finance's revenue ledger (idempotent there) and its receipt fetched.
func (j *journey) pay(step, service, reference string, amount kit.Money, card *payments.CardRequest) (*paymentRecord, error) {
	rec := j.app.payment(step)
	if rec != nil && rec.Status == "paid" {
		return rec, j.settle(rec)
	}
	if card == nil {
		return nil, &rejection{key: "pay.badCard"}
	}
	attempt := 1
	if rec != nil {
		attempt = rec.Attempt
		if rec.Status == "declined" {
			attempt++
		}
	}
	if rec == nil || rec.Attempt != attempt {
		j.app.Data.Payments = append(j.app.Data.Payments, paymentRecord{Step: step, Attempt: attempt, Status: "pending",
			Amount: amount, Service: service, Reference: reference})
		rec = &j.app.Data.Payments[len(j.app.Data.Payments)-1]
	}
	rec.Amount, rec.Service, rec.Reference = amount, service, reference
	if err := j.s.saveApplication(j.ctx, j.app, StatusInProgress, ""); err != nil {
		return nil, err
	}
	// rec may have moved when saveApplication's caller appended; look it
	// up again after every change.
	rec = j.app.payment(step)
	req := payments.OrderRequest{
		Payer:   payments.Payer{NationalID: j.nid},
		Amount:  amount,
		Purpose: payments.Purpose{Service: service, Reference: reference},
		Method:  payments.MethodRequest{Type: "card", Card: card},
	}
	var order payments.Order
	_, err := j.s.call(j.ctx, Call{Ministry: Payments, Method: http.MethodPost, Path: "/v1/payment-orders", Body: req,
		UserID: j.nid, Issue: j.app.Number, IdempotencyKey: fmt.Sprintf("%s:%s:%d", j.app.Number, step, attempt)}, &order)
	if err != nil {
		return nil, err
	}
	rec.OrderID, rec.Status, rec.DeclineReason, rec.Method = order.ID, order.Status, order.DeclineReason, order.Method.Description
	if err := j.s.saveApplication(j.ctx, j.app, StatusInProgress, ""); err != nil {
		return nil, err
	}
	switch order.Status {
	case "paid":
		return rec, j.settle(rec)
	case "declined":
		return nil, &declined{reason: order.DeclineReason}
	}
	return nil, fmt.Errorf("payment order %s is %s", order.ID, order.Status)
}

// settle credits a paid order to Finance and fetches its receipt, each
// once.
func (j *journey) settle(rec *paymentRecord) error {
	if !rec.Credited {
		if err := j.call(Finance, http.MethodPost, "/v1/ledger/credits", map[string]string{"paymentOrderId": rec.OrderID}, nil); err != nil {
			return err
		}
		rec.Credited = true
	}
	if rec.ReceiptNumber == "" {
		var rc payments.Receipt
		if err := j.call(Payments, http.MethodGet, "/v1/payment-orders/"+url.PathEscape(rec.OrderID)+"/receipt", nil, &rc); err != nil {
			return err
		}
		rec.ReceiptNumber, rec.PaidAt, rec.Method = rc.ReceiptNumber, rc.PaidAt.UTC().Format("2006-01-02 15:04 UTC"), rc.Method
	}
	return j.s.saveApplication(j.ctx, j.app, StatusInProgress, "")
}

// fee reads a service's fee from Finance.
func (j *journey) fee(service string) (kit.Money, error) {
	var f struct {
		Amount *kit.Money `json:"amount"`
	}
	if err := j.call(Finance, http.MethodGet, "/v1/fees/"+url.PathEscape(service), nil, &f); err != nil {
		return kit.Money{}, err
	}
	if f.Amount == nil {
		return kit.Money{}, fmt.Errorf("fee of %s has no amount", service)
	}
	return *f.Amount, nil
}

// ---- delivery ----

func (j *journey) offices() ([]office, error) {
	var out struct {
		Offices []office `json:"offices"`
	}
	if err := j.call(Post, http.MethodGet, "/v1/offices", nil, &out); err != nil {
		return nil, err
	}
	return out.Offices, nil
}

var phoneRe = regexp.MustCompile(`^\+?[0-9]{7,15}$`)

// deliveryFrom reads the delivery choice of a form.
func deliveryFrom(f url.Values, p *interior.PersonJSON, allowNone bool) (*deliveryChoice, bool) {
	d := &deliveryChoice{Method: f.Get("delivery"), OfficeCode: f.Get("officeCode"), Phone: strings.TrimSpace(f.Get("phone"))}
	if d.Phone == "" && p != nil {
		d.Phone = p.Phone
	}
	switch d.Method {
	case "none":
		return d, allowNone
	case "pickup":
		return d, len(d.OfficeCode) == 5 && phoneRe.MatchString(d.Phone)
	case "address":
		return d, phoneRe.MatchString(d.Phone)
	}
	return nil, false
}

// deliver orders the delivery of item at Post, once per application (Post
// answers a repeated order with the same delivery).
func (j *journey) deliver(item seed.Name, p *interior.PersonJSON) error {
	d := j.app.Data.Delivery
	if d == nil || d.Method == "none" || j.app.Data.Tracking != "" {
		return nil
	}
	body := map[string]any{
		"reference": j.app.Number,
		"item":      item,
		"recipient": map[string]string{"nationalId": j.nid, "name": p.Name.EN, "phone": d.Phone},
		"method":    d.Method,
	}
	if d.Method == "pickup" {
		body["officeCode"] = d.OfficeCode
	} else {
		a := p.Address
		addr := map[string]string{"governorate": a.Governorate.EN, "locality": a.Locality.EN, "street": a.Street.EN}
		if a.Building != 0 {
			addr["building"] = fmt.Sprint(a.Building)
		}
		body["address"] = addr
	}
	var out struct {
		Tracking string `json:"tracking"`
	}
	if err := j.call(Post, http.MethodPost, "/v1/deliveries", body, &out); err != nil {
		return err
	}
	j.app.Data.Tracking = out.Tracking
	return j.s.saveApplication(j.ctx, j.app, StatusInProgress, "delivery "+out.Tracking)
}

// payDelivery charges the delivery fee when the document goes to an
// address.
func (j *journey) payDelivery(card *payments.CardRequest) error {
	if d := j.app.Data.Delivery; d == nil || d.Method != "address" {
		return nil
	}
	if rec := j.app.payment("delivery"); rec != nil && rec.Status == "paid" {
		return j.settle(rec)
	}
	fee, err := j.fee(kit.ServiceHomeDelivery)
	if err != nil {
		return err
	}
	_, err = j.pay("delivery", kit.ServiceHomeDelivery, j.app.Number, fee, card)
	return err
}

func (j *journey) person() (*interior.PersonJSON, error) {
	var p interior.PersonJSON
	if err := j.call(Interior, http.MethodGet, "/v1/persons/"+j.nid, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// ---- driving-licence renewal ----

func (j *journey) licence() (*transport.LicenceJSON, error) {
	var l transport.LicenceJSON
	if err := j.call(Transport, http.MethodGet, "/v1/persons/"+j.nid+"/driving-licence", nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

func (j *journey) unpaidFines() ([]transport.FineJSON, kit.Money, error) {
	var out struct {
		Fines       []transport.FineJSON `json:"fines"`
		UnpaidCount int                  `json:"unpaidCount"`
		UnpaidTotal kit.Money            `json:"unpaidTotal"`
	}
	if err := j.call(Transport, http.MethodGet, "/v1/fines?nationalId="+j.nid+"&status=unpaid", nil, &out); err != nil {
		return nil, kit.Money{}, err
	}
	return out.Fines, out.UnpaidTotal, nil
}

func (s *Service) licencePage(w http.ResponseWriter, r *http.Request) {
	j, err := s.journeyFor(r, svcLicence)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pg := journeyPage{App: j.app, Card: true}
	err = func() error {
		if pg.Person, err = j.person(); err != nil {
			return err
		}
		if pg.Licence, err = j.licence(); err != nil {
			return err
		}
		if pg.Fines, pg.Unpaid, err = j.unpaidFines(); err != nil {
			return err
		}
		pg.Blockers = pg.Licence.Renewal.Blockers
		if !pg.Licence.Renewal.Eligible {
			return nil
		}
		fee, err := j.fee(kit.ServiceDrivingLicenceRenew)
		if err != nil {
			return err
		}
		pg.Fee = &fee
		dfee, err := j.fee(kit.ServiceHomeDelivery)
		if err != nil {
			return err
		}
		pg.Delivery = &dfee
		pg.Offices, err = j.offices()
		return err
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "licence", "svc.licence-renewal", pageData{D: pg})
}

// licenceSubmit renews the citizen's driving licence: identity from
// Interior, licence and fines from Transport, fee from Finance, payment at
// the Monetary Authority, renewal at Transport, delivery order at Post.
func (s *Service) licenceSubmit(w http.ResponseWriter, r *http.Request) {
	j, unlock, ok := s.submitted(w, r, svcLicence)
	if !ok {
		return
	}
	defer unlock()
	card, cardOK := cardFrom(r.PostForm)
	if !cardOK {
		card = nil
	}
	err := func() error {
		if err := s.saveApplication(j.ctx, j.app, StatusSubmitted, ""); err != nil {
			return err
		}
		p, err := j.person()
		if err != nil {
			return err
		}
		if j.app.Data.Delivery == nil {
			d, ok := deliveryFrom(r.PostForm, p, false)
			if !ok {
				return &rejection{key: "err.badRequest"}
			}
			j.app.Data.Delivery = d
		}
		if j.app.Data.Renewal == nil {
			l, err := j.licence()
			if err != nil {
				return err
			}
			j.app.Data.Licence = l.Number
			if _, unpaid, err := j.unpaidFines(); err != nil {
				return err
			} else if unpaid.Minor > 0 || l.Renewal.UnpaidFines > 0 {
				return &rejection{key: "err.unpaidFines"}
			}
			if !l.Renewal.Eligible {
				key := "licence.notEligible"
				if len(l.Renewal.Blockers) > 0 {
					key = "blocker." + l.Renewal.Blockers[0]
				}
				return &rejection{key: key}
			}
			fee, err := j.fee(kit.ServiceDrivingLicenceRenew)
			if err != nil {
				return err
			}
			rec, err := j.pay("fee", kit.ServiceDrivingLicenceRenew, j.app.Number, fee, card)
			if err != nil {
				return err
			}
			if err := j.payDelivery(card); err != nil {
				return err
			}
			var ren struct {
				ID        string `json:"id"`
				NewExpiry string `json:"newExpiry"`
			}
			if err := j.call(Transport, http.MethodPost, "/v1/driving-licences/"+url.PathEscape(l.Number)+"/renewals",
				map[string]string{"paymentOrderId": rec.OrderID}, &ren); err != nil {
				return err
			}
			j.app.Data.Renewal = &renewalRecord{ID: ren.ID, NewExpiry: ren.NewExpiry}
			if err := s.saveApplication(j.ctx, j.app, StatusInProgress, "licence renewed until "+ren.NewExpiry); err != nil {
				return err
			}
		}
		if err := j.payDelivery(card); err != nil {
			return err
		}
		return j.deliver(seed.Name{AR: "رخصة قيادة " + j.app.Data.Licence, EN: "Driving licence " + j.app.Data.Licence}, p)
	}()
	s.finish(w, r, j, err, "done.licence")
}

// ---- applications and receipts ----

func (s *Service) applicationsPage(w http.ResponseWriter, r *http.Request) {
	apps, err := s.applications(r.Context(), visitOf(r).sess.Subject)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "applications", "nav.apps", pageData{D: apps})
}

// appView is an application as its page shows it.
type appView struct {
	App     *application
	Message string
	Retry   string
	HasQR   bool
}

func (s *Service) ownApplication(w http.ResponseWriter, r *http.Request) (*application, bool) {
	app, err := s.application(r.Context(), chi.URLParam(r, "number"))
	if err != nil || app.NationalID != visitOf(r).sess.Subject || app.Service == "account-opening" {
		s.render(w, r, http.StatusNotFound, "message", "err.title", pageData{Error: s.text.text(visitOf(r).lang, "err.notFoundPage")})
		return nil, false
	}
	return app, true
}

func (s *Service) applicationPage(w http.ResponseWriter, r *http.Request) {
	app, ok := s.ownApplication(w, r)
	if !ok {
		return
	}
	lang := visitOf(r).lang
	view := appView{App: app}
	if app.Data.Message != "" {
		args := map[string]string{}
		for k, v := range app.Data.MessageArgs {
			if name, ok := strings.CutSuffix(k, "@"); ok {
				args[name] = s.text.text(lang, v)
			} else {
				args[k] = v
			}
		}
		view.Message = s.text.format(lang, app.Data.Message, args)
	}
	if app.Status == StatusPaymentDeclined || app.Status == StatusFailed || app.Status == StatusDraft {
		view.Retry = servicePath(app.Service)
	}
	if app.Data.Document != nil {
		view.HasQR = qrFits(app.Data.Document.Code)
	}
	s.render(w, r, http.StatusOK, "application", "app.title", pageData{D: view})
}

// servicePath is the page of a journey.
func servicePath(service string) string {
	switch service {
	case svcBirthNew:
		return "/services/birth-certificate?kind=new"
	case svcBirthCopy:
		return "/services/birth-certificate?kind=copy"
	}
	return "/services/" + service
}

// receiptView is one receipt.
type receiptView struct {
	App string
	Svc string
	Rec paymentRecord
}

func (s *Service) receiptsPage(w http.ResponseWriter, r *http.Request) {
	apps, err := s.applications(r.Context(), visitOf(r).sess.Subject)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var out []receiptView
	for _, a := range apps {
		for _, p := range a.Data.Payments {
			if p.Status == "paid" && p.ReceiptNumber != "" {
				out = append(out, receiptView{App: a.Number, Svc: a.Service, Rec: p})
			}
		}
	}
	s.render(w, r, http.StatusOK, "receipts", "receipts.title", pageData{D: out})
}
