package config

// Codec configures payload encryption for Temporal history. Keys come from
// the environment, never from this file.
type Codec struct{}
