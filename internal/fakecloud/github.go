package fakecloud

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// GitHub is a fake of GitHub's workflow-dispatch endpoint
// (POST /repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches).
// It accepts calls bearing its token and records each dispatch.
type GitHub struct {
	URL   string
	Token string

	mu         sync.Mutex
	dispatches []Dispatch
	answers    []Answer
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
