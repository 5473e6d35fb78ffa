package backup

import (
	"errors"
	"strings"
)

// ErrRefused is wrapped by every *RefusedError: the input is not an intact,
// authentic backup of the expected security server, or cannot be restored
// here. Nothing was changed.
var ErrRefused = errors.New("backup: refused")

// Reasons a backup is refused, wrapped by the *RefusedError besides
// ErrRefused; test with errors.Is.
var (
	// ErrForeignServer: the backup is of another security server than the
	// one being restored.
	ErrForeignServer = errors.New("the backup is of another security server")
	// ErrEncrypted: the backup is encrypted and no decryption key was given.
	ErrEncrypted = errors.New("a decryption key is needed")
	// ErrSchemaMismatch: the target database's schema is not the one the
	// backup was taken from.
	ErrSchemaMismatch = errors.New("the database schema differs from the backup's")
)

// RefusedError is the first check a backup failed. Entry names the entry
// at fault ("" when none).
type RefusedError struct {
	Entry  string
	Reason string
	Err    error
}

// Error implements error.
func (e *RefusedError) Error() string {
	var b strings.Builder
	b.WriteString("backup refused: ")
	if e.Entry != "" {
		b.WriteString(e.Entry)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns ErrRefused and the underlying error.
func (e *RefusedError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrRefused}
	}
	return []error{ErrRefused, e.Err}
}

func refuse(entry, reason string, err error) error {
	return &RefusedError{Entry: entry, Reason: reason, Err: err}
}
