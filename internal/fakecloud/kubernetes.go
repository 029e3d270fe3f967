package fakecloud

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Kubernetes is a fake of the Kubernetes API server's
// rbac.authorization.k8s.io/v1 clusterrolebindings and rolebindings:
// create, get, delete (with preconditions) and list (with a label
// selector), in JSON, as client-go speaks it. Every request must carry
// "Authorization: Bearer <Token>". It is an http.Handler; NewKubernetes
// serves it on 127.0.0.1.
type Kubernetes struct {
	URL   string
	Token string

	mu       sync.Mutex
	bindings map[bindingKey]*KubeBinding
	serial   int
	calls    map[string]int
	fails    map[string][]int
}

// KubeBinding is one stored binding: a ClusterRoleBinding when Namespace
// is empty, else a RoleBinding.
type KubeBinding struct {
	Namespace string
	Meta      metav1.ObjectMeta
	RoleRef   rbacv1.RoleRef
	Subjects  []rbacv1.Subject
}

type bindingKey struct{ namespace, name string }

const rbacPrefix = "/apis/rbac.authorization.k8s.io/v1/"

// NewKubernetes serves a fake API server over plain HTTP until the test
// ends; requests must bear token.
func NewKubernetes(t testing.TB, token string) *Kubernetes {
	f := &Kubernetes{Token: token}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// Bindings returns the stored bindings, cluster-wide first, by namespace
// and name.
func (f *Kubernetes) Bindings() []KubeBinding {
	f.mu.Lock()
	defer f.mu.Unlock()
	keys := slices.SortedFunc(maps.Keys(f.bindings), func(a, b bindingKey) int {
		return strings.Compare(a.namespace+"/"+a.name, b.namespace+"/"+b.name)
	})
	out := make([]KubeBinding, 0, len(keys))
	for _, k := range keys {
		out = append(out, *f.bindings[k].deepCopy())
	}
	return out
}

// Put stores b as if someone had created it (a uid and resource version
// are assigned), replacing a binding of the same name.
func (f *Kubernetes) Put(b KubeBinding) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.store(b.deepCopy())
}

// Calls counts the authenticated requests for verb (create, get, delete
// or list), injected faults included.
func (f *Kubernetes) Calls(verb string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[verb]
}

// FailNext makes the next request for verb answer with a Status of code
// (500, 503, 429, 403, …) and change nothing.
func (f *Kubernetes) FailNext(verb string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails == nil {
		f.fails = map[string][]int{}
	}
	f.fails[verb] = append(f.fails[verb], code)
}

func (b *KubeBinding) deepCopy() *KubeBinding {
	c := *b
	c.Meta = *b.Meta.DeepCopy()
	c.Subjects = slices.Clone(b.Subjects)
	return &c
}

// store assigns what the server owns and keeps b; f.mu is held.
func (f *Kubernetes) store(b *KubeBinding) {
	if f.bindings == nil {
		f.bindings = map[bindingKey]*KubeBinding{}
	}
	f.serial++
	b.Meta.Namespace = b.Namespace
	b.Meta.UID = types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012d", f.serial))
	b.Meta.ResourceVersion = strconv.Itoa(1000 + f.serial)
	b.Meta.CreationTimestamp = metav1.Now()
	f.bindings[bindingKey{b.Namespace, b.Meta.Name}] = b
}

// ServeHTTP routes /apis/rbac.authorization.k8s.io/v1/clusterrolebindings[/name]
// and …/namespaces/{ns}/rolebindings[/name].
func (f *Kubernetes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || f.Token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(f.Token)) != 1 {
		writeStatus(w, apierrors.NewUnauthorized("Unauthorized"))
		return
	}
	ns, name, collection, ok := rbacPath(r.URL.Path)
	if !ok {
		writeStatus(w, apierrors.NewNotFound(schema.GroupResource{}, r.URL.Path))
		return
	}
	gr := schema.GroupResource{Group: rbacv1.GroupName, Resource: "clusterrolebindings"}
	if ns != "" {
		gr.Resource = "rolebindings"
	}
	var verb string
	switch {
	case collection && r.Method == http.MethodPost:
		verb = "create"
	case collection && r.Method == http.MethodGet:
		verb = "list"
	case !collection && r.Method == http.MethodGet:
		verb = "get"
	case !collection && r.Method == http.MethodDelete:
		verb = "delete"
	default:
		writeStatus(w, apierrors.NewMethodNotSupported(gr, r.Method))
		return
	}
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[verb]++
	var fault int
	if q := f.fails[verb]; len(q) > 0 {
		fault, f.fails[verb] = q[0], q[1:]
	}
	f.mu.Unlock()
	if fault != 0 {
		writeStatus(w, apierrors.NewGenericServerResponse(fault, r.Method, gr, name, "injected fault", 0, false))
		return
	}
	switch verb {
	case "create":
		f.create(w, r, gr, ns)
	case "list":
		f.list(w, r, ns)
	case "get":
		f.get(w, gr, ns, name)
	case "delete":
		f.delete(w, r, gr, ns, name)
	}
}

// rbacPath splits clusterrolebindings[/name] and
// namespaces/{ns}/rolebindings[/name] (ns is "" for the first).
func rbacPath(path string) (ns, name string, collection, ok bool) {
	rest, ok := strings.CutPrefix(path, rbacPrefix)
	if !ok {
		return "", "", false, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) >= 3 && parts[0] == "namespaces" && parts[1] != "" && parts[2] == "rolebindings" {
		ns, parts = parts[1], parts[2:]
	} else if parts[0] != "clusterrolebindings" {
		return "", "", false, false
	}
	switch {
	case len(parts) == 1:
		return ns, "", true, true
	case len(parts) == 2 && parts[1] != "":
		return ns, parts[1], false, true
	}
	return "", "", false, false
}

func (f *Kubernetes) create(w http.ResponseWriter, r *http.Request, gr schema.GroupResource, ns string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	// Both kinds share one shape; the kind and apiVersion are checked.
	var in rbacv1.RoleBinding
	if err := json.Unmarshal(body, &in); err != nil {
		writeStatus(w, apierrors.NewBadRequest("decode: "+err.Error()))
		return
	}
	wantKind := "ClusterRoleBinding"
	if ns != "" {
		wantKind = "RoleBinding"
	}
	switch {
	case in.Kind != wantKind || in.APIVersion != rbacv1.SchemeGroupVersion.String():
		writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("want a %s of %s, got %s %s", wantKind, rbacv1.SchemeGroupVersion, in.APIVersion, in.Kind)))
		return
	case in.Namespace != "" && in.Namespace != ns:
		writeStatus(w, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
		return
	case in.Name == "" || in.RoleRef.Name == "" || in.RoleRef.APIGroup != rbacv1.GroupName ||
		(in.RoleRef.Kind != "ClusterRole" && (ns == "" || in.RoleRef.Kind != "Role")):
		writeStatus(w, &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusUnprocessableEntity,
			Reason: metav1.StatusReasonInvalid, Message: fmt.Sprintf("%s %q is invalid: a name and a roleRef to a ClusterRole (or a Role, in a namespace) are required", wantKind, in.Name)}})
		return
	}
	b := &KubeBinding{Namespace: ns, Meta: in.ObjectMeta, RoleRef: in.RoleRef, Subjects: in.Subjects}
	f.mu.Lock()
	_, exists := f.bindings[bindingKey{ns, in.Name}]
	if !exists {
		f.store(b)
		b = b.deepCopy()
	}
	f.mu.Unlock()
	if exists {
		writeStatus(w, apierrors.NewAlreadyExists(gr, in.Name))
		return
	}
	writeJSON(w, http.StatusCreated, b.wire())
}

func (f *Kubernetes) get(w http.ResponseWriter, gr schema.GroupResource, ns, name string) {
	f.mu.Lock()
	b, ok := f.bindings[bindingKey{ns, name}]
	if ok {
		b = b.deepCopy()
	}
	f.mu.Unlock()
	if !ok {
		writeStatus(w, apierrors.NewNotFound(gr, name))
		return
	}
	writeJSON(w, http.StatusOK, b.wire())
}

func (f *Kubernetes) delete(w http.ResponseWriter, r *http.Request, gr schema.GroupResource, ns, name string) {
	var opts metav1.DeleteOptions
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil && len(body) > 0 {
		err = json.Unmarshal(body, &opts)
	}
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest("delete options: "+fmt.Sprint(err)))
		return
	}
	f.mu.Lock()
	k := bindingKey{ns, name}
	b, ok := f.bindings[k]
	var conflict error
	if ok && opts.Preconditions != nil && opts.Preconditions.UID != nil && *opts.Preconditions.UID != b.Meta.UID {
		//lint:ignore ST1005 the API server's own wording, capital letter included
		conflict = fmt.Errorf("Precondition failed: UID in precondition: %s, UID in object meta: %s", *opts.Preconditions.UID, b.Meta.UID)
	}
	if ok && conflict == nil {
		delete(f.bindings, k)
	}
	f.mu.Unlock()
	switch {
	case !ok:
		writeStatus(w, apierrors.NewNotFound(gr, name))
	case conflict != nil:
		writeStatus(w, apierrors.NewConflict(gr, name, conflict))
	default:
		writeJSON(w, http.StatusOK, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess,
			Details: &metav1.StatusDetails{Name: name, Group: gr.Group, Kind: gr.Resource, UID: b.Meta.UID}})
	}
}

func (f *Kubernetes) list(w http.ResponseWriter, r *http.Request, ns string) {
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest("labelSelector: "+err.Error()))
		return
	}
	f.mu.Lock()
	rv := strconv.Itoa(1000 + f.serial)
	var items []*KubeBinding
	for k, b := range f.bindings {
		if k.namespace == ns && sel.Matches(labels.Set(b.Meta.Labels)) {
			items = append(items, b.deepCopy())
		}
	}
	f.mu.Unlock()
	slices.SortFunc(items, func(a, b *KubeBinding) int { return strings.Compare(a.Meta.Name, b.Meta.Name) })
	if ns == "" {
		out := &rbacv1.ClusterRoleBindingList{TypeMeta: metav1.TypeMeta{Kind: "ClusterRoleBindingList", APIVersion: rbacv1.SchemeGroupVersion.String()},
			ListMeta: metav1.ListMeta{ResourceVersion: rv}, Items: []rbacv1.ClusterRoleBinding{}}
		for _, b := range items {
			out.Items = append(out.Items, *b.wire().(*rbacv1.ClusterRoleBinding))
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	out := &rbacv1.RoleBindingList{TypeMeta: metav1.TypeMeta{Kind: "RoleBindingList", APIVersion: rbacv1.SchemeGroupVersion.String()},
		ListMeta: metav1.ListMeta{ResourceVersion: rv}, Items: []rbacv1.RoleBinding{}}
	for _, b := range items {
		out.Items = append(out.Items, *b.wire().(*rbacv1.RoleBinding))
	}
	writeJSON(w, http.StatusOK, out)
}

// wire is the binding as the API server writes it.
func (b *KubeBinding) wire() any {
	tm := metav1.TypeMeta{Kind: "ClusterRoleBinding", APIVersion: rbacv1.SchemeGroupVersion.String()}
	if b.Namespace == "" {
		return &rbacv1.ClusterRoleBinding{TypeMeta: tm, ObjectMeta: b.Meta, RoleRef: b.RoleRef, Subjects: b.Subjects}
	}
	tm.Kind = "RoleBinding"
	return &rbacv1.RoleBinding{TypeMeta: tm, ObjectMeta: b.Meta, RoleRef: b.RoleRef, Subjects: b.Subjects}
}

// writeStatus answers with err's Status, as the API server does.
func writeStatus(w http.ResponseWriter, err error) {
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		se = apierrors.NewInternalError(err)
	}
	st := se.ErrStatus
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	st.Status = metav1.StatusFailure
	writeJSON(w, int(st.Code), &st)
}
