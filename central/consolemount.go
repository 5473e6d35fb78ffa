package central

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/jisr-bus/jisr/central/console"
	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/webui"
	"github.com/jisr-bus/jisr/internal/xerr"
)

// withConsole serves the web console (central/console) at /console/ on
// the admin listener and hands everything else to admin. The console
// reaches the admin API and /readyz through admin itself, in-process, with
// the operator's API key; it never touches the registry but to read, at
// sign-in, the name and roles of the key presented. If it cannot be built,
// /console/ answers 503 and the cause is logged.
func (s *Service) withConsole(admin http.Handler) http.Handler {
	h, err := console.New(console.Config{Instance: s.cfg.Instance, Admin: admin, Identify: IdentifyAPIKey(s.store, s.clk),
		Clock: s.clk, Logger: s.log.With("component", "console")})
	if err != nil {
		s.log.Error("web console unavailable", "err", err)
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			xerr.Write(w, r, nil, &xerr.Error{Code: xerr.PrefixServer + "ServiceUnavailable", Message: "web console unavailable",
				Detail: xerr.NewDetailID(), Status: http.StatusServiceUnavailable}, "")
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, webui.Prefix+"/") || r.URL.Path == webui.Prefix {
			if r.URL.Path == webui.Prefix {
				http.Redirect(w, r, webui.Prefix+"/", http.StatusMovedPermanently)
				return
			}
			h.ServeHTTP(w, r)
			return
		}
		admin.ServeHTTP(w, r)
	})
}

// IdentifyAPIKey returns the console's IdentifyFunc over the registry's
// API keys: the name, roles and expiry of the key presented at sign-in,
// refusing (webui.ErrUnknownKey) exactly the keys the admin API refuses
// with 401 — unknown, revoked, expired as of clk. It authorises nothing:
// the admin API authenticates and authorises every call itself.
func IdentifyAPIKey(st registry.Reader, clk clock.Clock) webui.IdentifyFunc {
	if clk == nil {
		clk = clock.System()
	}
	return func(ctx context.Context, secret string) (webui.Identity, error) {
		k, err := st.APIKeyByHash(ctx, registry.HashAPIKeySecret([]byte(secret)))
		if errors.Is(err, registry.ErrNotFound) {
			return webui.Identity{}, webui.ErrUnknownKey
		}
		if err != nil {
			return webui.Identity{}, fmt.Errorf("central: look up API key: %w", err)
		}
		if !k.Usable(clk.Now()) {
			return webui.Identity{}, fmt.Errorf("%w: key %q", webui.ErrUnknownKey, k.Name)
		}
		return webui.Identity{Name: k.Name, Roles: k.Roles, ExpiresAt: k.ExpiresAt}, nil
	}
}
