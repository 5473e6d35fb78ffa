package centralcmd

import (
	"github.com/jisr-bus/jisr/central"
	"github.com/jisr-bus/jisr/central/mgmt"
)

// ManagementFactory returns the management-request processor `serve`
// installs: central/mgmt's Processor over the node's registry.
func ManagementFactory() central.ManagementFactory {
	return func(d central.ManagementDeps) (central.Management, error) {
		p, err := mgmt.NewProcessor(mgmt.Config{Store: d.Store, Clock: d.Clock, Logger: d.Logger,
			AutoApprove: d.AutoApprove, Registerer: d.Registerer})
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

// The processor is what central expects.
var _ central.Management = (*mgmt.Processor)(nil)
