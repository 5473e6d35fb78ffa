package securityserver

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/jisr-bus/jisr/pki/keys"
	"github.com/jisr-bus/jisr/securityserver/archive"
	"github.com/jisr-bus/jisr/securityserver/msglog"
)

// Archive writes the time-stamped part of this server's message log from
// record from (1 when 0) to w as a self-contained archive signed with the
// owner's sign key, chained to the previous archive by prevManifest (hex,
// "" for the first). It may run beside `jisr ss serve`: the log is read in
// its own transactions.
func Archive(ctx context.Context, cfg *Config, w io.Writer, from int64, prevManifest string) (archive.Manifest, error) {
	var prev []byte
	if prevManifest != "" {
		var err error
		if prev, err = hex.DecodeString(prevManifest); err != nil {
			return archive.Manifest{}, fmt.Errorf("ss archive: --prev-manifest: %w", err)
		}
	}
	l, opts, closeAll, err := openForAudit(ctx, cfg)
	if err != nil {
		return archive.Manifest{}, fmt.Errorf("ss archive: %w", err)
	}
	defer closeAll()
	opts.From, opts.PrevManifestHash = from, prev
	return archive.Write(ctx, w, l, opts)
}

// ExportExchange writes the evidence file of one exchange (its records, the
// chain up to a time-stamped head, the token), signed like an archive.
func ExportExchange(ctx context.Context, cfg *Config, messageID string) ([]byte, error) {
	l, opts, closeAll, err := openForAudit(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer closeAll()
	return archive.ExportExchange(ctx, l, messageID, nil, opts)
}

// openForAudit opens the message log (with the body key, so logged bodies
// can be included) and the owner's sign key that signs manifests.
func openForAudit(ctx context.Context, cfg *Config) (*msglog.Log, archive.WriteOptions, func(), error) {
	key, err := os.ReadFile(filepath.Join(cfg.Dir, KeysDir, BodyKeyFile))
	if err != nil {
		return nil, archive.WriteOptions{}, nil, fmt.Errorf("body key: %w", err)
	}
	bodyKeys, err := msglog.NewStaticKeys(bodyKeyID, map[string][]byte{bodyKeyID: key})
	if err != nil {
		return nil, archive.WriteOptions{}, nil, err
	}
	opts := []msglog.Option{msglog.WithKeys(bodyKeys)}
	var l *msglog.Log
	if cfg.Database.Driver == "postgres" {
		dsn, derr := readDSN(cfg.Database)
		if derr != nil {
			return nil, archive.WriteOptions{}, nil, derr
		}
		l, err = msglog.OpenPostgres(ctx, dsn, opts...)
	} else {
		l, err = msglog.OpenSQLite(ctx, filepath.Join(cfg.Dir, LogDBFile), opts...)
	}
	if err != nil {
		return nil, archive.WriteOptions{}, nil, err
	}
	st, err := keys.Open(cfg.Keys)
	if err != nil {
		_ = l.Close()
		return nil, archive.WriteOptions{}, nil, err
	}
	closeAll := func() { _ = st.Close(); _ = l.Close() }
	owner := cfg.ID().Owner
	signer, err := st.Signer(ctx, signLabel(owner))
	if err != nil {
		closeAll()
		return nil, archive.WriteOptions{}, nil, err
	}
	chain, err := readChain(cfg.signCertPath(owner))
	if err != nil {
		closeAll()
		return nil, archive.WriteOptions{}, nil, err
	}
	return l, archive.WriteOptions{Server: cfg.ID(), Signer: archive.ManifestSigner{Key: signer, Chain: chain}}, closeAll, nil
}

// LogVerification is what VerifyLog found.
type LogVerification struct {
	Chain      msglog.VerifyResult
	Timestamps msglog.TimestampsResult
	Purged     msglog.Purged
}

// VerifyLog checks the message log in the security server's database as
// it stands: the hash chain from the first record kept to the head, and
// every stored time-stamp (range, head hash, token) with verifyToken. It
// needs no keys: bodies are covered by their digests. A *msglog.ChainError
// or *msglog.TimestampError names the first record or token at fault.
func VerifyLog(ctx context.Context, cfg *Config, verifyToken func(token, digest []byte) error) (LogVerification, error) {
	var l *msglog.Log
	var err error
	if cfg.Database.Driver == "postgres" {
		dsn, derr := readDSN(cfg.Database)
		if derr != nil {
			return LogVerification{}, derr
		}
		l, err = msglog.OpenPostgres(ctx, dsn, msglog.MetadataOnly())
	} else {
		l, err = msglog.OpenSQLite(ctx, filepath.Join(cfg.Dir, LogDBFile), msglog.MetadataOnly())
	}
	if err != nil {
		return LogVerification{}, err
	}
	defer l.Close()
	var v LogVerification
	if v.Purged, err = l.Purged(ctx); err != nil {
		return v, err
	}
	if v.Chain, err = l.VerifyChain(ctx, 0, 0); err != nil {
		return v, err
	}
	v.Timestamps, err = l.VerifyTimestamps(ctx, verifyToken)
	return v, err
}
