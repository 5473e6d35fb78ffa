package portal

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/jisr-bus/jisr/adapters/health"
	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/transport"
)

// policyEntry is a policy the citizen holds or is covered by.
type policyEntry struct {
	Role   string            `json:"role"`
	Policy health.PolicyJSON `json:"policy"`
}

func (j *journey) policies() ([]policyEntry, error) {
	var out struct {
		Policies []policyEntry `json:"policies"`
	}
	if err := j.call(Health, http.MethodGet, "/v1/persons/"+j.nid+"/policies", nil, &out); err != nil {
		return nil, err
	}
	return out.Policies, nil
}

func (s *Service) insurancePage(w http.ResponseWriter, r *http.Request) {
	j, err := s.journeyFor(r, svcInsurance)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pg := journeyPage{App: j.app, Card: true}
	if pg.Person, err = j.person(); err == nil {
		pg.Policies, err = j.policies()
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "insurance", "svc."+svcInsurance, pageData{D: pg})
}

// insuranceSubmit renews a policy the citizen holds: identity from
// Interior, the policy and premium from Health, payment at the Monetary
// Authority (credited to Finance), renewal at Health.
func (s *Service) insuranceSubmit(w http.ResponseWriter, r *http.Request) {
	j, unlock, ok := s.submitted(w, r, svcInsurance)
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
		if _, err := j.person(); err != nil {
			return err
		}
		if j.app.Data.Renewal != nil {
			return nil
		}
		number := j.app.Data.Policy
		if number == "" {
			number = strings.TrimSpace(r.PostForm.Get("policy"))
		}
		var pol health.PolicyJSON
		if err := j.call(Health, http.MethodGet, "/v1/policies/"+url.PathEscape(number), nil, &pol); err != nil {
			return err
		}
		if pol.Holder != j.nid {
			return &rejection{key: "err.forbidden"}
		}
		j.app.Data.Policy = pol.Number
		if !pol.Renewal.Eligible && j.app.payment("premium") == nil {
			key := "licence.notEligible"
			if len(pol.Renewal.Blockers) > 0 {
				key = "blocker." + pol.Renewal.Blockers[0]
			}
			return &rejection{key: key}
		}
		rec, err := j.pay("premium", kit.ServiceInsuranceRenewal, pol.Number, pol.AnnualPremium, card)
		if err != nil {
			return err
		}
		var out struct {
			ID     string `json:"id"`
			NewEnd string `json:"newEnd"`
		}
		if err := j.call(Health, http.MethodPost, "/v1/policies/"+url.PathEscape(pol.Number)+"/renewals",
			map[string]string{"paymentOrderId": rec.OrderID}, &out); err != nil {
			return err
		}
		j.app.Data.Renewal = &renewalRecord{ID: out.ID, NewExpiry: out.NewEnd}
		return s.saveApplication(j.ctx, j.app, StatusInProgress, "policy renewed until "+out.NewEnd)
	}()
	s.finish(w, r, j, err, "done.insurance")
}

// ---- traffic fines ----

func (s *Service) finesPage(w http.ResponseWriter, r *http.Request) {
	j, err := s.journeyFor(r, svcFines)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pg := journeyPage{App: j.app, Card: true}
	var out struct {
		Fines       []transport.FineJSON `json:"fines"`
		UnpaidTotal kit.Money            `json:"unpaidTotal"`
	}
	err = j.call(Transport, http.MethodGet, "/v1/fines?nationalId="+j.nid+"&status=all", nil, &out)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pg.Fines, pg.Unpaid = out.Fines, out.UnpaidTotal
	s.render(w, r, http.StatusOK, "fines", "svc."+svcFines, pageData{D: pg})
}

// fineSubmit pays one traffic fine: the fine from Transport, payment at
// the Monetary Authority (credited to Finance), the payment recorded at
// Transport.
func (s *Service) fineSubmit(w http.ResponseWriter, r *http.Request) {
	j, unlock, ok := s.submitted(w, r, svcFines)
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
		number := strings.TrimSpace(r.PostForm.Get("fine"))
		if j.app.payment("fine") != nil && j.app.payment("fine").Status != "declined" {
			number = j.app.Data.Fine
		}
		var fine transport.FineJSON
		if err := j.call(Transport, http.MethodGet, "/v1/fines/"+url.PathEscape(number), nil, &fine); err != nil {
			return err
		}
		j.app.Data.Fine = fine.Number
		rec, err := j.pay("fine", kit.ServiceTrafficFine, fine.Number, fine.Amount, card)
		if err != nil {
			return err
		}
		if fine.Status == "paid" && fine.PaymentOrderID == rec.OrderID {
			return nil
		}
		if err := j.call(Transport, http.MethodPost, "/v1/fines/"+url.PathEscape(fine.Number)+"/payment",
			map[string]string{"paymentOrderId": rec.OrderID}, nil); err != nil {
			return err
		}
		return s.saveApplication(j.ctx, j.app, StatusInProgress, "fine "+fine.Number+" paid")
	}()
	s.finish(w, r, j, err, "done.fine")
}
