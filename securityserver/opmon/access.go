package opmon

import "github.com/jisr-bus/jisr/internal/xroad"

// Access is the rule that decides which records a client may read, as
// X-Road's operational data service applies it (getSecurityServerOperationalData,
// OperationalDataRequestHandler.getClientForFilter): the owner of the
// security server — its owner member itself, not the owner's subsystems —
// and the configured monitoring client (exactly that member or subsystem)
// read every record; every other client reads the records in which it is
// the client or the service provider.
type Access struct {
	// Owner is the member owning the security server.
	Owner xroad.MemberID
	// MonitoringClient is the central monitoring client allowed to read
	// everything; zero means none.
	MonitoringClient xroad.ClientID
}

// Scope is what one caller may read.
type Scope struct {
	// All is true for the owner and the monitoring client.
	All bool
	// Party is the caller when All is false: only records in which it is
	// the client or the service provider are visible, without
	// SecurityServerInternalIP.
	Party xroad.ClientID
}

// Scope returns what caller may read.
func (a Access) Scope(caller xroad.ClientID) Scope {
	if caller == a.Owner.Client() || (a.MonitoringClient != (xroad.ClientID{}) && caller == a.MonitoringClient) {
		return Scope{All: true}
	}
	return Scope{Party: caller}
}

// Visible reports whether rec is within s (the same rule Query.Party
// applies in the store).
func (s Scope) Visible(rec *Record) bool {
	return s.All || rec.Client == s.Party || (rec.Service != (xroad.ServiceID{}) && rec.Service.Provider == s.Party)
}
