package worker

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/signoff/signoff/activities/action"
	"github.com/signoff/signoff/approval/evidence"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/redact"
	"github.com/signoff/signoff/secretchange"
	"github.com/signoff/signoff/temporal/codec"
)

// cloudActions registers aws_iam_deactivate_key, aws_iam_group,
// postgres_role, github_workflow_dispatch, webhook_grant and
// kubernetes_rbac. None reads a credential here: the IAM client, the DSNs,
// the GitHub token, the webhook_grant keys and the Kubernetes tokens
// (looked up in sec.Env) are resolved when an action runs, on the worker.
func cloudActions(cfg *config.Loaded, sec Secrets, reg *action.Registry) error {
	ic := cfg.Actions.AWSIAM.WithDefaults()
	if err := checkBaseURL("actions.aws_iam.endpoint", ic.Endpoint); err != nil {
		return err
	}
	// One client (one AWS config load) for both IAM actions.
	iamClient := action.NewIAMClient(action.IAMClientOptions{Profile: ic.Profile, Region: ic.Region, Endpoint: ic.Endpoint})
	reg.Register(action.IAMDeactivateKeyType, &action.IAMDeactivateKey{
		Client:        iamClient,
		VerifyTimeout: time.Duration(ic.VerifyTimeout),
	})
	reg.Register(action.IAMGroupType, &action.IAMGroup{
		Groups:        ic.Groups,
		Client:        action.IAMGroupClient(iamClient),
		VerifyTimeout: time.Duration(ic.VerifyTimeout),
	})

	gc := cfg.Actions.GitHub.WithDefaults()
	if err := checkBaseURL("actions.github.base_url", gc.BaseURL); err != nil {
		return err
	}
	if gc.ApprovalIDInput != "" && !githubInputName.MatchString(gc.ApprovalIDInput) {
		return fmt.Errorf("actions.github.approval_id_input %q is not a workflow input name", gc.ApprovalIDInput)
	}
	targets := map[string]action.PostgresTarget{}
	for name, t := range cfg.Actions.Postgres.Targets {
		if t.URLEnv == "" || len(t.Roles) == 0 {
			return fmt.Errorf("actions.postgres.targets.%s: url_env and roles are required", name)
		}
		targets[name] = action.PostgresTarget{URLEnv: t.URLEnv, Roles: t.Roles}
	}
	reg.Register(action.PostgresRoleType, &action.PostgresRole{Targets: targets, LookupEnv: sec.Env.Lookup})

	reg.Register(action.GitHubDispatchType, &action.GitHubDispatch{
		BaseURL: gc.BaseURL, TokenEnv: gc.TokenEnv, LookupEnv: sec.Env.Lookup, AllowedRepos: gc.AllowedRepos,
		ApprovalIDInput: gc.ApprovalIDInput, Client: &http.Client{Timeout: 30 * time.Second},
	})

	grants := &action.WebhookGrant{
		Targets: map[string]action.WebhookGrantTarget{}, LookupEnv: sec.Env.Lookup,
		Client: &http.Client{Timeout: 30 * time.Second}, Redact: newRedactor(cfg, sec),
	}
	for name, t := range cfg.Actions.WebhookGrants {
		grants.Targets[name] = action.WebhookGrantTarget{GrantURL: t.GrantURL, RevokeURL: t.RevokeURL, StatusURL: t.StatusURL, SecretEnv: t.SecretEnv}
	}
	if err := grants.CheckConfig(); err != nil {
		return err
	}
	reg.Register(action.WebhookGrantType, grants)

	kube := &action.KubernetesRBAC{Clusters: map[string]action.KubernetesCluster{}, LookupEnv: sec.Env.Lookup}
	for name, c := range cfg.Actions.Kubernetes.Clusters {
		if c.Server == "" || c.TokenEnv == "" {
			return fmt.Errorf("actions.kubernetes.clusters.%s: server and token_env are required", name)
		}
		kube.Clusters[name] = action.KubernetesCluster{Server: c.Server, TokenEnv: c.TokenEnv, CAFile: c.CAFile,
			ClusterRoles: c.ClusterRoles, Namespaces: c.Namespaces}
	}
	if err := kube.CheckConfig(); err != nil {
		return err
	}
	reg.Register(action.KubernetesRBACType, kube)
	return nil
}

var githubInputName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,99}$`)

// checkBaseURL accepts an empty value or an absolute http(s) URL without
// credentials (they belong in the environment).
func checkBaseURL(key, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return fmt.Errorf("%s: want an absolute http(s) URL without credentials", key)
	}
	return nil
}

// secretEnvs name environment variables holding secrets the worker knows
// of; their values are redacted from action outputs and errors.
var secretEnvs = []string{
	"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SMTP_PASSWORD",
	config.EnvEmailLinkKey, config.EnvEmailLinkKeyPrevious, evidence.EnvKey,
}

// keyListEnvs hold id:base64key lists; each key is redacted.
var keyListEnvs = []string{codec.EnvKeys, proof.KeysEnv, secretchange.EnvKeys}

// secretValues are the values of every secret the worker reads: the fixed
// names above, those the config names, and the codec and proof keys, as found in the
// environment handed down (sec.Env).
func secretValues(cfg *config.Loaded, sec Secrets) []string {
	names := append(slices.Clone(secretEnvs), cfg.Actions.Webhook.SecretEnv, cfg.Actions.GitHub.WithDefaults().TokenEnv, cfg.Temporal.APIKeyEnv)
	for _, t := range cfg.Actions.WebhookGrants {
		names = append(names, t.SecretEnv)
	}
	for _, c := range cfg.Actions.Kubernetes.Clusters {
		names = append(names, c.TokenEnv)
	}
	gh := cfg.GitHubApp.WithDefaults()
	names = append(names, gh.WebhookSecretEnv, gh.PrivateKeyEnv, cfg.Teams.WithDefaults().AppPasswordEnv)
	for _, t := range cfg.Actions.Secrets.Targets {
		names = append(names, t.TokenEnv)
		if t.Roll != nil {
			names = append(names, t.Roll.SecretEnv)
		}
	}
	var out []string
	for _, n := range names {
		if v := sec.Env.Get(n); v != "" {
			out = append(out, v)
		}
	}
	// The grant targets' DSNs, and each one's password alone: a driver's
	// error may quote it without the rest.
	for _, t := range cfg.Actions.Postgres.Targets {
		dsn := sec.Env.Get(t.URLEnv)
		if dsn == "" {
			continue
		}
		out = append(out, dsn)
		if u, err := url.Parse(dsn); err == nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				out = append(out, pw)
			}
		}
	}
	// Codec and proof keys as written (base64); a malformed list is
	// reported by its parser, not here.
	for _, env := range keyListEnvs {
		for _, entry := range strings.Split(sec.Env.Get(env), ",") {
			if _, key, ok := strings.Cut(entry, ":"); ok {
				out = append(out, strings.TrimSpace(key))
			}
		}
	}
	return out
}

// newRedactor scrubs the worker's secrets and common token shapes from
// action outputs and errors.
func newRedactor(cfg *config.Loaded, sec Secrets) func(string) string {
	return redact.New(secretValues(cfg, sec)...).Redact
}
