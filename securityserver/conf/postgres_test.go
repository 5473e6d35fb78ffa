package conf_test

import (
	"testing"

	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store/storetest"
	"github.com/jisr-bus/jisr/securityserver/conf"
	"github.com/jisr-bus/jisr/securityserver/conf/conftest"
)

func TestPostgres(t *testing.T) {
	conftest.Run(t, func(t *testing.T, clk clock.Clock) conf.Store {
		return storetest.Open(t, func() (conf.Store, error) {
			return conf.OpenPostgres(t.Context(), storetest.PostgresDSN(t), conf.WithClock(clk))
		})
	})
}
