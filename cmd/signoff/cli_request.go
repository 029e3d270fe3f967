package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signoff/signoff/approval"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

// Polling while waiting: quick at first (a decision often comes soon after
// the prompt), then every pollMax at most; a gateway that stays unreachable
// for unreachableLimit ends the wait with exit code 2.
const (
	pollFirst        = 500 * time.Millisecond
	pollMax          = 10 * time.Second
	unreachableLimit = 2 * time.Minute
)

func runRequest(c *cli, args []string) int {
	fs := c.flags()
	var (
		req           pb.CreateApprovalRequest
		fields        = keyValues{}
		params        = keyValues{}
		action        = &pb.Action{}
		wait, asJSON  bool
		timeout       time.Duration
		requestIDFlag string
		start         string
	)
	fs.StringVar(&req.Title, "title", "", "what is asked (required)")
	fs.StringVar(&req.Environment, "environment", "", "environment, which selects the policy (required)")
	fs.StringVar(&req.Description, "description", "", "details for approvers")
	fs.StringVar(&req.Resource, "resource", "", "what is touched (service, repo, key)")
	fs.Var(fields, "field", "k=v shown to approvers (repeatable)")
	fs.StringVar(&action.Type, "action", "", "action type run once approved (default noop)")
	fs.StringVar(&action.Url, "action-url", "", "the action's URL (webhook)")
	fs.Var(params, "param", "k=v action parameter (repeatable)")
	fs.StringVar(&req.Justification, "justification", "", "why this is needed")
	fs.StringVar(&req.Duration, "duration", "", "how long access is asked for, for grant actions (2h, 90m)")
	fs.StringVar(&requestIDFlag, "request-id", "", "idempotency key (default: derived from the CI run; see docs/cli.md#the-request-id)")
	fs.BoolVar(&wait, "wait", false, "wait for the outcome: exit 0 approved or bypassed, 1 rejected, expired or cancelled")
	fs.DurationVar(&timeout, "timeout", 0, "stop waiting after this long (exit 1); implies --wait")
	fs.BoolVar(&asJSON, "json", false, "print the final approval as JSON on stdout")
	fs.StringVar(&start, "start", "", "when granted access should start: RFC 3339 (2026-12-12T09:00:00Z) or a delay (+2h); default at approval")
	pos, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	switch {
	case len(pos) > 0:
		return c.errorf("unexpected argument %q", pos[0])
	case strings.TrimSpace(req.Title) == "":
		return c.errorf("--title is required")
	case strings.TrimSpace(req.Environment) == "":
		return c.errorf("--environment is required")
	case timeout < 0:
		return c.errorf("--timeout must be positive")
	}
	wait = wait || timeout > 0
	if start != "" {
		t, err := approval.ParseStart(start, time.Now())
		if err != nil {
			return c.errorf("--start: %v", err)
		}
		req.StartTime = timestamppb.New(t)
	}
	if len(fields) > 0 {
		req.Fields = fields
	}
	if len(params) > 0 {
		action.Params = params
	}
	if action.Type != "" || action.Url != "" || len(action.Params) > 0 {
		req.Action = action
	}
	req.RequestId = requestIDFlag
	if req.RequestId == "" {
		var ci string
		req.RequestId, ci = ciRequestID(c.getenv, req.Environment, req.Resource)
		if ci != "" {
			c.infof("request id %s (from the %s run: a retried job finds the same approval)", req.RequestId, ci)
		}
	}

	api, code, ok := c.api()
	if !ok {
		return code
	}
	defer c.close()
	ctx, cancel := c.call()
	a, err := api.CreateApproval(ctx, &req)
	cancel()
	if err != nil {
		return c.apiError(err)
	}
	c.announce(a, asJSON)
	if !wait {
		if asJSON {
			c.printJSON(a)
		}
		c.githubOutputs(a)
		return exitOK
	}
	final, err := c.wait(api, a, timeout)
	var timedOut bool
	switch {
	case errors.Is(err, errStoppedWaiting):
		timedOut = true
	case err != nil:
		return c.apiError(err)
	}
	if asJSON {
		c.printJSON(final)
	}
	c.githubOutputs(final)
	switch {
	case timedOut:
		c.outf(asJSON, "stopped waiting after %s: approval %s is still %s: %s", timeout, final.GetId(), statusWord(final.GetStatus()), c.link(final.GetId()))
		return exitNotGranted
	case final.GetStatus() == pb.Status_STATUS_APPROVED || final.GetStatus() == pb.Status_STATUS_BYPASSED:
		c.outf(asJSON, "%s", outcome(final))
		if r := final.GetActionResult(); r != nil && !r.GetSuccess() && r.GetError() != "" {
			c.infof("warning: the %s action failed: %s", r.GetType(), r.GetError())
		}
		return exitOK
	default:
		c.outf(asJSON, "%s", outcome(final))
		return exitNotGranted
	}
}

// announce says what was created (or found again for the same request id).
func (c *cli) announce(a *pb.Approval, asJSON bool) {
	c.outf(asJSON, "approval %s: %s, policy %s, %d of %s", a.GetId(), statusWord(a.GetStatus()),
		a.GetPolicyName(), a.GetRequiredApprovals(), strings.Join(a.GetApprovers(), ", "))
	c.outf(asJSON, "link: %s", c.link(a.GetId()))
}

// outf prints a human line: on stdout, or on stderr when stdout is JSON.
func (c *cli) outf(asJSON bool, format string, args ...any) {
	w := c.stdout
	if asJSON {
		w = c.stderr
	}
	fmt.Fprintf(w, format+"\n", args...)
}

var errStoppedWaiting = errors.New("stopped waiting")

// wait polls the approval until it is final, with backoff. It returns
// errStoppedWaiting (and the last state) when timeout passes or the job is
// interrupted.
func (c *cli) wait(api pb.ApprovalServiceClient, a *pb.Approval, timeout time.Duration) (*pb.Approval, error) {
	ctx := c.ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	last, delay := a, pollFirst
	var unreachableSince time.Time
	for a.GetStatus() == pb.Status_STATUS_PENDING {
		if ctx.Err() != nil {
			return last, errStoppedWaiting
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return last, errStoppedWaiting
		case <-timer.C:
		}
		delay = min(delay*3/2, pollMax)
		call, cancel := context.WithTimeout(ctx, callTimeout)
		next, err := api.GetApproval(call, &pb.GetApprovalRequest{Id: a.GetId()})
		cancel()
		switch {
		case ctx.Err() != nil:
			return last, errStoppedWaiting
		case transient(err):
			// A gateway restart or a worker busy for a moment is no
			// reason to fail the pipeline.
			if unreachableSince.IsZero() {
				unreachableSince = time.Now()
			}
			if time.Since(unreachableSince) > unreachableLimit {
				return last, err
			}
			c.infof("gateway not answering (%s), retrying", status.Convert(err).Message())
			continue
		case err != nil:
			return last, err
		}
		unreachableSince = time.Time{}
		if progress(next) != progress(last) {
			c.infof("%s", progress(next))
		}
		a, last = next, next
	}
	return a, nil
}

func transient(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return err != nil
	}
	return false
}

// progress is one line of where a pending approval stands.
func progress(a *pb.Approval) string {
	s := fmt.Sprintf("%s: %d/%d approvals", statusWord(a.GetStatus()), len(a.GetApprovedBy()), a.GetRequiredApprovals())
	if a.GetCurrentStage() != "" {
		s += ", stage " + a.GetCurrentStage()
	}
	if p := a.GetPendingApprovers(); len(p) > 0 {
		s += ", waiting for " + strings.Join(p, ", ")
	}
	return s
}

// outcome is one line about a final approval.
func outcome(a *pb.Approval) string {
	s := fmt.Sprintf("approval %s %s", a.GetId(), statusWord(a.GetStatus()))
	switch a.GetStatus() {
	case pb.Status_STATUS_APPROVED:
		s += " by " + strings.Join(a.GetApprovedBy(), ", ")
	case pb.Status_STATUS_REJECTED:
		for _, d := range a.GetDecisions() {
			if d.GetAccepted() && !d.GetVoided() && d.GetDecision() == pb.Decision_DECISION_REJECT {
				s += " by " + d.GetUser()
				if d.GetComment() != "" {
					s += fmt.Sprintf(": %q", d.GetComment())
				}
				break
			}
		}
	case pb.Status_STATUS_GRANTED:
		s += " until " + a.GetGrant().GetRevokeTime().AsTime().UTC().Format(time.RFC3339)
		if by := a.GetGrant().GetRevokeRequestedBy(); by != "" {
			s += " (revoke asked by " + by + ")"
		}
	case pb.Status_STATUS_REVOKED:
		s += " at " + a.GetGrant().GetRevokedTime().AsTime().UTC().Format(time.RFC3339)
	case pb.Status_STATUS_CANCELLED:
		s += " by " + a.GetCancelledBy()
		if a.GetCancelReason() != "" {
			s += fmt.Sprintf(": %q", a.GetCancelReason())
		}
	case pb.Status_STATUS_BYPASSED:
		s += fmt.Sprintf(" (break-glass) by %s: %q", a.GetBypassedBy(), a.GetBypassReason())
	}
	return s
}

// statusWord is "pending" for STATUS_PENDING.
func statusWord(s pb.Status) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "STATUS_"))
}

// githubOutputs sets step outputs in GitHub Actions (approval-id,
// approval-url, status), so later steps can link or branch on them.
func (c *cli) githubOutputs(a *pb.Approval) {
	path := c.getenv("GITHUB_OUTPUT")
	if path == "" || a == nil {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		c.infof("warning: GITHUB_OUTPUT: %v", err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "approval-id=%s\napproval-url=%s\nstatus=%s\n", a.GetId(), c.link(a.GetId()), statusWord(a.GetStatus()))
}
