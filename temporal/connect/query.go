package connect

import "strings"

// Quote makes s a string literal of Temporal's visibility query language,
// so no value can end its literal and add clauses of its own.
func Quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
