package approval_test

import (
	"reflect"
	"testing"

	"github.com/signoff/signoff/activities/action"
	"github.com/signoff/signoff/approval"
)

func TestActionView(t *testing.T) {
	type P = approval.Param
	cases := []struct {
		name string
		in   approval.Action
		want approval.ActionView
	}{
		{"noop", approval.Action{Type: "noop"},
			approval.ActionView{Type: "noop", Target: "nothing runs", Params: []P{}}},
		{"no type is noop", approval.Action{},
			approval.ActionView{Type: "noop", Target: "nothing runs", Params: []P{}}},
		{"noop shows stray params and url", approval.Action{Type: "noop", URL: "http://x", Params: map[string]string{"why": "record"}},
			approval.ActionView{Type: "noop", Target: "nothing runs (URL http://x)", Params: []P{{"why", "record"}}}},
		{"webhook", approval.Action{Type: "webhook", URL: "https://hooks.example.com/deploy?env=prod",
			Params: map[string]string{"service": "api", "note": "<b>ship</b> & go"}},
			approval.ActionView{Type: "webhook", Target: "https://hooks.example.com/deploy?env=prod",
				Params: []P{{"note", "<b>ship</b> & go"}, {"service", "api"}}}},
		{"webhook without url", approval.Action{Type: "webhook"},
			approval.ActionView{Type: "webhook", Target: "no URL", Params: []P{}}},
		{"github", approval.Action{Type: "github_workflow_dispatch", Params: map[string]string{
			"owner": "acme", "repo": "api", "workflow": "deploy.yml", "ref": "release/2.3", "input.version": "2.3.0", "input.dry_run": "false"}},
			approval.ActionView{Type: "github_workflow_dispatch", Target: "acme/api, workflow deploy.yml at ref release/2.3",
				Params: []P{{"input.dry_run", "false"}, {"input.version", "2.3.0"}, {"owner", "acme"}, {"ref", "release/2.3"},
					{"repo", "api"}, {"workflow", "deploy.yml"}}}},
		{"github missing names", approval.Action{Type: "github_workflow_dispatch", Params: map[string]string{"owner": "acme"}},
			approval.ActionView{Type: "github_workflow_dispatch", Target: "acme/?, workflow ? at ref ?", Params: []P{{"owner", "acme"}}}},
		// The key ID is shown whole: it names the key, it is not the secret.
		{"iam", approval.Action{Type: "aws_iam_deactivate_key", Params: map[string]string{"user_name": "ci-bot", "access_key_id": "AKIAIOSFODNN7EXAMPLE"}},
			approval.ActionView{Type: "aws_iam_deactivate_key", Target: "IAM user ci-bot, access key AKIAIOSFODNN7EXAMPLE",
				Params: []P{{"access_key_id", "AKIAIOSFODNN7EXAMPLE"}, {"user_name", "ci-bot"}}}},
		{"postgres role", approval.Action{Type: "postgres_role", Params: map[string]string{"target": "orders", "role": "orders_read", "user": "alice_db"}},
			approval.ActionView{Type: "postgres_role", Target: "role orders_read for login alice_db on orders",
				Params: []P{{"role", "orders_read"}, {"target", "orders"}, {"user", "alice_db"}}}},
		{"kubernetes role", approval.Action{Type: "kubernetes_rbac", Params: map[string]string{"cluster": "prod", "namespace": "payments", "role": "debugger", "subject": "alice@example.com"}},
			approval.ActionView{Type: "kubernetes_rbac", Target: "Role debugger for user alice@example.com on cluster prod, in namespace payments",
				Params: []P{{"cluster", "prod"}, {"namespace", "payments"}, {"role", "debugger"}, {"subject", "alice@example.com"}}}},
		{"kubernetes cluster role", approval.Action{Type: "kubernetes_rbac", Params: map[string]string{"cluster": "prod", "role": "view", "subject": "sre", "subject_kind": "Group"}},
			approval.ActionView{Type: "kubernetes_rbac", Target: "ClusterRole view for group sre on cluster prod, cluster-wide",
				Params: []P{{"cluster", "prod"}, {"role", "view"}, {"subject", "sre"}, {"subject_kind", "Group"}}}},
		{"secret change", approval.Action{Type: "secret_change", Params: map[string]string{"target": "prod", "secret": "production/api"}},
			approval.ActionView{Type: "secret_change", Target: "secret production/api on prod",
				Params: []P{{"secret", "production/api"}, {"target", "prod"}}}},
		{"unknown type shows url and every param", approval.Action{Type: "pagerduty", URL: "https://pd.example.com/x",
			Params: map[string]string{"b": "2", "a": "1"}},
			approval.ActionView{Type: "pagerduty", Target: "https://pd.example.com/x", Params: []P{{"a", "1"}, {"b", "2"}}}},
		{"unknown type without url", approval.Action{Type: "pagerduty", Params: map[string]string{"service": "PX1"}},
			approval.ActionView{Type: "pagerduty", Target: "no URL", Params: []P{{"service", "PX1"}}}},
		// Params carry no credentials by design; one that slips in is masked.
		{"credential shapes are masked", approval.Action{Type: "webhook", URL: "https://user:hunter2@hooks.example.com/x",
			Params: map[string]string{"token": "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "other_key": "AKIAIOSFODNN7EXAMPLE"}},
			approval.ActionView{Type: "webhook", Target: "https://[redacted]@hooks.example.com/x",
				Params: []P{{"other_key", "[redacted]"}, {"token", "[redacted]"}}}},
		// A value cannot add lines or hide text: newlines, bidi overrides
		// and zero-width spaces are written as escapes.
		{"invisible characters are shown", approval.Action{Type: "webhook", URL: "https://x.example.com/\u202egpj.exe",
			Params: map[string]string{"ref": "main\n• owner: evil", "z": "a\u200bb\tc", "uni": "Zürich 東京"}},
			approval.ActionView{Type: "webhook", Target: `https://x.example.com/\u202egpj.exe`,
				Params: []P{{"ref", `main\n• owner: evil`}, {"uni", "Zürich 東京"}, {"z", `a\u200bb\tc`}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.in.View()
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("View()\n got %#v\nwant %#v", got, c.want)
			}
			for range 5 { // map order must not leak into the view
				if again := c.in.View(); !reflect.DeepEqual(again, got) {
					t.Fatalf("not deterministic: %#v then %#v", got, again)
				}
			}
		})
	}
}

func TestActionViewHeadline(t *testing.T) {
	v := approval.Action{Type: "webhook", URL: "https://h.example.com/x"}.View()
	if got := v.Headline(); got != "webhook → https://h.example.com/x" {
		t.Errorf("headline %q", got)
	}
}

// The view spells the types and params of activities/action, which it
// cannot import; this catches a rename on either side.
func TestActionViewKnowsTheActionTypes(t *testing.T) {
	gh := approval.Action{Type: action.GitHubDispatchType, Params: map[string]string{
		action.ParamGitHubOwner: "o", action.ParamGitHubRepo: "r", action.ParamGitHubWorkflow: "w.yml", action.ParamGitHubRef: "main"}}
	if got := gh.View().Target; got != "o/r, workflow w.yml at ref main" {
		t.Errorf("github target %q", got)
	}
	iam := approval.Action{Type: action.IAMDeactivateKeyType, Params: map[string]string{
		action.ParamIAMUserName: "u", action.ParamIAMAccessKeyID: "AKIAIOSFODNN7EXAMPLE"}}
	if got := iam.View().Target; got != "IAM user u, access key AKIAIOSFODNN7EXAMPLE" {
		t.Errorf("iam target %q", got)
	}
}
