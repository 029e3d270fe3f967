package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/signoff/signoff/channel/web"
	"github.com/signoff/signoff/config/identity"
)

// The volume phase: many approvals in Temporal at once, most of them closed
// and some pending across people, then the reads people make of them: every
// list filter the API offers and the inbox's three views, each timed.

// VolumePerson is the i-th person of the volume phase; VolumeToken is their
// API token.
func VolumePerson(i int) string { return fmt.Sprintf("v%02d", i) }
func VolumeToken(i int) string  { return "vol-" + VolumePerson(i) }

// VolumeAuditor reads everything (the auditor role); its token.
const (
	VolumeAuditor      = "vaudit"
	VolumeAuditorToken = "vol-audit"
)

// VolumeConfig is the split's extra users and policies (YAML list items)
// for the volume phase's people, and an auditor: each person approves the approvals of environment
// vol-NN (the pending ones) and volx-NN (those their requester cancels at
// once, so they close in the request that asks it, with no timer and no
// backlog of expiries behind them).
func VolumeConfig(people int) (users, policies string) {
	if people <= 0 {
		return "", ""
	}
	var u, p strings.Builder
	for i := range people {
		name := VolumePerson(i)
		fmt.Fprintf(&u, "  - {name: %s, email: %s@example.com, token_sha256: %s}\n", name, name, sha256Hex(VolumeToken(i)))
		fmt.Fprintf(&p, "  - {name: vol-%02d, match: {environment: vol-%02d}, approvers: {users: [%s]}, required_approvals: 1, deadline: 24h}\n", i, i, name)
		fmt.Fprintf(&p, "  - {name: volx-%02d, match: {environment: volx-%02d}, approvers: {users: [%s]}, required_approvals: 1, deadline: 24h}\n", i, i, name)
	}
	fmt.Fprintf(&u, "  - {name: %s, email: %s@example.com, roles: [%s], token_sha256: %s}\n", VolumeAuditor, VolumeAuditor, identity.RoleAuditor, sha256Hex(VolumeAuditorToken))
	return u.String(), p.String()
}

// VolumePlan is how many approvals the phase creates and how.
type VolumePlan struct {
	Total, Pending, People int
	// Focus approvals wait for the first person (v00): the one whose
	// reads are timed.
	Focus   int
	Clients int
	// Reads is how many times each read is timed.
	Reads int
}

// approvalAt is the i-th approval of the plan: its environment and the
// token of its requester. The first Pending are pending: Focus of them
// wait for v00, the rest for v01..; the others are cancelled at once,
// approved by v01.. too, so v00 waits for exactly Focus. The requester
// is the next person after the approver, never the approver.
func (p VolumePlan) approvalAt(i int) (env, token string) {
	approver, prefix := 1+(i-p.Focus)%(p.People-1), "vol"
	switch {
	case i < p.Focus:
		approver = 0
	case i >= p.Pending:
		approver, prefix = 1+i%(p.People-1), "volx"
	}
	return fmt.Sprintf("%s-%02d", prefix, approver), VolumeToken((approver + 1) % p.People)
}

// CreateVolume creates the plan's approvals, and cancels the ones past
// Pending as their requester; it returns how long that took and the
// creates or cancels that failed, counted by kind ("cancel: 504",
// "create: transport").
func CreateVolume(ctx context.Context, api *API, p VolumePlan, progress func(done int)) (time.Duration, map[string]int) {
	var done atomic.Int64
	wall, errs := runConcurrently(p.Total, p.Clients, func(i int) error {
		env, token := p.approvalAt(i)
		id, err := api.CreateAs(ctx, token, env, fmt.Sprintf("volume %d", i))
		step := "create"
		if err == nil && i >= p.Pending {
			step = "cancel"
			_, err = api.Do(ctx, http.MethodPost, "/v1/approvals/"+id+":cancel", token, `{"reason":"volume"}`, nil)
		}
		if n := done.Add(1); progress != nil && n%10000 == 0 {
			progress(int(n))
		}
		if err != nil {
			return &stepError{step: step, err: err}
		}
		return nil
	})
	kinds := map[string]int{}
	for _, err := range errs {
		kinds[errorKind(err)]++
	}
	return wall, kinds
}

// stepError is a failed call of the volume plan, with the step it failed at.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }

// errorKind names an error by step and HTTP status ("cancel: 504"), or
// "transport" when no answer came.
func errorKind(err error) string {
	step, code := "call", "transport"
	var se *stepError
	if errors.As(err, &se) {
		step = se.step
		var he *HTTPError
		if errors.As(se.err, &he) {
			code = strconv.Itoa(he.Status)
		}
	}
	return step + ": " + code
}

// Read is one timed read.
type Read struct {
	Name string `json:"name"`
	// Path is what was asked (API path, or inbox page).
	Path string `json:"path"`
	Summary
	// Rows is what the last answer listed (approvals, or inbox rows).
	Rows   int    `json:"rows"`
	Errors int    `json:"errors"`
	Error  string `json:"error,omitempty"`
}

// BenchSessions signs inbox sessions with the split's key.
func BenchSessions(key []byte) (*web.Sessions, error) {
	return web.NewSessions(web.SessionOptions{Key: key, TTL: time.Hour, Directory: func() *identity.Directory { return nil }})
}

// Names of the reads whose rows the phase's targets check.
const (
	ReadAwaitingMe   = "list, awaiting me"
	ReadInboxWaiting = "inbox, waiting"
)

// TimeReads times each read of the volume phase p.Reads times, one at a
// time, as the focus person (and the auditor for the unfiltered list).
func TimeReads(ctx context.Context, api *API, sessions *web.Sessions, p VolumePlan) []Read {
	focus := VolumeToken(0)
	var next string // the unfiltered list's next page, for "next page"
	lists := []struct {
		name, token, query string
		nextPage           bool
	}{
		{name: "list, no filter", token: focus},
		{name: "list, status pending", token: focus, query: "status=STATUS_PENDING"},
		{name: "list, status cancelled", token: focus, query: "status=STATUS_CANCELLED"},
		{name: "list, environment", token: focus, query: "environment=vol-00"},
		{name: "list, requester", token: focus, query: "requester=" + VolumePerson(1)},
		{name: ReadAwaitingMe, token: focus, query: "awaiting_me=true&page_size=50"},
		{name: "list, next page", token: focus, nextPage: true},
		{name: "list, auditor, no filter", token: VolumeAuditorToken},
		{name: "list, auditor, status pending", token: VolumeAuditorToken, query: "status=STATUS_PENDING"},
	}
	var out []Read
	for _, l := range lists {
		q := l.query
		if l.nextPage {
			q = "page_token=" + next
		}
		out = append(out, timed(p.Reads, l.name, "/v1/approvals?"+q, func(path string) (int, error) {
			var page struct {
				Approvals     []struct{ ID string } `json:"approvals"`
				NextPageToken string                `json:"nextPageToken"`
			}
			_, err := api.Do(ctx, http.MethodGet, path, l.token, "", &page)
			if l.query == "" && !l.nextPage && l.token == focus {
				next = page.NextPageToken
			}
			return len(page.Approvals), err
		}))
	}
	cookie, err := sessions.Cookie(VolumePerson(0))
	if err != nil {
		return append(out, Read{Name: "inbox", Errors: 1, Error: err.Error()})
	}
	for _, view := range []string{"waiting", "requests", "all"} {
		out = append(out, timed(p.Reads, "inbox, "+view, "/inbox?view="+view, func(path string) (int, error) {
			return inboxRows(ctx, api, cookie, path)
		}))
	}
	return out
}

// timed runs read n times, one at a time, and keeps its latencies, the
// rows of its last answer and its errors.
func timed(n int, name, path string, read func(path string) (rows int, err error)) Read {
	r := Read{Name: name, Path: path}
	var lat Latencies
	for range n {
		start := time.Now()
		rows, err := read(path)
		if err != nil {
			r.Errors++
			r.Error = err.Error()
			continue
		}
		lat.Add(time.Since(start))
		r.Rows = rows
	}
	r.Summary = lat.Summary()
	return r
}

// inboxRows opens an inbox page in cookie's session and counts its rows.
func inboxRows(ctx context.Context, api *API, cookie *http.Cookie, path string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api.Base+path, nil)
	if err != nil {
		return 0, err
	}
	req.AddCookie(cookie)
	resp, err := api.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %d", path, resp.StatusCode)
	}
	return strings.Count(string(b), `<li class="card row" data-id="`), nil
}
