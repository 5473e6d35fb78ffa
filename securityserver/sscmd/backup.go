package sscmd

import (
	"bufio"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver"
	"github.com/jisr-bus/jisr/securityserver/backup"
)

func newBackup(stdout io.Writer) *cobra.Command {
	var cfgPath, out, encryptTo, tempDir string
	c := &cobra.Command{
		Use:   "backup --config ss.yaml --out FILE [--encrypt-to recipient.pem]",
		Short: "Write a signed backup of this security server: directory, keys, certificates, databases",
		Long: `backup writes the security server directory (configuration, anchor, software
key store — its keys stay encrypted with the key-store passphrase —,
certificates, message-log body key, admin API key, last good global
configuration) and its databases (consistent copies of the SQLite files, or a
dump of the server's PostgreSQL tables) to one gzip'd tar file. A manifest
listing every file's SHA-256 comes first, signed with the owner's sign key.
The server may be running.

Secret files the configuration names inside the directory (key-store
passphrase, PKCS#11 PIN, database DSN) are left out and must be put back by
hand after a restore. The backup holds the message-log body key and the admin
API key in clear:
with --encrypt-to (an RSA or ECDSA public key or certificate, PEM) the whole
file is encrypted to that key (JWE key wrapping, AES-256-GCM).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load(cfgPath)
			if err != nil {
				return err
			}
			absOut, err := filepath.Abs(out)
			if err != nil {
				return err
			}
			if rel, err := filepath.Rel(cfg.Dir, absOut); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				return fmt.Errorf("--out %s is inside the security server directory %s: write the backup elsewhere", absOut, cfg.Dir)
			}
			var recipient crypto.PublicKey
			if encryptTo != "" {
				b, err := os.ReadFile(encryptTo)
				if err != nil {
					return err
				}
				if recipient, err = backup.ParseRecipient(b); err != nil {
					return fmt.Errorf("--encrypt-to: %w", err)
				}
			}
			f, err := os.OpenFile(absOut, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			bw := bufio.NewWriterSize(f, 1<<20)
			m, err := securityserver.Backup(cmd.Context(), cfg, bw, securityserver.BackupOptions{ConfigPath: cfgPath,
				Recipient: recipient, TempDir: tempDir})
			if err == nil {
				err = bw.Flush()
			}
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				_ = os.Remove(absOut)
				return err
			}
			fi, err := os.Stat(absOut)
			if err != nil {
				return err
			}
			res := map[string]any{"file": absOut, "serverId": m.Server.String(),
				"createdAt": m.CreatedAt, "files": len(m.Files), "database": m.Database.Driver, "bytes": fi.Size(),
				"encrypted": recipient != nil, "manifestSha256": hex.EncodeToString(m.SHA256)}
			if secrets := securityserver.BackupSecrets(cfg); len(secrets) > 0 {
				res["secretsNotIncluded"] = secrets
			}
			return printStatus(stdout, res)
		},
	}
	f := c.Flags()
	f.StringVar(&cfgPath, "config", securityserver.ConfigFile, "configuration file (ss.yaml in the security server directory)")
	f.StringVar(&out, "out", "", "backup file to create, outside the security server directory (required)")
	f.StringVar(&encryptTo, "encrypt-to", "", "encrypt to this recipient: PEM public key or certificate (RSA ≥ 2048 bits, or ECDSA P-256/384/521)")
	f.StringVar(&tempDir, "temp-dir", "", "where to stage the copy before writing it (default: the system's temporary directory); needs room for the databases")
	_ = c.MarkFlagRequired("out")
	return c
}

func newRestore(stdout io.Writer) *cobra.Command {
	var dir, serverID, trustFile, anchor, decryptKey string
	var verifyOnly bool
	c := &cobra.Command{
		Use:   "restore BACKUP --dir DIR [--server-id ID] [--trust roots.pem | --anchor anchor.json] [--decrypt-key key.pem] [--verify-only]",
		Short: "Verify a backup, then restore it into a security server directory (stop the server first)",
		Long: `restore checks the backup before it changes anything: the manifest's
signature, that the signer is the server's owner with a certificate chaining to
a trusted root (--trust, or the approved CAs of the global configuration
downloaded with --anchor, by default DIR's own anchor) at the backup's creation
time, that the backup is of the expected server (--server-id, by default the
one DIR's ss.yaml names), and every file's size and SHA-256. A backup that
fails any check is refused and nothing is changed.

The restored directory is built beside DIR while it is checked. Then DIR is
renamed aside, the PostgreSQL tables are restored (one transaction, in the
database the restored ss.yaml names), the restored directory is renamed to
DIR and the old one removed; if a step fails, the old directory is put back.
Stop the security server (every node) first. With --verify-only it only checks
the backup.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" && (!verifyOnly || serverID == "" || (trustFile == "" && anchor == "")) {
				return errors.New("--dir is required (to verify only without it, give --server-id and --trust or --anchor)")
			}
			o := securityserver.RestoreOptions{Dir: dir, VerifyOnly: verifyOnly}
			if serverID != "" {
				id, err := xroad.ParseServer(serverID)
				if err != nil {
					return fmt.Errorf("--server-id: %w", err)
				}
				o.ServerID = id
			}
			var err error
			switch {
			case trustFile != "" && anchor != "":
				return errors.New("give --trust or --anchor, not both")
			case trustFile != "":
				o.Trust, err = securityserver.TrustFromPEM(trustFile)
			default:
				if anchor == "" {
					anchor = filepath.Join(dir, securityserver.AnchorFile)
					if _, serr := os.Stat(anchor); serr != nil {
						return fmt.Errorf("no trust given and %s is not usable (%v): give --trust roots.pem or --anchor anchor.json", anchor, serr)
					}
				}
				o.Trust, err = securityserver.TrustFromAnchor(cmd.Context(), anchor)
			}
			if err != nil {
				return fmt.Errorf("trust: %w", err)
			}
			if decryptKey != "" {
				b, err := os.ReadFile(decryptKey)
				if err != nil {
					return err
				}
				if o.DecryptKey, err = backup.ParseDecryptionKey(b); err != nil {
					return fmt.Errorf("--decrypt-key: %w", err)
				}
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			m, err := securityserver.Restore(cmd.Context(), f, o)
			if err != nil {
				return err
			}
			res := map[string]any{"verified": true, "serverId": m.Server.String(), "createdAt": m.CreatedAt,
				"jisrVersion": m.JisrVersion, "signer": m.Signer.Subject.CommonName, "files": len(m.Files),
				"database": m.Database.Driver, "manifestSha256": hex.EncodeToString(m.SHA256)}
			if !verifyOnly {
				abs, _ := filepath.Abs(dir)
				res["restoredTo"] = abs
			}
			return printStatus(stdout, res)
		},
	}
	f := c.Flags()
	f.StringVar(&dir, "dir", "", "security server directory to restore into (replaced; its parent must exist)")
	f.StringVar(&serverID, "server-id", "", "the server the backup must be of (default: the one DIR's ss.yaml names)")
	f.StringVar(&trustFile, "trust", "", "PEM file of the root certificate(s) the backup's signer must chain to")
	f.StringVar(&anchor, "anchor", "", "configuration anchor: trust the approved CAs of the global configuration it downloads (default: DIR's anchor)")
	f.StringVar(&decryptKey, "decrypt-key", "", "PEM private key of the recipient, for an encrypted backup")
	f.BoolVar(&verifyOnly, "verify-only", false, "only verify the backup; change nothing")
	return c
}
