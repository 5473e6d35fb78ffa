package admin

import (
	"fmt"
	"slices"
)

// Role is a role an API key grants.
type Role string

// The roles: X-Road's five security server roles (UG-SS §2.1) and jisr's
// AUDITOR. A key may hold several. What each may do is the route table in
// routes.go (and openapi.yaml's x-roles, which a test keeps equal).
const (
	// RoleSystemAdministrator manages API keys and reads the admin audit
	// trail (and, later, backups).
	RoleSystemAdministrator Role = "SYSTEM_ADMINISTRATOR"
	// RoleSecurityOfficer manages keys and certificates, the TLS
	// certificates of information systems and the message-log settings
	// (clients' connection type and body logging).
	RoleSecurityOfficer Role = "SECURITY_OFFICER"
	// RoleRegistrationOfficer adds, registers, unregisters and deletes
	// clients.
	RoleRegistrationOfficer Role = "REGISTRATION_OFFICER"
	// RoleServiceAdministrator manages services, access rights and local
	// groups, and clients' connection type.
	RoleServiceAdministrator Role = "SERVICE_ADMINISTRATOR"
	// RoleObserver reads everything but API keys, the audit trail and the
	// message log.
	RoleObserver Role = "SECURITY_SERVER_OBSERVER"
	// RoleAuditor may only search the message log's metadata and export
	// one exchange's evidence: it sees no configuration at all.
	RoleAuditor Role = "AUDITOR"
)

// AllRoles returns every role, in a fixed order.
func AllRoles() []Role {
	return []Role{RoleSystemAdministrator, RoleSecurityOfficer, RoleRegistrationOfficer, RoleServiceAdministrator,
		RoleObserver, RoleAuditor}
}

// FirstKeyRoles are the roles of the key `jisr ss init` creates: every
// administrative role, as X-Road's installer puts its first user in every
// group. Not AUDITOR: auditors get keys of their own from a system
// administrator.
func FirstKeyRoles() []Role {
	return []Role{RoleSystemAdministrator, RoleSecurityOfficer, RoleRegistrationOfficer, RoleServiceAdministrator}
}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	if r := Role(s); slices.Contains(AllRoles(), r) {
		return r, nil
	}
	return "", fmt.Errorf("%w: unknown role %q", ErrInvalid, s)
}

// Who may do what. These sets and the route table are the only place roles
// are decided.

// readers may read the configuration, keys and certificates, settings.
func readers() []Role {
	return []Role{RoleSystemAdministrator, RoleSecurityOfficer, RoleRegistrationOfficer, RoleServiceAdministrator, RoleObserver}
}

// registration manages clients and their registration.
func registration() []Role { return []Role{RoleRegistrationOfficer} }

// services manages services, access rights and local groups.
func services() []Role { return []Role{RoleServiceAdministrator} }

// security manages keys, certificates, IS TLS certificates.
func security() []Role { return []Role{RoleSecurityOfficer} }

// clientSettings changes a client's connection type (the service
// administrator's in X-Road, UG-SS §9) and body logging (a message-log
// setting, the security officer's).
func clientSettings() []Role { return []Role{RoleSecurityOfficer, RoleServiceAdministrator} }

// sysadmin manages API keys and reads the audit trail.
func sysadmin() []Role { return []Role{RoleSystemAdministrator} }

// auditors search the message log.
func auditors() []Role { return []Role{RoleAuditor} }
