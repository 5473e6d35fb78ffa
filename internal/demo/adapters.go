package demo

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/jisr-bus/jisr/adapters/finance"
	"github.com/jisr-bus/jisr/adapters/health"
	"github.com/jisr-bus/jisr/adapters/interior"
	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/payments"
	"github.com/jisr-bus/jisr/adapters/post"
	"github.com/jisr-bus/jisr/adapters/seed"
	"github.com/jisr-bus/jisr/adapters/transport"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/daemon"
	"github.com/jisr-bus/jisr/pki/keys"
	"github.com/jisr-bus/jisr/securityserver"
)

// adapter is what every ministry adapter's Service is.
type adapter interface {
	Handler() http.Handler
	Close() error
}

// adapterDB is the SQLite database of a ministry's adapter.
func (d *world) adapterDB(prefix string) kit.Database {
	return kit.Database{Driver: kit.DriverSQLite, Path: filepath.Join(d.dir, "adapters", prefix+".db")}
}

// startAdapter builds the adapter of provider o (seeding its empty
// database with the demo world) and serves it on its listener. Interior
// signs its documents with the ministry's member signing key, which its
// security server holds (moi is the loaded ss.yaml of that server).
func (d *world) startAdapter(ctx context.Context, errc chan error, o Org, world *seed.World, moi *securityserver.Config) error {
	if err := os.MkdirAll(filepath.Join(d.dir, "adapters"), 0o700); err != nil {
		return err
	}
	a, err := d.buildAdapter(ctx, o, world, moi)
	if err != nil {
		return fmt.Errorf("demo: adapter %s: %w", o.Prefix, err)
	}
	log := d.log.With("component", "adapter-"+o.Prefix)
	name := "the " + o.Name + "'s adapter"
	return d.serve(name, errc, func(ready func()) error {
		defer a.Close()
		var bound daemon.Bound
		return daemon.Serve(ctx, "adapter "+o.Prefix, log, &bound,
			[]daemon.Listener{{Name: o.Prefix, Addr: d.addr[o.Prefix+"-adapter"], Handler: a.Handler()}}, ready)
	})
}

func (d *world) buildAdapter(ctx context.Context, o Org, world *seed.World, moi *securityserver.Config) (adapter, error) {
	db, clk, log := d.adapterDB(o.Prefix), clock.System(), d.log.With("component", "adapter-"+o.Prefix)
	switch o.Prefix {
	case "moi":
		st, err := keys.Open(moi.Keys)
		if err != nil {
			return nil, fmt.Errorf("signing key store: %w", err)
		}
		m := o.Member()
		label := "sign-" + m.Class + "-" + m.Code
		key, err := st.Signer(ctx, label)
		if err != nil {
			_ = st.Close()
			return nil, fmt.Errorf("signing key %s: %w", label, err)
		}
		chain, err := readChain(filepath.Join(moi.Dir, securityserver.CertsDir, label+".pem"))
		if err != nil {
			_ = st.Close()
			return nil, err
		}
		svc, err := interior.New(interior.Config{Database: db, Seed: world, SignKey: key, SignChain: chain, Clock: clk, Log: log})
		if err != nil {
			_ = st.Close()
			return nil, err
		}
		return closeBoth{svc, st}, nil
	case "pma":
		return payments.New(payments.Config{Database: db, Seed: world, Clock: clk, Log: log})
	case "post":
		return post.New(post.Config{Database: db, Seed: world, Clock: clk, Log: log})
	}
	// The paid services check payment orders at the Monetary Authority
	// through their own security server, as their subsystem.
	self := provider(o.Prefix)
	pc := &payments.Client{
		BaseURL: "http://" + d.addr[o.Prefix+"-http"] + "/r1/" + provider("pma").ServiceID().URLPath(),
		HTTP:    &http.Client{Timeout: 15 * time.Second},
		Header:  http.Header{"X-Road-Client": {self.Client().String()}},
	}
	switch o.Prefix {
	case "mot":
		return transport.New(transport.Config{Database: db, Seed: world, Payments: pc, Clock: clk, Log: log})
	case "moh":
		return health.New(health.Config{Database: db, Seed: world, Payments: pc, Clock: clk, Log: log})
	case "mof":
		return finance.New(finance.Config{Database: db, Payments: pc, Clock: clk, Log: log})
	}
	return nil, fmt.Errorf("no adapter %q", o.Prefix)
}

// closeBoth closes an adapter, then the key store it signs with.
type closeBoth struct {
	adapter
	keys keys.Store
}

func (c closeBoth) Close() error { return errors.Join(c.adapter.Close(), c.keys.Close()) }

// readChain reads the PEM certificates of a file, leaf first.
func readChain(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var chain []*x509.Certificate
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("%s holds no certificate", path)
	}
	return chain, nil
}
