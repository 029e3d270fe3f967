package workflows

import (
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
)

// The approval workflow's metrics, emitted through the SDK's metrics
// handler: it drops what a replay emits again, so each is counted once per
// event however often the history is replayed, and it adds no command to
// history. Exported to Prometheus (see connect.NewMetrics), counters
// gain _total and the timer becomes a histogram in seconds.
const (
	// MetricApprovalsCreated counts approvals started through Signoff, by
	// policy.
	MetricApprovalsCreated = "signoff_approvals_created"
	// MetricApprovalsDecided counts approvals that reached their final
	// status, by outcome (approved, rejected, expired, cancelled,
	// bypassed), policy and the channel of the decision that settled it
	// (api, slack, email, web; "none" when no decision did: a deadline, a
	// cancellation, break-glass).
	MetricApprovalsDecided = "signoff_approvals_decided"
	// MetricDecisionsRefused counts refused decision attempts, by reason
	// code (approval.Code).
	MetricDecisionsRefused = "signoff_decisions_refused"
	// MetricTimeToDecision is the time from an approval's creation to its
	// final status, by outcome and policy (temporal/connect gives it buckets
	// from a minute to two weeks).
	MetricTimeToDecision = "signoff_approval_time_to_decision"
	// MetricBreakGlass counts approvals bypassed with break-glass, by
	// policy.
	MetricBreakGlass = "signoff_break_glass"
)

// Label values for what no decision settled.
const noChannel = "none"

// countCreated counts an approval that started through Signoff. Its
// policy's break-glass count is added 0: the series exists before the
// first break-glass, so increase() sees that one too.
func countCreated(ctx workflow.Context, st *approval.State) {
	h := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"policy": st.Policy.Name})
	h.Counter(MetricApprovalsCreated).Inc(1)
	h.Counter(MetricBreakGlass).Inc(0)
}

// countRefused counts a refused decision attempt by its reason code.
func countRefused(ctx workflow.Context, a approval.Attempt) {
	code := a.RefusalCode
	if code == "" {
		// Refusals judged by the old rules carry only a message.
		code = approval.CodeOfMessage(a.RefusalReason)
	}
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"reason": string(code)}).
		Counter(MetricDecisionsRefused).Inc(1)
}

// countClosed counts an approval that reached its final status: the
// outcome, how long it took, and break-glass.
func countClosed(ctx workflow.Context, st *approval.State) {
	if !st.Status.Final() {
		return
	}
	outcome := strings.ToLower(string(st.Status))
	h := workflow.GetMetricsHandler(ctx)
	h.WithTags(map[string]string{"outcome": outcome, "policy": st.Policy.Name, "channel": decidedThrough(st)}).
		Counter(MetricApprovalsDecided).Inc(1)
	if took := st.ClosedAt.Sub(st.CreatedAt); took >= 0 {
		h.WithTags(map[string]string{"outcome": outcome, "policy": st.Policy.Name}).
			Timer(MetricTimeToDecision).Record(took)
	}
	if st.Status == approval.StatusBypassed {
		h.WithTags(map[string]string{"policy": st.Policy.Name}).Counter(MetricBreakGlass).Inc(1)
	}
}

// decidedThrough is the channel of the accepted decision that closed st,
// without what follows a colon (a Slack channel's ID), so the label stays
// a handful of values; noChannel when no decision closed it.
func decidedThrough(st *approval.State) string {
	if st.Status != approval.StatusApproved && st.Status != approval.StatusRejected {
		return noChannel
	}
	for i := len(st.Attempts) - 1; i >= 0; i-- {
		a := st.Attempts[i]
		if !a.Accepted || a.Voided || !a.Time.Equal(st.ClosedAt) {
			continue
		}
		channel, _, _ := strings.Cut(a.Channel, ":")
		if channel == "" {
			return "unknown"
		}
		return channel
	}
	return noChannel
}
