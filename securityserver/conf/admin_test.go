package conf_test

import (
	"testing"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/securityserver/conf"
	"github.com/jisr-bus/jisr/securityserver/conf/conftest"
)

// The admin API's tables (API keys, audit trail, IS certificates) pass the
// same suite on both databases.

func TestAdminSQLite(t *testing.T) {
	conftest.RunAdmin(t, func(t *testing.T, clk clock.Clock) conf.Store {
		return storetest.Open(t, func() (conf.Store, error) {
			return conf.OpenSQLite(t.Context(), storetest.SQLitePath(t), conf.WithClock(clk))
		})
	})
}

func TestAdminPostgres(t *testing.T) {
	conftest.RunAdmin(t, func(t *testing.T, clk clock.Clock) conf.Store {
		return storetest.Open(t, func() (conf.Store, error) {
			return conf.OpenPostgres(t.Context(), storetest.PostgresDSN(t), conf.WithClock(clk))
		})
	})
}
