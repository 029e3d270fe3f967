package config

// Codec configures the codec server the gateway offers the Temporal Web UI
// (POST /codec/encode, /codec/decode). Payload encryption itself is on when
// the environment variable SIGNOFF_CODEC_KEYS holds keys (see package
// codec); keys never live in this file.
type Codec struct {
	// UIOrigin is the Web UI's origin (scheme://host[:port]) allowed to call
	// the codec endpoints from a browser. Empty: same-origin callers only.
	UIOrigin string `yaml:"ui_origin"`
}
