// Package pkicmd implements `jisr pki …`: initialise an instance PKI, run it,
// and operate it (enrolment tokens, the ACME allow-list, revocation, status)
// through its loopback admin API.
package pkicmd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jisr-bus/jisr/internal/config"
	"github.com/jisr-bus/jisr/internal/logx"
	"github.com/jisr-bus/jisr/pki"
	"github.com/jisr-bus/jisr/pki/keys"
)

// New returns the `jisr pki` command.
func New(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pki",
		Short: "Instance PKI: CA (step-ca), OCSP responder, RFC 3161 time-stamping authority",
		Long: `The instance PKI issues security servers' authentication certificates and
members' signing certificates (one-time tokens or ACME), answers OCSP for them,
and time-stamps message-log batches. See docs/pki.md.`,
	}
	cmd.AddCommand(newInit(stdout), newServe(stderr), newToken(stdout), newACMEAllow(stdout), newRevoke(stdout), newStatus(stdout))
	return cmd
}

// LoadConfig reads a pki.yaml strictly, resolving relative paths against its
// directory.
func LoadConfig(path string) (pki.Config, error) {
	var cfg pki.Config
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, err
	}
	// Resolve before validating so defaults derived from Dir are absolute.
	if err := config.DecodeOnly(b, &cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return cfg, err
	}
	cfg.Resolve(abs)
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

func newInit(stdout io.Writer) *cobra.Command {
	var opts pki.InitOptions
	var passFile, passEnv, keysType, module, tokenLabel, pinFile, pinEnv string
	var tmpl pki.Config
	c := &cobra.Command{
		Use:   "init --instance PS --dir DIR (--passphrase-file F | --passphrase-env VAR)",
		Short: "Create a new instance PKI and the pki.yaml that runs it",
		Long: `init creates, under --dir: the root and intermediate CA, the OCSP responder's
and the TSA's certificates (critical timeStamping EKU), the CA's TLS
certificate, the enrolment-token key, the central server's configuration-signing
key (in central-keys/, for the central server), an admin API token, and pki.yaml.

Keys go into an encrypted software key store (--passphrase-file or
--passphrase-env) or, with --keys pkcs11, into an HSM (binary built with
-tags pkcs11).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Keys = keys.Config{Type: keysType, PassphraseFile: config.AbsPath(passFile), PassphraseEnv: passEnv,
				PKCS11: keys.PKCS11Config{Module: module, TokenLabel: tokenLabel, PINFile: config.AbsPath(pinFile), PINEnv: pinEnv}}
			opts.Template = &tmpl
			res, err := pki.Init(cmd.Context(), opts)
			if err != nil {
				return err
			}
			b := res.Bundle
			fmt.Fprintf(stdout, "instance PKI %q created\n", b.Instance)
			fmt.Fprintf(stdout, "  root CA:          %s (serial %s)\n", b.Root.Subject.CommonName, b.Root.SerialNumber)
			fmt.Fprintf(stdout, "  intermediate CA:  %s\n", b.Intermediate.Subject.CommonName)
			fmt.Fprintf(stdout, "  OCSP responder:   %s\n", b.OCSP.Subject.CommonName)
			fmt.Fprintf(stdout, "  TSA:              %s\n", b.TSA.Subject.CommonName)
			fmt.Fprintf(stdout, "  central config key (public): %s\n", res.CentralKeyPath)
			fmt.Fprintf(stdout, "  configuration:    %s\n", res.ConfigPath)
			fmt.Fprintf(stdout, "run it with: jisr pki serve --config %s\n", res.ConfigPath)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Instance, "instance", "", "X-Road instance code, e.g. PS (required)")
	f.StringVar(&opts.Dir, "dir", "", "directory to create the PKI in (required)")
	f.StringSliceVar(&opts.CANames, "ca-name", nil, "DNS name or IP of the CA API (repeatable; default localhost,127.0.0.1)")
	f.StringVar(&keysType, "keys", keys.TypeSoftware, "key store type: software or pkcs11")
	f.StringVar(&passFile, "passphrase-file", "", "file holding the software key store passphrase")
	f.StringVar(&passEnv, "passphrase-env", "", "environment variable holding the software key store passphrase")
	f.StringVar(&module, "pkcs11-module", "", "PKCS#11 module path (--keys pkcs11)")
	f.StringVar(&tokenLabel, "pkcs11-token", "", "PKCS#11 token label (--keys pkcs11)")
	f.StringVar(&pinFile, "pkcs11-pin-file", "", "file holding the PKCS#11 user PIN")
	f.StringVar(&pinEnv, "pkcs11-pin-env", "", "environment variable holding the PKCS#11 user PIN")
	f.StringVar(&tmpl.CA.Listen, "ca-listen", "", "CA API (HTTPS, ACME) listen address written to pki.yaml (default :4443)")
	f.StringVar(&tmpl.OCSP.Listen, "ocsp-listen", "", "OCSP listen address (default :4480)")
	f.StringVar(&tmpl.TSA.Listen, "tsa-listen", "", "TSA listen address (default :4318)")
	f.StringVar(&tmpl.Admin.Listen, "admin-listen", "", "admin API listen address (default 127.0.0.1:4490)")
	f.IntVar(&tmpl.CA.ChallengePort, "acme-challenge-port", 0, "port ACME http-01 validation connects to instead of 80 (test beds)")
	_ = c.MarkFlagRequired("instance")
	_ = c.MarkFlagRequired("dir")
	return c
}

func newServe(stderr io.Writer) *cobra.Command {
	var cfgPath string
	var lf logx.Flags
	c := &cobra.Command{
		Use:   "serve --config pki.yaml",
		Short: "Run the CA API (with ACME), the OCSP responder, the TSA and the admin API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.New(stderr)
			if err != nil {
				return err
			}
			cfg, err := LoadConfig(cfgPath)
			if err != nil {
				return err
			}
			svc, err := pki.New(cfg, pki.WithLogger(log))
			if err != nil {
				return err
			}
			defer svc.Close()
			return svc.Serve(cmd.Context(), func() { log.Info("instance PKI ready", "instance", cfg.Instance) })
		},
	}
	c.Flags().StringVar(&cfgPath, "config", "pki.yaml", "configuration file")
	lf.Register(c.Flags(), "json", "info")
	return c
}

func adminClient(cfgPath string) (*pki.AdminClient, error) {
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	return pki.NewAdminClient(cfg)
}

func newToken(stdout io.Writer) *cobra.Command {
	var cfgPath string
	var req pki.TokenRequest
	var asJSON bool
	c := &cobra.Command{
		Use:   "token --kind auth|sign --id TYPED-ID [--dns NAME]",
		Short: "Issue a one-time enrolment token (through the running PKI's admin API)",
		Long: `token issues a one-time enrolment token that lets a security server obtain
one certificate: --kind auth --id SERVER:PS/GOV/MOI/ss1 [--dns ss1.moi.ps]
for its authentication certificate, or --kind sign --id MEMBER:PS/GOV/MOI for
its owner's signing certificate. The token can be used once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ac, err := adminClient(cfgPath)
			if err != nil {
				return err
			}
			res, err := ac.NewToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(stdout).Encode(res)
			}
			fmt.Fprintln(stdout, res.Token)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&cfgPath, "config", "pki.yaml", "configuration file")
	f.StringVar(&req.Kind, "kind", "", "certificate profile: auth or sign (required)")
	f.StringVar(&req.ID, "id", "", "typed identifier: SERVER:INST/CLASS/CODE/SERVER or MEMBER:INST/CLASS/CODE (required)")
	f.StringSliceVar(&req.DNSNames, "dns", nil, "DNS name or IP of the security server (auth only; repeatable)")
	f.StringVar(&req.TTL, "ttl", "", "token validity, e.g. 30m (default: ca.tokenLifetime)")
	f.BoolVar(&asJSON, "json", false, "print the token and its expiry as JSON")
	_ = c.MarkFlagRequired("kind")
	_ = c.MarkFlagRequired("id")
	return c
}

func newACMEAllow(stdout io.Writer) *cobra.Command {
	var cfgPath string
	var req pki.ACMEAllowRequest
	c := &cobra.Command{
		Use:   "acme-allow --server INST/CLASS/CODE/SERVER --dns NAME",
		Short: "Allow a security server to enrol through ACME from a DNS name it controls",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ac, err := adminClient(cfgPath)
			if err != nil {
				return err
			}
			if err := ac.AllowACME(cmd.Context(), req); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "ACME enrolment allowed for %s from %s\n", req.Server, req.DNSName)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&cfgPath, "config", "pki.yaml", "configuration file")
	f.StringVar(&req.Server, "server", "", "security server ID, header form (required)")
	f.StringVar(&req.DNSName, "dns", "", "DNS name the server proves with http-01 (required)")
	_ = c.MarkFlagRequired("server")
	_ = c.MarkFlagRequired("dns")
	return c
}

// reasonNames lists the RFC 5280 CRLReason names jisr accepts, by code.
func reasonNames() map[string]int {
	return map[string]int{
		"unspecified": 0, "keyCompromise": 1, "cACompromise": 2, "affiliationChanged": 3,
		"superseded": 4, "cessationOfOperation": 5, "certificateHold": 6, "privilegeWithdrawn": 9,
	}
}

func newRevoke(stdout io.Writer) *cobra.Command {
	var cfgPath, reason string
	var req pki.RevokeRequest
	c := &cobra.Command{
		Use:   "revoke --serial N [--reason keyCompromise]",
		Short: "Revoke a certificate; the OCSP responder answers revoked at once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reasons := reasonNames()
			code, ok := reasons[reason]
			if !ok {
				names := make([]string, 0, len(reasons))
				for n := range reasons {
					names = append(names, n)
				}
				slices.Sort(names)
				return fmt.Errorf("unknown reason %q (one of %s)", reason, strings.Join(names, ", "))
			}
			req.Reason = code
			ac, err := adminClient(cfgPath)
			if err != nil {
				return err
			}
			st, err := ac.Revoke(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "certificate %s: %s\n", st.Serial, st.Status)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&cfgPath, "config", "pki.yaml", "configuration file")
	f.StringVar(&req.Serial, "serial", "", "serial number, decimal or 0x-prefixed hex (required)")
	f.StringVar(&reason, "reason", "unspecified", "RFC 5280 reason: unspecified, keyCompromise, superseded, cessationOfOperation, …")
	f.StringVar(&req.Text, "text", "", "note recorded with the revocation")
	_ = c.MarkFlagRequired("serial")
	return c
}

func newStatus(stdout io.Writer) *cobra.Command {
	var cfgPath, serial string
	c := &cobra.Command{
		Use:   "status --serial N",
		Short: "Show a certificate's status as the CA records it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ac, err := adminClient(cfgPath)
			if err != nil {
				return err
			}
			st, err := ac.Status(cmd.Context(), serial)
			if err != nil {
				return err
			}
			return json.NewEncoder(stdout).Encode(st)
		},
	}
	c.Flags().StringVar(&cfgPath, "config", "pki.yaml", "configuration file")
	c.Flags().StringVar(&serial, "serial", "", "serial number (required)")
	_ = c.MarkFlagRequired("serial")
	return c
}
