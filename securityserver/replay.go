package securityserver

import (
	"context"
	"fmt"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
	"github.com/jisr-bus/jisr/securityserver/conf"
	"github.com/jisr-bus/jisr/securityserver/message"
)

// replayWindow is how long a message id stays claimed after the message's
// time: the verifier refuses messages further than its skew from now, so
// a replay later than this is refused for its time anyway.
const replayWindow = 10 * time.Minute

// sharedReplay is the provider side's replay guard when several nodes may
// share one database (PostgreSQL): the node's own cache answers repeats it
// saw itself without a database round trip, and every new id is then
// claimed in the shared table, so a request replayed to another node is
// refused there too. A database failure refuses the request (fail closed).
type sharedReplay struct {
	local *message.ReplayCache
	store conf.ReplayStore
}

var _ message.ReplayGuard = (*sharedReplay)(nil)

// Seen implements message.ReplayGuard.
func (g *sharedReplay) Seen(client xroad.ClientID, id string, t time.Time) error {
	if err := g.local.Seen(client, id, t); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ok, err := g.store.ClaimMessageID(ctx, client.String(), id, t.Add(replayWindow))
	if err != nil {
		return fmt.Errorf("replay guard: %w", err)
	}
	if !ok {
		return fmt.Errorf("%w: id %q from %s (seen by another node)", message.ErrReplay, id, client)
	}
	return nil
}

// runReplayPurge deletes expired claims every window until ctx ends.
func runReplayPurge(ctx context.Context, rs conf.ReplayStore, now func() time.Time) {
	t := time.NewTicker(replayWindow)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = rs.PurgeMessageIDs(ctx, now())
		}
	}
}
