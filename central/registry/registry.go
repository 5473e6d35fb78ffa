// Package registry is the central server's registry: the one place that
// records what the instance consists of and what the global configuration is
// generated from. It holds the instance code, member classes, members and
// their subsystems, security servers (addresses, authentication certificates,
// hosted clients, maintenance mode), global groups, approved certification
// and time-stamping authorities, settings, the management requests security
// servers submit, the service catalogue, admin API keys, the admin audit
// trail, and the published (signed) configurations.
//
// Two implementations share one SQL code path and one schema: SQLite (the
// embedded default, OpenSQLite) and PostgreSQL (OpenPostgres, for several
// central nodes over one database). The registrytest package holds the
// conformance suite both pass.
//
// Access is split at the trust boundary, as boulder splits its storage
// authority: configuration publishing and queries get a ReadOnly; only the
// admin API and the application of approved management requests get a
// Store, whose writes run in transactions. Every committed transaction that
// changes registry state bumps a monotonically increasing registry version
// (Reader.Version), so central nodes sharing a database notice changes by
// polling it. Audit events and published configurations are logs with their
// own sequence numbers (event id, serial) and do not bump it: a publisher
// that republishes when the version moves must not trigger itself.
//
// Identifiers are internal/xroad values. The registry holds one instance:
// identifiers of another instance are rejected on write (ErrInvalid) and not
// found on read. Deleting a member deletes what only describes it (its
// subsystems, its clients' registrations on security servers, its global
// group memberships, its subsystems' service descriptions) and is refused
// (ErrConflict) while it owns a security server; deleting a subsystem
// likewise removes its registrations, memberships and service descriptions.
// Management requests and audit events are history and are kept.
//
// This package does not check signatures, decide management requests, build
// or sign configuration documents, or authenticate API keys: it stores what
// the components that do those things decided.
package registry

import (
	"context"
	"errors"
	"time"

	"github.com/jisr-bus/jisr/internal/xroad"
)

// Errors every implementation returns, wrapped with %w and context; test
// with errors.Is.
var (
	// ErrNotFound: the identifier, id or name names nothing in the registry
	// (including identifiers of another instance on read), or a write refers
	// to something missing (a member of an unknown class, a client on an
	// unknown server).
	ErrNotFound = errors.New("registry: not found")
	// ErrConflict: the write contradicts the registry's state: a duplicate,
	// a status transition from a decided request, deleting something still
	// referenced, changing the instance code, or a lost publish race
	// (ErrPublishRace, which wraps it).
	ErrConflict = errors.New("registry: conflict")
	// ErrInvalid: the argument is malformed whatever the registry holds: a
	// malformed identifier or one of another instance, an unknown request
	// type or setting, a reserved group code, an empty name.
	ErrInvalid = errors.New("registry: invalid argument")
	// ErrPublishRace: PublishNext found that another node published first;
	// read the winner with LatestPublished. errors.Is(err, ErrConflict) holds
	// too.
	ErrPublishRace = errors.New("registry: configuration published concurrently")
)

// Reader is the read side of the registry: queries for configuration
// publishing, the admin API and the catalogue. Methods that return one item
// return ErrNotFound when it does not exist; list methods return an empty
// slice, not an error, when nothing matches. Lists are in a stable order
// (by identifier, or by id or serial where noted).
type Reader interface {
	// Version returns the registry version: 0 for a fresh registry, then
	// one more for every committed transaction that changed registry state.
	Version(ctx context.Context) (int64, error)

	// Instance returns the instance code; ErrNotFound until SetInstance.
	Instance(ctx context.Context) (string, error)
	// MemberClasses lists the member classes by code.
	MemberClasses(ctx context.Context) ([]MemberClass, error)
	// Member returns one member with its subsystems.
	Member(ctx context.Context, id xroad.MemberID) (Member, error)
	// Members lists the members with their subsystems.
	Members(ctx context.Context) ([]Member, error)

	// SecurityServer returns one security server.
	SecurityServer(ctx context.Context, id xroad.ServerID) (SecurityServer, error)
	// SecurityServers lists the security servers.
	SecurityServers(ctx context.Context) ([]SecurityServer, error)
	// ServerByAuthCert returns the security server an authentication
	// certificate is registered for, by the lowercase or uppercase hex
	// SHA-256 of its DER.
	ServerByAuthCert(ctx context.Context, hash string) (SecurityServer, error)
	// ServersHosting lists the security servers a client is registered on.
	ServersHosting(ctx context.Context, client xroad.ClientID) ([]xroad.ServerID, error)

	// GlobalGroup returns one global group with its members. The automatic
	// group xroad.SecurityServerOwners is derived from the owners of the
	// registered security servers.
	GlobalGroup(ctx context.Context, id xroad.GlobalGroupID) (GlobalGroup, error)
	// GlobalGroups lists the global groups, the automatic one included
	// (once the instance code is set).
	GlobalGroups(ctx context.Context) ([]GlobalGroup, error)

	// ApprovedCAs lists the approved certification authorities by name.
	ApprovedCAs(ctx context.Context) ([]ApprovedCA, error)
	// ApprovedTSAs lists the approved time-stamping authorities by name.
	ApprovedTSAs(ctx context.Context) ([]ApprovedTSA, error)
	// Settings returns the settings, defaults filled in for unset ones.
	Settings(ctx context.Context) (Settings, error)

	// ManagementRequest returns one management request.
	ManagementRequest(ctx context.Context, id int64) (ManagementRequest, error)
	// ManagementRequests lists management requests matching f, by id.
	ManagementRequests(ctx context.Context, f RequestFilter) ([]ManagementRequest, error)

	// ServiceDescription returns one service description, document
	// included. The service's version is part of its key.
	ServiceDescription(ctx context.Context, id xroad.ServiceID) (ServiceDescription, error)
	// SearchServices lists the service descriptions matching q, by service
	// identifier, without their documents (Document is nil).
	SearchServices(ctx context.Context, q CatalogueQuery) ([]ServiceDescription, error)

	// APIKeyByHash returns the API key whose secret hashes to hash (see
	// HashAPIKeySecret), whatever its expiry or revocation: use
	// APIKey.Usable to decide whether to accept it.
	APIKeyByHash(ctx context.Context, hash [32]byte) (APIKey, error)
	// APIKeys lists the API keys by id.
	APIKeys(ctx context.Context) ([]APIKey, error)

	// AuditEvents returns a page of the audit trail, see AuditQuery.
	AuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error)

	// LatestPublished returns the published configuration with the highest
	// serial; ErrNotFound before the first.
	LatestPublished(ctx context.Context) (PublishedConfig, error)
	// Published returns the published configuration with the given serial.
	Published(ctx context.Context, serial int64) (PublishedConfig, error)
}

// Writer is the write side of the registry, for the admin API and for
// applying approved management requests. Each method validates its
// arguments (ErrInvalid), reports missing referents as ErrNotFound and
// duplicates or forbidden state changes as ErrConflict. Times (registered
// at, submitted at, …) come from the store's clock, not from the arguments.
type Writer interface {
	// SetInstance sets the instance code. Setting it again to the same code
	// is a no-op; changing it is ErrConflict (every identifier contains it).
	SetInstance(ctx context.Context, code string) error

	// AddMemberClass adds a member class.
	AddMemberClass(ctx context.Context, c MemberClass) error
	// UpdateMemberClass changes a member class's description.
	UpdateMemberClass(ctx context.Context, c MemberClass) error
	// DeleteMemberClass deletes a member class no member uses (ErrConflict
	// otherwise).
	DeleteMemberClass(ctx context.Context, code string) error

	// AddMember adds a member; its class must exist.
	AddMember(ctx context.Context, id xroad.MemberID, name string) error
	// RenameMember changes a member's name.
	RenameMember(ctx context.Context, id xroad.MemberID, name string) error
	// DeleteMember deletes a member and what only describes it (see the
	// package documentation); ErrConflict while it owns a security server.
	DeleteMember(ctx context.Context, id xroad.MemberID) error
	// AddSubsystem adds a subsystem (id.Subsystem non-empty) to its member.
	AddSubsystem(ctx context.Context, id xroad.ClientID) error
	// DeleteSubsystem deletes a subsystem, its registrations on security
	// servers, its global group memberships and its service descriptions.
	DeleteSubsystem(ctx context.Context, id xroad.ClientID) error

	// AddSecurityServer registers a security server of an existing member
	// with one or more addresses (host or host:port).
	AddSecurityServer(ctx context.Context, id xroad.ServerID, addresses []string) error
	// SetServerAddresses replaces a security server's addresses.
	SetServerAddresses(ctx context.Context, id xroad.ServerID, addresses []string) error
	// SetMaintenance turns a security server's maintenance mode on or off.
	SetMaintenance(ctx context.Context, id xroad.ServerID, on bool) error
	// DeleteSecurityServer deletes a security server with its addresses,
	// authentication certificates and client registrations.
	DeleteSecurityServer(ctx context.Context, id xroad.ServerID) error
	// AddAuthCert registers an authentication certificate (DER) for a
	// security server. A certificate is registered for at most one server:
	// registering it again is ErrConflict.
	AddAuthCert(ctx context.Context, server xroad.ServerID, der []byte) (AuthCert, error)
	// DeleteAuthCert unregisters a server's authentication certificate by
	// its hex SHA-256.
	DeleteAuthCert(ctx context.Context, server xroad.ServerID, hash string) error
	// AddServerClient registers an existing client (member or subsystem) on
	// a security server.
	AddServerClient(ctx context.Context, server xroad.ServerID, client xroad.ClientID) error
	// RemoveServerClient unregisters a client from a security server.
	RemoveServerClient(ctx context.Context, server xroad.ServerID, client xroad.ClientID) error

	// AddGlobalGroup adds a global group (Members is ignored). The code
	// xroad.SecurityServerOwners is reserved (ErrInvalid).
	AddGlobalGroup(ctx context.Context, g GlobalGroup) error
	// DeleteGlobalGroup deletes a global group and its memberships.
	DeleteGlobalGroup(ctx context.Context, id xroad.GlobalGroupID) error
	// AddGroupMember adds an existing client to a global group.
	AddGroupMember(ctx context.Context, group xroad.GlobalGroupID, client xroad.ClientID) error
	// RemoveGroupMember removes a client from a global group.
	RemoveGroupMember(ctx context.Context, group xroad.GlobalGroupID, client xroad.ClientID) error

	// AddApprovedCA approves a certification authority.
	AddApprovedCA(ctx context.Context, ca ApprovedCA) error
	// DeleteApprovedCA withdraws a certification authority's approval.
	DeleteApprovedCA(ctx context.Context, name string) error
	// AddApprovedTSA approves a time-stamping authority.
	AddApprovedTSA(ctx context.Context, tsa ApprovedTSA) error
	// DeleteApprovedTSA withdraws a time-stamping authority's approval.
	DeleteApprovedTSA(ctx context.Context, name string) error
	// SetSetting sets a setting (a positive whole number of seconds).
	SetSetting(ctx context.Context, key Setting, value time.Duration) error

	// SubmitRequest records a received management request as PENDING and
	// returns it with its id and submission time.
	SubmitRequest(ctx context.Context, r ManagementRequest) (ManagementRequest, error)
	// DecideRequest moves a PENDING request to APPROVED, REJECTED or FAILED
	// and returns it; ErrConflict if it is no longer PENDING.
	DecideRequest(ctx context.Context, id int64, d Decision) (ManagementRequest, error)

	// PutServiceDescription creates or replaces the description of a
	// service of an existing subsystem and returns it as stored.
	PutServiceDescription(ctx context.Context, d ServiceDescription) (ServiceDescription, error)
	// DeleteServiceDescription deletes a service description.
	DeleteServiceDescription(ctx context.Context, id xroad.ServiceID) error

	// CreateAPIKey stores an API key (Name, Hash, Roles, ExpiresAt) and
	// returns it with its id and creation time. Two keys with the same hash
	// are ErrConflict.
	CreateAPIKey(ctx context.Context, k APIKey) (APIKey, error)
	// RevokeAPIKey revokes an API key; revoking it again is a no-op.
	RevokeAPIKey(ctx context.Context, id int64) error

	// AppendAudit appends an event to the audit trail and returns it with
	// its id and time. The trail is append-only: nothing updates or
	// deletes events. It does not bump the registry version.
	AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error)

	// PublishNext stores c as the configuration with serial
	// expectedPrevSerial+1, if the latest published serial is still
	// expectedPrevSerial (0 before the first). Otherwise it returns an error
	// wrapping ErrPublishRace and ErrConflict: another node won, read it with
	// LatestPublished. It does not bump the registry version.
	PublishNext(ctx context.Context, expectedPrevSerial int64, c PublishedConfig) (PublishedConfig, error)
}

// Tx is the registry inside one transaction: reads see the transaction's
// own writes, and all writes commit or roll back together.
type Tx interface {
	Reader
	Writer
}

// ReadOnly is what configuration publishing and queries hold: the reads,
// and View for several reads from one consistent snapshot.
type ReadOnly interface {
	Reader
	// View runs fn on a read-only snapshot: every read inside sees the
	// registry as of one instant (REPEATABLE READ on PostgreSQL, a read
	// transaction on SQLite), so a configuration built from several reads
	// is consistent with the Version read in the same View.
	View(ctx context.Context, fn func(Reader) error) error
}

// Store is the whole registry, for the admin API and management request
// processing. Each Writer method runs in its own transaction; Update runs
// several reads and writes as one.
type Store interface {
	ReadOnly
	Writer
	// Update runs fn in one read-write transaction and commits it if fn
	// returns nil; fn's error is returned unchanged and everything rolled
	// back otherwise. The registry version is bumped once if fn changed
	// registry state. Writers are serialised: fn never runs concurrently
	// with another writer's transaction, so a read-check-write inside fn is
	// safe. Use it to apply an approved management request together with
	// its decision, or to record an audit event atomically with the change
	// it describes.
	Update(ctx context.Context, fn func(Tx) error) error
	// Close releases the database.
	Close() error
}
