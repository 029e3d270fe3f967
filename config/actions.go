package config

// Actions configures action types.
type Actions struct {
	Webhook Webhook `yaml:"webhook"`
}

// Webhook restricts where webhook actions may point.
type Webhook struct {
	AllowedURLPrefixes []string `yaml:"allowed_url_prefixes"`
	// SecretEnv names the environment variable with the HMAC key.
	SecretEnv string `yaml:"secret_env"`
}
