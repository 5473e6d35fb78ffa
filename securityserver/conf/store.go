package conf

import (
	"context"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// Reader is the read side of the configuration. Methods that return one item
// return ErrNotFound when it does not exist; list methods return an empty
// slice, not an error, when nothing matches. Lists are in a stable order,
// given with each method.
type Reader interface {
	// Version returns the configuration version: 0 for a fresh store, then
	// one more for every committed transaction that changed the
	// configuration. Cached views compare it to decide whether to reload.
	Version(ctx context.Context) (int64, error)

	// Client returns one client.
	Client(ctx context.Context, id xroad.ClientID) (Client, error)
	// Clients lists the clients by identifier (instance, class, code,
	// subsystem; a member before its subsystems).
	Clients(ctx context.Context) ([]Client, error)

	// ServiceDescription returns one service description with its document,
	// services and endpoints.
	ServiceDescription(ctx context.Context, id int64) (ServiceDescription, error)
	// ServiceDescriptions lists a client's service descriptions by id, with
	// their documents, services (by code) and endpoints; ErrNotFound if the
	// client does not exist.
	ServiceDescriptions(ctx context.Context, client xroad.ClientID) ([]ServiceDescription, error)

	// AccessRights lists the access rights a provider granted, by service
	// code, endpoint (the whole service first) and subject (typed form);
	// ErrNotFound if the provider is not a client.
	AccessRights(ctx context.Context, provider xroad.ClientID) ([]AccessRight, error)

	// LocalGroup returns one local group with its members.
	LocalGroup(ctx context.Context, client xroad.ClientID, code string) (LocalGroup, error)
	// LocalGroups lists a client's local groups by code, with their
	// members; ErrNotFound if the client does not exist.
	LocalGroups(ctx context.Context, client xroad.ClientID) ([]LocalGroup, error)
}

// Writer is the write side of the configuration, for the admin API. Each
// method validates its arguments (ErrInvalid), reports missing referents as
// ErrNotFound and duplicates or forbidden edits as ErrConflict. Times
// (created at, refreshed at, granted at) come from the store's clock, not
// from the arguments.
//
// Removing something removes what only describes it: a client takes its IS
// certificate hashes, service descriptions, services, endpoints, the access
// rights it granted and its local groups; a service description takes its
// services; a service takes its endpoints and every access right on it; an
// endpoint takes the access rights on it; a local group takes its members
// and the access rights granted to it. Access rights granted to a client
// (as a subject) by other providers, and its memberships in other clients'
// local groups, are not removed with it: subjects and members are X-Road
// identifiers, which may name clients of other security servers.
type Writer interface {
	// AddClient adds a client (CreatedAt is ignored).
	AddClient(ctx context.Context, c Client) error
	// UpdateClient replaces a client's connection type, IS certificate
	// hashes, status and body logging.
	UpdateClient(ctx context.Context, c Client) error
	// DeleteClient deletes a client and everything it owns (see above).
	DeleteClient(ctx context.Context, id xroad.ClientID) error

	// AddServiceDescription adds a service description with its services
	// and hand-made endpoints to an existing subsystem client, and returns
	// it as stored (ID, RefreshedAt, generated endpoints). For
	// DescriptionOpenAPI the document is validated with ImportOpenAPI and
	// its endpoints become every service's generated endpoints. A service
	// code the client already uses is ErrConflict.
	AddServiceDescription(ctx context.Context, d ServiceDescription) (ServiceDescription, error)
	// RefreshServiceDescription replaces an OpenAPI description's source
	// URL and document and re-derives the generated endpoints: endpoints
	// the new document no longer has are removed with their access rights,
	// new ones are added, and service settings, hand-made endpoints and the
	// other rights are kept (UG-SS §6.2). It returns the description as
	// stored. A REST description is ErrInvalid.
	RefreshServiceDescription(ctx context.Context, id int64, url string, document []byte) (ServiceDescription, error)
	// DeleteServiceDescription deletes a description, its services and the
	// access rights on them (UG-SS §6.5).
	DeleteServiceDescription(ctx context.Context, id int64) error

	// AddService adds a service (and its hand-made endpoints) to an
	// existing description; an OpenAPI description's generated endpoints
	// are added to it too.
	AddService(ctx context.Context, descriptionID int64, s Service) error
	// UpdateService replaces the version, URL, timeout, TLS verification
	// and disabled state of the provider's service s.Code. Endpoints are
	// not touched (s.Endpoints is ignored).
	UpdateService(ctx context.Context, provider xroad.ClientID, s Service) error
	// DeleteService deletes a service with its endpoints and the access
	// rights on it.
	DeleteService(ctx context.Context, provider xroad.ClientID, serviceCode string) error

	// AddEndpoint adds a hand-made endpoint to a service (Generated is
	// ignored). The base endpoint (AnyMethod, AnyPath) is the service
	// itself and cannot be added.
	AddEndpoint(ctx context.Context, provider xroad.ClientID, serviceCode string, e EndpointSpec) error
	// DeleteEndpoint deletes a hand-made endpoint and the access rights on
	// it; an endpoint derived from the OpenAPI document is ErrConflict.
	DeleteEndpoint(ctx context.Context, provider xroad.ClientID, serviceCode string, e EndpointSpec) error

	// AddAccessRight grants an access right (GrantedAt is ignored). The
	// service and endpoint must exist, and a LocalGroupID subject must be a
	// local group of the provider.
	AddAccessRight(ctx context.Context, r AccessRight) error
	// RemoveAccessRight revokes an access right (GrantedAt is ignored).
	RemoveAccessRight(ctx context.Context, r AccessRight) error

	// AddLocalGroup adds a local group (Members and UpdatedAt are ignored).
	AddLocalGroup(ctx context.Context, g LocalGroup) error
	// UpdateLocalGroup changes a local group's description.
	UpdateLocalGroup(ctx context.Context, client xroad.ClientID, code, description string) error
	// DeleteLocalGroup deletes a local group, its members and the access
	// rights granted to it (UG-SS §8.4).
	DeleteLocalGroup(ctx context.Context, client xroad.ClientID, code string) error
	// AddLocalGroupMember adds a member (any well-formed client identifier)
	// to a local group.
	AddLocalGroupMember(ctx context.Context, client xroad.ClientID, code string, member xroad.ClientID) error
	// RemoveLocalGroupMember removes a member from a local group.
	RemoveLocalGroupMember(ctx context.Context, client xroad.ClientID, code string, member xroad.ClientID) error
}

// Tx is the configuration inside one transaction: reads see the
// transaction's own writes, and all writes commit or roll back together.
type Tx interface {
	Reader
	Writer
}

// ReadOnly is what the proxy holds: the reads, and Snapshot for several
// reads from one consistent state.
type ReadOnly interface {
	Reader
	// Snapshot runs fn on a read-only snapshot: every read inside sees the
	// configuration as of one instant (REPEATABLE READ on PostgreSQL, a
	// read transaction on SQLite), so a View loaded inside it is consistent
	// with the Version read in the same Snapshot. LoadView uses it.
	Snapshot(ctx context.Context, fn func(Reader) error) error
}

// Store is the whole configuration, for the admin API. Each Writer method
// runs in its own transaction; Update runs several reads and writes as one.
type Store interface {
	ReadOnly
	Writer
	// Update runs fn in one read-write transaction and commits it if fn
	// returns nil; fn's error is returned unchanged and everything rolled
	// back otherwise. The configuration version is bumped once if fn
	// changed the configuration. Writers are serialised: fn never runs
	// concurrently with another writer's transaction, so a
	// read-check-write inside fn is safe. When a method of tx fails, fn
	// should return (its error, or another): on PostgreSQL a transaction
	// that hit a constraint violation accepts no further statements.
	Update(ctx context.Context, fn func(Tx) error) error
	// Close releases the database.
	Close() error
}
