package console

import (
	"context"
	"errors"
	"fmt"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/webui"
	"github.com/jisr-bus/jisr/securityserver/conf"
)

// Identify returns the IdentifyFunc of a security server whose API keys
// live in st: the name, roles and expiry of the key presented at sign-in,
// for the console to decide what to show. It refuses (webui.ErrUnknownKey)
// exactly the keys the admin API refuses with 401 — unknown, revoked,
// expired as of clk — and authorises nothing: the admin API authenticates
// and authorises every call itself.
func Identify(st conf.AdminStore, clk clock.Clock) webui.IdentifyFunc {
	if clk == nil {
		clk = clock.System()
	}
	return func(ctx context.Context, secret string) (webui.Identity, error) {
		k, err := st.APIKeyByHash(ctx, conf.HashAPIKeySecret([]byte(secret)))
		if errors.Is(err, conf.ErrNotFound) {
			return webui.Identity{}, webui.ErrUnknownKey
		}
		if err != nil {
			return webui.Identity{}, fmt.Errorf("console: look up API key: %w", err)
		}
		if !k.Usable(clk.Now()) {
			return webui.Identity{}, fmt.Errorf("%w: key %q", webui.ErrUnknownKey, k.Name)
		}
		return webui.Identity{Name: k.Name, Roles: k.Roles, ExpiresAt: k.ExpiresAt}, nil
	}
}
