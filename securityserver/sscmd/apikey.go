package sscmd

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/jisr-bus/jisr/securityserver"
	"github.com/jisr-bus/jisr/securityserver/admin"
)

// newAPIKey is `jisr ss apikey`: admin API keys managed on the security
// server's own database, without the API — how the first keys beyond the
// one init writes are made, and how access is recovered when every
// system administrator key was revoked.
func newAPIKey(stdout io.Writer) *cobra.Command {
	var cfgPath, name, expires string
	var roles []string
	create := &cobra.Command{
		Use:   "create --role ROLE [--role ROLE…] [--name NAME] [--expires 720h|2027-01-01T00:00:00Z]",
		Short: "Create an admin API key; its secret is printed once",
		Long: `Create an admin API key in the security server's configuration database.
Roles: SYSTEM_ADMINISTRATOR, SECURITY_OFFICER, REGISTRATION_OFFICER,
SERVICE_ADMINISTRATOR, SECURITY_SERVER_OBSERVER, AUDITOR. The secret is
printed once (only its SHA-256 is stored); send it as
"Authorization: X-Road-ApiKey token=<secret>".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load(cfgPath)
			if err != nil {
				return err
			}
			var exp *time.Time
			if expires != "" {
				t, err := parseExpiry(expires, time.Now())
				if err != nil {
					return err
				}
				exp = &t
			}
			k, secret, err := securityserver.CreateAPIKey(cmd.Context(), cfg, name, roles, exp)
			if err != nil {
				return err
			}
			return printStatus(stdout, admin.CreatedAPIKey{APIKey: admin.DescribeAPIKey(k, time.Now()), Secret: secret})
		},
	}
	create.Flags().StringVar(&cfgPath, "config", securityserver.ConfigFile, "configuration file")
	create.Flags().StringSliceVar(&roles, "role", nil, "role the key grants (repeatable; required)")
	create.Flags().StringVar(&name, "name", "", "name of the key, shown in the audit trail (default apikey-<id>)")
	create.Flags().StringVar(&expires, "expires", "", "when the key stops working: a duration from now (720h) or an RFC 3339 time (default never)")
	_ = create.MarkFlagRequired("role")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the admin API keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load(cfgPath)
			if err != nil {
				return err
			}
			ks, err := securityserver.APIKeys(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			out := make([]admin.APIKey, 0, len(ks))
			for _, k := range ks {
				out = append(out, admin.DescribeAPIKey(k, time.Now()))
			}
			return printStatus(stdout, out)
		},
	}
	list.Flags().StringVar(&cfgPath, "config", securityserver.ConfigFile, "configuration file")

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an admin API key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("key id %q: want a positive integer", args[0])
			}
			cfg, err := load(cfgPath)
			if err != nil {
				return err
			}
			k, err := securityserver.RevokeAPIKey(cmd.Context(), cfg, id)
			if err != nil {
				return err
			}
			return printStatus(stdout, admin.DescribeAPIKey(k, time.Now()))
		},
	}
	revoke.Flags().StringVar(&cfgPath, "config", securityserver.ConfigFile, "configuration file")

	c := &cobra.Command{Use: "apikey", Short: "Admin API keys (create, list, revoke) on this server's database"}
	c.AddCommand(create, list, revoke)
	return c
}

// parseExpiry reads --expires: a positive duration from now, or an RFC 3339
// time.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("--expires %s: want a positive duration", s)
		}
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--expires %q: want a duration (720h) or an RFC 3339 time", s)
	}
	return t, nil
}
