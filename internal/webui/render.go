package webui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"text/template/parse"
	"time"
)

// Page is what every template gets: the layout's fields and the page's
// own Data.
type Page struct {
	Title    string
	Product  string
	Subtitle string
	// Identity is the signed-in operator (nil on the sign-in page).
	Identity *Identity
	Nav      []NavItem
	// Active is the navigation entry of this page.
	Active string
	// CSRF is the token every form of the page carries.
	CSRF  string
	Flash string
	Now   time.Time
	Data  any
}

// Can reports whether the operator holds any of roles.
func (p *Page) Can(roles ...string) bool { return p.Identity != nil && p.Identity.Has(roles...) }

// pageTemplate is one page: the layout with the page's "content".
type pageTemplate struct {
	t *template.Template
}

// sharedPages are webui's own pages.
var sharedPages = []string{"login", "error", "home"}

// funcs are the template functions; t looks up the text catalogue.
func (u *UI) funcs() template.FuncMap {
	return template.FuncMap{
		"t":    u.t,
		"join": strings.Join,
		// esc escapes one path segment (identifiers in links and forms).
		"esc":  url.PathEscape,
		"qesc": url.QueryEscape,
		"when": formatTime,
		// left says how long until t (or since, when past).
		"left":     u.left,
		"pretty":   prettyJSON,
		"contains": slices.Contains[[]string],
		"dict":     dict,
		// isTrue reads an optional flag (*bool): false when absent.
		"isTrue": func(b *bool) bool { return b != nil && *b },
	}
}

// dict builds a map from key, value pairs, to hand several values to a
// sub-template.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("webui: dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("webui: dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// t returns the text of key; a missing key (New checks the templates'
// literal keys) shows as the key itself in brackets.
func (u *UI) t(key string) string {
	if s, ok := u.text[key]; ok {
		return s
	}
	return "[" + key + "]"
}

// parsePages parses the layout with each page and checks that every
// literal key a template passes to t is in the catalogue.
func (u *UI) parsePages() (map[string]*pageTemplate, error) {
	base, err := template.New("layout").Funcs(u.funcs()).ParseFS(assets, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("webui: layout: %w", err)
	}
	out := map[string]*pageTemplate{}
	add := func(fsys fs.FS, file string) error {
		name := strings.TrimSuffix(path.Base(file), ".html")
		if _, dup := out[name]; dup {
			return fmt.Errorf("webui: page %q defined twice", name)
		}
		t, err := template.Must(base.Clone()).ParseFS(fsys, file)
		if err != nil {
			return fmt.Errorf("webui: page %s: %w", name, err)
		}
		if t.Lookup("content") == nil {
			return fmt.Errorf("webui: page %s defines no content", name)
		}
		if err := u.checkText(t); err != nil {
			return fmt.Errorf("webui: page %s: %w", name, err)
		}
		out[name] = &pageTemplate{t: t}
		return nil
	}
	for _, p := range sharedPages {
		if err := add(assets, "templates/"+p+".html"); err != nil {
			return nil, err
		}
	}
	files, err := fs.Glob(u.cfg.Pages, "*.html")
	if err != nil {
		return nil, fmt.Errorf("webui: pages: %w", err)
	}
	for _, f := range files {
		if err := add(u.cfg.Pages, f); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkText walks t's templates for calls of t with a string literal and
// fails on the first key missing from the catalogue.
func (u *UI) checkText(t *template.Template) error {
	var missing []string
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			if len(n.Args) >= 2 {
				if id, ok := n.Args[0].(*parse.IdentifierNode); ok && id.Ident == "t" {
					if s, ok := n.Args[1].(*parse.StringNode); ok {
						if _, ok := u.text[s.Text]; !ok {
							missing = append(missing, s.Text)
						}
					}
				}
			}
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		}
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			walk(tt.Tree.Root)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("text keys missing from the catalogue: %s", strings.Join(slices.Compact(missing), ", "))
	}
	return nil
}

// Render shows page name (a product page or a shared one) with status 200;
// titleKey is the catalogue key of its title.
func (c *Ctx) Render(name, titleKey string, data any) error {
	return c.render(http.StatusOK, name, titleKey, data)
}

// RenderStatus is Render with another status.
func (c *Ctx) RenderStatus(status int, name, titleKey string, data any) error {
	return c.render(status, name, titleKey, data)
}

func (c *Ctx) render(status int, name, titleKey string, data any) error {
	u := c.ui
	pt, ok := u.pages[name]
	if !ok {
		return fmt.Errorf("webui: no page %q", name)
	}
	p := &Page{Title: u.t(titleKey), Product: u.cfg.Product, Subtitle: u.cfg.Subtitle, Now: u.clk.Now(), Data: data}
	if c.cookie != "" {
		id := c.sess.identity
		p.Identity = &id
		p.CSRF = c.sess.csrf
		p.Nav = u.visibleNav(id)
		p.Flash = u.sessions.takeFlash(c.cookie)
		for _, n := range p.Nav {
			if (c.R.URL.Path == n.Path || strings.HasPrefix(c.R.URL.Path, n.Path+"/")) && len(n.Path) > len(p.Active) {
				p.Active = n.Path
			}
		}
	}
	var buf bytes.Buffer
	if err := pt.t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return fmt.Errorf("webui: render %s: %w", name, err)
	}
	c.W.Header().Set("Content-Type", "text/html; charset=utf-8")
	c.W.WriteHeader(status)
	_, _ = c.W.Write(buf.Bytes())
	return nil
}

// formatTime shows a time in UTC to the second; the zero time as "—".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// left says how far t is from now: "in 29 days", "3 hours ago".
func (u *UI) left(now, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := t.Sub(now)
	past := d < 0
	if past {
		d = -d
	}
	var s string
	switch {
	case d >= 48*time.Hour:
		s = fmt.Sprintf(u.t("time.days"), int(d/(24*time.Hour)))
	case d >= 2*time.Hour:
		s = fmt.Sprintf(u.t("time.hours"), int(d/time.Hour))
	case d >= 2*time.Minute:
		s = fmt.Sprintf(u.t("time.minutes"), int(d/time.Minute))
	default:
		s = fmt.Sprintf(u.t("time.seconds"), int(d/time.Second))
	}
	if past {
		return fmt.Sprintf(u.t("time.ago"), s)
	}
	return fmt.Sprintf(u.t("time.in"), s)
}

// prettyJSON indents a JSON value for display; anything else as it is.
func prettyJSON(raw json.RawMessage) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}
