// Package webui is the machinery shared by jisr's web consoles
// (securityserver/console and central/console): sign-in with an admin API
// key kept server-side in a session, CSRF tokens, the page layout and
// templates, the text catalogue, and the in-process calls through which a
// console reaches its product's admin API.
//
// A console is a client of its admin API, not a second way in: every
// read and every change is an HTTP request to the API's own handler,
// carrying the signed-in operator's API key, so the API's roles, audit
// trail and error mapping apply unchanged. The API key is entered once on
// the sign-in form and kept in memory on the server, in a session named by
// a random cookie (HttpOnly, SameSite=Strict, Secure over TLS); the cookie
// never carries the key. The operator's roles, read once at sign-in through
// an IdentifyFunc, decide what the pages show; the API decides what is
// allowed, and its refusals (403 and the rest) are shown as they come,
// as plain messages.
//
// What webui is not: it holds no product logic and no API types, and it
// is not an authentication system of its own — a revoked or expired key
// ends the session at the API's next 401.
package webui
