package auditcmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// adminClient calls a security server's admin API with an API key.
type adminClient struct {
	base string // e.g. http://127.0.0.1:4000
	key  string
	http *http.Client
}

// remoteFlags are the flags naming a security server's admin API.
type remoteFlags struct {
	server, keyFile, caFile string
}

func (f *remoteFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.server, "server", "", "the security server's admin API, e.g. http://127.0.0.1:4000 (required)")
	c.Flags().StringVar(&f.keyFile, "api-key-file", "", "file holding an API key with the AUDITOR role (required)")
	c.Flags().StringVar(&f.caFile, "ca-file", "", "PEM roots for an https admin API (default: the system's)")
	_ = c.MarkFlagRequired("server")
	_ = c.MarkFlagRequired("api-key-file")
}

func (f *remoteFlags) client() (*adminClient, error) {
	u, err := url.Parse(f.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q: want http(s)://host:port", f.server)
	}
	key, err := os.ReadFile(f.keyFile)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if f.caFile != "" {
		pemBytes, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, errors.New("--ca-file: no certificates")
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &adminClient{base: strings.TrimSuffix(u.String(), "/"), key: strings.TrimSpace(string(key)),
		http: &http.Client{Timeout: 5 * time.Minute, Transport: tr}}, nil
}

// get fetches path (with query) and returns the body of a 200 answer; other
// answers become errors carrying the API's X-Road error.
func (c *adminClient) get(ctx context.Context, path string, q url.Values) ([]byte, error) {
	u := c.base + "/api/v1" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "X-Road-ApiKey token="+c.key)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Type, Message string }
		if json.Unmarshal(body, &e) == nil && e.Type != "" {
			return nil, fmt.Errorf("%s: %d %s: %s", path, resp.StatusCode, e.Type, e.Message)
		}
		return nil, fmt.Errorf("%s: %d %s", path, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// searchRecord is the part of a message-log record search shows.
type searchRecord struct {
	ID            int64           `json:"id"`
	LoggedAt      time.Time       `json:"loggedAt"`
	Direction     string          `json:"direction"`
	Side          string          `json:"side"`
	MessageID     string          `json:"messageId"`
	Client        string          `json:"client"`
	Service       string          `json:"service"`
	UserID        string          `json:"userId"`
	Issue         string          `json:"issue"`
	Status        int             `json:"status"`
	Timestamp     json.RawMessage `json:"timestamp"`
	RequestDigest string          `json:"requestDigest"`
}

func newSearch(stdout io.Writer) *cobra.Command {
	var rf remoteFlags
	var messageID, client, service, userID, issue, from, to, format string
	var limit int
	c := &cobra.Command{
		Use:   "search --server URL --api-key-file KEY [--message-id ID] [--client C] [--service S] [--user-id U] [--issue I] [--from T] [--to T]",
		Short: "Search a security server's message log (metadata only) through its admin API, with an AUDITOR key",
		Long: `search asks a security server's admin API for the message-log records that
match every filter given — message id, client, service (with or without
version), user id (X-Road-UserId), issue (X-Road-Issue), logged time range
[--from, --to) in RFC 3339 — and prints them (metadata only: ids, parties,
times, digests, status, the time-stamp covering each). The API key must hold
the AUDITOR role; every search is recorded in the server's audit trail.
Export one exchange's evidence with "jisr audit export --server … --message-id".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ac, err := rf.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			for name, v := range map[string]string{"messageId": messageID, "client": client, "service": service,
				"userId": userID, "issue": issue, "from": from, "to": to} {
				if v != "" {
					q.Set(name, v)
				}
			}
			var all []json.RawMessage
			for {
				if limit > 0 {
					q.Set("limit", fmt.Sprint(min(limit-len(all), 1000)))
				}
				body, err := ac.get(cmd.Context(), "/message-log/records", q)
				if err != nil {
					return err
				}
				var page struct {
					Records    []json.RawMessage `json:"records"`
					NextCursor string            `json:"nextCursor"`
				}
				if err := json.Unmarshal(body, &page); err != nil {
					return fmt.Errorf("search answer: %w", err)
				}
				all = append(all, page.Records...)
				if page.NextCursor == "" || (limit > 0 && len(all) >= limit) {
					break
				}
				q.Set("cursor", page.NextCursor)
			}
			if format == "table" {
				return printTable(stdout, all)
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"records": all, "count": len(all)})
		},
	}
	rf.register(c)
	f := c.Flags()
	f.StringVar(&messageID, "message-id", "", "X-Road-Id")
	f.StringVar(&client, "client", "", "client, header form (PS/GOV/CAB/portal)")
	f.StringVar(&service, "service", "", "service, header form (PS/GOV/MOI/civil-registry/persons[/v1])")
	f.StringVar(&userID, "user-id", "", "X-Road-UserId")
	f.StringVar(&issue, "issue", "", "X-Road-Issue")
	f.StringVar(&from, "from", "", "logged at or after (RFC 3339)")
	f.StringVar(&to, "to", "", "logged before (RFC 3339)")
	f.IntVar(&limit, "limit", 0, "at most this many records (default: all)")
	f.StringVar(&format, "output", "json", "json or table")
	return c
}

func printTable(w io.Writer, recs []json.RawMessage) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tLOGGED\tSIDE\tDIRECTION\tMESSAGE ID\tCLIENT\tSERVICE\tUSER\tISSUE\tSTATUS\tSTAMPED")
	for _, raw := range recs {
		var r searchRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		stamped := "no"
		if len(r.Timestamp) > 0 && string(r.Timestamp) != "null" {
			stamped = "yes"
		}
		status := ""
		if r.Status != 0 {
			status = fmt.Sprint(r.Status)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.LoggedAt.UTC().Format(time.RFC3339), r.Side,
			r.Direction, r.MessageID, r.Client, r.Service, r.UserID, r.Issue, status, stamped)
	}
	return tw.Flush()
}

// exportRemote fetches one exchange's evidence file through the admin API.
func exportRemote(ctx context.Context, rf *remoteFlags, messageID, requestDigest string) ([]byte, error) {
	ac, err := rf.client()
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if requestDigest != "" {
		q.Set("requestDigest", requestDigest)
	}
	return ac.get(ctx, "/message-log/exchanges/"+url.PathEscape(messageID)+"/evidence", q)
}
