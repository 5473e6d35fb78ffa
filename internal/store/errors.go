package store

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Constraint is the kind of integrity constraint a statement violated, the
// same for both drivers.
type Constraint int

// The constraint kinds ConstraintViolation distinguishes.
const (
	// NoConstraint means err is not a constraint violation (or is nil).
	NoConstraint Constraint = iota
	// Unique is a UNIQUE or PRIMARY KEY violation: the row already exists.
	Unique
	// ForeignKey is a FOREIGN KEY violation: a referenced row is missing, or
	// a row still referenced (ON DELETE RESTRICT) was to be deleted.
	ForeignKey
	// Check is a CHECK or NOT NULL violation.
	Check
)

// String names the constraint kind.
func (c Constraint) String() string {
	switch c {
	case Unique:
		return "unique"
	case ForeignKey:
		return "foreign key"
	case Check:
		return "check"
	default:
		return "none"
	}
}

// PostgreSQL SQLSTATE codes (Appendix A of the PostgreSQL manual).
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
	pgCheckViolation      = "23514"
	pgNotNullViolation    = "23502"
	pgSerialization       = "40001"
	pgDeadlock            = "40P01"
)

// ConstraintViolation classifies err (which may wrap a driver error) as the
// violation of a unique, foreign key or check constraint, for SQLite
// (modernc) and PostgreSQL (pgx) alike. It returns NoConstraint for anything
// else.
func ConstraintViolation(err error) Constraint {
	if err == nil {
		return NoConstraint
	}
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch pe.Code {
		case pgUniqueViolation:
			return Unique
		case pgForeignKeyViolation:
			return ForeignKey
		case pgCheckViolation, pgNotNullViolation:
			return Check
		}
		return NoConstraint
	}
	if se, ok := errors.AsType[*sqlite.Error](err); ok {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return Unique
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return ForeignKey
		case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
			return Check
		case sqlite3.SQLITE_CONSTRAINT_TRIGGER:
			// ON DELETE RESTRICT is enforced like a trigger and reported
			// with this extended code.
			if strings.Contains(se.Error(), "FOREIGN KEY constraint failed") {
				return ForeignKey
			}
		}
	}
	return NoConstraint
}

// IsRetryable reports whether err is a transient concurrency failure after
// which the whole transaction may be retried: a PostgreSQL serialization
// failure or deadlock, or SQLite still finding the database locked after its
// busy timeout.
func IsRetryable(err error) bool {
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pe.Code == pgSerialization || pe.Code == pgDeadlock
	}
	if se, ok := errors.AsType[*sqlite.Error](err); ok {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	return false
}
