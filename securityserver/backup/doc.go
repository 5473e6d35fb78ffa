// Package backup writes and restores signed backups of a security server:
// its directory (configuration, anchor, software key store, certificates,
// message-log body key, admin API key, last good global configuration) and
// its databases, either consistent online copies of the SQLite files or a
// logical dump of the security server's own tables in PostgreSQL.
//
// A backup (format jisr-ss-backup/1, specified in docs/backup.md) is a gzip
// compressed tar file whose first entry is a manifest (server id, creation
// time, jisr version, database description, and the path, mode, size and
// SHA-256 of every other entry) signed as a JWS with x5c by the owner
// member's sign key. Optionally the whole file is encrypted to a recipient's
// public key: a JWE (RSA-OAEP-256 or ECDH-ES+A256KW, A256GCM) wraps a
// random file key, and the file is streamed through AES-256-GCM in 64 KiB
// chunks (the STREAM construction), so neither side holds the backup in
// memory.
//
// Write stages the contents in a private temporary directory (so that what
// is hashed is what is archived), signs the manifest and streams the file.
// Restore verifies before it changes anything: the manifest's signature, the
// signer's certificate chain to a trusted root at the backup's creation
// time, that the signer is the expected server's owner, every entry's name,
// size and hash, and the end of the stream; only then does it restore the
// PostgreSQL tables (one transaction) and swap the new directory in (the old
// one is renamed aside and removed once the new one is in place). A refused
// backup leaves the target directory and database untouched.
//
// The package does not know the security server's configuration file; the
// caller (securityserver.Backup and securityserver.Restore) says what to
// include and checks the restored configuration through
// RestoreOptions.Prepare. It does not back up keys held in an HSM.
package backup
