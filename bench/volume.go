package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
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
// Pending as their requester; it returns how long that took and how many
// creates or cancels failed.
func CreateVolume(ctx context.Context, api *API, p VolumePlan, progress func(done int)) (time.Duration, int) {
	var done atomic.Int64
	wall, errs := runConcurrently(p.Total, p.Clients, func(i int) error {
		env, token := p.approvalAt(i)
		id, err := api.CreateAs(ctx, token, env, fmt.Sprintf("volume %d", i))
		if err == nil && i >= p.Pending {
			_, err = api.Do(ctx, http.MethodPost, "/v1/approvals/"+id+":cancel", token, `{"reason":"volume"}`, nil)
		}
		if n := done.Add(1); progress != nil && n%10000 == 0 {
			progress(int(n))
		}
		return err
	})
	return wall, len(errs)
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

// TimeReads times each read of the volume phase p.Reads times, one at a
// time, as the focus person (and the auditor for the unfiltered list).
func TimeReads(ctx context.Context, api *API, sessions *web.Sessions, p VolumePlan) []Read {
	focus, other := VolumeToken(0), VolumePerson(1)
	var next string
	type listRead struct{ name, token, query string }
	lists := []listRead{
		{"list, no filter", focus, ""},
		{"list, status pending", focus, "status=STATUS_PENDING"},
		{"list, status cancelled", focus, "status=STATUS_CANCELLED"},
		{"list, environment", focus, "environment=vol-00"},
		{"list, requester", focus, "requester=" + other},
		{"list, awaiting me", focus, "awaiting_me=true&page_size=50"},
		{"list, next page", focus, "page_token="},
		{"list, auditor, no filter", VolumeAuditorToken, ""},
		{"list, auditor, status pending", VolumeAuditorToken, "status=STATUS_PENDING"},
	}
	var out []Read
	for _, l := range lists {
		q := l.query
		if q == "page_token=" {
			q += next
		}
		r := Read{Name: l.name, Path: "/v1/approvals?" + q}
		var lat Latencies
		for range p.Reads {
			var page struct {
				Approvals     []struct{ ID string } `json:"approvals"`
				NextPageToken string                `json:"nextPageToken"`
			}
			start := time.Now()
			_, err := api.Do(ctx, http.MethodGet, r.Path, l.token, "", &page)
			if err != nil {
				r.Errors++
				r.Error = err.Error()
				continue
			}
			lat.Add(time.Since(start))
			r.Rows = len(page.Approvals)
			if l.query == "" && l.token == focus {
				next = page.NextPageToken
			}
		}
		r.Summary = lat.Summary()
		out = append(out, r)
	}
	for _, view := range []string{"waiting", "requests", "all"} {
		r := Read{Name: "inbox, " + view, Path: "/inbox?view=" + view}
		var lat Latencies
		for range p.Reads {
			start := time.Now()
			rows, err := inboxRows(ctx, api, sessions, VolumePerson(0), r.Path)
			if err != nil {
				r.Errors++
				r.Error = err.Error()
				continue
			}
			lat.Add(time.Since(start))
			r.Rows = rows
		}
		r.Summary = lat.Summary()
		out = append(out, r)
	}
	return out
}

// inboxRows opens an inbox page as user and counts its rows.
func inboxRows(ctx context.Context, api *API, sessions *web.Sessions, user, path string) (int, error) {
	cookie, err := sessions.Cookie(user)
	if err != nil {
		return 0, err
	}
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
