package config

import (
	"slices"
	"testing"
)

// TestGrantablesAreWhatTheActionsConfigNames: every configured role,
// group, receiver and Kubernetes role is one item, in a stable order, with
// the params its action validates, and nothing else.
func TestGrantablesAreWhatTheActionsConfigNames(t *testing.T) {
	a := Actions{
		Postgres: PostgresRoles{Targets: map[string]PostgresTarget{
			"orders": {URLEnv: "X", Roles: []string{"orders_read", "orders_write"}}, "billing": {URLEnv: "Y", Roles: []string{"billing_read"}},
		}},
		AWSIAM:        AWSIAM{Groups: []string{"auditors"}},
		WebhookGrants: map[string]WebhookGrantTarget{"vpn": {}},
		Kubernetes: KubernetesRBAC{Clusters: map[string]KubernetesCluster{
			"prod": {ClusterRoles: []string{"view"}, Namespaces: map[string][]string{"payments": {"debugger"}}},
		}},
	}
	var got []string
	for _, g := range a.Grantables() {
		got = append(got, g.ActionType+" "+g.Title)
		for _, f := range g.Ask {
			if _, fixed := g.Params[f.Param]; fixed {
				t.Errorf("%s asks for %s, which it fixes", g.Title, f.Param)
			}
		}
	}
	want := []string{
		"postgres_role PostgreSQL role billing_read on billing",
		"postgres_role PostgreSQL role orders_read on orders",
		"postgres_role PostgreSQL role orders_write on orders",
		"aws_iam_group IAM group auditors",
		"webhook_grant Access through vpn",
		"kubernetes_rbac ClusterRole view on prod",
		"kubernetes_rbac Role debugger in prod/payments",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
}
