package config

// Env looks up the environment variables a config names by name (secrets
// are never in the file): a snapshot taken at start, or os.LookupEnv. A nil
// Env finds nothing.
type Env func(name string) (string, bool)

// Lookup is e's answer; nothing for a nil Env or an empty name.
func (e Env) Lookup(name string) (string, bool) {
	if e == nil || name == "" {
		return "", false
	}
	return e(name)
}

// Get is Lookup's value, empty when unset.
func (e Env) Get(name string) string {
	v, _ := e.Lookup(name)
	return v
}
