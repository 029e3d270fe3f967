package config

import (
	"maps"
	"slices"

	"github.com/signoff/signoff/policy/catalog"
)

// Grantables are the things the actions config lets a grant action grant,
// for the catalog of what people may request: each PostgreSQL target's
// roles, each IAM group, each webhook_grant target, each Kubernetes
// cluster's ClusterRoles and namespaced Roles. Only what is named here
// can be granted (each action's Validate refuses the rest), so the catalog
// and the actions agree.
func (a Actions) Grantables() []catalog.Grantable {
	var out []catalog.Grantable
	for _, target := range slices.Sorted(maps.Keys(a.Postgres.Targets)) {
		for _, role := range a.Postgres.Targets[target].Roles {
			out = append(out, catalog.Grantable{
				ActionType: "postgres_role", Title: "PostgreSQL role " + role + " on " + target,
				Params: map[string]string{"target": target, "role": role},
				Ask:    []catalog.Field{{Param: "user", Hint: "the PostgreSQL login that gets the role"}},
			})
		}
	}
	for _, group := range a.AWSIAM.Groups {
		out = append(out, catalog.Grantable{
			ActionType: "aws_iam_group", Title: "IAM group " + group,
			Params: map[string]string{"group": group},
			Ask:    []catalog.Field{{Param: "user", Hint: "the IAM user added to the group"}},
		})
	}
	for _, target := range slices.Sorted(maps.Keys(a.WebhookGrants)) {
		out = append(out, catalog.Grantable{
			ActionType: "webhook_grant", Title: "Access through " + target,
			Params: map[string]string{"target": target},
			Ask: []catalog.Field{
				{Param: "subject", Hint: "who gets the access, as " + target + " names them"},
				{Param: "access", Hint: "which access, as " + target + " names it"},
			},
		})
	}
	for _, cluster := range slices.Sorted(maps.Keys(a.Kubernetes.Clusters)) {
		c := a.Kubernetes.Clusters[cluster]
		subject := []catalog.Field{{Param: "subject", Hint: "the Kubernetes user the cluster authenticates (subject_kind Group for a group)"}}
		for _, role := range c.ClusterRoles {
			out = append(out, catalog.Grantable{
				ActionType: "kubernetes_rbac", Title: "ClusterRole " + role + " on " + cluster,
				Params: map[string]string{"cluster": cluster, "role": role}, Ask: subject,
			})
		}
		for _, ns := range slices.Sorted(maps.Keys(c.Namespaces)) {
			for _, role := range c.Namespaces[ns] {
				out = append(out, catalog.Grantable{
					ActionType: "kubernetes_rbac", Title: "Role " + role + " in " + cluster + "/" + ns,
					Params: map[string]string{"cluster": cluster, "namespace": ns, "role": role}, Ask: subject,
				})
			}
		}
	}
	return out
}
