// Package opmon is a security server's operational monitoring: one record
// per exchange on each side, with the fields of X-Road's operational
// monitoring protocol (PR-OPMON: who called which service, when each leg
// started and ended, sizes, outcome) and never a payload; a store for them on
// SQLite or PostgreSQL; a Recorder that takes the proxies' exchange events
// (proxy.Observer) and writes them in batches in the background, so that an
// exchange never waits on monitoring; retention; and an HTTP query API
// through which an information system reads the records it may see.
//
// Access follows X-Road's operational data service: the owner of the
// security server (its owner member, exactly) and the configured monitoring
// client read every record; any other client reads only the records in
// which it is the client or the service provider, without the server's
// internal address.
//
// It is not the message log (securityserver/msglog): records here are not
// signed, chained or time-stamped, may be dropped under overload (counted),
// and are deleted after the retention period.
package opmon
