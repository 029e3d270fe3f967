package config

import (
	"time"

	"github.com/signoff/signoff/policy"
)

// Actions configures action types.
type Actions struct {
	Webhook Webhook `yaml:"webhook"`
	// AWSIAM configures aws_iam_deactivate_key and aws_iam_group.
	AWSIAM AWSIAM `yaml:"aws_iam"`
	// GitHub configures github_workflow_dispatch.
	GitHub GitHub `yaml:"github"`
	// Postgres configures postgres_role: time-bound role membership.
	Postgres PostgresRoles `yaml:"postgres"`
	// WebhookGrants configures webhook_grant: time-bound access in systems
	// Signoff has no client for, through receivers the operator runs. Each
	// named target is one receiver; a request names the target, and no
	// other URL is ever called (deny by default).
	WebhookGrants map[string]WebhookGrantTarget `yaml:"webhook_grants"`
	// Secrets configures secret_change: the stores whose secrets may be
	// changed after approval, and which secrets.
	Secrets SecretTargets `yaml:"secrets"`
	// Kubernetes configures kubernetes_rbac: time-bound RBAC bindings on
	// the named clusters, of the named roles only (deny by default).
	Kubernetes KubernetesRBAC `yaml:"kubernetes"`
}

// KubernetesRBAC names the clusters where kubernetes_rbac may bind roles.
type KubernetesRBAC struct {
	Clusters map[string]KubernetesCluster `yaml:"clusters"`
}

// KubernetesCluster is one API server: its URL (https; http only for
// 127.0.0.1 and localhost), the environment variable with a service
// account's bearer token (allowed to create and delete the bindings, and
// to bind the roles), an optional CA bundle (default: the system's), and
// what may be bound: ClusterRoles cluster-wide, and per namespace the Roles
// in it.
type KubernetesCluster struct {
	Server       string              `yaml:"server"`
	TokenEnv     string              `yaml:"token_env"`
	CAFile       string              `yaml:"ca_file"`
	ClusterRoles []string            `yaml:"cluster_roles"`
	Namespaces   map[string][]string `yaml:"namespaces"`
}

// WebhookGrantTarget is one webhook_grant receiver: where Signoff grants,
// revokes and reads the status of access, and the environment variable
// with the HMAC key that signs every call. All are required; the URLs are
// absolute https URLs (http only for 127.0.0.1 and localhost).
type WebhookGrantTarget struct {
	GrantURL  string `yaml:"grant_url"`
	RevokeURL string `yaml:"revoke_url"`
	StatusURL string `yaml:"status_url"`
	SecretEnv string `yaml:"secret_env"`
}

// PostgresRoles names the databases where postgres_role may grant roles, and
// which roles: nothing else is ever granted (deny by default).
type PostgresRoles struct {
	Targets map[string]PostgresTarget `yaml:"targets"`
}

// PostgresTarget is one database: how the worker connects (a DSN in an
// environment variable, for a login allowed to GRANT the roles) and the
// roles it may grant there.
type PostgresTarget struct {
	URLEnv string   `yaml:"url_env"`
	Roles  []string `yaml:"roles"`
}

// Webhook restricts where webhook actions may point.
type Webhook struct {
	AllowedURLPrefixes []string `yaml:"allowed_url_prefixes"`
	// SecretEnv names the environment variable with the HMAC key.
	SecretEnv string `yaml:"secret_env"`
}

// AWSIAM says how the worker reaches AWS IAM. Credentials come from the
// AWS SDK's standard chain (environment, shared files, SSO, container and
// instance roles), never from this file.
type AWSIAM struct {
	// Profile picks a named profile of the shared AWS config; empty uses
	// the standard chain (AWS_PROFILE included).
	Profile string `yaml:"profile"`
	// Region signs the requests; IAM is global, so it only selects the
	// partition (us-gov-west-1 for GovCloud). Default us-east-1.
	Region string `yaml:"region"`
	// Endpoint overrides the IAM endpoint (a VPC endpoint, a test fake).
	Endpoint string `yaml:"endpoint"`
	// VerifyTimeout bounds how long the worker reads a change back (a
	// deactivated key, a group membership), for IAM is eventually
	// consistent. Default 15s.
	VerifyTimeout policy.Duration `yaml:"verify_timeout"`
	// Groups are the groups aws_iam_group may add users to; none means
	// none.
	Groups []string `yaml:"groups"`
}

// WithDefaults fills what the file leaves out.
func (a AWSIAM) WithDefaults() AWSIAM {
	if a.Region == "" {
		a.Region = "us-east-1"
	}
	if a.VerifyTimeout == 0 {
		a.VerifyTimeout = policy.Duration(15 * time.Second)
	}
	return a
}

// GitHub says how the worker dispatches GitHub Actions workflows.
type GitHub struct {
	// BaseURL of the REST API; https://<host>/api/v3 for GitHub Enterprise
	// Server. Default https://api.github.com.
	BaseURL string `yaml:"base_url"`
	// TokenEnv names the environment variable with the token (a
	// fine-grained token or GitHub App token with actions:write). Default
	// GITHUB_TOKEN.
	TokenEnv string `yaml:"token_env"`
	// AllowedRepos are owner/repo patterns (path.Match: "acme/*") a request
	// may dispatch in; none means no repository is allowed, so a requester
	// cannot reach every repository the token can.
	AllowedRepos []string `yaml:"allowed_repos"`
	// ApprovalIDInput, when set, adds the approval ID as this workflow
	// input, so the dispatched workflow can drop a repeated run (GitHub's
	// dispatch API has no idempotency key). The workflow must declare it.
	ApprovalIDInput string `yaml:"approval_id_input"`
}

// WithDefaults fills what the file leaves out.
func (g GitHub) WithDefaults() GitHub {
	if g.BaseURL == "" {
		g.BaseURL = "https://api.github.com"
	}
	if g.TokenEnv == "" {
		g.TokenEnv = "GITHUB_TOKEN"
	}
	return g
}

// SecretTargets names the secret stores secret_change may write.
type SecretTargets struct {
	Targets map[string]SecretTarget `yaml:"targets"`
}

// SecretTarget is one store. Credentials come from the environment (the
// AWS SDK chain; TokenEnv for Vault), never from this file.
type SecretTarget struct {
	// Kind is aws_secrets_manager, vault_kv2, or memory (dev_only
	// configs: kept in the process, lost at exit).
	Kind string `yaml:"kind"`
	// Secrets are the names (path.Match patterns: "production/*") that may
	// be changed; none means none.
	Secrets []string `yaml:"secrets"`
	// AWS Secrets Manager.
	Region   string `yaml:"region"`
	Endpoint string `yaml:"endpoint"`
	Profile  string `yaml:"profile"`
	// Vault KV v2: the server, the KV mount (default secret) and the
	// environment variable holding the token (default VAULT_TOKEN).
	Address  string `yaml:"address"`
	Mount    string `yaml:"mount"`
	TokenEnv string `yaml:"token_env"`
	// Roll, when set, is told after each applied change (a signed POST),
	// so it restarts what reads the secret.
	Roll *SecretRoll `yaml:"roll"`
}

// SecretRoll is the webhook that rolls a secret's dependents.
type SecretRoll struct {
	URL       string `yaml:"url"`
	SecretEnv string `yaml:"secret_env"`
}
