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
	key, err := os.ReadFile(filepath.Join(cfg.Dir, KeysDir, BodyKeyFile))
	if err != nil {
		return archive.Manifest{}, fmt.Errorf("ss archive: body key: %w", err)
	}
	bodyKeys, err := msglog.NewStaticKeys(bodyKeyID, map[string][]byte{bodyKeyID: key})
	if err != nil {
		return archive.Manifest{}, err
	}
	opts := []msglog.Option{msglog.WithKeys(bodyKeys)}
	var l *msglog.Log
	if cfg.Database.Driver == "postgres" {
		dsn, derr := readDSN(cfg.Database)
		if derr != nil {
			return archive.Manifest{}, derr
		}
		l, err = msglog.OpenPostgres(ctx, dsn, opts...)
	} else {
		l, err = msglog.OpenSQLite(ctx, filepath.Join(cfg.Dir, LogDBFile), opts...)
	}
	if err != nil {
		return archive.Manifest{}, fmt.Errorf("ss archive: %w", err)
	}
	defer l.Close()
	st, err := keys.Open(cfg.Keys)
	if err != nil {
		return archive.Manifest{}, fmt.Errorf("ss archive: %w", err)
	}
	defer st.Close()
	owner := cfg.ID().Owner
	signer, err := st.Signer(ctx, signLabel(owner))
	if err != nil {
		return archive.Manifest{}, fmt.Errorf("ss archive: %w", err)
	}
	chain, err := readChain(cfg.signCertPath(owner))
	if err != nil {
		return archive.Manifest{}, fmt.Errorf("ss archive: %w", err)
	}
	return archive.Write(ctx, w, l, archive.WriteOptions{Server: cfg.ID(), From: from, PrevManifestHash: prev,
		Signer: archive.ManifestSigner{Key: signer, Chain: chain}})
}
