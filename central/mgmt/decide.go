package mgmt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jisr-bus/jisr/central/registry"
	"github.com/jisr-bus/jisr/internal/mgmtproto"
)

// errPrecondition marks a reason, found while applying, why an approved
// request cannot be applied.
var errPrecondition = errors.New("precondition no longer holds")

// errRollback aborts the applying transaction when applying failed for a
// reason recorded afterwards.
var errRollback = errors.New("rolled back")

// Approve applies the PENDING request id to the registry and records it as
// APPROVED by actor, in one registry transaction. If the request cannot be
// applied because the registry no longer allows it (its server or member
// was deleted, the client is already registered, the certificate is
// registered meanwhile, …), nothing is applied, the request is recorded as
// FAILED with the reason as its comment, and Approve returns it without
// error.
//
// Errors wrap registry.ErrNotFound (no request id), registry.ErrConflict
// (the request is not PENDING) or registry.ErrInvalid (empty actor); any
// other error is a registry failure, and the request stays PENDING.
func (p *Processor) Approve(ctx context.Context, id int64, actor string) (registry.ManagementRequest, error) {
	if strings.TrimSpace(actor) == "" {
		return registry.ManagementRequest{}, fmt.Errorf("mgmt: approve request %d: %w: no actor", id, registry.ErrInvalid)
	}
	var out registry.ManagementRequest
	var failure error
	err := p.store.Update(ctx, func(tx registry.Tx) error {
		m, err := pendingRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := apply(ctx, tx, m); err != nil {
			if !isPrecondition(err) {
				return err
			}
			failure = err
			return errRollback
		}
		out, err = tx.DecideRequest(ctx, id, registry.Decision{Status: registry.StatusApproved, By: actor})
		return err
	})
	if failure != nil && errors.Is(err, errRollback) {
		return p.recordFailure(ctx, id, actor, failure)
	}
	if err != nil {
		return registry.ManagementRequest{}, fmt.Errorf("mgmt: approve request %d: %w", id, err)
	}
	p.count(string(out.Type), outcomeApproved)
	p.log.Info("management request approved", "id", id, "type", out.Type, "server", out.Server.String(), "by", actor)
	return out, nil
}

// recordFailure records request id as FAILED by actor because of failure.
func (p *Processor) recordFailure(ctx context.Context, id int64, actor string, failure error) (registry.ManagementRequest, error) {
	comment := "cannot be applied: " + failure.Error()
	if len(comment) > maxCommentSize {
		comment = comment[:maxCommentSize]
	}
	var out registry.ManagementRequest
	err := p.store.Update(ctx, func(tx registry.Tx) error {
		if _, err := pendingRequest(ctx, tx, id); err != nil {
			return err
		}
		var err error
		out, err = tx.DecideRequest(ctx, id, registry.Decision{Status: registry.StatusFailed, By: actor, Comment: comment})
		return err
	})
	if err != nil {
		return registry.ManagementRequest{}, fmt.Errorf("mgmt: recording request %d as failed: %w", id, err)
	}
	p.count(string(out.Type), outcomeFailed)
	p.log.Warn("management request approved but not applicable", "id", id, "type", out.Type,
		"server", out.Server.String(), "by", actor, "reason", failure)
	return out, nil
}

// Reject records the PENDING request id as REJECTED by actor with comment.
// Errors as for Approve.
func (p *Processor) Reject(ctx context.Context, id int64, actor, comment string) (registry.ManagementRequest, error) {
	m, err := p.store.DecideRequest(ctx, id, registry.Decision{Status: registry.StatusRejected, By: actor, Comment: comment})
	if err != nil {
		return registry.ManagementRequest{}, fmt.Errorf("mgmt: reject request %d: %w", id, err)
	}
	p.count(string(m.Type), outcomeRejected)
	p.log.Info("management request rejected", "id", id, "type", m.Type, "server", m.Server.String(), "by", actor)
	return m, nil
}

// pendingRequest reads request id and checks that it is PENDING.
func pendingRequest(ctx context.Context, r registry.Reader, id int64) (registry.ManagementRequest, error) {
	m, err := r.ManagementRequest(ctx, id)
	if err != nil {
		return registry.ManagementRequest{}, err
	}
	if m.Status != registry.StatusPending {
		return registry.ManagementRequest{}, fmt.Errorf("%w: management request %d is already %s", registry.ErrConflict, id, m.Status)
	}
	return m, nil
}

// isPrecondition reports whether err says the registry does not allow the
// change (rather than that the registry failed).
func isPrecondition(err error) bool {
	return errors.Is(err, errPrecondition) || errors.Is(err, registry.ErrNotFound) ||
		errors.Is(err, registry.ErrConflict) || errors.Is(err, registry.ErrInvalid) ||
		errors.Is(err, mgmtproto.ErrMalformed)
}

// apply makes the change request m asks for, inside tx.
func apply(ctx context.Context, tx registry.Tx, m registry.ManagementRequest) error {
	req, err := mgmtproto.ParsePayload(m.Payload)
	if err != nil {
		return fmt.Errorf("stored payload: %w", err)
	}
	switch req.Type {
	case mgmtproto.TypeAuthCertRegistration:
		if _, err := tx.SecurityServer(ctx, req.Server); errors.Is(err, registry.ErrNotFound) {
			if err := tx.AddSecurityServer(ctx, req.Server, req.Addresses); err != nil {
				return fmt.Errorf("registering security server %s: %w", req.Server, err)
			}
		} else if err != nil {
			return fmt.Errorf("reading security server %s: %w", req.Server, err)
		}
		if _, err := tx.AddAuthCert(ctx, req.Server, req.AuthCert); err != nil {
			return fmt.Errorf("registering the authentication certificate of %s: %w", req.Server, err)
		}
	case mgmtproto.TypeClientRegistration:
		c := req.Client
		if c.IsSubsystem() {
			member, err := tx.Member(ctx, c.Member())
			if err != nil {
				return fmt.Errorf("reading member %s: %w", c.Member(), err)
			}
			if !slices.Contains(member.Subsystems, c.Subsystem) {
				if err := tx.AddSubsystem(ctx, c); err != nil {
					return fmt.Errorf("adding subsystem %s: %w", c, err)
				}
			}
		}
		if err := tx.AddServerClient(ctx, req.Server, c); err != nil {
			return fmt.Errorf("registering %s on %s: %w", c, req.Server, err)
		}
	case mgmtproto.TypeClientDeletion:
		if err := tx.RemoveServerClient(ctx, req.Server, req.Client); err != nil {
			return fmt.Errorf("unregistering %s from %s: %w", req.Client, req.Server, err)
		}
	case mgmtproto.TypeAddressChange:
		if err := tx.SetServerAddresses(ctx, req.Server, req.Addresses); err != nil {
			return fmt.Errorf("setting the addresses of %s: %w", req.Server, err)
		}
	case mgmtproto.TypeMaintenanceOn, mgmtproto.TypeMaintenanceOff:
		if err := tx.SetMaintenance(ctx, req.Server, req.Type == mgmtproto.TypeMaintenanceOn); err != nil {
			return fmt.Errorf("setting maintenance mode of %s: %w", req.Server, err)
		}
	case mgmtproto.TypeServiceDescriptionPublish:
		sd := req.ServiceDescription
		ok, err := hosts(ctx, tx, req.Server, sd.Service.Provider)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: subsystem %s is no longer registered on %s", errPrecondition, sd.Service.Provider, req.Server)
		}
		d := registry.ServiceDescription{
			Service:     sd.Service,
			Type:        registry.ServiceType(sd.Type),
			Title:       sd.Title,
			Description: sd.Description,
		}
		if sd.OpenAPI != "" {
			d.Document = []byte(sd.OpenAPI)
		}
		if _, err := tx.PutServiceDescription(ctx, d); err != nil {
			return fmt.Errorf("publishing %s: %w", sd.Service, err)
		}
	default:
		return fmt.Errorf("%w: request type %q cannot be applied", errPrecondition, req.Type)
	}
	return nil
}
