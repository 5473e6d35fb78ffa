package demo

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/jisr-bus/jisr/pki"
	"github.com/jisr-bus/jisr/pki/keys"
	"github.com/jisr-bus/jisr/pki/profile"
	"github.com/jisr-bus/jisr/securityserver"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

// setupSS loads an organisation's security server, creating, enrolling and
// registering it on the first run (fresh): its subsystem, and for a
// ministry its adapter as a service (OpenAPI description published to the
// central catalogue) with the access rights grantsFor lists.
func (d *world) setupSS(ctx context.Context, o Org, pass, anchor string, fresh bool) (*securityserver.Config, error) {
	dir := filepath.Join(d.dir, "ss-"+o.Prefix)
	cfgPath := filepath.Join(dir, securityserver.ConfigFile)
	if !fresh {
		return securityserver.LoadConfig(cfgPath)
	}
	if _, err := os.Stat(cfgPath); err == nil {
		return nil, fmt.Errorf("%s exists, but the first run had not set it up", cfgPath)
	}
	id := o.Server()
	if _, err := securityserver.Init(ctx, securityserver.InitOptions{ServerID: id, Dir: dir, Anchor: anchor,
		Keys:      keys.Config{Type: keys.TypeSoftware, PassphraseFile: pass},
		Addresses: []string{"localhost:" + portOf(d.addr[o.Prefix+"-peer"])},
		Listen: securityserver.ListenConfig{ClientHTTP: d.addr[o.Prefix+"-http"], ClientHTTPS: d.addr[o.Prefix+"-https"],
			Peer: d.addr[o.Prefix+"-peer"], Admin: d.addr[o.Prefix+"-admin"]}}); err != nil {
		return nil, err
	}
	cfg, err := securityserver.LoadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	authTok, err := d.pki.Authority().NewEnrolmentToken(profile.Auth, id, []string{"localhost"}, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	signTok, err := d.pki.Authority().NewEnrolmentToken(profile.Sign, id.Owner, nil, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	if err := securityserver.Enrol(ctx, cfg, securityserver.EnrolOptions{CAURL: "https://" + d.pki.Addr("ca"),
		Roots: filepath.Join(d.dir, "pki", pki.CertsDir, "root-ca.pem"), AuthToken: authTok, SignToken: signTok,
		DNSNames: []string{"localhost"}}); err != nil {
		return nil, err
	}
	// Each step needs the previous one registered: publish in between.
	if _, err := securityserver.Register(ctx, cfg); err != nil {
		return nil, err
	}
	if err := d.publish(ctx); err != nil {
		return nil, err
	}
	if _, err := securityserver.AddClient(ctx, cfg, o.Client(), "", ""); err != nil {
		return nil, err
	}
	if err := d.publish(ctx); err != nil {
		return nil, err
	}
	if o.Service == "" {
		return cfg, nil
	}
	doc := o.openAPI()
	if _, err := securityserver.AddService(ctx, cfg, securityserver.ServiceOptions{Provider: o.Client(), Code: o.Service,
		URL: "http://" + d.addr[o.Prefix+"-adapter"], OpenAPI: doc, Title: o.Title, Description: o.Description,
		Publish: true}); err != nil {
		return nil, err
	}
	endpoints, err := conf.ImportOpenAPI(ctx, doc)
	if err != nil {
		return nil, err
	}
	for _, r := range grantsFor(o, endpoints) {
		if err := securityserver.Grant(ctx, cfg, r.Provider, r.ServiceCode, r.Subject.Typed(), r.Endpoint); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// publish makes the central server publish its configuration now.
func (d *world) publish(ctx context.Context) error {
	_, _, err := d.central.Publisher().Regenerate(ctx)
	if err != nil {
		return fmt.Errorf("publishing the configuration: %w", err)
	}
	return nil
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
