package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/jisr-bus/jisr/internal/webui"
	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/securityserver/admin"
)

func jsonDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	return dec.Decode(v)
}

// opmonRecord is the part of an operational monitoring record (PR-OPMON
// field names, as the query API answers) that the console shows.
type opmonRecord struct {
	MonitoringDataTs     int64  `json:"monitoringDataTs"`
	SecurityServerType   string `json:"securityServerType"`
	RequestInTs          int64  `json:"requestInTs"`
	ResponseOutTs        int64  `json:"responseOutTs"`
	ClientXRoadInstance  string `json:"clientXRoadInstance"`
	ClientMemberClass    string `json:"clientMemberClass"`
	ClientMemberCode     string `json:"clientMemberCode"`
	ClientSubsystemCode  string `json:"clientSubsystemCode"`
	ServiceXRoadInstance string `json:"serviceXRoadInstance"`
	ServiceMemberClass   string `json:"serviceMemberClass"`
	ServiceMemberCode    string `json:"serviceMemberCode"`
	ServiceSubsystemCode string `json:"serviceSubsystemCode"`
	ServiceCode          string `json:"serviceCode"`
	ServiceVersion       string `json:"serviceVersion"`
	RestMethod           string `json:"restMethod"`
	RestPath             string `json:"restPath"`
	MessageID            string `json:"messageId"`
	MessageUserID        string `json:"messageUserId"`
	Succeeded            bool   `json:"succeeded"`
	FaultCode            string `json:"faultCode"`
	FaultString          string `json:"faultString"`
	StatusCode           int    `json:"statusCode"`
	RequestSize          *int64 `json:"requestSize"`
	ResponseSize         *int64 `json:"responseSize"`
}

// Exchange is one operational monitoring record as the page shows it.
type Exchange struct {
	At           time.Time
	Side         string
	Client       string
	Service      string
	Method, Path string
	MessageID    string
	UserID       string
	Succeeded    bool
	Fault        string
	Status       int
	Duration     time.Duration
	RequestSize  string
	ResponseSize string
}

func joinParts(parts ...string) string {
	out := ""
	for _, p := range parts {
		if p == "" {
			continue
		}
		if out != "" {
			out += "/"
		}
		out += p
	}
	return out
}

func size(n *int64) string {
	if n == nil {
		return "—"
	}
	return strconv.FormatInt(*n, 10)
}

func (r opmonRecord) exchange() Exchange {
	e := Exchange{At: time.Unix(r.MonitoringDataTs, 0).UTC(), Side: r.SecurityServerType,
		Client:  joinParts(r.ClientXRoadInstance, r.ClientMemberClass, r.ClientMemberCode, r.ClientSubsystemCode),
		Service: joinParts(r.ServiceXRoadInstance, r.ServiceMemberClass, r.ServiceMemberCode, r.ServiceSubsystemCode, r.ServiceCode, r.ServiceVersion),
		Method:  r.RestMethod, Path: r.RestPath, MessageID: r.MessageID, UserID: r.MessageUserID, Succeeded: r.Succeeded,
		Fault: r.FaultCode, Status: r.StatusCode, RequestSize: size(r.RequestSize), ResponseSize: size(r.ResponseSize)}
	if r.FaultString != "" {
		e.Fault += ": " + r.FaultString
	}
	if r.RequestInTs > 0 && r.ResponseOutTs >= r.RequestInTs {
		e.Duration = time.Duration(r.ResponseOutTs-r.RequestInTs) * time.Millisecond
	}
	return e
}

// window is a choice of how far back recent exchanges go.
type window struct {
	Minutes int
	Text    string
}

func windows() []window {
	return []window{{15, "exchanges.15m"}, {60, "exchanges.1h"}, {24 * 60, "exchanges.24h"}, {7 * 24 * 60, "exchanges.7d"}}
}

// logSearch is the auditor's message-log search form.
type logSearch struct {
	MessageID, Client, Service, UserID, From, To string
}

type exchangesData struct {
	// Monitoring: the operator reads the configuration and the server
	// serves operational monitoring.
	Monitoring bool
	Clients    []string
	Client     string
	Windows    []window
	Window     int
	Records    []Exchange
	Next       string
	// Refusal is the monitoring API's answer when it refused.
	Refusal *xerr.Error

	// Auditor: the operator may search the message log.
	Auditor bool
	Search  logSearch
	Log     *admin.MessageLogPage
	LogNext string
}

func (c *console) exchanges(x *webui.Ctx) error {
	d := exchangesData{Windows: windows(), Window: 15}
	if x.Can(readers()...) && c.cfg.Exchanges != nil {
		d.Monitoring = true
		if err := c.monitoring(x, &d); err != nil {
			return err
		}
	}
	if x.Can(roleAuditor) {
		d.Auditor = true
		if err := c.searchLog(x, &d); err != nil {
			return err
		}
	}
	return x.Render("exchanges", "exchanges.title", d)
}

// monitoring reads one page of operational monitoring records of the
// chosen window through the query API, acting for the chosen registered
// client (the owner member first, when it is one): the API's visibility
// rule decides what it answers.
func (c *console) monitoring(x *webui.Ctx, d *exchangesData) error {
	var cs []admin.Client
	if err := x.Get("/clients", &cs); err != nil {
		return err
	}
	owner := c.cfg.Server.Owner.String()
	for _, cl := range cs {
		if cl.Status != "REGISTERED" {
			continue
		}
		id := joinParts(cl.Instance, cl.MemberClass, cl.MemberCode, cl.SubsystemCode)
		if id == owner {
			d.Clients = append([]string{id}, d.Clients...)
		} else {
			d.Clients = append(d.Clients, id)
		}
	}
	q := x.R.URL.Query()
	d.Client = q.Get("client")
	if d.Client == "" && len(d.Clients) > 0 {
		d.Client = d.Clients[0]
	}
	if w, err := strconv.Atoi(q.Get("window")); err == nil {
		for _, o := range d.Windows {
			if o.Minutes == w {
				d.Window = w
			}
		}
	}
	if d.Client == "" {
		return nil
	}
	from := x.Now().Add(-time.Duration(d.Window) * time.Minute).Unix()
	params := url.Values{"from": {strconv.FormatInt(from, 10)}, "limit": {"100"}}
	if cur := q.Get("cursor"); cur != "" {
		params.Set("cursor", cur)
	}
	a, err := x.Fetch(c.cfg.Exchanges, "/opmon/v1/records?"+params.Encode(), http.Header{"X-Road-Client": {d.Client}})
	if err != nil {
		return err
	}
	if a.Status != http.StatusOK {
		var wire struct {
			Type    string `json:"type"`
			Message string `json:"message"`
			Detail  string `json:"detail"`
		}
		_ = jsonDecode(a.Body, &wire)
		d.Refusal = &xerr.Error{Code: wire.Type, Message: wire.Message, Detail: wire.Detail, Status: a.Status}
		return nil
	}
	var page struct {
		Records    []opmonRecord `json:"records"`
		NextCursor string        `json:"nextCursor"`
	}
	if err := jsonDecode(a.Body, &page); err != nil {
		return fmt.Errorf("console: operational monitoring answer: %w", err)
	}
	for _, r := range page.Records {
		d.Records = append(d.Records, r.exchange())
	}
	if page.NextCursor != "" {
		next := url.Values{"client": {d.Client}, "window": {strconv.Itoa(d.Window)}, "cursor": {page.NextCursor}}
		d.Next = webui.Prefix + "/exchanges?" + next.Encode()
	}
	return nil
}

// searchLog runs the auditor's search when the form was sent (every
// search is audited by the API).
func (c *console) searchLog(x *webui.Ctx, d *exchangesData) error {
	q := x.R.URL.Query()
	d.Search = logSearch{MessageID: q.Get("messageId"), Client: q.Get("logClient"), Service: q.Get("service"),
		UserID: q.Get("userId"), From: q.Get("from"), To: q.Get("to")}
	if q.Get("search") == "" {
		return nil
	}
	params := url.Values{"limit": {"100"}}
	for k, v := range map[string]string{"messageId": d.Search.MessageID, "client": d.Search.Client, "service": d.Search.Service,
		"userId": d.Search.UserID, "from": d.Search.From, "to": d.Search.To, "cursor": q.Get("cursor")} {
		if v != "" {
			params.Set(k, v)
		}
	}
	var page admin.MessageLogPage
	if err := x.Get("/message-log/records?"+params.Encode(), &page); err != nil {
		return err
	}
	d.Log = &page
	if page.NextCursor != "" {
		next := x.R.URL.Query()
		next.Set("cursor", page.NextCursor)
		d.LogNext = webui.Prefix + "/exchanges?" + next.Encode()
	}
	return nil
}
