// Package auditcmd implements `jisr audit …`, the auditor's tools: they
// check message-log archives offline, trusting only the instance's root
// certificates, never the operator.
package auditcmd

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jisr-bus/jisr/securityserver"
	"github.com/jisr-bus/jisr/securityserver/archive"
)

// New returns the `jisr audit` command.
func New(stdout io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "Auditor tools: verify message-log archives offline, search and export through the admin API",
	}
	c.AddCommand(newVerify(stdout), newSearch(stdout), newExport(stdout))
	return c
}

func newVerify(stdout io.Writer) *cobra.Command {
	var roots, anchor, confPath, prev, decryptKey, logConfig string
	var evidence, first bool
	c := &cobra.Command{
		Use:   "verify (ARCHIVE|DIR...|--log ss.yaml) (--roots root-ca.pem | --anchor anchor.json [--configuration conf.json]) [--prev-manifest HEX | --first] [--decrypt-key auditor.key]",
		Short: "Verify archives: manifest signature, every record's signature, certificate chain and OCSP at signing time, hash chain, time-stamps, links between archives",
		Long: `verify checks archives written by "jisr ss archive" (or the server's periodic
archiver) trusting nothing the operator controls — only the instance's root
certificate(s) (--roots), or the instance's configuration anchor (--anchor):
then the approved CAs, OCSP responders and OCSP freshness come from a global
configuration signed by a key the anchor lists (a saved one with
--configuration, however old, or the one the anchor's URLs serve). It checks
the manifest's signature and entry hashes, every record's JWS against its certificate, the
certificate chains and the stapled OCSP responses as of signing time, the hash
chain, the RFC 3161 time-stamps over it, and the links between archives.

Give one archive, several in order, or an archive directory (its files are
taken in chain order): each archive must link to the one before it (manifest
hash, record numbers, chain hash), so a missing, reordered or substituted
archive fails. --prev-manifest names what the first archive must link to;
--first says it must be the first archive the server wrote. Encrypted archives
(.jwe) are opened with --decrypt-key, the auditor's EC private key (PEM).

With --log ss.yaml (run on the security server) it checks the message log in
the database as it stands instead: the hash chain up to the head and every
stored time-stamp, naming the first record or token at fault.

It prints a JSON report and exits non-zero naming the failing archive and
record.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var trust archive.Trust
			var err error
			switch {
			case (roots == "") == (anchor == ""):
				return errors.New("give exactly one of --roots and --anchor")
			case confPath != "" && anchor == "":
				return errors.New("--configuration needs --anchor")
			case roots != "":
				trust, err = trustFromRoots(roots)
			default:
				trust, _, err = trustFromAnchor(cmd.Context(), anchor, confPath)
			}
			if err != nil {
				return err
			}
			switch {
			case prev != "" && first:
				return errors.New("--prev-manifest and --first exclude each other")
			case prev != "":
				if trust.PrevManifestHash, err = hex.DecodeString(prev); err != nil {
					return fmt.Errorf("--prev-manifest: %w", err)
				}
			case first:
				trust.PrevManifestHash = []byte{}
			}
			var key *ecdsa.PrivateKey
			if decryptKey != "" {
				if key, err = readECKey(decryptKey); err != nil {
					return err
				}
			}
			if logConfig != "" {
				return verifyLog(cmd, stdout, logConfig, trust)
			}
			if len(args) == 0 {
				return errors.New("give archives, an archive directory, or --log")
			}
			if evidence {
				if len(args) != 1 {
					return errors.New("--evidence takes one file")
				}
				b, err := readMaybeEncrypted(args[0], key)
				if err != nil {
					return err
				}
				ev, err := archive.VerifyEvidence(cmd.Context(), b, trust)
				if err != nil {
					return fmt.Errorf("evidence %s does NOT verify: %w", args[0], err)
				}
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"verified": true, "server": ev.Manifest.Server.String(),
					"exchangeRecords": len(ev.Exchange), "records": ev.Records, "tokens": ev.Tokens})
			}
			paths, err := archivePaths(args)
			if err != nil {
				return err
			}
			var files []archive.SequenceFile
			for _, p := range paths {
				f, err := openArchive(p, key)
				if err != nil {
					return err
				}
				defer f.close()
				files = append(files, f.SequenceFile)
			}
			reps, err := archive.VerifySequence(cmd.Context(), files, trust)
			if err != nil {
				return fmt.Errorf("archive %s does NOT verify: %w", paths[len(reps)], err)
			}
			var out []map[string]any
			var records int
			for i, rep := range reps {
				records += rep.Records
				out = append(out, map[string]any{"file": paths[i], "server": rep.Manifest.Server.String(),
					"records": rep.Records, "firstId": rep.FirstID, "lastId": rep.LastID, "tokens": rep.Tokens,
					"signer": rep.Signer.Subject.CommonName, "createdAt": rep.CreatedAt, "manifestHash": hex.EncodeToString(rep.Manifest.Hash)})
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if len(out) == 1 {
				out[0]["verified"] = true
				return enc.Encode(out[0])
			}
			return enc.Encode(map[string]any{"verified": true, "archives": out, "records": records})
		},
	}
	c.Flags().StringVar(&roots, "roots", "", "PEM file with the instance root certificate(s) to trust")
	c.Flags().StringVar(&anchor, "anchor", "", "trust what the instance's global configuration says instead: its configuration anchor")
	c.Flags().StringVar(&confPath, "configuration", "", "with --anchor: a saved signed global configuration (default: download it from the anchor's URLs)")
	c.Flags().StringVar(&prev, "prev-manifest", "", "hex manifest hash the first archive must chain to")
	c.Flags().BoolVar(&first, "first", false, "the first archive must be the server's first")
	c.Flags().StringVar(&decryptKey, "decrypt-key", "", "auditor's EC private key (PEM) for encrypted archives")
	c.Flags().BoolVar(&evidence, "evidence", false, "the file is an evidence file from `jisr audit export`")
	c.Flags().StringVar(&logConfig, "log", "", "verify the live message log of the security server with this ss.yaml instead")
	return c
}

func verifyLog(cmd *cobra.Command, stdout io.Writer, cfgPath string, trust archive.Trust) error {
	cfg, err := securityserver.LoadConfig(cfgPath)
	if err != nil {
		return err
	}
	v, err := securityserver.VerifyLog(cmd.Context(), cfg, trust.VerifyTimestamp)
	if err != nil {
		return fmt.Errorf("message log of %s does NOT verify: %w", cfg.ServerID, err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"verified": true, "server": cfg.ServerID, "firstId": v.Chain.From, "lastId": v.Chain.To,
		"tokens": v.Timestamps.Tokens, "stampedUpTo": v.Timestamps.To, "purgedUpTo": v.Purged.LastID})
}

// archivePaths expands directories to their archive files in chain order.
func archivePaths(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, a)
			continue
		}
		fs, err := archive.Files(a)
		if err != nil {
			return nil, err
		}
		if len(fs) == 0 {
			return nil, fmt.Errorf("%s: no archive files", a)
		}
		for _, f := range fs {
			out = append(out, filepath.Join(a, f.Name))
		}
	}
	return out, nil
}

type openedArchive struct {
	archive.SequenceFile
	close func()
}

// openArchive opens an archive for verification: a plain file is read in
// place, an encrypted one (.jwe) is decrypted into memory.
func openArchive(path string, key *ecdsa.PrivateKey) (openedArchive, error) {
	if strings.HasSuffix(path, ".jwe") {
		b, err := readMaybeEncrypted(path, key)
		if err != nil {
			return openedArchive{}, err
		}
		return openedArchive{archive.SequenceFile{Name: path, R: bytes.NewReader(b), Size: int64(len(b))}, func() {}}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return openedArchive{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return openedArchive{}, err
	}
	return openedArchive{archive.SequenceFile{Name: path, R: f, Size: fi.Size()}, func() { f.Close() }}, nil
}

// readMaybeEncrypted reads a file, decrypting it when it is a JWE (.jwe).
func readMaybeEncrypted(path string, key *ecdsa.PrivateKey) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(path, ".jwe") {
		return b, nil
	}
	if key == nil {
		return nil, fmt.Errorf("%s is encrypted: give --decrypt-key", path)
	}
	return archive.Decrypt(b, key)
}

// readECKey reads an EC private key, PEM "EC PRIVATE KEY" or "PRIVATE KEY".
func readECKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: not PEM", path)
	}
	if blk.Type == "EC PRIVATE KEY" {
		return x509.ParseECPrivateKey(blk.Bytes)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an EC key", path)
	}
	return ek, nil
}

func newExport(stdout io.Writer) *cobra.Command {
	var cfgPath, messageID, requestDigest, out string
	var rf remoteFlags
	c := &cobra.Command{
		Use:   "export (--config ss.yaml | --server URL --api-key-file KEY) --message-id ID --out FILE",
		Short: "Write one exchange as a small evidence file that verifies on its own",
		Long: `export writes the evidence file of one exchange: its records, the hash chain
up to a time-stamped head, the token, and a manifest signed by the security
server. "jisr audit verify --evidence FILE --roots root-ca.pem" checks it
with nothing else.

Run it on the security server with --config, or from anywhere with --server
and an API key holding the AUDITOR role (the export is then recorded in the
server's audit trail). --request-digest picks one exchange when a message id
was used more than once (search shows each record's requestDigest).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var b []byte
			var err error
			switch {
			case rf.server != "" && cmd.Flags().Changed("config"):
				return errors.New("--config and --server exclude each other")
			case rf.server != "":
				b, err = exportRemote(cmd.Context(), &rf, messageID, requestDigest)
			default:
				if requestDigest != "" {
					return errors.New("--request-digest needs --server")
				}
				var cfg *securityserver.Config
				if cfg, err = securityserver.LoadConfig(cfgPath); err != nil {
					return err
				}
				b, err = securityserver.ExportExchange(cmd.Context(), cfg, messageID)
			}
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, b, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "evidence for %s written to %s (%d bytes)\n", messageID, out, len(b))
			return nil
		},
	}
	c.Flags().StringVar(&cfgPath, "config", securityserver.ConfigFile, "security server configuration file (on the server)")
	c.Flags().StringVar(&rf.server, "server", "", "the security server's admin API, e.g. http://127.0.0.1:4000")
	c.Flags().StringVar(&rf.keyFile, "api-key-file", "", "file holding an API key with the AUDITOR role (with --server)")
	c.Flags().StringVar(&rf.caFile, "ca-file", "", "PEM roots for an https admin API (with --server)")
	c.Flags().StringVar(&messageID, "message-id", "", "X-Road-Id of the exchange (required)")
	c.Flags().StringVar(&requestDigest, "request-digest", "", "hex SHA-256 of the request, when the message id is not unique (with --server)")
	c.Flags().StringVar(&out, "out", "", "evidence file to write (required)")
	_ = c.MarkFlagRequired("message-id")
	_ = c.MarkFlagRequired("out")
	return c
}
