package portal

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/jisr-bus/jisr/adapters/interior"
	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/seed"
)

// birthKind returns the kind asked for ("new" unless "copy").
func birthKind(v string) (string, string) {
	if v == "copy" {
		return "copy", svcBirthCopy
	}
	return "new", svcBirthNew
}

// birthOptions lists the citizen and their children with the kind of
// certificate Interior can issue for each.
func (j *journey) birthOptions(p *interior.PersonJSON) ([]birthOption, error) {
	var kids struct {
		Children []interior.PersonSummary `json:"children"`
	}
	if err := j.call(Interior, http.MethodGet, "/v1/persons/"+j.nid+"/children", nil, &kids); err != nil {
		return nil, err
	}
	people := append([]interior.PersonSummary{p.Summary()}, kids.Children...)
	out := make([]birthOption, 0, len(people))
	for _, k := range people {
		var rec interior.BirthRecordJSON
		err := j.call(Interior, http.MethodGet, "/v1/persons/"+k.NationalID+"/birth-record", nil, &rec)
		var ce *CallError
		if errors.As(err, &ce) && !ce.BusFault && ce.Status == http.StatusNotFound {
			continue // registered abroad or before the registry: no record here
		}
		if err != nil {
			return nil, err
		}
		out = append(out, birthOption{Person: k, Next: rec.Certificates.Next})
	}
	return out, nil
}

func (s *Service) birthCertificatePage(w http.ResponseWriter, r *http.Request) {
	kind, svc := birthKind(r.URL.Query().Get("kind"))
	j, err := s.journeyFor(r, svc)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pg := journeyPage{App: j.app, Kind: kind}
	if err := s.documentPage(j, &pg, func(p *interior.PersonJSON) error {
		pg.Records, err = j.birthOptions(p)
		return err
	}); err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "birth", "svc."+svc, pageData{D: pg})
}

// documentPage fills what every document journey's page shows: the
// person, the delivery options and fees.
func (s *Service) documentPage(j *journey, pg *journeyPage, more func(p *interior.PersonJSON) error) error {
	var err error
	if pg.Person, err = j.person(); err != nil {
		return err
	}
	if err := more(pg.Person); err != nil {
		return err
	}
	dfee, err := j.fee(kit.ServiceHomeDelivery)
	if err != nil {
		return err
	}
	pg.Delivery, pg.Card = &dfee, true
	pg.Offices, err = j.offices()
	return err
}

// birthCertificateSubmit issues a new or copy birth certificate for the
// citizen or a child at Interior, pays for and orders delivery at Post.
func (s *Service) birthCertificateSubmit(w http.ResponseWriter, r *http.Request) {
	kind, svc := birthKind(r.PostForm.Get("kind"))
	j, unlock, ok := s.submitted(w, r, svc)
	if !ok {
		return
	}
	defer unlock()
	subject := strings.TrimSpace(r.PostForm.Get("subject"))
	err := s.issueDocument(j, r.PostForm, func() (string, any, error) {
		if checkNationalID(subject) != nil {
			return "", nil, &rejection{key: "err.badRequest"}
		}
		return "/v1/birth-certificates", map[string]string{"nationalId": subject, "kind": kind}, nil
	}, seed.Name{AR: "شهادة ميلاد", EN: "Birth certificate"})
	s.finish(w, r, j, err, "done.document")
}

func (s *Service) extractPage(w http.ResponseWriter, r *http.Request) {
	j, err := s.journeyFor(r, svcExtract)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pg := journeyPage{App: j.app}
	if err := s.documentPage(j, &pg, func(*interior.PersonJSON) error { return nil }); err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "extract", "svc."+svcExtract, pageData{D: pg})
}

// extractSubmit issues the citizen's civil-registry extract.
func (s *Service) extractSubmit(w http.ResponseWriter, r *http.Request) {
	j, unlock, ok := s.submitted(w, r, svcExtract)
	if !ok {
		return
	}
	defer unlock()
	err := s.issueDocument(j, r.PostForm, func() (string, any, error) {
		return "/v1/civil-registry-extracts", map[string]string{"nationalId": j.nid}, nil
	}, seed.Name{AR: "إخراج قيد مدني", EN: "Civil-registry extract"})
	s.finish(w, r, j, err, "done.document")
}

// issueDocument runs a document journey: identity from Interior, the
// delivery fee (for an address) from Finance paid at the Monetary
// Authority, the document issued by Interior, delivery ordered at Post.
func (s *Service) issueDocument(j *journey, form url.Values, request func() (string, any, error), item seed.Name) error {
	if err := s.saveApplication(j.ctx, j.app, StatusSubmitted, ""); err != nil {
		return err
	}
	p, err := j.person()
	if err != nil {
		return err
	}
	if j.app.Data.Delivery == nil {
		d, ok := deliveryFrom(form, p, true)
		if !ok {
			return &rejection{key: "err.badRequest"}
		}
		j.app.Data.Delivery = d
	}
	card, cardOK := cardFrom(form)
	if !cardOK {
		card = nil
	}
	if err := j.payDelivery(card); err != nil {
		return err
	}
	if j.app.Data.Document == nil {
		path, body, err := request()
		if err != nil {
			return err
		}
		var doc interior.DocumentJSON
		if err := j.call(Interior, http.MethodPost, path, body, &doc); err != nil {
			return err
		}
		j.app.Data.Subject = doc.Subject.NationalID
		j.app.Data.Document = &documentRecord{Number: doc.Number, Type: doc.Type, Kind: doc.Kind, Code: doc.Code,
			IssuedAt: doc.IssuedAt.UTC().Format("2006-01-02 15:04 UTC"), Name: doc.Subject.Name}
		if err := s.saveApplication(j.ctx, j.app, StatusInProgress, "document "+doc.Number+" issued"); err != nil {
			return err
		}
	}
	item.AR += " " + j.app.Data.Document.Number
	item.EN += " " + j.app.Data.Document.Number
	return j.deliver(item, p)
}
