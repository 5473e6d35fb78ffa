package ca

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"fmt"

	"github.com/smallstep/certificates/acme"
	"github.com/smallstep/certificates/authority/provisioner"
	"github.com/smallstep/certificates/errs"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/profile"
)

// enforcer is the single place where the profiles are applied: step-ca runs
// it on every certificate template after its own validation and before
// signing.
type enforcer struct{ a *Authority }

// Enforce implements provisioner.CertificateEnforcer. A refusal is an ACME
// rejectedIdentifier problem: step-ca's ACME finalize passes it through to
// the client (anything else becomes a 500, which ACME clients retry), and
// the JWK sign path reports it as 403 Forbidden.
func (e *enforcer) Enforce(c *x509.Certificate) error {
	if err := e.a.enforce(c); err != nil {
		return acme.NewDetailedError(acme.ErrorRejectedIdentifierType, "%s", err.Error())
	}
	return nil
}

func (a *Authority) enforce(c *x509.Certificate) error {
	typ, name, err := provisionerOf(c)
	if err != nil {
		return err
	}
	var (
		kind profile.Kind
		id   xroad.ID
	)
	switch {
	case typ == provisioner.TypeJWK && name == ProvisionerEnrol:
		// The URI comes from the enrolment token (step-ca checked that the
		// CSR asks for exactly the token's SANs and the template uses them).
		if kind, id, err = profile.IDFromURIs(c.URIs); err != nil {
			return err
		}
		if kind == profile.Sign && (len(c.DNSNames) > 0 || len(c.IPAddresses) > 0) {
			return fmt.Errorf("%w: a sign certificate cannot name DNS names or IP addresses", profile.ErrProfile)
		}
	case typ == provisioner.TypeACME && name == ProvisionerACME:
		if kind, id, err = a.acmeIdentity(c); err != nil {
			return err
		}
	default:
		return fmt.Errorf("ca: provisioner %s %q may not issue certificates", typ, name)
	}
	if len(c.EmailAddresses) > 0 {
		return fmt.Errorf("%w: e-mail addresses are not allowed", profile.ErrProfile)
	}
	if inst := profile.Instance(id); inst != a.bundle.Instance {
		return fmt.Errorf("ca: %s belongs to instance %q, this CA serves %q", id.Typed(), inst, a.bundle.Instance)
	}
	if err := profile.Apply(c, kind, id); err != nil {
		return err
	}
	now := a.clock.Now()
	c.NotBefore = now.Add(-notBeforeBackdating)
	c.NotAfter = now.Add(a.lifetime)
	if c.NotAfter.After(a.bundle.Intermediate.NotAfter) {
		c.NotAfter = a.bundle.Intermediate.NotAfter
	}
	c.OCSPServer = nil
	if a.cfg.OCSPURL != "" {
		c.OCSPServer = []string{a.cfg.OCSPURL}
	}
	return nil
}

// acmeIdentity reads the identifier an ACME order asks for: the typed form in
// the subject serialNumber, the single validated DNS name, which must be
// registered (AllowACME) for that server or, for a sign certificate, for a
// server the member owns.
func (a *Authority) acmeIdentity(c *x509.Certificate) (profile.Kind, xroad.ID, error) {
	if len(c.URIs) > 0 || len(c.IPAddresses) > 0 || len(c.EmailAddresses) > 0 {
		return 0, nil, fmt.Errorf("%w: an ACME order may only name one DNS name", profile.ErrProfile)
	}
	if len(c.DNSNames) != 1 {
		return 0, nil, fmt.Errorf("%w: an ACME order must name exactly one DNS name, got %d", profile.ErrProfile, len(c.DNSNames))
	}
	requested, err := xroad.ParseTyped(c.Subject.SerialNumber)
	if err != nil {
		return 0, nil, fmt.Errorf("ca: ACME CSR subject serialNumber must hold the typed identifier: %w", err)
	}
	kind, id, err := profile.KindOf(requested)
	if err != nil {
		return 0, nil, err
	}
	server, err := a.ACMEServer(c.DNSNames[0])
	if err != nil {
		return 0, nil, err
	}
	switch v := id.(type) {
	case xroad.ServerID:
		if v != server {
			return 0, nil, fmt.Errorf("ca: %s is registered for %s, not %s", c.DNSNames[0], server.Typed(), v.Typed())
		}
	case xroad.MemberID:
		if v != server.Owner {
			return 0, nil, fmt.Errorf("ca: %s is registered for %s, whose owner is not %s", c.DNSNames[0], server.Typed(), v.Typed())
		}
	}
	return kind, id, nil
}

// provisionerOf reads the step provisioner extension from a template (where
// step-ca put it as an extra extension).
func provisionerOf(c *x509.Certificate) (provisioner.Type, string, error) {
	for _, e := range c.ExtraExtensions {
		if !e.Id.Equal(provisioner.StepOIDProvisioner) {
			continue
		}
		var ext struct {
			Type          int
			Name          []byte
			CredentialID  []byte
			KeyValuePairs []string `asn1:"optional,omitempty"`
		}
		if _, err := asn1.Unmarshal(e.Value, &ext); err != nil {
			return 0, "", fmt.Errorf("ca: provisioner extension: %w", err)
		}
		return provisioner.Type(ext.Type), string(ext.Name), nil
	}
	return 0, "", fmt.Errorf("ca: certificate template has no provisioner extension")
}

// authorizeRenew replaces step-ca's renewal check: the certificate must be
// exactly one this CA issued and recorded, currently valid by the injected
// clock, fit a profile, and come from a provisioner that allows renewal.
// (step-ca checks revocation before calling it.)
func (a *Authority) authorizeRenew(_ context.Context, p *provisioner.Controller, cert *x509.Certificate) error {
	if p.Claimer.IsDisableRenewal() {
		return errs.Unauthorized("renewal is disabled for provisioner %q; enrol again", p.GetName())
	}
	stored, err := a.db.GetCertificate(cert.SerialNumber.String())
	if err != nil || !bytes.Equal(stored.Raw, cert.Raw) {
		return errs.Unauthorized("certificate %s was not issued by this CA", cert.SerialNumber)
	}
	now := a.clock.Now()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return errs.Unauthorized("certificate %s is not valid at %s", cert.SerialNumber, now.UTC().Format("2006-01-02T15:04:05Z"))
	}
	if _, _, err := profile.IDFromCert(cert); err != nil {
		return errs.Unauthorized("certificate %s: %s", cert.SerialNumber, err)
	}
	return nil
}
