package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// API is a REST client for the gateway.
type API struct {
	Base   string
	Client *http.Client
	// seen keeps each created approval's request_hash: what its prompt
	// showed the approvers, and what their decisions are bound to.
	seen sync.Map
}

// Do sends a request and decodes a JSON answer into out (when non-nil).
func (a *API) Do(ctx context.Context, method, path, token, body string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.Base+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, &HTTPError{Status: resp.StatusCode,
			Msg: fmt.Sprintf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", path, err)
		}
	}
	return resp.StatusCode, nil
}

// HTTPError is an answer other than 200.
type HTTPError struct {
	Status int
	Msg    string
}

func (e *HTTPError) Error() string { return e.Msg }

// Create starts an approval as alice and returns its id.
func (a *API) Create(ctx context.Context, env, title, webhook string) (string, error) {
	return a.create(ctx, "dev-alice", env, title, webhook)
}

// CreateAs starts an approval as the token's owner and returns its id.
func (a *API) CreateAs(ctx context.Context, token, env, title string) (string, error) {
	return a.create(ctx, token, env, title, "")
}

func (a *API) create(ctx context.Context, token, env, title, webhook string) (string, error) {
	body := fmt.Sprintf(`{"title":%q,"environment":%q,"fields":{"run":"bench"}`, title, env)
	if webhook != "" {
		body += fmt.Sprintf(`,"action":{"type":"webhook","url":%q}`, webhook)
	}
	body += "}"
	var out struct {
		ID          string `json:"id"`
		RequestHash string `json:"requestHash"`
	}
	if _, err := a.Do(ctx, http.MethodPost, "/v1/approvals", token, body, &out); err != nil {
		return "", err
	}
	a.seen.Store(out.ID, out.RequestHash)
	return out.ID, nil
}

// Decide decides as the token's owner over REST, on the content the
// approval was created with.
func (a *API) Decide(ctx context.Context, id, token, decision string) error {
	hash, _ := a.seen.Load(id)
	_, err := a.Do(ctx, http.MethodPost, "/v1/approvals/"+id+":decide", token,
		fmt.Sprintf(`{"decision":%q,"request_hash":"%v"}`, decision, hash), nil)
	return err
}

// Clicker delivers one approver's decision the way the measured path does
// (REST, or a signed Slack click) and returns how long the caller waited
// for the acknowledgement.
type Clicker func(ctx context.Context, id string) (ack time.Duration, err error)

// PathResult is one Signoff run.
type PathResult struct {
	Throughput
	Create     Summary `json:"create"`
	Ack        Summary `json:"click_ack"`
	ClickToAct Summary `json:"click_to_action"`
	// Duplicates of webhook calls (must be 0: the action runs once).
	DuplicateActions int `json:"duplicate_actions"`
}

// Path runs n approvals at concurrency c: create, wait for the prompt,
// click, wait for the action, wait for the final update.
func Path(ctx context.Context, api *API, env, webhookURL string, n, conc int,
	prompted func(id string) <-chan time.Time, click Clicker, actions *Arrivals, finished func(id string) <-chan time.Time) PathResult {
	var create, ack, c2a, e2e Latencies
	wall, errs := runConcurrently(n, conc, func(i int) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		start := time.Now()
		id, err := api.Create(ctx, env, fmt.Sprintf("bench %d", i), webhookURL)
		if err != nil {
			return err
		}
		create.Add(time.Since(start))
		if prompted != nil {
			if err := wait(ctx, prompted(id)); err != nil {
				return fmt.Errorf("prompt for %s: %w", id, err)
			}
		}
		clickAt := time.Now()
		d, err := click(ctx, id)
		if err != nil {
			return err
		}
		ack.Add(d)
		select {
		case at := <-actions.Wait(id):
			c2a.Add(at.Sub(clickAt))
		case <-ctx.Done():
			return fmt.Errorf("action for %s: %w", id, ctx.Err())
		}
		if finished != nil {
			if err := wait(ctx, finished(id)); err != nil {
				return fmt.Errorf("final update for %s: %w", id, err)
			}
		}
		e2e.Add(time.Since(start))
		return nil
	})
	return PathResult{
		Throughput: throughputOf(conc, n, wall, errs, &e2e),
		Create:     create.Summary(), Ack: ack.Summary(), ClickToAct: c2a.Summary(), DuplicateActions: actions.Duplicates(),
	}
}

func wait(ctx context.Context, ch <-chan time.Time) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
