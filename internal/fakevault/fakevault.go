// Package fakevault is a fake HashiCorp Vault for tests: a KV version 2
// secrets engine served with Vault's HTTP API on 127.0.0.1, well enough
// for Vault's Go client (KVv2 Get, GetVersion, Put with check-and-set,
// GetMetadata, DeleteMetadata). It accepts one token, keeps every version,
// and records what it was asked.
//
//	f := fakevault.New(t, "test-token")
//	c, _ := api.NewClient(&api.Config{Address: f.URL})
//	c.SetToken(f.Token)
//	c.KVv2(f.Mount).Put(ctx, "prod/db", map[string]any{"password": "x"}, api.WithCheckAndSet(0))
package fakevault

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signoff/signoff/internal/fakecloud"
)

// DefaultMount is where the KV v2 engine is mounted unless WithMount says
// otherwise.
const DefaultMount = "secret"

// Operations, as FailNext, HoldNext and Calls name them.
const (
	OpRead           = "read"            // GET /v1/<mount>/data/<path>
	OpWrite          = "write"           // POST or PUT /v1/<mount>/data/<path>
	OpReadMetadata   = "read-metadata"   // GET /v1/<mount>/metadata/<path>
	OpDeleteMetadata = "delete-metadata" // DELETE /v1/<mount>/metadata/<path>
)

// Server is a running fake Vault.
type Server struct {
	URL string
	// Token is the only token the fake accepts.
	Token string
	// Mount is the KV v2 engine's mount path.
	Mount string

	mu      sync.Mutex
	secrets map[string]*secret // by path in the mount
	writes  map[string]int
	calls   map[string]int
	fails   map[string][]Fault
	holds   map[string][]*Hold
	all     []*Hold
}

type secret struct {
	created, updated time.Time
	versions         []version // versions[i] is version i+1
}

type version struct {
	data    map[string]any
	created time.Time
}

// Fault is an injected error answer: {"errors": Errors} with Status.
type Fault struct {
	Status int
	Errors []string
}

// Hold is a held call (fakecloud.Hold: the same for every fake).
type Hold = fakecloud.Hold

// Option configures New.
type Option func(*Server)

// WithMount mounts the KV v2 engine at mount instead of DefaultMount.
func WithMount(mount string) Option { return func(s *Server) { s.Mount = strings.Trim(mount, "/") } }

// New serves a fake Vault accepting token until the test ends. Held calls
// are released before the server closes.
func New(t testing.TB, token string, opts ...Option) *Server {
	s := &Server{Token: token, Mount: DefaultMount, secrets: map[string]*secret{}, writes: map[string]int{},
		calls: map[string]int{}, fails: map[string][]Fault{}, holds: map[string][]*Hold{}}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	data, meta := "/v1/"+s.Mount+"/data/{path...}", "/v1/"+s.Mount+"/metadata/{path...}"
	mux.Handle("GET "+data, s.op(OpRead, s.read))
	mux.Handle("POST "+data, s.op(OpWrite, s.write))
	mux.Handle("PUT "+data, s.op(OpWrite, s.write))
	mux.Handle("GET "+meta, s.op(OpReadMetadata, s.readMetadata))
	mux.Handle("DELETE "+meta, s.op(OpDeleteMetadata, s.deleteMetadata))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		route := strings.TrimPrefix(r.URL.Path, "/v1/")
		if strings.HasPrefix(route, s.Mount+"/") { // a KV v2 call the fake does not implement
			writeErrors(w, http.StatusMethodNotAllowed, "1 error occurred:\n\t* unsupported operation\n\n")
			return
		}
		writeErrors(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", route))
	})
	srv := httptest.NewServer(s.authenticate(mux))
	t.Cleanup(srv.Close)
	t.Cleanup(s.releaseAll) // runs first: Close waits for held calls
	s.URL = srv.URL
	return s
}

// AddSecret writes data as the secret's next version, as a write without
// check-and-set would, and returns the version.
func (s *Server) AddSecret(path string, data map[string]string) int {
	m := make(map[string]any, len(data))
	for k, v := range data {
		m[k] = v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.put(path, m).Version
}

// Secret is the secret's current version and its data; values that are
// not strings are given as JSON. ok is false if there is no such secret.
func (s *Server) Secret(path string) (data map[string]string, version int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[path]
	if sec == nil {
		return nil, 0, false
	}
	cur := sec.versions[len(sec.versions)-1]
	data = make(map[string]string, len(cur.data))
	for k, v := range cur.data {
		if str, isString := v.(string); isString {
			data[k] = str
		} else {
			b, _ := json.Marshal(v)
			data[k] = string(b)
		}
	}
	return data, len(sec.versions), true
}

// Writes counts the writes to path the fake accepted (each made a version),
// since it started: refused writes and injected faults are not counted,
// and deleting the metadata does not reset the count.
func (s *Server) Writes(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes[path]
}

// Calls counts the authenticated calls of op ("" for all), those answered
// with an injected fault included.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if op != "" {
		return s.calls[op]
	}
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

// FailNext makes the next n calls of op answer 500 and change nothing: an
// outage. Vault's client retries such answers (MaxRetries, 2 by default).
func (s *Server) FailNext(op string, n int) {
	for range n {
		s.FailNextWith(op, Fault{Status: http.StatusInternalServerError, Errors: []string{"1 error occurred:\n\t* internal error\n\n"}})
	}
}

// FailNextWith makes the next calls of op answer with faults, one each
// (for example {503, ["Vault is sealed"]}).
func (s *Server) FailNextWith(op string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails[op] = append(s.fails[op], faults...)
}

// HoldNext holds the next call of op (after the token check, before it
// changes anything) until the returned Hold is released.
func (s *Server) HoldNext(op string) *Hold {
	h := fakecloud.NewHold()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holds[op] = append(s.holds[op], h)
	s.all = append(s.all, h)
	return h
}

func (s *Server) releaseAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.all {
		h.Release()
	}
}

// authenticate refuses calls without the fake's token, as Vault does. Like
// Vault it takes the token from X-Vault-Token or an Authorization: Bearer
// header.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("X-Vault-Token")
		if tok == "" {
			tok, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		}
		if tok == "" || tok != s.Token {
			writeErrors(w, http.StatusForbidden, "permission denied")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// op counts a call of op, answers an injected fault or holds the call if
// asked to, and then runs handle with the secret's path under s.mu.
func (s *Server) op(op string, handle func(w http.ResponseWriter, r *http.Request, path string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls[op]++
		var injected *Fault
		if q := s.fails[op]; len(q) > 0 {
			injected, s.fails[op] = &q[0], q[1:]
		}
		var hold *Hold
		if q := s.holds[op]; injected == nil && len(q) > 0 {
			hold, s.holds[op] = q[0], q[1:]
		}
		s.mu.Unlock()
		if injected != nil {
			writeErrors(w, injected.Status, injected.Errors...)
			return
		}
		if hold != nil {
			hold.Wait()
			defer hold.Done()
		}
		path := strings.Trim(r.PathValue("path"), "/")
		if path == "" {
			writeErrors(w, http.StatusNotFound)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		handle(w, r, path)
	})
}

// versionMetadata is a version's metadata as reads and writes answer it.
type versionMetadata struct {
	CreatedTime    string         `json:"created_time"`
	CustomMetadata map[string]any `json:"custom_metadata"`
	DeletionTime   string         `json:"deletion_time"`
	Destroyed      bool           `json:"destroyed"`
	Version        int            `json:"version"`
}

// versionEntry is a version as the metadata lists it.
type versionEntry struct {
	CreatedTime  string `json:"created_time"`
	DeletionTime string `json:"deletion_time"`
	Destroyed    bool   `json:"destroyed"`
}

func (s *secret) metadata(n int) versionMetadata {
	return versionMetadata{CreatedTime: timestamp(s.versions[n-1].created), Version: n}
}

// read answers a version (?version=N; the current one if absent or 0).
func (s *Server) read(w http.ResponseWriter, r *http.Request, path string) {
	sec := s.secrets[path]
	n := 0
	if sec != nil {
		n = len(sec.versions)
	}
	if q := r.URL.Query().Get("version"); q != "" && q != "0" {
		v, err := strconv.Atoi(q)
		if err != nil || v < 0 {
			writeErrors(w, http.StatusBadRequest, "invalid version "+strconv.Quote(q))
			return
		}
		if v > n {
			n = 0
		} else {
			n = v
		}
	}
	if n == 0 {
		writeErrors(w, http.StatusNotFound)
		return
	}
	writeData(w, map[string]any{"data": sec.versions[n-1].data, "metadata": sec.metadata(n)})
}

// write makes the next version, honouring check-and-set: cas 0 writes only
// a secret that does not exist, cas N only over current version N.
func (s *Server) write(w http.ResponseWriter, r *http.Request, path string) {
	var body struct {
		Data    map[string]any `json:"data"`
		Options struct {
			CAS *int `json:"cas"`
		} `json:"options"`
	}
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		writeErrors(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	if body.Data == nil {
		writeErrors(w, http.StatusBadRequest, "no data provided")
		return
	}
	current := 0
	if sec := s.secrets[path]; sec != nil {
		current = len(sec.versions)
	}
	if cas := body.Options.CAS; cas != nil && *cas != current {
		writeErrors(w, http.StatusBadRequest, "check-and-set parameter did not match the current version")
		return
	}
	writeData(w, s.put(path, body.Data))
}

// put appends a version; s.mu is held.
func (s *Server) put(path string, data map[string]any) versionMetadata {
	now := time.Now().UTC()
	sec := s.secrets[path]
	if sec == nil {
		sec = &secret{created: now}
		s.secrets[path] = sec
	}
	sec.versions = append(sec.versions, version{data: data, created: now})
	sec.updated = now
	s.writes[path]++
	return sec.metadata(len(sec.versions))
}

func (s *Server) readMetadata(w http.ResponseWriter, r *http.Request, path string) {
	sec := s.secrets[path]
	if sec == nil {
		writeErrors(w, http.StatusNotFound)
		return
	}
	versions := map[string]versionEntry{}
	for i, v := range sec.versions {
		versions[strconv.Itoa(i+1)] = versionEntry{CreatedTime: timestamp(v.created)}
	}
	writeData(w, map[string]any{
		"cas_required":         false,
		"created_time":         timestamp(sec.created),
		"current_version":      len(sec.versions),
		"custom_metadata":      nil,
		"delete_version_after": "0s",
		"max_versions":         0,
		"oldest_version":       0,
		"updated_time":         timestamp(sec.updated),
		"versions":             versions,
	})
}

// deleteMetadata deletes the secret and all its versions; deleting one that
// is not there succeeds too.
func (s *Server) deleteMetadata(w http.ResponseWriter, r *http.Request, path string) {
	delete(s.secrets, path)
	w.WriteHeader(http.StatusNoContent)
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// writeData answers 200 with Vault's response envelope around data.
func writeData(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, map[string]any{
		"request_id": requestID(), "lease_id": "", "renewable": false, "lease_duration": 0,
		"data": data, "wrap_info": nil, "warnings": nil, "auth": nil, "mount_type": "kv",
	})
}

// writeErrors answers {"errors": [...]} ([] when there are none, as Vault's
// 404s are).
func writeErrors(w http.ResponseWriter, status int, errs ...string) {
	if errs == nil {
		errs = []string{}
	}
	writeJSON(w, status, map[string][]string{"errors": errs})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
