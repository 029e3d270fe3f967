// Package notifier is the log notifier: prompts and outcomes in the
// worker's log, with no outside service.
package notifier

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/signoff/signoff/approval"
)

// Log writes prompts and outcomes to the worker's log, with the commands an
// approver can run to decide. It is the notifier of last resort and of the
// dev setup.
type Log struct {
	Logger *slog.Logger
	// GatewayURL is where approvers reach the REST API.
	GatewayURL string
}

// Prompt logs who is asked and how to decide.
func (l *Log) Prompt(_ context.Context, st *approval.State) (approval.Delivery, error) {
	pending := st.Pending()
	l.Logger.Info("approval requested",
		"approval_id", st.ID,
		"title", st.Request.Title,
		"environment", st.Request.Environment,
		"requester", st.Requester,
		"policy", st.Policy.Name,
		"required", st.Policy.RequiredApprovals,
		"approvers", strings.Join(pending, ","),
		"deadline", st.Deadline.UTC().Format(time.RFC3339),
		actionAttr(st.Request.Action.View()),
		"open", strings.TrimRight(l.GatewayURL, "/")+"/approvals/"+st.ID,
		// The hash binds the decision to the content logged here.
		"decide", fmt.Sprintf(`curl -X POST -H "Authorization: Bearer $TOKEN" %s/v1/approvals/%s:decide -d '{"decision":"DECISION_APPROVE","request_hash":"%s"}'`, l.GatewayURL, st.ID, st.RequestHash),
	)
	return approval.Delivery{Targets: prefixed("log:", pending)}, nil
}

// Delegated logs that a delegate added after the approval was created is
// asked, and how they decide.
func (l *Log) Delegated(_ context.Context, st *approval.State, delegate string) (approval.Delivery, error) {
	l.Logger.Info("approval delegated",
		"approval_id", st.ID,
		"title", st.Request.Title,
		"delegate", delegate,
		"open", strings.TrimRight(l.GatewayURL, "/")+"/approvals/"+st.ID,
	)
	return approval.Delivery{Targets: []string{"log:" + delegate}}, nil
}

// Outcome logs how the approval ended.
func (l *Log) Outcome(_ context.Context, st *approval.State) (approval.Delivery, error) {
	attrs := []any{"approval_id", st.ID, "status", string(st.Status), "approved_by", strings.Join(st.ApprovedBy, ",")}
	if st.ActionResult != nil {
		attrs = append(attrs, "action", st.ActionResult.Type, "action_success", st.ActionResult.Success)
	}
	l.Logger.Info("approval finished", attrs...)
	return approval.Delivery{Targets: []string{"log:" + st.Requester}}, nil
}

// actionAttr is what runs once granted, every parameter in its own key
// (action.params.<name>), so the handler quotes each value for its format.
func actionAttr(v approval.ActionView) slog.Attr {
	params := make([]any, 0, len(v.Params))
	for _, p := range v.Params {
		params = append(params, slog.String(p.Key, p.Value))
	}
	return slog.Group("action", "type", v.Type, "target", v.Target, slog.Group("params", params...))
}

func prefixed(p string, xs []string) []string {
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		out = append(out, p+x)
	}
	return out
}
