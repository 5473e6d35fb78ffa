package portal

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/adapters/seed"
)

//go:embed templates/*.html templates/portal.css
var templateFS embed.FS

// pageNames returns the page templates (templates/NAME.html), each rendered
// inside templates/layout.html.
func pageNames() []string {
	return []string{
		"message", "home", "login", "activate", "officer_login", "officer", "licence", "birth", "extract",
		"insurance", "fines", "applications", "application", "receipts", "verify",
	}
}

type pages struct {
	t map[string]*template.Template
}

// pageData is what every page receives; D holds the page's own data.
type pageData struct {
	Lang    string
	Dir     string
	Title   string
	Path    string
	CSRF    string
	Citizen bool
	Officer bool
	User    string
	Error   string
	Notice  string
	D       any
}

func parsePages(c catalogue) (*pages, error) {
	funcs := template.FuncMap{
		"t": c.text,
		"tf": func(lang, key string, kv ...string) string {
			args := map[string]string{}
			for i := 0; i+1 < len(kv); i += 2 {
				args[kv[i]] = kv[i+1]
			}
			return c.format(lang, key, args)
		},
		"name": func(lang string, n seed.Name) string {
			if lang == langEN {
				return n.EN
			}
			return n.AR
		},
		"money": func(m kit.Money) string {
			if m.Currency == "" {
				return ""
			}
			return m.String()
		},
		"datetime": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"join":     strings.Join,
	}
	p := &pages{t: map[string]*template.Template{}}
	for _, n := range pageNames() {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", n, err)
		}
		p.t[n] = t
	}
	return p, nil
}

// render writes page name with data. The page is rendered to a buffer
// first, so a template error becomes a clean 500, not half a page.
func (s *Service) render(w http.ResponseWriter, r *http.Request, status int, name, titleKey string, data pageData) {
	v := visitOf(r)
	data.Lang, data.Dir = v.lang, "rtl"
	if v.lang == langEN {
		data.Dir = "ltr"
	}
	data.Title = s.text.text(v.lang, titleKey)
	data.Path = r.URL.RequestURI()
	data.CSRF = v.csrf
	if v.sess != nil {
		data.Citizen = v.sess.Kind == "citizen"
		data.Officer = v.sess.Kind == "officer"
		data.User = v.sess.Subject
	}
	t := s.pages.t[name]
	var buf bytes.Buffer
	if t == nil {
		s.log.ErrorContext(r.Context(), "no such page", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.Execute(&buf, data); err != nil {
		s.log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func serveCSS(w http.ResponseWriter, r *http.Request) {
	b, err := templateFS.ReadFile("templates/portal.css")
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(b)
}
