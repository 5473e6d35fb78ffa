package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/securityserver/conf"
)

// Page sizes of the message-log search.
const (
	defaultRecordPage = 100
	maxRecordPage     = 1000
)

// queryInt reads a non-negative integer query parameter (0 when absent).
func queryInt(q url.Values, name string) (int64, error) {
	s := q.Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest("%s: want a non-negative integer", name)
	}
	return n, nil
}

// queryTime reads an RFC 3339 time query parameter (zero when absent).
func queryTime(q url.Values, name string) (time.Time, error) {
	s := q.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badRequest("%s: want an RFC 3339 time", name)
	}
	return t, nil
}

// pageLimit reads limit, defaulting and capping it.
func pageLimit(q url.Values, def, maxLimit int) (int, error) {
	n, err := queryInt(q, "limit")
	if err != nil {
		return 0, err
	}
	switch {
	case n == 0:
		return def, nil
	case n > int64(maxLimit):
		return maxLimit, nil
	}
	return int(n), nil
}

// Message log.

func (a *API) getMessageLogSettings(ctx context.Context, _ *call) (result, error) {
	s, err := a.backend.MessageLogSettings(ctx)
	if err != nil {
		return result{}, err
	}
	return result{body: MessageLogSettings{
		TimestampingIntervalSeconds:    int64(s.TimestampingInterval / time.Second),
		TimestampingGracePeriodSeconds: int64(s.TimestampingGrace / time.Second),
		DefaultBodyLogging:             string(s.DefaultBodyLogging), MaxLoggedBodyBytes: s.MaxLoggedBody,
		BodyEncryption: "AES-256-GCM", BodyKeyID: s.BodyKeyID, ReadOnly: true,
	}}, nil
}

func (a *API) searchMessageLog(ctx context.Context, c *call) (result, error) {
	q := c.r.URL.Query()
	for name := range q {
		switch name {
		case "messageId", "client", "service", "userId", "issue", "from", "to", "limit", "cursor":
		default:
			return result{}, badRequest("unknown query parameter %q", name)
		}
	}
	mq := MessageLogQuery{MessageID: q.Get("messageId"), UserID: q.Get("userId"), Issue: q.Get("issue")}
	var err error
	if s := q.Get("client"); s != "" {
		if mq.Client, err = ParseClientID(s); err != nil {
			return result{}, err
		}
	}
	if s := q.Get("service"); s != "" {
		if mq.Service, err = ParseServiceID(s); err != nil {
			return result{}, err
		}
	}
	if mq.From, err = queryTime(q, "from"); err != nil {
		return result{}, err
	}
	if mq.To, err = queryTime(q, "to"); err != nil {
		return result{}, err
	}
	if mq.After, err = queryInt(q, "cursor"); err != nil {
		return result{}, err
	}
	if mq.Limit, err = pageLimit(q, defaultRecordPage, maxRecordPage); err != nil {
		return result{}, err
	}
	recs, err := a.backend.SearchMessageLog(ctx, mq)
	if err != nil {
		return result{}, err
	}
	out := MessageLogPage{Records: make([]MessageLogRecord, 0, len(recs))}
	for _, r := range recs {
		out.Records = append(out.Records, toMessageLogRecord(r))
	}
	if len(recs) == mq.Limit {
		out.NextCursor = strconv.FormatInt(recs[len(recs)-1].ID, 10)
	}
	// What an auditor searched for is audited: the filters and how many
	// records were seen.
	filters := map[string]string{}
	for name := range q {
		filters[name] = q.Get(name)
	}
	return result{body: out, target: "message-log", detail: map[string]any{"query": filters, "records": len(recs)}}, nil
}

// evidenceName is a file name for an exchange's evidence: the message id
// with anything but [A-Za-z0-9._-] replaced.
func evidenceName(messageID string) string {
	var b strings.Builder
	for _, r := range messageID {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 100 {
			break
		}
	}
	return "evidence-" + b.String() + ".tar"
}

func (a *API) exportEvidence(ctx context.Context, c *call) (result, error) {
	id, err := c.param("messageId")
	if err != nil {
		return result{}, err
	}
	if id == "" || len(id) > 255 {
		return result{}, badRequest("message id: want 1 to 255 bytes")
	}
	var digest []byte
	if d := c.r.URL.Query().Get("requestDigest"); d != "" {
		if digest, err = hex.DecodeString(d); err != nil || len(digest) != sha256.Size {
			return result{}, badRequest("requestDigest: want the hex SHA-256 of the request, as a search shows it")
		}
	}
	b, err := a.backend.ExportEvidence(ctx, id, digest)
	if err != nil {
		return result{}, err
	}
	return result{raw: b, contentType: "application/x-tar", filename: evidenceName(id), target: "message:" + id,
		detail: map[string]any{"bytes": len(b), "sha256": hexSHA256(b)}}, nil
}

// API keys.

func (a *API) listAPIKeys(ctx context.Context, _ *call) (result, error) {
	ks, err := a.store.APIKeys(ctx)
	if err != nil {
		return result{}, err
	}
	now := a.clk.Now()
	out := make([]APIKey, 0, len(ks))
	for _, k := range ks {
		out = append(out, toAPIKey(k, now))
	}
	return result{body: out}, nil
}

func (a *API) createAPIKey(ctx context.Context, c *call) (result, error) {
	var in NewAPIKey
	if err := c.decode(&in); err != nil {
		return result{}, err
	}
	k, secret, err := CreateAPIKey(ctx, a.store, in.Name, in.Roles, in.ExpiresAt, c.key.Name)
	if err != nil {
		return result{}, err
	}
	out := CreatedAPIKey{APIKey: toAPIKey(k, a.clk.Now()), Secret: secret}
	return result{status: http.StatusCreated, body: out, target: "apikey:" + strconv.FormatInt(k.ID, 10), detail: out.APIKey}, nil
}

// CreateAPIKey validates roles and creates a key with a fresh secret in
// store, returning the key and the secret (shown once, never stored).
// expiresAt may be nil (never); createdBy names who asks. It is what POST
// /api/v1/api-keys and `jisr ss apikey create` do.
func CreateAPIKey(ctx context.Context, store conf.AdminStore, name string, roles []string, expiresAt *time.Time, createdBy string) (conf.APIKey, string, error) {
	if len(roles) == 0 {
		return conf.APIKey{}, "", badRequest("roles: at least one role is required")
	}
	for _, r := range roles {
		if _, err := ParseRole(r); err != nil {
			return conf.APIKey{}, "", err
		}
	}
	secret := NewAPIKeySecret()
	k := conf.APIKey{Name: name, Hash: conf.HashAPIKeySecret([]byte(secret)), Roles: roles, CreatedBy: createdBy}
	if expiresAt != nil {
		k.ExpiresAt = *expiresAt
	}
	created, err := store.CreateAPIKey(ctx, k)
	if err != nil {
		return conf.APIKey{}, "", err
	}
	return created, secret, nil
}

func (a *API) revokeAPIKey(ctx context.Context, c *call) (result, error) {
	raw, err := c.param("keyId")
	if err != nil {
		return result{}, err
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return result{}, badRequest("key id: want a positive integer")
	}
	k, err := a.store.RevokeAPIKey(ctx, id)
	if err != nil {
		return result{}, err
	}
	out := toAPIKey(k, a.clk.Now())
	return result{body: out, target: "apikey:" + raw, detail: map[string]any{"name": k.Name, "roles": k.Roles}}, nil
}

// Audit trail.

func (a *API) listAuditEvents(ctx context.Context, c *call) (result, error) {
	q := c.r.URL.Query()
	aq := conf.AuditQuery{Actor: q.Get("actor"), Action: q.Get("action"), Outcome: conf.AuditOutcome(q.Get("outcome"))}
	if aq.Outcome != "" && !aq.Outcome.Valid() {
		return result{}, badRequest("outcome: want pending, success or failure")
	}
	switch q.Get("order") {
	case "", "asc":
	case "desc":
		aq.NewestFirst = true
	default:
		return result{}, badRequest("order: want asc or desc")
	}
	cursor, err := queryInt(q, "cursor")
	if err != nil {
		return result{}, err
	}
	if aq.NewestFirst {
		aq.BeforeID = cursor
	} else {
		aq.AfterID = cursor
	}
	if aq.From, err = queryTime(q, "from"); err != nil {
		return result{}, err
	}
	if aq.To, err = queryTime(q, "to"); err != nil {
		return result{}, err
	}
	if aq.Limit, err = pageLimit(q, conf.DefaultAuditLimit, conf.MaxAuditLimit); err != nil {
		return result{}, err
	}
	evs, err := a.store.AuditEvents(ctx, aq)
	if err != nil {
		return result{}, err
	}
	out := AuditPage{Events: make([]AuditEvent, 0, len(evs))}
	for _, e := range evs {
		out.Events = append(out.Events, toAuditEvent(e))
	}
	if len(evs) == aq.Limit {
		out.NextCursor = strconv.FormatInt(evs[len(evs)-1].ID, 10)
	}
	return result{body: out}, nil
}
