package fakecloud

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// GitHub is a fake of GitHub's workflow-dispatch endpoint
// (POST /repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches).
// It accepts calls bearing its token and records each dispatch.
//
// It is also the API of one GitHub App (InstallApp): installation tokens
// for JWTs signed with the app's key (POST
// /app/installations/{id}/access_tokens), and the review of the app's
// custom deployment protection rules (POST
// /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule),
// for runs that wait for one (AwaitReview).
type GitHub struct {
	URL   string
	Token string

	mu         sync.Mutex
	dispatches []Dispatch
	answers    []Answer

	// The GitHub App.
	appID         int64
	appKey        *rsa.PublicKey
	installations map[int64][]string // ID → repositories (lowercase owner/repo); none: all
	tokens        map[string]installationToken
	tokensIssued  int
	pending       map[gate]bool
	reviews       []Review
	refused       []Review
	appAnswers    []Answer
}

// installationToken is one token the fake issued.
type installationToken struct {
	installation int64
	repos        []string // names (repo), when the token was narrowed
	expires      time.Time
}

// gate is a run waiting at an environment for the app's review.
type gate struct {
	repo        string // lowercase owner/repo
	runID       int64
	environment string
}

// Review is one review of a custom deployment protection rule.
type Review struct {
	Owner, Repo     string
	RunID           int64
	EnvironmentName string
	State           string
	Comment         string
	Installation    int64
	APIVersion      string
}

// Dispatch is one accepted workflow_dispatch.
type Dispatch struct {
	Owner, Repo, Workflow, Ref string
	Inputs                     map[string]string
	APIVersion                 string
}

// Answer is an injected reply; Header is added to it.
type Answer struct {
	Status int
	Body   string
	Header http.Header
}

// NewGitHub serves a fake GitHub API until the test ends.
func NewGitHub(t testing.TB, token string) *GitHub {
	f := &GitHub{Token: token}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches", f.dispatch)
	mux.HandleFunc("POST /app/installations/{id}/access_tokens", f.accessToken)
	mux.HandleFunc("POST /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule", f.review)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// AnswerNext makes the next dispatch get a. Injected answers come before
// the token check, so a fake can misbehave the way a proxy in front of
// GitHub might.
func (f *GitHub) AnswerNext(a Answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers = append(f.answers, a)
}

// Dispatches returns the accepted dispatches.
func (f *GitHub) Dispatches() []Dispatch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Dispatch(nil), f.dispatches...)
}

func (f *GitHub) dispatch(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	var next *Answer
	if len(f.answers) > 0 {
		next, f.answers = &f.answers[0], f.answers[1:]
	}
	f.mu.Unlock()
	if next != nil {
		for k, vs := range next.Header {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(next.Status)
		_, _ = w.Write([]byte(next.Body))
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.Token {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
		return
	}
	var body struct {
		Ref    string            `json:"ref"`
		Inputs map[string]string `json:"inputs"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Ref == "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Invalid request: ref is required"})
		return
	}
	f.mu.Lock()
	f.dispatches = append(f.dispatches, Dispatch{
		Owner: r.PathValue("owner"), Repo: r.PathValue("repo"), Workflow: r.PathValue("workflow"),
		Ref: body.Ref, Inputs: body.Inputs, APIVersion: r.Header.Get("X-GitHub-Api-Version"),
	})
	f.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// InstallApp makes the fake the API of GitHub App appID, whose JWTs are
// signed with key's private half, installed as installationID on repos
// (owner/repo; none: every repository). Call it again to add
// installations.
func (f *GitHub) InstallApp(appID int64, key *rsa.PublicKey, installationID int64, repos ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.appID, f.appKey = appID, key
	if f.installations == nil {
		f.installations, f.tokens = map[int64][]string{}, map[string]installationToken{}
	}
	lower := make([]string, len(repos))
	for i, r := range repos {
		lower[i] = strings.ToLower(r)
	}
	f.installations[installationID] = lower
}

// AwaitReview makes run runID of repo (owner/repo) wait at environment for
// the app's review, as a job referencing an environment with the rule
// enabled does. A review is accepted once per waiting run; any other is
// refused as GitHub refuses it (422).
func (f *GitHub) AwaitReview(repo string, runID int64, environment string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending == nil {
		f.pending = map[gate]bool{}
	}
	f.pending[gate{repo: strings.ToLower(repo), runID: runID, environment: environment}] = true
}

// Reviews returns the accepted reviews.
func (f *GitHub) Reviews() []Review {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Review(nil), f.reviews...)
}

// RefusedReviews returns the reviews refused for want of a waiting run
// (a second review, or one nothing waits for).
func (f *GitHub) RefusedReviews() []Review {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Review(nil), f.refused...)
}

// TokensIssued counts the installation tokens issued.
func (f *GitHub) TokensIssued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokensIssued
}

// AnswerNextApp makes the next call to the app's endpoints (installation
// tokens, reviews) get a, before any check.
func (f *GitHub) AnswerNextApp(a Answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.appAnswers = append(f.appAnswers, a)
}

// injectedApp writes the next injected app answer, if any.
func (f *GitHub) injectedApp(w http.ResponseWriter) bool {
	f.mu.Lock()
	var next *Answer
	if len(f.appAnswers) > 0 {
		next, f.appAnswers = &f.appAnswers[0], f.appAnswers[1:]
	}
	f.mu.Unlock()
	if next == nil {
		return false
	}
	for k, vs := range next.Header {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(next.Status)
	_, _ = w.Write([]byte(next.Body))
	return true
}

// accessToken issues an installation token for a JWT the app signed:
// RS256, iss the app ID, issued no later than now and expiring within ten
// minutes, as GitHub requires.
func (f *GitHub) accessToken(w http.ResponseWriter, r *http.Request) {
	if f.injectedApp(w) {
		return
	}
	f.mu.Lock()
	appID, key := f.appID, f.appKey
	f.mu.Unlock()
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if key == nil || !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "A JSON web token could not be decoded"})
		return
	}
	claims := &jwt.RegisteredClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}), jwt.WithIssuer(strconv.FormatInt(appID, 10)),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(30*time.Second))
	if err == nil && (claims.ExpiresAt.After(time.Now().Add(10*time.Minute+30*time.Second)) || claims.IssuedAt == nil) {
		err = fmt.Errorf("'Expiration time' claim ('exp') is too far in the future")
	}
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "A JSON web token could not be decoded: " + err.Error()})
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	f.mu.Lock()
	installed, found := f.installations[id]
	f.mu.Unlock()
	if !found {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	var body struct {
		Repositories []string          `json:"repositories"`
		Permissions  map[string]string `json:"permissions"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
			return
		}
	}
	for _, name := range body.Repositories {
		if !covers(installed, name) {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "There is at least one repository that does not exist or is not accessible to the parent installation."})
			return
		}
	}
	var b [20]byte
	_, _ = rand.Read(b[:])
	token := "ghs_" + hex.EncodeToString(b[:])
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	f.mu.Lock()
	f.tokens[token] = installationToken{installation: id, repos: body.Repositories, expires: expires}
	f.tokensIssued++
	f.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{
		"token": token, "expires_at": expires.Format(time.RFC3339), "permissions": body.Permissions,
	})
}

// covers reports whether an installation on repos (owner/repo; none: all)
// reaches repository name (a bare name, or owner/repo).
func covers(repos []string, name string) bool {
	if len(repos) == 0 {
		return true
	}
	name = strings.ToLower(name)
	for _, r := range repos {
		if r == name || strings.HasSuffix(r, "/"+name) {
			return true
		}
	}
	return false
}

// review records the app's review of a waiting run, once; a review of a
// run that waits for none (already reviewed) is refused with GitHub's 422.
func (f *GitHub) review(w http.ResponseWriter, r *http.Request) {
	if f.injectedApp(w) {
		return
	}
	auth := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		raw, ok = strings.CutPrefix(auth, "token ")
	}
	owner, repo := r.PathValue("owner"), r.PathValue("repo")
	full := strings.ToLower(owner + "/" + repo)
	f.mu.Lock()
	tok, known := f.tokens[raw]
	installed := f.installations[tok.installation]
	f.mu.Unlock()
	if !ok || !known || time.Now().After(tok.expires) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
		return
	}
	if !covers(installed, full) || (len(tok.repos) > 0 && !covers(tok.repos, repo)) {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "Resource not accessible by integration"})
		return
	}
	runID, err := strconv.ParseInt(r.PathValue("run_id"), 10, 64)
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	var body struct {
		EnvironmentName string `json:"environment_name"`
		State           string `json:"state"`
		Comment         string `json:"comment"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.EnvironmentName == "" ||
		(body.State != "approved" && body.State != "rejected") {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Invalid request: environment_name and state (approved or rejected) are required"})
		return
	}
	rv := Review{Owner: owner, Repo: repo, RunID: runID, EnvironmentName: body.EnvironmentName, State: body.State,
		Comment: body.Comment, Installation: tok.installation, APIVersion: r.Header.Get("X-GitHub-Api-Version")}
	g := gate{repo: full, runID: runID, environment: body.EnvironmentName}
	f.mu.Lock()
	waiting := f.pending[g]
	if waiting {
		delete(f.pending, g)
		f.reviews = append(f.reviews, rv)
	} else {
		f.refused = append(f.refused, rv)
	}
	f.mu.Unlock()
	if !waiting {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{
			"message": fmt.Sprintf("No pending custom deployment requests in workflow run `%d` to approve or reject", runID),
		})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
