// Package portal is the Hukumati (حكومتي) citizen portal: a consumer of
// the bus that reaches ministries only through its own security server
// over X-Road REST r1, with server-rendered pages in Arabic (RTL) and
// English that work without JavaScript.
//
// It holds citizen accounts (opened by a registration officer after a
// civil-registry lookup and a single-use activation code; argon2id
// passwords; server-side sessions; CSRF tokens; sign-in throttling), the
// journeys (driving-licence and health-insurance renewal, new and copy
// birth certificates, civil-registry extracts, traffic fines) with an
// application record and status history each, payments with one
// Idempotency-Key per application step, receipts, and the public
// verification page for signed document codes (adapters/document).
//
// Every call a journey makes carries X-Road-UserId (the citizen) and
// X-Road-Issue (the application number). Failed calls become a
// *CallError, which message and callMessage turn into plain language;
// nothing else writes an error to a page.
//
// What portal is not: it keeps no ministry data beyond what an
// application needs to resume, and it trusts no ministry answer for
// document validity — the verification page checks signatures against
// the configured trust anchors itself.
package portal
