// Package auditcmd implements `jisr audit …`, the auditor's tools: they
// check message-log archives offline, trusting only the instance's root
// certificates, never the operator.
package auditcmd

import (
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/jisr-bus/jisr/securityserver"
	"github.com/jisr-bus/jisr/securityserver/archive"
)

// New returns the `jisr audit` command.
func New(stdout io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "Auditor tools: verify message-log archives offline",
	}
	c.AddCommand(newVerify(stdout), newExport(stdout))
	return c
}

func newVerify(stdout io.Writer) *cobra.Command {
	var roots, prev string
	var evidence bool
	c := &cobra.Command{
		Use:   "verify ARCHIVE --roots root-ca.pem [--prev-manifest HEX]",
		Short: "Verify an archive: manifest signature, every record's signature, certificate chain and OCSP at signing time, hash chain, time-stamps, link to the previous archive",
		Long: `verify checks an archive written by "jisr ss archive" with nothing but the
instance's root certificate(s): the manifest's signature and entry hashes,
every record's JWS against its certificate, the certificate chains and the
stapled OCSP responses as of signing time, the hash chain, the RFC 3161
time-stamps over it, and (with --prev-manifest) the link to the previous
archive. It prints a JSON report and exits non-zero naming the first failing
record.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pemBytes, err := os.ReadFile(roots)
			if err != nil {
				return err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pemBytes) {
				return errors.New("--roots: no certificates")
			}
			trust := archive.Trust{Roots: pool, VerifyTimestamp: archive.TSAVerifier(pool, nil)}
			if prev != "" {
				if trust.PrevManifestHash, err = hex.DecodeString(prev); err != nil {
					return fmt.Errorf("--prev-manifest: %w", err)
				}
			}
			if evidence {
				b, err := os.ReadFile(args[0])
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
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			rep, err := archive.Verify(cmd.Context(), f, fi.Size(), trust)
			if err != nil {
				return fmt.Errorf("archive %s does NOT verify: %w", args[0], err)
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"verified": true, "server": rep.Manifest.Server.String(),
				"records": rep.Records, "firstId": rep.FirstID, "lastId": rep.LastID, "tokens": rep.Tokens,
				"signer": rep.Signer.Subject.CommonName, "createdAt": rep.CreatedAt, "manifestHash": hex.EncodeToString(rep.Manifest.Hash)})
		},
	}
	c.Flags().StringVar(&roots, "roots", "", "PEM file with the instance root certificate(s) (required)")
	c.Flags().StringVar(&prev, "prev-manifest", "", "hex manifest hash the archive must chain to")
	c.Flags().BoolVar(&evidence, "evidence", false, "the file is an evidence file from `jisr audit export`")
	_ = c.MarkFlagRequired("roots")
	return c
}

func newExport(stdout io.Writer) *cobra.Command {
	var cfgPath, messageID, out string
	c := &cobra.Command{
		Use:   "export --config ss.yaml --message-id ID --out FILE",
		Short: "Write one exchange as a small evidence file that verifies on its own (run on the security server)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := securityserver.LoadConfig(cfgPath)
			if err != nil {
				return err
			}
			b, err := securityserver.ExportExchange(cmd.Context(), cfg, messageID)
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
	c.Flags().StringVar(&cfgPath, "config", securityserver.ConfigFile, "security server configuration file")
	c.Flags().StringVar(&messageID, "message-id", "", "X-Road-Id of the exchange (required)")
	c.Flags().StringVar(&out, "out", "", "evidence file to write (required)")
	_ = c.MarkFlagRequired("message-id")
	_ = c.MarkFlagRequired("out")
	return c
}
