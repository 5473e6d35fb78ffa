// Package centralcmd implements `jisr central …`: initialise a central
// server, run a node, export the anchor, and operate the registry through
// the admin API (members, subsystems, groups, approved CAs and TSAs,
// management requests, the catalogue, API keys, settings, configuration
// status). The API subcommands are thin: each builds one request for
// central.Client and prints the JSON answer.
//
// It is not where any decision is made; central holds the logic.
package centralcmd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jisr-bus/jisr/central"
	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/internal/config"
	"github.com/jisr-bus/jisr/internal/logx"
	"github.com/jisr-bus/jisr/pki/keys"
)

// New returns the `jisr central` command.
func New(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "central",
		Short: "Central server: registry, management requests, service catalogue, signed global configuration",
		Long: `The central server keeps the instance's registry (members, subsystems,
security servers, global groups, approved CAs and TSAs, settings), receives
management requests from security servers, holds the service catalogue, and
publishes the signed global configuration security servers download.

Start with "init", run nodes with "serve", give security servers the anchor
from "anchor", and operate the registry with the API subcommands (they use
the admin API with the key in --api-key-file).`,
	}
	cmd.AddCommand(newInit(stdout), newServe(stderr), newAnchor(stdout),
		newMember(stdout), newSubsystem(stdout), newGroup(stdout), newCA(stdout), newTSA(stdout),
		newRequests(stdout), newCatalogue(stdout), newAPIKey(stdout), newSettings(stdout), newConfig(stdout))
	return cmd
}

func newInit(stdout io.Writer) *cobra.Command {
	var opts central.InitOptions
	var tmpl central.Config
	var passFile, passEnv, keysType, module, tokenLabel, pinFile, pinEnv string
	var classes []string
	c := &cobra.Command{
		Use:   "init --instance PS --dir DIR [--pki-dir PKI] [--name HOST]…",
		Short: "Create a central server: central.yaml, registry, configuration key, management TLS certificate, first API key",
		Long: `init creates, under --dir: central.yaml, the SQLite registry (central.db)
with the instance code and member classes, the management listener's
self-signed TLS certificate (management-tls.pem/.key; its SHA-256 is pinned
in every configuration), and a first SYSTEM_ADMINISTRATOR API key whose
secret is written to admin-api-key (mode 0600).

The configuration-signing key is either created in a new key store
(--passphrase-file/--passphrase-env, or --keys pkcs11) or, with --pki-dir,
taken from the PKI's central-keys store (label central-config-1, same
passphrase source as the PKI's pki.yaml). --pki-dir also registers the PKI's
root and intermediate CA as an approved CA (OCSP URL from pki.yaml) and its
TSA as an approved TSA.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Keys = keys.Config{Type: keysType, PassphraseFile: config.AbsPath(passFile), PassphraseEnv: passEnv,
				PKCS11: keys.PKCS11Config{Module: module, TokenLabel: tokenLabel, PINFile: config.AbsPath(pinFile), PINEnv: pinEnv}}
			for _, cl := range classes {
				code, desc, _ := strings.Cut(cl, "=")
				opts.MemberClasses = append(opts.MemberClasses, registry.MemberClass{Code: code, Description: desc})
			}
			if opts.Database.DSNFile != "" || opts.Database.DSNEnv != "" {
				opts.Database.Driver = central.DriverPostgres
				opts.Database.DSNFile = config.AbsPath(opts.Database.DSNFile)
			}
			opts.Template = &tmpl
			res, err := central.Init(cmd.Context(), opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "central server for instance %q created\n", opts.Instance)
			fmt.Fprintf(stdout, "  configuration:      %s\n", res.ConfigPath)
			fmt.Fprintf(stdout, "  admin API key:      %s\n", res.AdminKeyPath)
			fmt.Fprintf(stdout, "  configuration URLs: %s\n", strings.Join(res.Config.PublicURLs.Configuration, ", "))
			fmt.Fprintf(stdout, "  management URL:     %s\n", res.Config.PublicURLs.Management)
			if res.ApprovedCA != "" {
				fmt.Fprintf(stdout, "  approved CA:        %s\n  approved TSA:       %s\n", res.ApprovedCA, res.ApprovedTSA)
			}
			fmt.Fprintf(stdout, "run it with: jisr central serve --config %s\n", res.ConfigPath)
			fmt.Fprintf(stdout, "export the anchor with: jisr central anchor --config %s --out anchor.json\n", res.ConfigPath)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Instance, "instance", "", "X-Road instance code, e.g. PS (required)")
	f.StringVar(&opts.Dir, "dir", "", "directory to create the central server in (required)")
	f.StringSliceVar(&opts.Names, "name", nil, "DNS name or IP address of the central server, for the management TLS certificate and the default public URLs (repeatable; default localhost,127.0.0.1)")
	f.StringVar(&opts.PKIDir, "pki-dir", "", "directory of a `jisr pki init`: approve its CA and TSA and sign with its central-keys store")
	f.StringSliceVar(&classes, "member-class", nil, "member class CODE=Description to create (repeatable; default GOV, COM, NGO)")
	f.StringVar(&keysType, "keys", keys.TypeSoftware, "key store type for a new configuration key (without --pki-dir): software or pkcs11")
	f.StringVar(&passFile, "passphrase-file", "", "file holding the new software key store's passphrase (without --pki-dir)")
	f.StringVar(&passEnv, "passphrase-env", "", "environment variable holding the new software key store's passphrase (without --pki-dir)")
	f.StringVar(&module, "pkcs11-module", "", "PKCS#11 module path (--keys pkcs11)")
	f.StringVar(&tokenLabel, "pkcs11-token", "", "PKCS#11 token label (--keys pkcs11)")
	f.StringVar(&pinFile, "pkcs11-pin-file", "", "file holding the PKCS#11 user PIN")
	f.StringVar(&pinEnv, "pkcs11-pin-env", "", "environment variable holding the PKCS#11 user PIN")
	f.StringVar(&tmpl.Listen.Admin, "admin-listen", "", "admin API listen address written to central.yaml (default 127.0.0.1:4400)")
	f.StringVar(&tmpl.Listen.Configuration, "configuration-listen", "", "configuration download listen address (default :4401)")
	f.StringVar(&tmpl.Listen.Management, "management-listen", "", "management request listen address (default :4402)")
	f.StringSliceVar(&tmpl.PublicURLs.Configuration, "configuration-url", nil, "public configuration download URL, in order of preference (repeatable; default http://<first --name>:<port>/globalconf)")
	f.StringVar(&tmpl.PublicURLs.Management, "management-url", "", "public base URL of the management endpoint; requests go to <url>/managementrequests (default https://<first --name>:<port>)")
	f.BoolVar(&tmpl.AutoApprove, "auto-approve", false, "approve management requests on receipt (test beds and demos only)")
	f.StringVar(&opts.Database.DSNFile, "database-dsn-file", "", "put the registry in PostgreSQL, DSN read from this file (default: SQLite in --dir)")
	f.StringVar(&opts.Database.DSNEnv, "database-dsn-env", "", "put the registry in PostgreSQL, DSN read from this environment variable")
	_ = c.MarkFlagRequired("instance")
	_ = c.MarkFlagRequired("dir")
	return c
}

func newServe(stderr io.Writer) *cobra.Command {
	var cfgPath string
	var lf logx.Flags
	c := &cobra.Command{
		Use:   "serve --config central.yaml",
		Short: "Run a central server node: admin API, configuration download, management requests, publishing",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.New(stderr)
			if err != nil {
				return err
			}
			cfg, err := central.LoadConfig(cfgPath)
			if err != nil {
				return err
			}
			svc, err := central.New(cmd.Context(), cfg, central.WithLogger(log), central.WithManagement(ManagementFactory()))
			if err != nil {
				return err
			}
			defer svc.Close()
			return svc.Serve(cmd.Context(), func() {
				log.Info("central server ready", "instance", cfg.Instance, "admin", svc.Addr("admin"),
					"configuration", svc.Addr("configuration"), "management", svc.Addr("management"))
			})
		},
	}
	c.Flags().StringVar(&cfgPath, "config", central.ConfigFile, "configuration file")
	lf.Register(c.Flags(), "json", "info")
	return c
}

func newAnchor(stdout io.Writer) *cobra.Command {
	var cfgPath, out string
	c := &cobra.Command{
		Use:   "anchor --config central.yaml [--out anchor.json]",
		Short: "Export the anchor security servers are bootstrapped with (instance, configuration URLs, verification keys)",
		Long: `anchor writes the instance's configuration anchor: the instance code, the
public configuration URLs in order, and the public keys of every configured
configuration key (kid = key label). Deliver it to security servers out of
band; its SHA-256 (printed) can be compared by phone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := central.LoadConfig(cfgPath)
			if err != nil {
				return err
			}
			a, err := central.ExportAnchor(cmd.Context(), cfg, time.Now())
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(a, "", "  ")
			if err != nil {
				return err
			}
			b = append(b, '\n')
			if out == "" || out == "-" {
				_, err = stdout.Write(b)
				return err
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "anchor written to %s (sha256 %s)\n", out, sha256Hex(b))
			return nil
		},
	}
	c.Flags().StringVar(&cfgPath, "config", central.ConfigFile, "configuration file")
	c.Flags().StringVar(&out, "out", "-", "file to write the anchor to (- for standard output)")
	return c
}

// apiFlags are the flags every API subcommand takes.
type apiFlags struct {
	cfgPath, keyFile, baseURL string
}

func (f *apiFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.cfgPath, "config", central.ConfigFile, "central server configuration file (for the admin listen address)")
	c.Flags().StringVar(&f.keyFile, "api-key-file", "", "file holding the API key secret (default: admin-api-key next to --config)")
	c.Flags().StringVar(&f.baseURL, "admin-url", "", "admin API base URL, e.g. http://127.0.0.1:4400 (default: from --config)")
}

func (f *apiFlags) client() (*central.Client, error) {
	keyFile := f.keyFile
	if keyFile == "" {
		keyFile = filepath.Join(filepath.Dir(f.cfgPath), central.AdminAPIKeyFile)
	}
	if f.baseURL != "" {
		secret, err := central.ReadSecretFile(keyFile)
		if err != nil {
			return nil, err
		}
		return &central.Client{BaseURL: f.baseURL, APIKey: secret}, nil
	}
	cfg, err := central.LoadConfig(f.cfgPath)
	if err != nil {
		return nil, err
	}
	return central.NewClient(cfg, keyFile)
}

// apiCommand builds a subcommand that makes one admin API call and prints
// the JSON answer.
func apiCommand(stdout io.Writer, use, short string, call func(ctx context.Context, c *central.Client) (any, error)) (*cobra.Command, *apiFlags) {
	af := &apiFlags{}
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := af.client()
			if err != nil {
				return err
			}
			v, err := call(cmd.Context(), cl)
			if err != nil {
				return err
			}
			if v == nil {
				return nil
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		},
	}
	af.register(c)
	return c, af
}

func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short}
	c.AddCommand(subs...)
	return c
}

func newMember(stdout io.Writer) *cobra.Command {
	var in central.NewMember
	add, _ := apiCommand(stdout, "add --class GOV --code MOI --name NAME", "Register a member",
		func(ctx context.Context, c *central.Client) (any, error) {
			return call[central.Member](ctx, c, http.MethodPost, "/members", in)
		})
	add.Flags().StringVar(&in.MemberClass, "class", "", "member class (required)")
	add.Flags().StringVar(&in.MemberCode, "code", "", "member code (required)")
	add.Flags().StringVar(&in.Name, "name", "", "organisation name (required)")
	markRequired(add, "class", "code", "name")
	list, _ := apiCommand(stdout, "list", "List members with their subsystems",
		func(ctx context.Context, c *central.Client) (any, error) {
			return call[[]central.Member](ctx, c, http.MethodGet, "/members", nil)
		})
	return group("member", "Members (registration officer)", add, list)
}

func newSubsystem(stdout io.Writer) *cobra.Command {
	var member, code string
	add, _ := apiCommand(stdout, "add --member PS:GOV:MOI --code civil-registry", "Add a subsystem to a member",
		func(ctx context.Context, c *central.Client) (any, error) {
			return call[central.Member](ctx, c, http.MethodPost, "/members/"+url.PathEscape(member)+"/subsystems", central.NewSubsystem{SubsystemCode: code})
		})
	add.Flags().StringVar(&member, "member", "", "member, INSTANCE:CLASS:CODE (required)")
	add.Flags().StringVar(&code, "code", "", "subsystem code (required)")
	markRequired(add, "member", "code")
	return group("subsystem", "Subsystems (registration officer)", add)
}

func newGroup(stdout io.Writer) *cobra.Command {
	var in central.NewGlobalGroup
	add, _ := apiCommand(stdout, "add --code CODE [--description TEXT]", "Add a global group",
		func(ctx context.Context, c *central.Client) (any, error) {
			return call[central.GlobalGroup](ctx, c, http.MethodPost, "/global-groups", in)
		})
	add.Flags().StringVar(&in.Code, "code", "", "group code (required)")
	add.Flags().StringVar(&in.Description, "description", "", "description")
	markRequired(add, "code")
	var groupCode, client string
	addMember, _ := apiCommand(stdout, "add-member --group CODE --client PS:GOV:MOI[:SUB]", "Add a member or subsystem to a global group",
		func(ctx context.Context, c *central.Client) (any, error) {
			return call[central.GlobalGroup](ctx, c, http.MethodPost, "/global-groups/"+url.PathEscape(groupCode)+"/members", central.GroupMemberRef{Client: client})
		})
	addMember.Flags().StringVar(&groupCode, "group", "", "group code (required)")
	addMember.Flags().StringVar(&client, "client", "", "member or subsystem, INSTANCE:CLASS:CODE[:SUBSYSTEM] (required)")
	markRequired(addMember, "group", "client")
	return group("group", "Global groups (registration officer)", add, addMember)
}

func readFileFlag(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	return string(b), err
}

func newCA(stdout io.Writer) *cobra.Command {
	var in central.NewApprovedCA
	var roots, inters string
	var ocspURLs []string
	add, _ := apiCommand(stdout, "add --name NAME --roots root.pem [--intermediates int.pem] [--ocsp-url URL]…", "Approve a certification authority",
		func(ctx context.Context, c *central.Client) (any, error) {
			var err error
			if in.Roots, err = readFileFlag(roots); err != nil {
				return nil, err
			}
			if in.Intermediates, err = readFileFlag(inters); err != nil {
				return nil, err
			}
			for _, u := range ocspURLs {
				in.OCSPResponders = append(in.OCSPResponders, central.NewOCSPResponder{URL: u})
			}
			return call[central.ApprovedCA](ctx, c, http.MethodPost, "/approved-cas", in)
		})
	add.Flags().StringVar(&in.Name, "name", "", "name of the CA in the registry (required)")
	add.Flags().StringVar(&in.Profile, "profile", "", "certificate profile (default "+central.DefaultProfile+")")
	add.Flags().StringVar(&roots, "roots", "", "PEM file with the trust-anchor certificates (required)")
	add.Flags().StringVar(&inters, "intermediates", "", "PEM file with intermediate CA certificates")
	add.Flags().StringSliceVar(&ocspURLs, "ocsp-url", nil, "OCSP responder URL (repeatable)")
	markRequired(add, "name", "roots")
	return group("ca", "Approved certification authorities (security officer)", add)
}

func newTSA(stdout io.Writer) *cobra.Command {
	var in central.NewApprovedTSA
	var certFile string
	add, _ := apiCommand(stdout, "add --name NAME --url URL --cert tsa.pem", "Approve a time-stamping authority",
		func(ctx context.Context, c *central.Client) (any, error) {
			var err error
			if in.Certificate, err = readFileFlag(certFile); err != nil {
				return nil, err
			}
			return call[central.ApprovedTSA](ctx, c, http.MethodPost, "/approved-tsas", in)
		})
	add.Flags().StringVar(&in.Name, "name", "", "name of the TSA in the registry (required)")
	add.Flags().StringVar(&in.URL, "url", "", "RFC 3161 URL of the TSA (required)")
	add.Flags().StringVar(&certFile, "cert", "", "PEM file with the TSA's certificate (first block) (required)")
	markRequired(add, "name", "url", "cert")
	return group("tsa", "Approved time-stamping authorities (security officer)", add)
}

func newRequests(stdout io.Writer) *cobra.Command {
	var status, server string
	list, _ := apiCommand(stdout, "list [--status PENDING]", "List management requests",
		func(ctx context.Context, c *central.Client) (any, error) {
			q := url.Values{}
			if status != "" {
				q.Set("status", status)
			}
			if server != "" {
				q.Set("server", server)
			}
			return call[[]central.ManagementRequest](ctx, c, http.MethodGet, "/management-requests?"+q.Encode(), nil)
		})
	list.Flags().StringVar(&status, "status", "", "only requests with this status: PENDING, APPROVED, REJECTED, FAILED")
	list.Flags().StringVar(&server, "server", "", "only requests of this security server, INSTANCE:CLASS:CODE:SERVER")
	var id int64
	approve, _ := apiCommand(stdout, "approve --id N", "Approve a pending management request (and apply it)",
		func(ctx context.Context, c *central.Client) (any, error) {
			return call[central.ManagementRequest](ctx, c, http.MethodPost, "/management-requests/"+strconv.FormatInt(id, 10)+"/approve", nil)
		})
	approve.Flags().Int64Var(&id, "id", 0, "request id (required)")
	markRequired(approve, "id")
	var rid int64
	var comment string
	reject, _ := apiCommand(stdout, "reject --id N [--comment TEXT]", "Reject a pending management request",
		func(ctx context.Context, c *central.Client) (any, error) {
			return call[central.ManagementRequest](ctx, c, http.MethodPost, "/management-requests/"+strconv.FormatInt(rid, 10)+"/reject", central.Rejection{Comment: comment})
		})
	reject.Flags().Int64Var(&rid, "id", 0, "request id (required)")
	reject.Flags().StringVar(&comment, "comment", "", "reason given to the requester")
	markRequired(reject, "id")
	return group("requests", "Management requests from security servers (registration officer)", list, approve, reject)
}

func newCatalogue(stdout io.Writer) *cobra.Command {
	var member, subsystem, text string
	search, _ := apiCommand(stdout, "search [--member PS:GOV:MOI [--subsystem SUB]] [--q TEXT]", "Search the service catalogue",
		func(ctx context.Context, c *central.Client) (any, error) {
			q := url.Values{}
			for k, v := range map[string]string{"member": member, "subsystem": subsystem, "q": text} {
				if v != "" {
					q.Set(k, v)
				}
			}
			return call[[]central.CatalogueService](ctx, c, http.MethodGet, "/catalogue?"+q.Encode(), nil)
		})
	search.Flags().StringVar(&member, "member", "", "only services of this member, INSTANCE:CLASS:CODE")
	search.Flags().StringVar(&subsystem, "subsystem", "", "with --member, only services of this subsystem code")
	search.Flags().StringVar(&text, "q", "", "text in the service code, title or description")
	return group("catalogue", "Service catalogue", search)
}

func newAPIKey(stdout io.Writer) *cobra.Command {
	var in central.NewAPIKey
	var expiresIn time.Duration
	create, _ := apiCommand(stdout, "create --name NAME --role OBSERVER… [--expires-in 720h]", "Create an API key (its secret is printed once)",
		func(ctx context.Context, c *central.Client) (any, error) {
			if expiresIn > 0 {
				t := time.Now().Add(expiresIn).UTC()
				in.ExpiresAt = &t
			}
			return call[central.CreatedAPIKey](ctx, c, http.MethodPost, "/api-keys", in)
		})
	create.Flags().StringVar(&in.Name, "name", "", "key name, recorded as the actor in the audit trail (required)")
	create.Flags().StringSliceVar(&in.Roles, "role", nil, "role: SYSTEM_ADMINISTRATOR, REGISTRATION_OFFICER, SECURITY_OFFICER, OBSERVER (repeatable; required)")
	create.Flags().DurationVar(&expiresIn, "expires-in", 0, "validity, e.g. 720h (default: never expires)")
	markRequired(create, "name", "role")
	list, _ := apiCommand(stdout, "list", "List API keys",
		func(ctx context.Context, c *central.Client) (any, error) {
			return call[[]central.APIKey](ctx, c, http.MethodGet, "/api-keys", nil)
		})
	var id int64
	revoke, _ := apiCommand(stdout, "revoke --id N", "Revoke an API key",
		func(ctx context.Context, c *central.Client) (any, error) {
			return nil, c.Call(ctx, http.MethodDelete, "/api-keys/"+strconv.FormatInt(id, 10), nil, nil)
		})
	revoke.Flags().Int64Var(&id, "id", 0, "key id (required)")
	markRequired(revoke, "id")
	return group("apikey", "Admin API keys (system administrator)", create, list, revoke)
}

func newSettings(stdout io.Writer) *cobra.Command {
	var ocsp, tsInterval, lifetime, refresh, grace time.Duration
	set, _ := apiCommand(stdout, "set [--ocsp-freshness D] [--timestamping-interval D] [--configuration-lifetime D] [--configuration-refresh D] [--timestamping-grace D]",
		"Change settings (whole seconds)",
		func(ctx context.Context, c *central.Client) (any, error) {
			var in central.SettingsUpdate
			for _, s := range []struct {
				d   time.Duration
				dst **int64
			}{
				{ocsp, &in.OCSPFreshnessSeconds}, {tsInterval, &in.TimestampingIntervalSeconds},
				{lifetime, &in.ConfigurationLifetimeSeconds}, {refresh, &in.ConfigurationRefreshIntervalSeconds},
				{grace, &in.TimestampingGracePeriodSeconds},
			} {
				if s.d != 0 {
					v := int64(s.d / time.Second)
					*s.dst = &v
				}
			}
			return call[central.Settings](ctx, c, http.MethodPatch, "/settings", in)
		})
	f := set.Flags()
	f.DurationVar(&ocsp, "ocsp-freshness", 0, "how old an OCSP response may be, e.g. 1h")
	f.DurationVar(&tsInterval, "timestamping-interval", 0, "how often security servers time-stamp their message log, e.g. 60s")
	f.DurationVar(&lifetime, "configuration-lifetime", 0, "how long each published configuration is valid, e.g. 10m")
	f.DurationVar(&refresh, "configuration-refresh", 0, "how often security servers download the configuration, e.g. 60s")
	f.DurationVar(&grace, "timestamping-grace", 0, "how long traffic continues while the TSA fails, e.g. 4h")
	return group("settings", "Registry settings (security officer)", set)
}

func newConfig(stdout io.Writer) *cobra.Command {
	status, _ := apiCommand(stdout, "status", "Show the latest published global configuration (serial, times, hash)",
		func(ctx context.Context, c *central.Client) (any, error) {
			return call[central.ConfigurationStatus](ctx, c, http.MethodGet, "/configuration", nil)
		})
	regenerate, _ := apiCommand(stdout, "regenerate", "Sign and publish a new global configuration now (security officer)",
		func(ctx context.Context, c *central.Client) (any, error) {
			return call[central.ConfigurationStatus](ctx, c, http.MethodPost, "/configuration/regenerate", nil)
		})
	return group("config", "Global configuration", status, regenerate)
}

// call makes one API call and returns its answer decoded as T.
func call[T any](ctx context.Context, c *central.Client, method, path string, in any) (any, error) {
	var out T
	if err := c.Call(ctx, method, path, in, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func markRequired(c *cobra.Command, names ...string) {
	for _, n := range names {
		_ = c.MarkFlagRequired(n)
	}
}
