package securityserver

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/globalconf"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/pki/tsa"
	"github.com/jisr-bus/jisr/securityserver/conf"
	"github.com/jisr-bus/jisr/securityserver/msglog"
	"github.com/jisr-bus/jisr/securityserver/proxy"
)

// BodyKeyFile holds the AES-256 key that encrypts logged bodies at rest
// (mode 0600, created by init). Its id is recorded with every body.
const (
	BodyKeyFile = "msglog-body.key"
	bodyKeyID   = "body-1"
)

// messageLog adapts msglog.Log to proxy.MessageLog.
type messageLog struct {
	log    *msglog.Log
	ts     *msglog.Timestamper
	clk    clock.Clock
	closed atomic.Bool
}

var _ proxy.MessageLog = (*messageLog)(nil)

func openMessageLog(ctx context.Context, cfg *Config, clk clock.Clock, local *LocalView, reg prometheus.Registerer) (*messageLog, error) {
	key, err := os.ReadFile(filepath.Join(cfg.Dir, KeysDir, BodyKeyFile))
	if err != nil {
		return nil, fmt.Errorf("security server: message log body key: %w", err)
	}
	keys, err := msglog.NewStaticKeys(bodyKeyID, map[string][]byte{bodyKeyID: key})
	if err != nil {
		return nil, fmt.Errorf("security server: message log body key: %w", err)
	}
	bodies := func(local_ xroad.ClientID) bool {
		c, ok := local.View().Client(local_)
		return !ok || c.BodyLogging != conf.BodyLoggingMetadataOnly
	}
	opts := []msglog.Option{msglog.WithClock(clk), msglog.WithKeys(keys), msglog.WithBodyPolicy(bodies), msglog.WithRegisterer(reg),
		msglog.WithMaxLoggedBody(cfg.MaxLoggedBody)}
	var l *msglog.Log
	if cfg.Database.Driver == "postgres" {
		dsn, derr := readDSN(cfg.Database)
		if derr != nil {
			return nil, derr
		}
		l, err = msglog.OpenPostgres(ctx, dsn, opts...)
	} else {
		l, err = msglog.OpenSQLite(ctx, filepath.Join(cfg.Dir, LogDBFile), opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("security server: message log: %w", err)
	}
	return &messageLog{log: l, clk: clk}, nil
}

// startTimestamping attaches the batch time-stamper: one RFC 3161 token from
// an approved TSA of the global configuration covers every record logged
// since the previous one. While the TSA fails, traffic goes on for the grace
// period; after that new requests are refused (TimestampingFailed).
func (m *messageLog) startTimestamping(docs *globalconf.Client, reg prometheus.Registerer, log *slog.Logger) error {
	interval := msglog.DefaultTimestampInterval
	if doc, err := docs.Current(); err == nil && doc.Settings.TimestampingInterval() > 0 {
		interval = doc.Settings.TimestampingInterval()
	}
	ts, err := msglog.NewTimestamper(msglog.TimestamperConfig{Log: m.log, TSA: &tsaClient{docs: docs,
		http: &http.Client{Timeout: 30 * time.Second}}, Interval: interval, Clock: m.clk, Logger: log, Registerer: reg})
	if err != nil {
		return fmt.Errorf("security server: time-stamping: %w", err)
	}
	m.ts = ts
	return nil
}

// tsaClient asks the approved TSAs of the current global configuration, in
// order, for a token.
type tsaClient struct {
	docs *globalconf.Client
	http *http.Client
}

var _ msglog.NamedTSAClient = (*tsaClient)(nil)

// Stamp implements msglog.TSAClient.
func (c *tsaClient) Stamp(ctx context.Context, digest []byte) ([]byte, error) {
	tok, _, err := c.StampFrom(ctx, digest)
	return tok, err
}

// StampFrom implements msglog.NamedTSAClient.
func (c *tsaClient) StampFrom(ctx context.Context, digest []byte) ([]byte, string, error) {
	doc, err := c.docs.Current()
	if err != nil {
		return nil, "", err
	}
	var errs []error
	for _, t := range doc.TSAs() {
		tok, err := tsa.Stamp(ctx, c.http, t.URL, digest, crypto.SHA256)
		if err == nil {
			return tok, t.URL, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", t.URL, err))
	}
	if len(errs) == 0 {
		return nil, "", errors.New("the global configuration lists no time-stamping authority")
	}
	return nil, "", errors.Join(errs...)
}

func newBodyKey(dir string) error {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, BodyKeyFile), k[:], 0o600)
}

// LogRequest implements proxy.MessageLog. Once time-stamping has failed
// for longer than its grace period, new requests are refused.
func (m *messageLog) LogRequest(ctx context.Context, rec *proxy.Record) error {
	if m.ts != nil {
		if err := m.ts.Healthy(m.clk.Now()); err != nil {
			return fmt.Errorf("%w: %w", proxy.ErrTimestampingFailed, err)
		}
	}
	return m.append(ctx, rec)
}

// LogResponse implements proxy.MessageLog.
func (m *messageLog) LogResponse(ctx context.Context, rec *proxy.Record) error {
	return m.append(ctx, rec)
}

func (m *messageLog) append(ctx context.Context, rec *proxy.Record) error {
	// msglog checks every field against the signed header it is given.
	r := msglog.Record{
		Direction: msglog.Request, Side: msglog.Consumer,
		MessageID: rec.MessageID, RequestDigest: rec.Digest,
		Client: rec.Client, Service: rec.Service, UserID: rec.UserID, Issue: rec.Issue,
		RepresentedParty: rec.RepresentedParty, Time: rec.SignedAt,
		Method: rec.Method, Path: rec.Path, Query: rec.Query,
		SignedHeader: rec.Header, Signature: rec.Signature,
		BodySHA256: rec.BodyDigest, BodySize: rec.BodySize,
	}
	if rec.Side == proxy.ServerSide {
		r.Side = msglog.Provider
	}
	if rec.Kind == proxy.KindResponse {
		// A response record names the request it answers and has no
		// request line of its own.
		r.Direction, r.RequestDigest, r.Status = msglog.Response, rec.RequestDigest, rec.Status
		r.Method, r.Path, r.Query = "", "", ""
	}
	if rec.Body != nil && r.BodySize > 0 && m.log.WantsBody(&r) {
		body, err := readAll(rec.Body)
		if err != nil {
			return fmt.Errorf("message log: reading the body: %w", err)
		}
		r.Body = body
	}
	return m.log.Append(ctx, &r)
}

// readAll reads a body whose size is known (at most msglog.MaxBodySize)
// into one buffer of exactly that size.
func readAll(b proxy.Body) ([]byte, error) {
	if b.Size() > msglog.MaxBodySize {
		return nil, fmt.Errorf("body of %d bytes is larger than a logged body may be", b.Size())
	}
	rc, err := b.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := make([]byte, b.Size())
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// Ping reports whether the log is open. (Whether the database accepts
// writes shows in the exchanges themselves: a failed commit fails them with
// LoggingFailed.)
func (m *messageLog) Ping(context.Context) error {
	if m.closed.Load() {
		return errors.New("message log closed")
	}
	return nil
}

// Close drains and closes the log.
func (m *messageLog) Close() error {
	m.closed.Store(true)
	return m.log.Close()
}
