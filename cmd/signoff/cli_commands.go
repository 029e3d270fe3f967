package main

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/signoff/signoff/approval"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

func runGet(c *cli, args []string) int {
	fs := c.flags()
	asJSON := fs.Bool("json", false, "print the approval as JSON")
	pos, code, ok := c.parse(fs, args)
	switch {
	case !ok:
		return code
	case len(pos) != 1:
		return c.errorf("want one approval ID, got %d arguments", len(pos))
	}
	api, code, ok := c.api()
	if !ok {
		return code
	}
	defer c.close()
	ctx, cancel := c.call()
	defer cancel()
	a, err := api.GetApproval(ctx, &pb.GetApprovalRequest{Id: pos[0]})
	if err != nil {
		return c.apiError(err)
	}
	if *asJSON {
		c.printJSON(a)
		return exitOK
	}
	c.describe(a)
	return exitOK
}

// describe prints an approval for people.
func (c *cli) describe(a *pb.Approval) {
	w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%s:\t%s\n", k, v)
		}
	}
	line("id", a.GetId())
	line("title", a.GetTitle())
	line("status", statusWord(a.GetStatus()))
	line("environment", a.GetEnvironment())
	line("resource", a.GetResource())
	line("requester", a.GetRequester())
	line("policy", a.GetPolicyName())
	line("approvers", fmt.Sprintf("%d of %s", a.GetRequiredApprovals(), strings.Join(a.GetApprovers(), ", ")))
	line("approved by", strings.Join(a.GetApprovedBy(), ", "))
	line("waiting for", strings.Join(a.GetPendingApprovers(), ", "))
	line("created", timeText(a.GetCreateTime().AsTime(), a.GetCreateTime() != nil))
	line("deadline", timeText(a.GetDeadline().AsTime(), a.GetDeadline() != nil))
	line("closed", timeText(a.GetCloseTime().AsTime(), a.GetCloseTime() != nil))
	line("access for", a.GetDuration())
	line("access from", timeText(a.GetStartTime().AsTime(), a.GetStartTime() != nil))
	if g := a.GetGrant(); g != nil {
		line("grant starts", timeText(g.GetStartTime().AsTime(), g.GetStartTime() != nil))
		line("granted", timeText(g.GetGrantTime().AsTime(), g.GetGrantTime() != nil))
		line("revoke at", timeText(g.GetRevokeTime().AsTime(), g.GetRevokeTime() != nil))
		line("revoked", timeText(g.GetRevokedTime().AsTime(), g.GetRevokedTime() != nil))
	}
	if act := a.GetAction(); act != nil && act.GetType() != "" {
		v := approval.Action{Type: act.GetType(), URL: act.GetUrl(), Params: act.GetParams()}.View()
		line("action", v.Headline())
		// The view writes control characters as escapes, so a value can
		// neither drive the terminal nor break the columns.
		for _, p := range v.Params {
			line("  param "+p.Key, cmp.Or(p.Value, `""`))
		}
	}
	if r := a.GetActionResult(); r != nil {
		res := "ok"
		if !r.GetSuccess() {
			res = "failed: " + r.GetError()
		}
		line("action result", res)
	}
	for _, k := range slices.Sorted(maps.Keys(a.GetFields())) {
		line("  "+k, a.GetFields()[k])
	}
	for _, d := range a.GetDecisions() {
		verdict := "accepted"
		if !d.GetAccepted() {
			verdict = "refused: " + d.GetRefusalReason()
		}
		if d.GetDuration() != "" {
			verdict += ", for " + d.GetDuration() + " only"
		}
		line("decision", fmt.Sprintf("%s %s (%s, %s) %s", d.GetUser(), strings.ToLower(strings.TrimPrefix(d.GetDecision().String(), "DECISION_")),
			d.GetChannel(), verdict, d.GetComment()))
	}
	line("link", c.link(a.GetId()))
	_ = w.Flush()
}

func timeText(t time.Time, set bool) string {
	if !set {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func runList(c *cli, args []string) int {
	fs := c.flags()
	var (
		statusText string
		req        pb.ListApprovalsRequest
		limit      int
		asJSON     bool
	)
	fs.StringVar(&statusText, "status", "", "pending, approved, rejected, expired, cancelled, bypassed, granted or revoked")
	fs.StringVar(&req.Environment, "environment", "", "only this environment")
	fs.StringVar(&req.Requester, "requester", "", "only this requester")
	fs.BoolVar(&req.AwaitingMe, "waiting", false, "only approvals waiting for my decision now")
	fs.IntVar(&limit, "limit", 50, "at most this many")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	pos, code, ok := c.parse(fs, args)
	switch {
	case !ok:
		return code
	case len(pos) > 0:
		return c.errorf("unexpected argument %q", pos[0])
	case limit <= 0:
		return c.errorf("--limit must be positive")
	}
	if statusText != "" {
		v, ok := pb.Status_value["STATUS_"+strings.ToUpper(strings.TrimPrefix(strings.ToUpper(statusText), "STATUS_"))]
		if !ok || v == 0 {
			return c.errorf("--status %q: want pending, approved, rejected, expired, cancelled, bypassed, granted or revoked", statusText)
		}
		req.Status = pb.Status(v)
	}
	api, code, ok := c.api()
	if !ok {
		return code
	}
	defer c.close()
	var all []*pb.Approval
	for len(all) < limit {
		req.PageSize = int32(min(limit-len(all), 200))
		ctx, cancel := c.call()
		resp, err := api.ListApprovals(ctx, &req)
		cancel()
		if err != nil {
			return c.apiError(err)
		}
		all = append(all, resp.GetApprovals()...)
		if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	if len(all) > limit {
		all = all[:limit]
	}
	if asJSON {
		c.printJSON(&pb.ListApprovalsResponse{Approvals: all})
		return exitOK
	}
	w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSTATUS\tENVIRONMENT\tREQUESTER\tCREATED\tTITLE")
	for _, a := range all {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", a.GetId(), statusWord(a.GetStatus()), a.GetEnvironment(),
			a.GetRequester(), timeText(a.GetCreateTime().AsTime(), a.GetCreateTime() != nil), a.GetTitle())
	}
	_ = w.Flush()
	return exitOK
}

func runDecide(c *cli, args []string) int {
	req := &pb.DecideApprovalRequest{Decision: pb.Decision_DECISION_APPROVE}
	if c.name == "reject" {
		req.Decision = pb.Decision_DECISION_REJECT
	}
	var values strs
	var asJSON bool
	fs := c.flags()
	fs.StringVar(&req.Comment, "comment", "", "why")
	fs.Var(&values, "value", "a chosen option value, or the text of a text input (repeatable)")
	fs.StringVar(&req.RequestId, "request-id", "", "idempotency key: a retry with the same key counts once")
	fs.StringVar(&req.OnBehalfOf, "for", "", "decide in this approver's place, under their delegation to you")
	if c.name == "approve" {
		fs.StringVar(&req.Duration, "duration", "", "approve access for less time than asked (30m, 2h)")
	}
	fs.StringVar(&req.RequestHash, "request-hash", "",
		"the request_hash of the content you reviewed (default: read the approval now, show it, and decide on that)")
	fs.BoolVar(&asJSON, "json", false, "print the approval as JSON")
	pos, code, ok := c.parse(fs, args)
	switch {
	case !ok:
		return code
	case len(pos) != 1:
		return c.errorf("want one approval ID, got %d arguments", len(pos))
	}
	req.Id, req.Values = pos[0], values
	api, code, ok := c.api()
	if !ok {
		return code
	}
	defer c.close()
	ctx, cancel := c.call()
	defer cancel()
	if req.RequestHash == "" {
		// The decision is bound to content: show what is decided on, and
		// send its hash, so an amendment made meanwhile is refused.
		current, err := api.GetApproval(ctx, &pb.GetApprovalRequest{Id: req.Id})
		if err != nil {
			return c.apiError(err)
		}
		if !asJSON {
			fmt.Fprintf(c.stdout, "Deciding (%s) on:\n", strings.ToLower(strings.TrimPrefix(req.Decision.String(), "DECISION_")))
			c.describe(current)
			fmt.Fprintln(c.stdout)
		}
		req.RequestHash = current.GetRequestHash()
	}
	resp, err := api.DecideApproval(ctx, req)
	if err != nil {
		return c.apiError(err)
	}
	if asJSON {
		c.printJSON(resp.GetApproval())
		return exitOK
	}
	a := resp.GetApproval()
	if a.GetStatus() == pb.Status_STATUS_PENDING {
		fmt.Fprintf(c.stdout, "decision recorded on approval %s; %s\n", a.GetId(), progress(a))
	} else {
		fmt.Fprintln(c.stdout, outcome(a))
	}
	return exitOK
}

func runCancel(c *cli, args []string) int {
	var reason string
	var asJSON bool
	fs := c.flags()
	fs.StringVar(&reason, "reason", "", "why")
	fs.BoolVar(&asJSON, "json", false, "print the approval as JSON")
	pos, code, ok := c.parse(fs, args)
	switch {
	case !ok:
		return code
	case len(pos) != 1:
		return c.errorf("want one approval ID, got %d arguments", len(pos))
	}
	api, code, ok := c.api()
	if !ok {
		return code
	}
	defer c.close()
	ctx, cancel := c.call()
	defer cancel()
	var a *pb.Approval
	var err error
	switch c.name {
	case "revoke":
		a, err = api.RevokeGrant(ctx, &pb.RevokeGrantRequest{Id: pos[0], Reason: reason})
	case "take-over-revoke":
		a, err = api.AcknowledgeRevokeFailure(ctx, &pb.AcknowledgeRevokeFailureRequest{Id: pos[0], Reason: reason})
	default:
		a, err = api.CancelApproval(ctx, &pb.CancelApprovalRequest{Id: pos[0], Reason: reason})
	}
	if err != nil {
		return c.apiError(err)
	}
	if asJSON {
		c.printJSON(a)
		return exitOK
	}
	fmt.Fprintln(c.stdout, outcome(a))
	return exitOK
}

// runExtend asks for more time on a grant: a new approval, printed like
// request's.
func runExtend(c *cli, args []string) int {
	var duration, justification, requestID string
	var asJSON bool
	fs := c.flags()
	fs.StringVar(&duration, "duration", "", "how much longer, from the extension's approval (1h, 30m)")
	fs.StringVar(&justification, "justification", "", "why")
	fs.StringVar(&requestID, "request-id", "", "idempotency key")
	fs.BoolVar(&asJSON, "json", false, "print the approval as JSON")
	pos, code, ok := c.parse(fs, args)
	switch {
	case !ok:
		return code
	case len(pos) != 1:
		return c.errorf("want one approval ID, got %d arguments", len(pos))
	case duration == "":
		return c.errorf("--duration is required")
	}
	api, code, ok := c.api()
	if !ok {
		return code
	}
	defer c.close()
	ctx, cancel := c.call()
	defer cancel()
	a, err := api.ExtendGrant(ctx, &pb.ExtendGrantRequest{Id: pos[0], Duration: duration, Justification: justification, RequestId: requestID})
	if err != nil {
		return c.apiError(err)
	}
	if asJSON {
		c.printJSON(a)
		return exitOK
	}
	fmt.Fprintf(c.stdout, "%s\textension of %s asked: %s\n", a.GetId(), pos[0], strings.Join(a.GetPendingApprovers(), ", "))
	return exitOK
}
