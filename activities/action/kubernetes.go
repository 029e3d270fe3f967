package action

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	rbacclient "k8s.io/client-go/kubernetes/typed/rbac/v1"
	"k8s.io/client-go/rest"

	"github.com/signoff/signoff/approval"
)

// KubernetesRBACType binds a configured ClusterRole or Role to a user or
// group for the approval's duration, then deletes the binding.
const KubernetesRBACType = "kubernetes_rbac"

// Parameters of kubernetes_rbac.
const (
	ParamKubeCluster     = "cluster"
	ParamKubeRole        = "role"
	ParamKubeNamespace   = "namespace"
	ParamKubeSubject     = "subject"
	ParamKubeSubjectKind = "subject_kind"
)

// Labels and annotations on the bindings Signoff creates: managed-by, and
// the approval that created the binding (a label and an annotation), and
// the resource (an annotation).
const (
	KubeManagedByLabel  = "app.kubernetes.io/managed-by"
	KubeManagedBy       = "signoff"
	KubeApprovalLabel   = "signoff.dev/approval"
	KubeResourceComment = "signoff.dev/resource"
)

var (
	kubeClusterName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	// A namespace is a DNS label.
	kubeNamespace = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// A role name is a DNS subdomain, with ':' as in system: roles.
	kubeRoleName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.:]{0,251}[a-z0-9])?$`)
	// Kubernetes does not restrict user and group names; these are the
	// characters identity providers use.
	kubeSubject    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9@._:+=-]{0,252}$`)
	kubeLabelValue = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
)

// KubernetesRBAC is the kubernetes_rbac action. A grant is one binding
// whose name is derived from what it grants (cluster, namespace, role,
// subject), so every approval of the same access finds the same binding:
// a ClusterRoleBinding of a configured ClusterRole (namespace empty) or a
// RoleBinding of a configured Role in its namespace. Grant and revoke each
// read the binding first, act once and read back; a binding of that name
// that binds anything else is never changed.
type KubernetesRBAC struct {
	// Clusters are the configured clusters (actions.kubernetes.clusters);
	// nothing else is ever bound.
	Clusters map[string]KubernetesCluster
	// LookupEnv finds each cluster's token (TokenEnv) when the action runs,
	// on the worker only. nil finds nothing.
	LookupEnv func(string) (string, bool)
	// Timeout bounds each API request. Default 30s.
	Timeout time.Duration
}

// KubernetesCluster is one API server and what may be bound there.
type KubernetesCluster struct {
	Server, TokenEnv, CAFile string
	// ClusterRoles may be bound cluster-wide.
	ClusterRoles []string
	// Namespaces maps a namespace to the Roles (namespaced) that may be
	// bound in it.
	Namespaces map[string][]string
}

// CheckConfig checks every cluster; the worker refuses to start on a bad
// one. Nothing is read: the gateway has neither the token nor the CA.
func (k *KubernetesRBAC) CheckConfig() error {
	for _, name := range slices.Sorted(maps.Keys(k.Clusters)) {
		c, key := k.Clusters[name], "actions.kubernetes.clusters."+name
		if !kubeClusterName.MatchString(name) {
			return fmt.Errorf("%s: a cluster name is 1-64 characters of A-Z a-z 0-9 _ -", key)
		}
		u, err := checkGrantURL(c.Server)
		if err != nil {
			return fmt.Errorf("%s.server %w", key, err)
		}
		if u.RawQuery != "" {
			return fmt.Errorf("%s.server must not have a query", key)
		}
		if c.TokenEnv == "" {
			return fmt.Errorf("%s.token_env is required (the environment variable with the service account's token)", key)
		}
		if len(c.ClusterRoles) == 0 && len(c.Namespaces) == 0 {
			return fmt.Errorf("%s: name cluster_roles or namespaces (nothing may be bound otherwise)", key)
		}
		for _, r := range c.ClusterRoles {
			if !kubeRoleName.MatchString(r) {
				return fmt.Errorf("%s.cluster_roles: %q is not a role name", key, r)
			}
		}
		for _, ns := range slices.Sorted(maps.Keys(c.Namespaces)) {
			if !kubeNamespace.MatchString(ns) {
				return fmt.Errorf("%s.namespaces: %q is not a namespace name", key, ns)
			}
			for _, r := range c.Namespaces[ns] {
				if !kubeRoleName.MatchString(r) {
					return fmt.Errorf("%s.namespaces.%s: %q is not a role name", key, ns, r)
				}
			}
		}
	}
	return nil
}

// Validate checks cluster, role, namespace and subject before anyone is
// asked.
func (k *KubernetesRBAC) Validate(a approval.Action) error {
	if a.URL != "" {
		return errors.New("takes no url (the cluster names the API server)")
	}
	known := []string{ParamKubeCluster, ParamKubeRole, ParamKubeNamespace, ParamKubeSubject, ParamKubeSubjectKind}
	for _, p := range slices.Sorted(maps.Keys(a.Params)) {
		if !slices.Contains(known, p) {
			return fmt.Errorf("unknown param %q (want %s)", p, strings.Join(known, ", "))
		}
	}
	name, role, ns, subject := a.Params[ParamKubeCluster], a.Params[ParamKubeRole], a.Params[ParamKubeNamespace], a.Params[ParamKubeSubject]
	c, ok := k.Clusters[name]
	nsRoles, nsOK := c.Namespaces[ns]
	switch {
	case !ok:
		return fmt.Errorf("param %s %q is not a configured cluster (actions.kubernetes.clusters: %v)", ParamKubeCluster, name, slices.Sorted(maps.Keys(k.Clusters)))
	case !kubeRoleName.MatchString(role):
		return fmt.Errorf("param %s must be a role name (lower case letters, digits, - . :)", ParamKubeRole)
	case ns == "" && !slices.Contains(c.ClusterRoles, role):
		return fmt.Errorf("param %s %q is not a ClusterRole that may be bound on %s (cluster_roles: %v)", ParamKubeRole, role, name, c.ClusterRoles)
	case ns != "" && !kubeNamespace.MatchString(ns):
		return fmt.Errorf("param %s must be a namespace name (lower case letters, digits, -; at most 63)", ParamKubeNamespace)
	case ns != "" && !nsOK:
		return fmt.Errorf("param %s %q is not a configured namespace of %s (namespaces: %v)", ParamKubeNamespace, ns, name, slices.Sorted(maps.Keys(c.Namespaces)))
	case ns != "" && !slices.Contains(nsRoles, role):
		return fmt.Errorf("param %s %q is not a Role that may be bound in %s on %s (%v)", ParamKubeRole, role, ns, name, nsRoles)
	case !kubeSubject.MatchString(subject):
		return fmt.Errorf("param %s must be a user or group name: 1-253 characters of A-Z a-z 0-9 @ . _ : + = -", ParamKubeSubject)
	case strings.HasPrefix(strings.ToLower(subject), "system:"):
		// system:authenticated, system:masters, service accounts: never.
		return fmt.Errorf("param %s %q: system: users and groups may not be bound", ParamKubeSubject, subject)
	}
	if kind := a.Params[ParamKubeSubjectKind]; kind != "" && kind != rbacv1.UserKind && kind != rbacv1.GroupKind {
		return fmt.Errorf("param %s must be %s or %s", ParamKubeSubjectKind, rbacv1.UserKind, rbacv1.GroupKind)
	}
	return nil
}

// kubeGrant is one validated grant.
type kubeGrant struct {
	cluster, namespace, subjectKind, subject string
	roleRef                                  rbacv1.RoleRef
	name                                     string // the binding's
}

func kubeGrantOf(a approval.Action) kubeGrant {
	g := kubeGrant{cluster: a.Params[ParamKubeCluster], namespace: a.Params[ParamKubeNamespace],
		subjectKind: a.Params[ParamKubeSubjectKind], subject: a.Params[ParamKubeSubject],
		roleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: a.Params[ParamKubeRole]}}
	if g.subjectKind == "" {
		g.subjectKind = rbacv1.UserKind
	}
	if g.namespace != "" {
		g.roleRef.Kind = "Role"
	}
	// Deterministic per access, not per approval: overlapping grants share
	// one binding, and the last revoke (the lease's) deletes it.
	sum := sha256.Sum256([]byte(strings.Join([]string{g.cluster, g.namespace, g.roleRef.Kind, g.roleRef.Name, g.subjectKind, g.subject}, "\x00")))
	g.name = "signoff-" + hex.EncodeToString(sum[:10])
	return g
}

// kind is the binding's kind.
func (g kubeGrant) kind() string {
	if g.namespace == "" {
		return "ClusterRoleBinding"
	}
	return "RoleBinding"
}

func (g kubeGrant) String() string {
	in := ""
	if g.namespace != "" {
		in = " in namespace " + g.namespace
	}
	return fmt.Sprintf("%s %s%s to %s %s on cluster %s", g.roleRef.Kind, g.roleRef.Name, in, g.subjectKind, g.subject, g.cluster)
}

func (g kubeGrant) subjects() []rbacv1.Subject {
	return []rbacv1.Subject{{Kind: g.subjectKind, APIGroup: rbacv1.GroupName, Name: g.subject}}
}

// mismatch says how b differs from what g binds ("" if it does not): the
// role, the one subject, and Signoff's label, for a binding without it is
// someone else's and is never deleted.
func (g kubeGrant) mismatch(b *kubeBinding) string {
	var s []string
	if b.roleRef != g.roleRef {
		s = append(s, fmt.Sprintf("roleRef %s %s", b.roleRef.Kind, b.roleRef.Name))
	}
	if !slices.Equal(b.subjects, g.subjects()) {
		s = append(s, fmt.Sprintf("%d subject(s)", len(b.subjects)))
	}
	if b.meta.Labels[KubeManagedByLabel] != KubeManagedBy {
		s = append(s, "not labelled "+KubeManagedByLabel+"="+KubeManagedBy)
	}
	if len(s) == 0 {
		return ""
	}
	return fmt.Sprintf("%s %s exists and is not Signoff's binding of %s (%s): left as it is", g.kind(), g.name, g, strings.Join(s, ", "))
}

// Resource is the binding's access: cluster, namespace (* for
// cluster-wide), role, subject kind and subject.
func (k *KubernetesRBAC) Resource(a approval.Action) string {
	g, ns := kubeGrantOf(a), a.Params[ParamKubeNamespace]
	if ns == "" {
		ns = "*"
	}
	return strings.Join([]string{KubernetesRBACType, g.cluster, ns, g.roleRef.Name, g.subjectKind, g.subject}, ":")
}

// Holds reads whether Signoff's binding is there now. Access through other
// bindings is not looked at: it is not Signoff's to revoke.
func (k *KubernetesRBAC) Holds(ctx context.Context, st *approval.State) (bool, error) {
	c, g, err := k.open(st)
	if err != nil {
		return false, err
	}
	b, err := c.get(ctx, g.name)
	if err != nil || b == nil {
		return false, err
	}
	if m := g.mismatch(b); m != "" {
		return false, Permanent(errors.New(m))
	}
	return true, nil
}

// Run creates the binding unless it is there.
func (k *KubernetesRBAC) Run(ctx context.Context, st *approval.State) (string, error) {
	c, g, err := k.open(st)
	if err != nil {
		return "", err
	}
	b, err := c.get(ctx, g.name)
	if err != nil {
		return "", fmt.Errorf("bind %s: %w", g, err)
	}
	out := fmt.Sprintf("%s was already bound (%s %s; verified: bound)", g, g.kind(), g.name)
	if b == nil {
		want := &kubeBinding{roleRef: g.roleRef, subjects: g.subjects(), meta: metav1.ObjectMeta{
			Name: g.name, Namespace: g.namespace,
			Labels:      map[string]string{KubeManagedByLabel: KubeManagedBy},
			Annotations: map[string]string{KubeApprovalLabel: st.ID, KubeResourceComment: k.Resource(st.Request.Action)},
		}}
		// Approval IDs are label values; the annotation keeps any other.
		if kubeLabelValue.MatchString(st.ID) {
			want.meta.Labels[KubeApprovalLabel] = st.ID
		}
		// AlreadyExists: an earlier attempt's create landed (or another
		// grant's); the read back says whether it is this binding.
		if err := c.create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return "", fmt.Errorf("bind %s: create %s %s: %w", g, g.kind(), g.name, classifyKube(err))
		}
		out = fmt.Sprintf("bound %s (%s %s; verified: bound)", g, g.kind(), g.name)
	}
	if b, err = c.get(ctx, g.name); err != nil {
		return "", fmt.Errorf("bind %s: read back: %w", g, err)
	}
	switch {
	case b == nil:
		return "", fmt.Errorf("bind %s: %s %s not found when read back", g, g.kind(), g.name)
	case g.mismatch(b) != "":
		return "", Permanent(errors.New(g.mismatch(b)))
	case b.meta.DeletionTimestamp != nil:
		return "", fmt.Errorf("bind %s: %s %s is being deleted; looking again", g, g.kind(), g.name)
	}
	return out, nil
}

// Revoke deletes the binding, only the one it read, if it is there.
func (k *KubernetesRBAC) Revoke(ctx context.Context, st *approval.State) (string, error) {
	c, g, err := k.open(st)
	if err != nil {
		return "", err
	}
	b, err := c.get(ctx, g.name)
	if err != nil {
		return "", fmt.Errorf("unbind %s: %w", g, err)
	}
	out := fmt.Sprintf("%s was not bound (%s %s absent; verified: gone)", g, g.kind(), g.name)
	if b != nil {
		if m := g.mismatch(b); m != "" {
			return "", Permanent(errors.New(m))
		}
		// The UID precondition deletes only the binding just read.
		err := c.delete(ctx, g.name, b.meta.UID)
		switch {
		case apierrors.IsConflict(err):
			return "", fmt.Errorf("unbind %s: %s %s changed since it was read; looking again: %w", g, g.kind(), g.name, err)
		case err != nil && !apierrors.IsNotFound(err):
			return "", fmt.Errorf("unbind %s: delete %s %s: %w", g, g.kind(), g.name, classifyKube(err))
		}
		out = fmt.Sprintf("unbound %s (deleted %s %s; verified: gone)", g, g.kind(), g.name)
	}
	if b, err = c.get(ctx, g.name); err != nil {
		return "", fmt.Errorf("unbind %s: read back: %w", g, err)
	}
	if b != nil {
		return "", fmt.Errorf("unbind %s: %s %s still there when read back", g, g.kind(), g.name)
	}
	return out, nil
}

// open validates again (config may have changed since the approval was
// created) and builds a client with the cluster's token.
func (k *KubernetesRBAC) open(st *approval.State) (*kubeClient, kubeGrant, error) {
	a := st.Request.Action
	if err := k.Validate(a); err != nil {
		return nil, kubeGrant{}, Permanent(err)
	}
	g := kubeGrantOf(a)
	cl := k.Clusters[g.cluster]
	var token string
	if k.LookupEnv != nil {
		token, _ = k.LookupEnv(cl.TokenEnv)
	}
	if token == "" {
		return nil, g, Permanent(fmt.Errorf("cluster %s: %s is not set on this worker", g.cluster, cl.TokenEnv))
	}
	timeout := k.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	cfg := &rest.Config{
		Host: cl.Server, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAFile: cl.CAFile},
		ContentConfig: rest.ContentConfig{ContentType: "application/json"}, UserAgent: "signoff", Timeout: timeout,
	}
	rbac, err := rbacclient.NewForConfig(cfg)
	if err != nil {
		// An unreadable CA file, a bad server URL: not mended by retrying.
		return nil, g, Permanent(fmt.Errorf("cluster %s: %w", g.cluster, err))
	}
	return &kubeClient{rbac: rbac, ns: g.namespace, cluster: g.cluster}, g, nil
}

// kubeBinding is what a ClusterRoleBinding and a RoleBinding share.
type kubeBinding struct {
	meta     metav1.ObjectMeta
	roleRef  rbacv1.RoleRef
	subjects []rbacv1.Subject
}

// kubeClient reads and writes the bindings of one kind: cluster-wide when
// ns is empty, else in ns.
type kubeClient struct {
	rbac        rbacclient.RbacV1Interface
	ns, cluster string
}

// get returns the binding, nil if there is none.
func (c *kubeClient) get(ctx context.Context, name string) (*kubeBinding, error) {
	var b *kubeBinding
	var err error
	if c.ns == "" {
		var crb *rbacv1.ClusterRoleBinding
		if crb, err = c.rbac.ClusterRoleBindings().Get(ctx, name, metav1.GetOptions{}); err == nil {
			b = &kubeBinding{meta: crb.ObjectMeta, roleRef: crb.RoleRef, subjects: crb.Subjects}
		}
	} else {
		var rb *rbacv1.RoleBinding
		if rb, err = c.rbac.RoleBindings(c.ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
			b = &kubeBinding{meta: rb.ObjectMeta, roleRef: rb.RoleRef, subjects: rb.Subjects}
		}
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, classifyKube(fmt.Errorf("cluster %s: get binding %s: %w", c.cluster, name, err))
	}
	return b, nil
}

func (c *kubeClient) create(ctx context.Context, b *kubeBinding) error {
	if c.ns == "" {
		_, err := c.rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: b.meta, RoleRef: b.roleRef, Subjects: b.subjects}, metav1.CreateOptions{})
		return err
	}
	_, err := c.rbac.RoleBindings(c.ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: b.meta, RoleRef: b.roleRef, Subjects: b.subjects}, metav1.CreateOptions{})
	return err
}

func (c *kubeClient) delete(ctx context.Context, name string, uid types.UID) error {
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}
	if c.ns == "" {
		return c.rbac.ClusterRoleBindings().Delete(ctx, name, opts)
	}
	return c.rbac.RoleBindings(c.ns).Delete(ctx, name, opts)
}

// classifyKube makes errors retrying cannot fix permanent: any 4xx but a
// timeout, a throttle or a conflict (401, 403, 404 namespace, 422), and a
// server certificate that does not verify. 5xx and transport errors stay
// retryable.
func classifyKube(err error) error {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := status.Status().Code
		if code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests && code != http.StatusConflict {
			return Permanent(err)
		}
		return err
	}
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return Permanent(err)
	}
	return err
}
