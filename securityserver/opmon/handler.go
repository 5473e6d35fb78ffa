package opmon

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/proxy"
)

// RecordsPath is the query API's one route.
const RecordsPath = "/opmon/v1/records"

// Limits of the query API's page size.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// HandlerConfig configures the query API. Records, Clients and Access.Owner
// are required.
type HandlerConfig struct {
	// Records is where records are read.
	Records Reader
	// Clients identifies and authorises the calling information system,
	// exactly as the client proxy does for exchanges.
	Clients proxy.LocalClients
	// Access is the visibility rule.
	Access Access
	// Clock gives the default end of the time range (nil: wall clock).
	Clock clock.Clock
	// Logger receives refused requests with their internal cause (nil
	// discards).
	Logger *slog.Logger
}

// handler serves RecordsPath.
type handler struct {
	cfg HandlerConfig
	clk clock.Clock
	log *slog.Logger
}

// NewHandler returns the query API, an http.Handler for
//
//	GET /opmon/v1/records?from=&to=&client=&limit=&cursor=
//
// The caller is an information system naming the client it acts for in
// X-Road-Client (the last one wins), which must be registered on this
// security server and pass LocalClients.AuthorizeIS (the client's
// connection type). from and to are Unix seconds bounding the time the
// records were stored (PR-OPMON's recordsFrom and recordsTo, both
// inclusive; default: everything up to now); client keeps the records
// whose service provider it is (PR-OPMON's searchCriteria/client); limit is
// the page size (default DefaultPageSize, at most MaxPageSize); cursor is
// the nextCursor of the previous page. The answer is JSON:
//
//	{"records": [ …PR-OPMON field names… ], "nextCursor": "…"}
//
// where nextCursor is absent on the last page. Errors are X-Road errors
// (internal/xerr).
func NewHandler(cfg HandlerConfig) (http.Handler, error) {
	if cfg.Records == nil || cfg.Clients == nil {
		return nil, errors.New("opmon: handler: records and clients are required")
	}
	if err := cfg.Access.Owner.Validate(); err != nil {
		return nil, errors.New("opmon: handler: the owner is required: " + err.Error())
	}
	h := &handler{cfg: cfg, clk: cfg.Clock, log: cfg.Logger}
	if h.clk == nil {
		h.clk = clock.System()
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h, nil
}

// Codes of the query API's errors.
const (
	codeBadRequest   = xerr.PrefixClient + "BadRequest"
	codeMissingField = xerr.PrefixClient + "MissingHeaderField"
	codeUnknown      = xerr.PrefixClientProxy + "UnknownMember"
	codeAuth         = xerr.PrefixClientProxy + "SslAuthenticationFailed"
	codeDatabase     = xerr.PrefixClientProxy + "DatabaseError"
	codeInternal     = xerr.PrefixClientProxy + "InternalError"
)

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.serve(w, r); err != nil {
		xerr.Write(w, r, h.log, err, codeInternal)
	}
}

// page is the JSON answer.
type page struct {
	Records    []wireRecord `json:"records"`
	NextCursor string       `json:"nextCursor,omitempty"`
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path != RecordsPath {
		return &xerr.Error{Code: codeBadRequest, Message: "no such operational monitoring resource", Detail: xerr.NewDetailID(), Status: http.StatusNotFound}
	}
	if r.Method != http.MethodGet {
		return &xerr.Error{Code: codeBadRequest, Message: "only GET is allowed", Detail: xerr.NewDetailID(), Status: http.StatusMethodNotAllowed}
	}
	caller, err := h.caller(r)
	if err != nil {
		return err
	}
	q, err := h.query(r)
	if err != nil {
		return err
	}
	scope := h.cfg.Access.Scope(caller)
	if !scope.All {
		q.Party = scope.Party
	}
	limit := q.Limit
	q.Limit = limit + 1 // one more tells whether there is a next page
	recs, err := h.cfg.Records.Find(r.Context(), q)
	if err != nil {
		return xerr.New(codeDatabase, "cannot read operational monitoring records", err)
	}
	out := page{Records: make([]wireRecord, 0, min(len(recs), limit))}
	for i := range recs {
		if i == limit {
			out.NextCursor = encodeCursor(recs[i-1].ID)
			break
		}
		if !scope.Visible(&recs[i]) {
			// The store applied the same rule; this is the second lock.
			return xerr.New(codeInternal, "internal error", errors.New("opmon: the store returned a record outside the caller's scope"))
		}
		out.Records = append(out.Records, toWire(&recs[i], scope.All))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(out)
}

// caller identifies and authorises the calling information system.
func (h *handler) caller(r *http.Request) (xroad.ClientID, error) {
	vv := r.Header.Values(proxy.HeaderClient)
	if len(vv) == 0 {
		return xroad.ClientID{}, xerr.New(codeMissingField, "required header "+proxy.HeaderClient+" is missing", nil)
	}
	c, err := xroad.ParseClient(strings.TrimSpace(vv[len(vv)-1]))
	if err != nil {
		return xroad.ClientID{}, xerr.New(codeBadRequest, "invalid "+proxy.HeaderClient+" header: "+err.Error(), err)
	}
	if !h.cfg.Clients.Hosted(c) {
		return xroad.ClientID{}, xerr.New(codeUnknown, "client \""+c.String()+"\" not found", nil)
	}
	if err := h.cfg.Clients.AuthorizeIS(c, r); err != nil {
		var xe *xerr.Error
		if errors.As(err, &xe) {
			return xroad.ClientID{}, xe
		}
		return xroad.ClientID{}, xerr.New(codeAuth, "the information system is not authorised to act as \""+c.String()+"\"", err)
	}
	return c, nil
}

// query parses the query parameters.
func (h *handler) query(r *http.Request) (Query, error) {
	v := r.URL.Query()
	bad := func(msg string, err error) error { return xerr.New(codeBadRequest, msg, err) }
	for name, vals := range v {
		switch name {
		case "from", "to", "client", "limit", "cursor":
			if len(vals) > 1 {
				return Query{}, bad("query parameter "+name+" is repeated", nil)
			}
		default:
			return Query{}, bad("unknown query parameter "+strconv.Quote(name), nil)
		}
	}
	q := Query{Limit: DefaultPageSize}
	seconds := func(name string) (int64, bool, error) {
		s := v.Get(name)
		if s == "" {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > 1<<40 {
			return 0, false, bad(name+" must be Unix seconds", err)
		}
		return n, true, nil
	}
	from, hasFrom, err := seconds("from")
	if err != nil {
		return Query{}, err
	}
	to, hasTo, err := seconds("to")
	if err != nil {
		return Query{}, err
	}
	if hasFrom {
		q.From = time.Unix(from, 0)
	}
	if hasTo {
		q.To = time.Unix(to+1, 0) // to is inclusive: the whole second
		if hasFrom && to < from {
			return Query{}, bad("to is before from", nil)
		}
	}
	if s := v.Get("client"); s != "" {
		c, err := xroad.ParseClient(s)
		if err != nil {
			return Query{}, bad("invalid client: "+err.Error(), err)
		}
		q.Provider = c
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPageSize {
			return Query{}, bad("limit must be between 1 and "+strconv.Itoa(MaxPageSize), err)
		}
		q.Limit = n
	}
	if s := v.Get("cursor"); s != "" {
		id, err := decodeCursor(s)
		if err != nil {
			return Query{}, bad("invalid cursor", err)
		}
		q.AfterID = id
	}
	return q, nil
}

// cursorVersion starts every cursor, so that the format can change.
const cursorVersion = 1

// encodeCursor makes the opaque cursor for the page after the record with
// id last.
func encodeCursor(last int64) string {
	var b [9]byte
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:], uint64(last))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeCursor(s string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, err
	}
	if len(b) != 9 || b[0] != cursorVersion {
		return 0, errors.New("opmon: unknown cursor format")
	}
	id := int64(binary.BigEndian.Uint64(b[1:]))
	if id < 0 {
		return 0, errors.New("opmon: cursor out of range")
	}
	return id, nil
}

// wireRecord is a record in PR-OPMON's JSON field names and units
// (monitoringDataTs in seconds, the four timestamps in milliseconds).
// Unknown values are omitted.
type wireRecord struct {
	MonitoringDataTs             int64  `json:"monitoringDataTs"`
	SecurityServerInternalIP     string `json:"securityServerInternalIp,omitempty"`
	SecurityServerType           string `json:"securityServerType"`
	RequestInTs                  int64  `json:"requestInTs,omitempty"`
	RequestOutTs                 int64  `json:"requestOutTs,omitempty"`
	ResponseInTs                 int64  `json:"responseInTs,omitempty"`
	ResponseOutTs                int64  `json:"responseOutTs,omitempty"`
	ClientXRoadInstance          string `json:"clientXRoadInstance,omitempty"`
	ClientMemberClass            string `json:"clientMemberClass,omitempty"`
	ClientMemberCode             string `json:"clientMemberCode,omitempty"`
	ClientSubsystemCode          string `json:"clientSubsystemCode,omitempty"`
	ServiceXRoadInstance         string `json:"serviceXRoadInstance,omitempty"`
	ServiceMemberClass           string `json:"serviceMemberClass,omitempty"`
	ServiceMemberCode            string `json:"serviceMemberCode,omitempty"`
	ServiceSubsystemCode         string `json:"serviceSubsystemCode,omitempty"`
	ServiceCode                  string `json:"serviceCode,omitempty"`
	ServiceVersion               string `json:"serviceVersion,omitempty"`
	RestMethod                   string `json:"restMethod,omitempty"`
	RestPath                     string `json:"restPath,omitempty"`
	RepresentedPartyClass        string `json:"representedPartyClass,omitempty"`
	RepresentedPartyCode         string `json:"representedPartyCode,omitempty"`
	MessageID                    string `json:"messageId,omitempty"`
	MessageUserID                string `json:"messageUserId,omitempty"`
	MessageIssue                 string `json:"messageIssue,omitempty"`
	MessageProtocolVersion       string `json:"messageProtocolVersion,omitempty"`
	ClientSecurityServerAddress  string `json:"clientSecurityServerAddress,omitempty"`
	ServiceSecurityServerAddress string `json:"serviceSecurityServerAddress,omitempty"`
	RequestSize                  *int64 `json:"requestSize,omitempty"`
	ResponseSize                 *int64 `json:"responseSize,omitempty"`
	Succeeded                    bool   `json:"succeeded"`
	FaultCode                    string `json:"faultCode,omitempty"`
	FaultString                  string `json:"faultString,omitempty"`
	StatusCode                   int    `json:"statusCode,omitempty"`
	XRequestID                   string `json:"xRequestId,omitempty"`
}

// toWire converts rec; the internal address is kept only for callers who
// see everything (PR-OPMON's public output fields omit it).
func toWire(rec *Record, all bool) wireRecord {
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	size := func(n int64) *int64 {
		if n < 0 {
			return nil
		}
		return &n
	}
	w := wireRecord{
		MonitoringDataTs:   rec.MonitoringDataTs.Unix(),
		SecurityServerType: rec.SecurityServerType,
		RequestInTs:        ms(rec.RequestIn), RequestOutTs: ms(rec.RequestOut),
		ResponseInTs: ms(rec.ResponseIn), ResponseOutTs: ms(rec.ResponseOut),
		ClientXRoadInstance: rec.Client.Instance, ClientMemberClass: rec.Client.Class,
		ClientMemberCode: rec.Client.Code, ClientSubsystemCode: rec.Client.Subsystem,
		ServiceXRoadInstance: rec.Service.Provider.Instance, ServiceMemberClass: rec.Service.Provider.Class,
		ServiceMemberCode: rec.Service.Provider.Code, ServiceSubsystemCode: rec.Service.Provider.Subsystem,
		ServiceCode: rec.Service.Code, ServiceVersion: rec.Service.Version,
		RestMethod: rec.RestMethod, RestPath: rec.RestPath,
		MessageID: rec.MessageID, MessageUserID: rec.MessageUserID, MessageIssue: rec.MessageIssue,
		MessageProtocolVersion:      rec.MessageProtocolVersion,
		ClientSecurityServerAddress: rec.ClientSecurityServerAddress, ServiceSecurityServerAddress: rec.ServiceSecurityServerAddress,
		RequestSize: size(rec.RequestSize), ResponseSize: size(rec.ResponseSize),
		Succeeded: rec.Succeeded, FaultCode: rec.FaultCode, FaultString: rec.FaultString,
		StatusCode: rec.StatusCode, XRequestID: rec.XRequestID,
	}
	if all {
		w.SecurityServerInternalIP = rec.SecurityServerInternalIP
	}
	// X-Road-Represented-Party is "[CLASS/]CODE".
	if class, code, ok := strings.Cut(rec.RepresentedParty, "/"); ok {
		w.RepresentedPartyClass, w.RepresentedPartyCode = class, code
	} else {
		w.RepresentedPartyCode = rec.RepresentedParty
	}
	return w
}
