package webui

// sharedText is the text of the shared pages and the layout, by key. A
// console's own catalogue (Config.Text) is merged over it. Every text a
// console shows is in one of the two, so that a translation is one file
// per console.
func sharedText() map[string]string {
	return map[string]string{
		"brand":      "jisr",
		"signedInAs": "Signed in as",
		"roles":      "roles",
		"logout":     "Sign out",
		"back":       "Back",
		"none":       "None.",
		"yes":        "yes",
		"no":         "no",
		"actions":    "Actions",

		"login.title":   "Sign in",
		"login.intro":   "Sign in with an admin API key. The key stays on the server for this session; what you may do is decided by the key's roles.",
		"login.key":     "API key",
		"login.submit":  "Sign in",
		"login.expired": "The sign-in form expired or did not come from this console. Please try again.",
		"login.empty":   "Enter an API key.",
		"login.refused": "This API key is not accepted: it is unknown, revoked or expired.",
		"login.ended":   "You were signed out: the admin API no longer accepts this key.",

		"home.title":   "Console",
		"home.noPages": "Your API key's roles give access to no page of this console.",

		"error.400":        "Not accepted",
		"error.403":        "Not allowed",
		"error.404":        "Not found",
		"error.409":        "Conflict",
		"error.500":        "Error",
		"error.503":        "Unavailable",
		"error.code":       "Code",
		"error.detail":     "Detail id (for the operator's logs)",
		"error.status":     "HTTP status",
		"error.noSuchPage": "There is no such page in this console.",
		"error.method":     "This page does not accept that method.",
		"error.csrf":       "The form expired or did not come from this console (CSRF token missing or wrong). Nothing was done.",
		"error.tooLarge":   "The form is too large (at most %d bytes).",
		"error.badForm":    "The form could not be read",
		"error.internal":   "Internal error of the console.",

		"time.days":    "%d days",
		"time.hours":   "%d hours",
		"time.minutes": "%d minutes",
		"time.seconds": "%d seconds",
		"time.in":      "in %s",
		"time.ago":     "%s ago",
	}
}
