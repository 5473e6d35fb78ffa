package registry_test

import (
	"testing"

	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/central/registry/registrytest"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store/storetest"
)

func TestPostgres(t *testing.T) {
	registrytest.Run(t, func(t *testing.T, clk clock.Clock) registry.Store {
		return storetest.Open(t, func() (registry.Store, error) {
			return registry.OpenPostgres(t.Context(), storetest.PostgresDSN(t), registry.WithClock(clk))
		})
	})
}
