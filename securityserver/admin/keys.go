package admin

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/url"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// maxChain bounds the certificates of one PEM chain.
const maxChain = 16

// parsePEMChain returns every CERTIFICATE block of text, parsed; at least
// one.
func parsePEMChain(what, text string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(text)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, badRequest("%s: a %q PEM block where certificates were expected", what, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, badRequest("%s: certificate %d: %v", what, len(out)+1, err)
		}
		out = append(out, c)
		if len(out) > maxChain {
			return nil, badRequest("%s: more than %d certificates", what, maxChain)
		}
	}
	if len(out) == 0 {
		return nil, badRequest("%s: no PEM certificate", what)
	}
	return out, nil
}

// caOptions checks a CA URL and optional PEM roots.
func caOptions(caURL, roots string) (CAOptions, error) {
	u, err := url.Parse(caURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return CAOptions{}, badRequest("caUrl %q: want the CA's https URL", caURL)
	}
	o := CAOptions{URL: caURL}
	if roots != "" {
		if o.Roots, err = parsePEMChain("roots", roots); err != nil {
			return CAOptions{}, err
		}
	}
	return o, nil
}

// optionalMember parses an optional member.
func optionalMember(s string) (xroad.MemberID, error) {
	if s == "" {
		return xroad.MemberID{}, nil
	}
	return ParseMemberID(s)
}

func (a *API) keyResult(k KeyInfo, status int, target string, detail any) result {
	return result{status: status, body: toKey(k, a.clk.Now()), target: target, detail: detail}
}

// keyDetail is what the audit trail records of a key's certificates:
// hashes, not certificates.
func keyDetail(k Key) map[string]any {
	d := map[string]any{"usage": k.Usage, "member": k.Member}
	if k.Certificate != nil {
		d["certificate"] = k.Certificate.SHA256
	}
	if k.PendingCertificate != nil {
		d["pendingCertificate"] = k.PendingCertificate.SHA256
	}
	return d
}

func (a *API) listKeys(ctx context.Context, _ *call) (result, error) {
	ks, err := a.backend.Keys(ctx)
	if err != nil {
		return result{}, err
	}
	now := a.clk.Now()
	out := make([]Key, 0, len(ks))
	for _, k := range ks {
		out = append(out, toKey(k, now))
	}
	return result{body: out}, nil
}

func (a *API) generateSignKey(ctx context.Context, c *call) (result, error) {
	var in NewSignKey
	if err := c.decode(&in); err != nil {
		return result{}, err
	}
	m, err := ParseMemberID(in.Member)
	if err != nil {
		return result{}, err
	}
	k, err := a.backend.GenerateSignKey(ctx, m)
	if err != nil {
		return result{}, err
	}
	return a.keyResult(k, http.StatusCreated, "key:"+k.ID, map[string]string{"member": m.Typed()}), nil
}

func (a *API) createCSR(ctx context.Context, c *call) (result, error) {
	id, err := c.param("keyId")
	if err != nil {
		return result{}, err
	}
	var in CSRRequest
	if err := c.decodeOptional(&in); err != nil {
		return result{}, err
	}
	m, err := optionalMember(in.Member)
	if err != nil {
		return result{}, err
	}
	der, err := a.backend.CertificateRequest(ctx, id, m, in.DNSNames)
	if err != nil {
		return result{}, err
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return result{}, err
	}
	out := CSR{KeyID: id, PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))}
	return result{status: http.StatusCreated, body: out, target: "key:" + id,
		detail: map[string]any{"subject": csr.Subject.String(), "dnsNames": in.DNSNames}}, nil
}

func (a *API) enrolCertificate(ctx context.Context, c *call) (result, error) {
	id, err := c.param("keyId")
	if err != nil {
		return result{}, err
	}
	var in EnrolRequest
	if err := c.decode(&in); err != nil {
		return result{}, err
	}
	if in.Token == "" {
		return result{}, badRequest("token: required")
	}
	ca, err := caOptions(in.CAURL, in.Roots)
	if err != nil {
		return result{}, err
	}
	m, err := optionalMember(in.Member)
	if err != nil {
		return result{}, err
	}
	k, err := a.backend.Enrol(ctx, id, ca, in.Token, m, in.DNSNames)
	if err != nil {
		return result{}, err
	}
	out := toKey(k, a.clk.Now())
	d := keyDetail(out)
	d["caUrl"] = in.CAURL
	return result{body: out, target: "key:" + id, detail: d}, nil
}

func (a *API) renewCertificate(ctx context.Context, c *call) (result, error) {
	id, err := c.param("keyId")
	if err != nil {
		return result{}, err
	}
	var in RenewRequest
	if err := c.decode(&in); err != nil {
		return result{}, err
	}
	ca, err := caOptions(in.CAURL, in.Roots)
	if err != nil {
		return result{}, err
	}
	k, err := a.backend.Renew(ctx, id, ca)
	if err != nil {
		return result{}, err
	}
	out := toKey(k, a.clk.Now())
	d := keyDetail(out)
	d["caUrl"] = in.CAURL
	return result{body: out, target: "key:" + id, detail: d}, nil
}

func (a *API) importCertificate(ctx context.Context, c *call) (result, error) {
	var in NewCertificate
	if err := c.decode(&in); err != nil {
		return result{}, err
	}
	chain, err := parsePEMChain("pem", in.PEM)
	if err != nil {
		return result{}, err
	}
	k, err := a.backend.ImportCertificate(ctx, chain)
	if err != nil {
		return result{}, err
	}
	out := toKey(k, a.clk.Now())
	return result{body: out, target: "key:" + k.ID, detail: keyDetail(out)}, nil
}

func (a *API) registerAuthCertificate(ctx context.Context, c *call) (result, error) {
	id, err := c.param("keyId")
	if err != nil {
		return result{}, err
	}
	st, err := a.backend.RegisterAuthCertificate(ctx, id)
	if err != nil {
		return result{}, err
	}
	out := toManagementRequest(&st)
	return result{status: http.StatusAccepted, body: out, target: "key:" + id, detail: out}, nil
}

func (a *API) activateAuthCertificate(ctx context.Context, c *call) (result, error) {
	id, err := c.param("keyId")
	if err != nil {
		return result{}, err
	}
	k, err := a.backend.ActivateAuthCertificate(ctx, id)
	if err != nil {
		return result{}, err
	}
	out := toKey(k, a.clk.Now())
	return result{body: out, target: "key:" + id, detail: keyDetail(out)}, nil
}
