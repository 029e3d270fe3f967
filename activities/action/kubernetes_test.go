package action

import (
	"context"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/internal/fakecloud"
)

const kubeToken = "kube-sa-token-0123456789abcdef"

func kubeAction(server, caFile string) *KubernetesRBAC {
	return &KubernetesRBAC{
		Clusters: map[string]KubernetesCluster{"prod": {
			Server: server, TokenEnv: "PROD_KUBE_TOKEN", CAFile: caFile,
			ClusterRoles: []string{"view", "cluster-admin"},
			Namespaces:   map[string][]string{"payments": {"deployer"}},
		}},
		LookupEnv: func(name string) (string, bool) { return kubeToken, name == "PROD_KUBE_TOKEN" },
	}
}

// kubeState is an approval of kv: cluster, role, namespace, subject,
// subject_kind pairs.
func kubeState(id string, kv ...string) *approval.State {
	p := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i]] = kv[i+1]
	}
	return &approval.State{ID: id, Request: approval.Request{Action: approval.Action{Type: KubernetesRBACType, Params: p}}}
}

var aliceView = []string{ParamKubeCluster, "prod", ParamKubeRole, "view", ParamKubeSubject, "alice@acme.com"}

func TestKubernetesRBACValidate(t *testing.T) {
	a := kubeAction("https://k8s.acme.internal", "")
	for _, kv := range [][]string{
		aliceView,
		{ParamKubeCluster, "prod", ParamKubeRole, "deployer", ParamKubeNamespace, "payments", ParamKubeSubject, "oncall", ParamKubeSubjectKind, "Group"},
	} {
		if err := a.Validate(kubeState("x", kv...).Request.Action); err != nil {
			t.Errorf("%v refused: %v", kv, err)
		}
	}
	if got := a.Resource(kubeState("x", aliceView...).Request.Action); got != "kubernetes_rbac:prod:*:view:User:alice@acme.com" {
		t.Errorf("resource %q", got)
	}
	ns := kubeState("x", ParamKubeCluster, "prod", ParamKubeRole, "deployer", ParamKubeNamespace, "payments", ParamKubeSubject, "oncall", ParamKubeSubjectKind, "Group")
	if got := a.Resource(ns.Request.Action); got != "kubernetes_rbac:prod:payments:deployer:Group:oncall" {
		t.Errorf("resource %q", got)
	}
	cases := map[string][]string{
		`cluster "staging" is not a configured cluster`:   {ParamKubeCluster, "staging", ParamKubeRole, "view", ParamKubeSubject, "alice"},
		`role "edit" is not a ClusterRole`:                {ParamKubeCluster, "prod", ParamKubeRole, "edit", ParamKubeSubject, "alice"},
		`role "deployer" is not a ClusterRole`:            {ParamKubeCluster, "prod", ParamKubeRole, "deployer", ParamKubeSubject, "alice"},
		`role "view" is not a Role that may be bound in`:  {ParamKubeCluster, "prod", ParamKubeRole, "view", ParamKubeNamespace, "payments", ParamKubeSubject, "alice"},
		`namespace "default" is not a configured`:         {ParamKubeCluster, "prod", ParamKubeRole, "deployer", ParamKubeNamespace, "default", ParamKubeSubject, "alice"},
		"param namespace must be a namespace name":        {ParamKubeCluster, "prod", ParamKubeRole, "deployer", ParamKubeNamespace, "Payments", ParamKubeSubject, "alice"},
		"param role must be a role name":                  {ParamKubeCluster, "prod", ParamKubeRole, "../view", ParamKubeSubject, "alice"},
		"param subject must be a user or group name":      {ParamKubeCluster, "prod", ParamKubeRole, "view", ParamKubeSubject, "alice bob"},
		"param subject must be a user or group name ":     {ParamKubeCluster, "prod", ParamKubeRole, "view"},
		"system: users and groups may not be bound":       {ParamKubeCluster, "prod", ParamKubeRole, "view", ParamKubeSubject, "system:authenticated", ParamKubeSubjectKind, "Group"},
		"param subject_kind must be User or Group":        {ParamKubeCluster, "prod", ParamKubeRole, "view", ParamKubeSubject, "alice", ParamKubeSubjectKind, "ServiceAccount"},
		`unknown param "verbs"`:                           {ParamKubeCluster, "prod", ParamKubeRole, "view", ParamKubeSubject, "alice", "verbs", "*"},
		`cluster "" is not a configured cluster`:          {ParamKubeRole, "view", ParamKubeSubject, "alice"},
		"param subject must be a user or group name  ":    {ParamKubeCluster, "prod", ParamKubeRole, "view", ParamKubeSubject, strings.Repeat("a", 254)},
		`role "cluster-admin" is not a Role that may be `: {ParamKubeCluster, "prod", ParamKubeRole, "cluster-admin", ParamKubeNamespace, "payments", ParamKubeSubject, "alice"},
	}
	for want, kv := range cases {
		err := a.Validate(kubeState("x", kv...).Request.Action)
		if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(want)) {
			t.Errorf("%v: want error containing %q, got %v", kv, want, err)
		}
	}
	withURL := kubeState("x", aliceView...).Request.Action
	withURL.URL = "https://k8s.acme.internal"
	if err := a.Validate(withURL); err == nil || !strings.Contains(err.Error(), "takes no url") {
		t.Errorf("url: %v", err)
	}
	// No clusters configured: nothing may be bound (deny by default).
	if err := (&KubernetesRBAC{}).Validate(kubeState("x", aliceView...).Request.Action); err == nil {
		t.Error("a binding was allowed with no cluster configured")
	}
}

func TestKubernetesRBACCheckConfig(t *testing.T) {
	ok := KubernetesCluster{Server: "https://k8s.acme.internal:6443", TokenEnv: "T", ClusterRoles: []string{"view"}}
	if err := (&KubernetesRBAC{Clusters: map[string]KubernetesCluster{"prod": ok}}).CheckConfig(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]KubernetesCluster{
		"server must be an https URL": {Server: "http://k8s.acme.internal", TokenEnv: "T", ClusterRoles: []string{"view"}},
		"server is empty":             {TokenEnv: "T", ClusterRoles: []string{"view"}},
		"token_env is required":       {Server: ok.Server, ClusterRoles: []string{"view"}},
		"name cluster_roles or":       {Server: ok.Server, TokenEnv: "T"},
		`"Edit" is not a role name`:   {Server: ok.Server, TokenEnv: "T", ClusterRoles: []string{"Edit"}},
		`"a_b" is not a namespace`:    {Server: ok.Server, TokenEnv: "T", Namespaces: map[string][]string{"a_b": {"x"}}},
		"credentials":                 {Server: "https://u:p@k8s.acme.internal", TokenEnv: "T", ClusterRoles: []string{"view"}},
	}
	for want, c := range bad {
		err := (&KubernetesRBAC{Clusters: map[string]KubernetesCluster{"prod": c}}).CheckConfig()
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "actions.kubernetes.clusters.prod") {
			t.Errorf("want error containing %q, got %v", want, err)
		}
	}
}

func TestKubernetesRBACGrantsOnceAndVerifies(t *testing.T) {
	fake := fakecloud.NewKubernetes(t, kubeToken)
	a, ctx := kubeAction(fake.URL, ""), context.Background()
	st := kubeState("approval1", aliceView...)

	if held, err := a.Holds(ctx, st); err != nil || held {
		t.Fatalf("before: holds %v, %v", held, err)
	}
	out, err := a.Run(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	name := kubeGrantOf(st.Request.Action).name
	if want := "bound ClusterRole view to User alice@acme.com on cluster prod (ClusterRoleBinding " + name + "; verified: bound)"; out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
	bs := fake.Bindings()
	if len(bs) != 1 {
		t.Fatalf("bindings %+v", bs)
	}
	b := bs[0]
	if b.Namespace != "" || b.Meta.Name != name || !strings.HasPrefix(name, "signoff-") ||
		b.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}) ||
		len(b.Subjects) != 1 || b.Subjects[0] != (rbacv1.Subject{Kind: "User", APIGroup: rbacv1.GroupName, Name: "alice@acme.com"}) {
		t.Fatalf("binding %+v", b)
	}
	if b.Meta.Labels[KubeManagedByLabel] != "signoff" || b.Meta.Labels[KubeApprovalLabel] != "approval1" ||
		b.Meta.Annotations[KubeResourceComment] != "kubernetes_rbac:prod:*:view:User:alice@acme.com" {
		t.Fatalf("labels %v, annotations %v", b.Meta.Labels, b.Meta.Annotations)
	}
	if held, err := a.Holds(ctx, st); err != nil || !held {
		t.Fatalf("after: holds %v, %v", held, err)
	}

	// A retry, and another approval of the same access, find the binding.
	for _, again := range []*approval.State{st, kubeState("approval2", aliceView...)} {
		out, err := a.Run(ctx, again)
		if err != nil || !strings.Contains(out, "was already bound") {
			t.Fatalf("again: %q, %v", out, err)
		}
	}
	if n := fake.Calls("create"); n != 1 || len(fake.Bindings()) != 1 || fake.Bindings()[0].Meta.UID != b.Meta.UID {
		t.Fatalf("%d creates, bindings %+v", n, fake.Bindings())
	}

	// Another subject is another binding; the managed-by label finds both.
	if _, err := a.Run(ctx, kubeState("approval3", ParamKubeCluster, "prod", ParamKubeRole, "view", ParamKubeSubject, "alice@acme.com", ParamKubeSubjectKind, "Group")); err != nil {
		t.Fatal(err)
	}
	c, _, err := a.open(st)
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.rbac.ClusterRoleBindings().List(ctx, metav1.ListOptions{LabelSelector: KubeManagedByLabel + "=" + KubeManagedBy})
	if err != nil || len(list.Items) != 2 || list.Items[0].Name == list.Items[1].Name {
		t.Fatalf("list: %v, %+v", err, list)
	}
}

func TestKubernetesRBACNamespacedGrantAndRevoke(t *testing.T) {
	fake := fakecloud.NewKubernetes(t, kubeToken)
	a, ctx := kubeAction(fake.URL, ""), context.Background()
	st := kubeState("approval1", ParamKubeCluster, "prod", ParamKubeRole, "deployer", ParamKubeNamespace, "payments",
		ParamKubeSubject, "oncall", ParamKubeSubjectKind, "Group")
	// Someone else's binding in the namespace stays as it is.
	fake.Put(fakecloud.KubeBinding{Namespace: "payments", Meta: metav1.ObjectMeta{Name: "team"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "deployer"}, Subjects: []rbacv1.Subject{{Kind: "User", Name: "bob"}}})

	if _, err := a.Run(ctx, st); err != nil {
		t.Fatal(err)
	}
	bs := fake.Bindings()
	if len(bs) != 2 || bs[0].Namespace != "payments" || bs[0].RoleRef.Kind != "Role" || bs[0].Subjects[0].Kind != "Group" {
		t.Fatalf("bindings %+v", bs)
	}

	out, err := a.Revoke(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "unbound Role deployer in namespace payments to Group oncall on cluster prod (deleted RoleBinding signoff-") {
		t.Fatalf("output %q", out)
	}
	if bs := fake.Bindings(); len(bs) != 1 || bs[0].Meta.Name != "team" {
		t.Fatalf("after revoke %+v", bs)
	}
	if held, err := a.Holds(ctx, st); err != nil || held {
		t.Fatalf("holds %v, %v", held, err)
	}
	// Already gone: success, nothing deleted.
	out, err = a.Revoke(ctx, st)
	if err != nil || !strings.Contains(out, "was not bound") || fake.Calls("delete") != 1 {
		t.Fatalf("again: %q, %v, %d deletes", out, err, fake.Calls("delete"))
	}
}

func TestKubernetesRBACDeletesOnlyTheBindingItRead(t *testing.T) {
	fake := fakecloud.NewKubernetes(t, kubeToken)
	a, ctx := kubeAction(fake.URL, ""), context.Background()
	st := kubeState("approval1", aliceView...)
	if _, err := a.Run(ctx, st); err != nil {
		t.Fatal(err)
	}
	c, g, err := a.open(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.delete(ctx, g.name, "some-other-uid"); !apierrors.IsConflict(err) || len(fake.Bindings()) != 1 {
		t.Fatalf("delete with another uid: %v, %d bindings", err, len(fake.Bindings()))
	}
	// A conflict (the binding changed between the look and the delete) is
	// looked at again by the retry.
	fake.FailNext("delete", 409)
	if _, err := a.Revoke(ctx, st); err == nil || IsPermanent(err) || len(fake.Bindings()) != 1 {
		t.Fatalf("conflict: %v (permanent %v)", err, IsPermanent(err))
	}
	if _, err := a.Revoke(ctx, st); err != nil || len(fake.Bindings()) != 0 {
		t.Fatalf("retry: %v, %+v", err, fake.Bindings())
	}
}

func TestKubernetesRBACLeavesForeignBindingsAlone(t *testing.T) {
	fake := fakecloud.NewKubernetes(t, kubeToken)
	a, ctx := kubeAction(fake.URL, ""), context.Background()
	st := kubeState("approval1", aliceView...)
	name := kubeGrantOf(st.Request.Action).name
	foreign := []fakecloud.KubeBinding{
		// Same name, another subject.
		{Meta: metav1.ObjectMeta{Name: name, Labels: map[string]string{KubeManagedByLabel: KubeManagedBy}},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}, Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "mallory"}}},
		// Same content, not Signoff's.
		{Meta: metav1.ObjectMeta{Name: name},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}, Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "alice@acme.com"}}},
	}
	for _, f := range foreign {
		fake.Put(f)
		before := fake.Bindings()
		if _, err := a.Run(ctx, st); err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "is not Signoff's binding") {
			t.Errorf("grant: %v", err)
		}
		if _, err := a.Revoke(ctx, st); err == nil || !IsPermanent(err) {
			t.Errorf("revoke: %v", err)
		}
		if _, err := a.Holds(ctx, st); err == nil || !IsPermanent(err) {
			t.Errorf("holds: %v", err)
		}
		after := fake.Bindings()
		if len(after) != 1 || after[0].Meta.UID != before[0].Meta.UID || after[0].Meta.ResourceVersion != before[0].Meta.ResourceVersion {
			t.Errorf("foreign binding changed: %+v", after)
		}
	}
	if fake.Calls("create") != 0 || fake.Calls("delete") != 0 {
		t.Errorf("%d creates, %d deletes", fake.Calls("create"), fake.Calls("delete"))
	}
}

func TestKubernetesRBACErrorsAreClassified(t *testing.T) {
	fake := fakecloud.NewKubernetes(t, kubeToken)
	ctx, st := context.Background(), kubeState("approval1", aliceView...)

	wrong := kubeAction(fake.URL, "")
	wrong.LookupEnv = func(string) (string, bool) { return "not-the-token", true }
	if _, err := wrong.Run(ctx, st); err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "Unauthorized") {
		t.Errorf("wrong token: %v", err)
	}
	unset := kubeAction(fake.URL, "")
	unset.LookupEnv = func(string) (string, bool) { return "", false }
	if _, err := unset.Run(ctx, st); err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "PROD_KUBE_TOKEN is not set") {
		t.Errorf("no token: %v", err)
	}
	if _, err := kubeAction(fake.URL, "").Run(ctx, kubeState("approval1", ParamKubeCluster, "prod", ParamKubeRole, "cluster-admin", ParamKubeNamespace, "payments", ParamKubeSubject, "alice")); err == nil || !IsPermanent(err) {
		t.Errorf("not allowed: %v", err)
	}
	if fake.Calls("get") != 0 {
		t.Errorf("the API was read for a refused grant")
	}

	a := kubeAction(fake.URL, "")
	for verb, code := range map[string]int{"create": 503, "get": 429} {
		fake.FailNext(verb, code)
		if _, err := a.Run(ctx, st); err == nil || IsPermanent(err) {
			t.Errorf("%s %d must be retried: %v", verb, code, err)
		}
		if len(fake.Bindings()) != 0 {
			t.Fatalf("bound although the call failed")
		}
	}
	fake.FailNext("create", 403)
	if _, err := a.Run(ctx, st); err == nil || !IsPermanent(err) || !apierrors.IsForbidden(err) {
		t.Errorf("forbidden: %v", err)
	}
	// The retry after a 503 binds, once.
	fake.FailNext("create", 503)
	if _, err := a.Run(ctx, st); err == nil || IsPermanent(err) {
		t.Fatalf("503: %v", err)
	}
	if _, err := a.Run(ctx, st); err != nil || len(fake.Bindings()) != 1 {
		t.Fatalf("retry: %v, %+v", err, fake.Bindings())
	}
	fake.FailNext("delete", 500)
	if _, err := a.Revoke(ctx, st); err == nil || IsPermanent(err) || len(fake.Bindings()) != 1 {
		t.Errorf("delete 500: %v", err)
	}
}

func TestKubernetesRBACOverTLSWithCAFile(t *testing.T) {
	fake := &fakecloud.Kubernetes{Token: kubeToken}
	srv := httptest.NewTLSServer(fake)
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, st := context.Background(), kubeState("approval1", aliceView...)
	if _, err := kubeAction(srv.URL, ca).Run(ctx, st); err != nil || len(fake.Bindings()) != 1 {
		t.Fatalf("with the CA: %v", err)
	}
	// The system roots do not know the test CA: a misconfiguration.
	if _, err := kubeAction(srv.URL, "").Revoke(ctx, st); err == nil || !IsPermanent(err) {
		t.Errorf("without the CA: %v", err)
	}
	if _, err := kubeAction(srv.URL, filepath.Join(t.TempDir(), "missing.pem")).Revoke(ctx, st); err == nil || !IsPermanent(err) {
		t.Errorf("missing CA file: %v", err)
	}
	if len(fake.Bindings()) != 1 {
		t.Error("revoked without a verified server")
	}
}
