package action

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
)

const grantKey = "grant-receiver-hmac-key-0123"

// grantCallRecord is one call a receiver got.
type grantCallRecord struct {
	Method, Path, IdempotencyKey string
	Query                        map[string][]string
	Body                         []byte
}

// grantReceiver is a webhook_grant receiver as an operator would write
// one: it checks every call's signature with its key and keeps who has
// what.
type grantReceiver struct {
	srv *httptest.Server

	mu     sync.Mutex
	active map[string]bool
	calls  []grantCallRecord
	// answer, when set for "grant", "revoke" or "status", replaces the
	// next answer there: code and body, and whether to act anyway.
	answer map[string][]grantAnswer
	// ignore makes grant and revoke answer 200 and change nothing.
	ignore bool
}

type grantAnswer struct {
	code int
	body string
	act  bool
}

func newReceiver(t *testing.T) *grantReceiver {
	r := &grantReceiver{active: map[string]bool{}, answer: map[string][]grantAnswer{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// verifyGrantSignature is the receiver's check: a fresh timestamp and the
// HMAC of "<timestamp>.<body>" under its key.
func verifyGrantSignature(key string, h http.Header, body []byte) error {
	ts := h.Get("X-Signoff-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return fmt.Errorf("stale or missing timestamp %q", ts)
	}
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(want), []byte(h.Get("X-Signoff-Signature"))) {
		return fmt.Errorf("bad signature")
	}
	return nil
}

func (r *grantReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if err := verifyGrantSignature(grantKey, req.Header, body); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	op := strings.TrimPrefix(req.URL.Path, "/")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, grantCallRecord{Method: req.Method, Path: req.URL.Path, IdempotencyKey: req.Header.Get("Idempotency-Key"), Query: req.URL.Query(), Body: body})
	ans, canned := grantAnswer{code: 200, act: true}, false
	if q := r.answer[op]; len(q) > 0 {
		ans, r.answer[op], canned = q[0], q[1:], true
	}
	switch {
	case op == "status" && req.Method == http.MethodGet:
		if !canned {
			ans.body = fmt.Sprintf(`{"active": %v}`, r.active[req.URL.Query().Get("subject")+"|"+req.URL.Query().Get("access")])
		}
	case (op == "grant" || op == "revoke") && req.Method == http.MethodPost:
		var p WebhookGrantPayload
		if err := json.Unmarshal(body, &p); err != nil || p.Operation != op {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if ans.act && !r.ignore {
			r.active[p.Subject+"|"+p.Access] = op == "grant"
		}
	default:
		http.NotFound(w, req)
		return
	}
	w.WriteHeader(ans.code)
	_, _ = io.WriteString(w, ans.body)
}

func (r *grantReceiver) answerNext(op string, a grantAnswer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answer[op] = append(r.answer[op], a)
}

func (r *grantReceiver) set(subject, access string, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active[subject+"|"+access] = on
}

func (r *grantReceiver) is(subject, access string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.active[subject+"|"+access]
}

// posts are the POSTs to path ("/grant", "/revoke").
func (r *grantReceiver) posts(path string) []grantCallRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []grantCallRecord
	for _, c := range r.calls {
		if c.Method == http.MethodPost && c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

func (r *grantReceiver) allCalls() []grantCallRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]grantCallRecord(nil), r.calls...)
}

func (r *grantReceiver) target() WebhookGrantTarget {
	return WebhookGrantTarget{GrantURL: r.srv.URL + "/grant", RevokeURL: r.srv.URL + "/revoke", StatusURL: r.srv.URL + "/status", SecretEnv: "BILLING_GRANT_KEY"}
}

func grantAction(r *grantReceiver) *WebhookGrant {
	return &WebhookGrant{
		Targets: map[string]WebhookGrantTarget{"billing": r.target()},
		LookupEnv: func(name string) (string, bool) {
			if name == "BILLING_GRANT_KEY" {
				return grantKey, true
			}
			return "", false
		},
		Client: &http.Client{Timeout: 5 * time.Second},
	}
}

var grantRevokeAt = time.Date(2026, 5, 1, 14, 0, 0, 0, time.FixedZone("CEST", 2*3600))

func grantState(subject, access string) *approval.State {
	return &approval.State{ID: "01JTESTAPPROVAL0000000000", Requester: "alice",
		Grant: &approval.Grant{RevokeAt: grantRevokeAt},
		Request: approval.Request{Action: approval.Action{Type: WebhookGrantType, Params: map[string]string{
			ParamGrantTarget: "billing", ParamGrantSubject: subject, ParamGrantAccess: access,
		}}}}
}

func TestWebhookGrantValidate(t *testing.T) {
	g := &WebhookGrant{Targets: map[string]WebhookGrantTarget{"billing": {}}}
	ok := map[string]string{ParamGrantTarget: "billing", ParamGrantSubject: "alice.smith+ops@acme.com", ParamGrantAccess: "billing:admin/eu-1.read_only"}
	if err := g.Validate(approval.Action{Params: ok}); err != nil {
		t.Fatalf("valid params refused: %v", err)
	}
	if got := g.Resource(approval.Action{Params: ok}); got != "webhook_grant:billing:billing:admin/eu-1.read_only:alice.smith+ops@acme.com" {
		t.Errorf("resource %q", got)
	}
	with := func(k, v string) map[string]string {
		p := map[string]string{ParamGrantTarget: "billing", ParamGrantSubject: "alice", ParamGrantAccess: "admin"}
		if v == "" {
			delete(p, k)
		} else {
			p[k] = v
		}
		return p
	}
	cases := map[string]approval.Action{
		"takes no url":                          {URL: "https://evil.example/grant", Params: ok},
		`unknown param "url"`:                   {Params: with("url", "https://evil.example")},
		`param target "payroll" is not`:         {Params: with(ParamGrantTarget, "payroll")},
		`param target "" is not`:                {Params: with(ParamGrantTarget, "")},
		"param subject must be 1-128":           {Params: with(ParamGrantSubject, "")},
		"param subject must be 1-128 ":          {Params: with(ParamGrantSubject, "alice bob")},
		"param subject must be 1-128  ":         {Params: with(ParamGrantSubject, "alice&access=root")},
		"param subject must be 1-128   ":        {Params: with(ParamGrantSubject, strings.Repeat("a", 129))},
		"param access must be 1-128":            {Params: with(ParamGrantAccess, "")},
		"param access must be 1-128 ":           {Params: with(ParamGrantAccess, "admin?x=1")},
		"param access must be 1-128  ":          {Params: with(ParamGrantAccess, "admin\nroot")},
		"param access must be 1-128   ":         {Params: with(ParamGrantAccess, strings.Repeat("a", 129))},
		"param access must be 1-128    ":        {Params: with(ParamGrantAccess, "admin@all")},
		"param subject must be 1-128    ":       {Params: with(ParamGrantSubject, "alice:root")},
		`unknown param "expires_at"`:            {Params: with("expires_at", "2099-01-01T00:00:00Z")},
		"is not a configured target (actions.w": {Params: with(ParamGrantTarget, "Billing")},
	}
	for want, act := range cases {
		err := g.Validate(act)
		if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(want)) {
			t.Errorf("%v: want error containing %q, got %v", act, want, err)
		}
	}
}

func TestWebhookGrantCheckConfig(t *testing.T) {
	good := WebhookGrantTarget{GrantURL: "https://grants.example/grant", RevokeURL: "https://grants.example/revoke",
		StatusURL: "https://grants.example/status?system=billing", SecretEnv: "K"}
	for _, u := range []string{"http://127.0.0.1:8080/grant", "http://localhost/grant", "https://grants.example:8443/x"} {
		tg := good
		tg.GrantURL = u
		if err := (&WebhookGrant{Targets: map[string]WebhookGrantTarget{"billing": tg}}).CheckConfig(); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
	bad := map[string]func(*WebhookGrantTarget){
		"actions.webhook_grants.billing.grant_url is empty":                  func(t *WebhookGrantTarget) { t.GrantURL = "" },
		"actions.webhook_grants.billing.revoke_url must be an https URL":     func(t *WebhookGrantTarget) { t.RevokeURL = "http://grants.example/revoke" },
		"actions.webhook_grants.billing.status_url must be an https URL":     func(t *WebhookGrantTarget) { t.StatusURL = "http://10.0.0.1/status" },
		"actions.webhook_grants.billing.grant_url must be an absolute":       func(t *WebhookGrantTarget) { t.GrantURL = "/grant" },
		"actions.webhook_grants.billing.grant_url must not contain creden":   func(t *WebhookGrantTarget) { t.GrantURL = "https://u:p@grants.example/grant" },
		"actions.webhook_grants.billing.revoke_url path must not contain":    func(t *WebhookGrantTarget) { t.RevokeURL = "https://grants.example/a/../revoke" },
		"actions.webhook_grants.billing.status_url must be an absolute":      func(t *WebhookGrantTarget) { t.StatusURL = "ftp://grants.example/status" },
		"actions.webhook_grants.billing.secret_env is required":              func(t *WebhookGrantTarget) { t.SecretEnv = "" },
		"actions.webhook_grants.billing.grant_url must not contain a fragme": func(t *WebhookGrantTarget) { t.GrantURL = "https://grants.example/grant#x" },
	}
	for want, mutate := range bad {
		tg := good
		mutate(&tg)
		err := (&WebhookGrant{Targets: map[string]WebhookGrantTarget{"billing": tg}}).CheckConfig()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want error containing %q, got %v", want, err)
		}
	}
	err := (&WebhookGrant{Targets: map[string]WebhookGrantTarget{"bill ing": good}}).CheckConfig()
	if err == nil || !strings.Contains(err.Error(), "actions.webhook_grants.bill ing: a target name") {
		t.Errorf("bad name: %v", err)
	}
}

func TestWebhookGrantGrantsOnceSignedAndVerified(t *testing.T) {
	r := newReceiver(t)
	g, st, ctx := grantAction(r), grantState("alice@acme.com", "billing:admin"), context.Background()

	if held, err := g.Holds(ctx, st); err != nil || held {
		t.Fatalf("before: holds %v, %v", held, err)
	}
	out, err := g.Run(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if out != "granted billing:admin for alice@acme.com on billing (HTTP 200 OK; verified: active)" {
		t.Fatalf("output %q", out)
	}
	if !r.is("alice@acme.com", "billing:admin") {
		t.Fatal("not granted at the receiver")
	}
	posts := r.posts("/grant")
	if len(posts) != 1 {
		t.Fatalf("%d grant POSTs", len(posts))
	}
	var p map[string]string
	if err := json.Unmarshal(posts[0].Body, &p); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"approval_id": st.ID, "operation": "grant", "subject": "alice@acme.com", "access": "billing:admin", "expires_at": "2026-05-01T12:00:00Z"}
	if fmt.Sprint(p) != fmt.Sprint(want) {
		t.Errorf("body %s, want %v", posts[0].Body, want)
	}
	// Look, grant, read back: every call carries the grant's key, and the
	// status reads name subject and access.
	calls := r.allCalls()
	if len(calls) != 4 { // Holds, look, POST, read-back
		t.Fatalf("%d calls: %+v", len(calls), calls)
	}
	for _, c := range calls[1:] {
		if c.IdempotencyKey != st.ID+":grant" {
			t.Errorf("%s %s: Idempotency-Key %q", c.Method, c.Path, c.IdempotencyKey)
		}
		if c.Method == http.MethodGet && (c.Query["subject"][0] != "alice@acme.com" || c.Query["access"][0] != "billing:admin") {
			t.Errorf("status query %v", c.Query)
		}
	}
	if calls[0].IdempotencyKey != st.ID+":status" {
		t.Errorf("Holds: Idempotency-Key %q", calls[0].IdempotencyKey)
	}
	if held, err := g.Holds(ctx, st); err != nil || !held {
		t.Fatalf("after: holds %v, %v", held, err)
	}

	// The activity runs again: it looks, finds the access and posts nothing.
	out, err = g.Run(ctx, st)
	if err != nil || out != "billing:admin for alice@acme.com on billing was already active (verified)" {
		t.Fatalf("second run: %q, %v", out, err)
	}
	if n := len(r.posts("/grant")); n != 1 {
		t.Fatalf("%d grant POSTs after a second run; want 1", n)
	}

	// Without a known revoke time, expires_at is left out.
	st2 := grantState("bob", "billing:read")
	st2.Grant = nil
	if _, err := g.Run(ctx, st2); err != nil {
		t.Fatal(err)
	}
	if b := r.posts("/grant")[1].Body; strings.Contains(string(b), "expires_at") {
		t.Errorf("body %s", b)
	}
}

func TestWebhookGrantRevokesOnce(t *testing.T) {
	r := newReceiver(t)
	r.set("alice@acme.com", "billing:admin", true)
	r.set("carol", "billing:admin", true)
	g, st, ctx := grantAction(r), grantState("alice@acme.com", "billing:admin"), context.Background()

	out, err := g.Revoke(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if out != "revoked billing:admin for alice@acme.com on billing (HTTP 200 OK; verified: inactive)" {
		t.Fatalf("output %q", out)
	}
	if r.is("alice@acme.com", "billing:admin") || !r.is("carol", "billing:admin") {
		t.Fatal("not revoked as asked")
	}
	for _, c := range r.allCalls() {
		if c.IdempotencyKey != st.ID+":revoke" {
			t.Errorf("%s %s: Idempotency-Key %q", c.Method, c.Path, c.IdempotencyKey)
		}
	}
	out, err = g.Revoke(ctx, st)
	if err != nil || out != "billing:admin for alice@acme.com on billing was already inactive (verified)" {
		t.Fatalf("second revoke: %q, %v", out, err)
	}
	posts := r.posts("/revoke")
	if len(posts) != 1 || len(r.posts("/grant")) != 0 {
		t.Fatalf("%d revoke POSTs after a second revoke; want 1", len(posts))
	}
	if !strings.Contains(string(posts[0].Body), `"operation":"revoke"`) {
		t.Errorf("body %s", posts[0].Body)
	}
}

func TestWebhookGrantRetryKeepsTheKeyAndDoesNotActTwice(t *testing.T) {
	r := newReceiver(t)
	g, st, ctx := grantAction(r), grantState("alice", "billing:admin"), context.Background()

	// The receiver fails before acting: retryable, and the retry posts
	// again with the same key.
	r.answerNext("grant", grantAnswer{code: 503, act: false})
	if _, err := g.Run(ctx, st); err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "HTTP 503 Service Unavailable") {
		t.Fatalf("503: %v", err)
	}
	// It acts, but the answer is lost (a 502 from a proxy): the retry
	// looks first and posts nothing more.
	r.answerNext("grant", grantAnswer{code: 502, act: true})
	if _, err := g.Run(ctx, st); err == nil || IsPermanent(err) {
		t.Fatalf("502: %v", err)
	}
	if _, err := g.Run(ctx, st); err != nil {
		t.Fatal(err)
	}
	posts := r.posts("/grant")
	if len(posts) != 2 {
		t.Fatalf("%d grant POSTs; want 2 (one failed before acting, one acted)", len(posts))
	}
	for _, p := range posts {
		if p.IdempotencyKey != "01JTESTAPPROVAL0000000000:grant" {
			t.Errorf("Idempotency-Key %q", p.IdempotencyKey)
		}
	}
}

func TestWebhookGrantStatusMismatchFails(t *testing.T) {
	r := newReceiver(t)
	r.ignore = true
	r.set("carol", "billing:admin", true)
	g, ctx := grantAction(r), context.Background()

	_, err := g.Run(ctx, grantState("alice", "billing:admin"))
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "grant billing:admin for alice on billing: the receiver answered success but its status says inactive") {
		t.Fatalf("grant: %v", err)
	}
	_, err = g.Revoke(ctx, grantState("carol", "billing:admin"))
	if err == nil || !strings.Contains(err.Error(), "revoke billing:admin for carol on billing: the receiver answered success but its status says active") {
		t.Fatalf("revoke: %v", err)
	}
}

func TestWebhookGrantAnswersAreClassifiedAndNotShown(t *testing.T) {
	r := newReceiver(t)
	g, ctx := grantAction(r), context.Background()
	const leak = "db-password=hunter2-very-secret"
	for _, tc := range []struct {
		op        string
		ans       grantAnswer
		permanent bool
		want      string
	}{
		{"grant", grantAnswer{code: 400, body: leak}, true, "answered HTTP 400 Bad Request"},
		{"grant", grantAnswer{code: 403, body: leak}, true, "answered HTTP 403 Forbidden"},
		{"grant", grantAnswer{code: 404}, true, "answered HTTP 404 Not Found"},
		{"grant", grantAnswer{code: 408}, false, "answered HTTP 408 Request Timeout"},
		{"grant", grantAnswer{code: 429, body: leak}, false, "answered HTTP 429 Too Many Requests"},
		{"grant", grantAnswer{code: 500, body: leak}, false, "answered HTTP 500 Internal Server Error"},
		{"grant", grantAnswer{code: 302}, true, "redirects are not followed"},
		{"revoke", grantAnswer{code: 422, body: leak}, true, "answered HTTP 422 Unprocessable Entity"},
		{"revoke", grantAnswer{code: 504}, false, "answered HTTP 504 Gateway Timeout"},
		{"status", grantAnswer{code: 401, body: leak}, true, "answered HTTP 401 Unauthorized"},
		{"status", grantAnswer{code: 503, body: leak}, false, "answered HTTP 503 Service Unavailable"},
		{"status", grantAnswer{code: 200, body: `{"status": "ok", "token": "` + leak + `"}`}, true, `the answer is not {"active": true|false}`},
		{"status", grantAnswer{code: 200, body: `<html>` + leak}, true, `the answer is not {"active": true|false}`},
		// Answers are read up to 64 KiB: a longer one is cut, so not JSON.
		{"status", grantAnswer{code: 200, body: `{"active": true, "pad": "` + strings.Repeat("x", MaxGrantResponse) + `"}`}, true, `the answer is not {"active": true|false}`},
	} {
		r.set("alice", "billing:admin", tc.op == "revoke")
		r.answerNext(tc.op, tc.ans)
		run := g.Run
		if tc.op == "revoke" {
			run = g.Revoke
		}
		out, err := run(ctx, grantState("alice", "billing:admin"))
		if err == nil || IsPermanent(err) != tc.permanent || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %d: %q, %v (permanent %v)", tc.op, tc.ans.code, out, err, IsPermanent(err))
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s %d: the answer's body is in the error: %v", tc.op, tc.ans.code, err)
		}
	}
}

func TestWebhookGrantRefusesUnsignedAndMisconfigured(t *testing.T) {
	r := newReceiver(t)
	g, ctx := grantAction(r), context.Background()
	g.LookupEnv = func(string) (string, bool) { return "", false }
	_, err := g.Run(ctx, grantState("alice", "billing:admin"))
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "BILLING_GRANT_KEY is empty") {
		t.Fatalf("no key: %v", err)
	}
	// A key the receiver does not share: its 401 is final.
	g.LookupEnv = func(string) (string, bool) { return "another-key", true }
	_, err = g.Run(ctx, grantState("alice", "billing:admin"))
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("wrong key: %v", err)
	}
	// A target changed to plain http after the approval was created.
	g = grantAction(r)
	tg := g.Targets["billing"]
	tg.GrantURL = "http://grants.example/grant"
	g.Targets["billing"] = tg
	_, err = g.Run(ctx, grantState("alice", "billing:admin"))
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "grant_url must be an https URL") {
		t.Fatalf("http target: %v", err)
	}
	if n := len(r.allCalls()); n != 0 {
		t.Fatalf("%d calls reached the receiver", n)
	}
}

func TestWebhookGrantThroughRegistry(t *testing.T) {
	r := newReceiver(t)
	reg := NewRegistry(nil)
	reg.Register(WebhookGrantType, grantAction(r))
	if !reg.Grants(WebhookGrantType) {
		t.Fatal("webhook_grant is not a Granter")
	}
	err := reg.Validate(approval.Action{Type: WebhookGrantType, URL: r.srv.URL + "/elsewhere",
		Params: map[string]string{ParamGrantTarget: "billing", ParamGrantSubject: "alice", ParamGrantAccess: "admin"}})
	if err == nil || !strings.Contains(err.Error(), "takes no url") {
		t.Fatalf("url: %v", err)
	}
}
