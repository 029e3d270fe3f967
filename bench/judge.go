package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
)

// JudgeResult is what the pure judge costs for one decision (ForWhom,
// Judge, Apply: what the workflow runs per decision besides Temporal) on
// an approval with Priors earlier attempts spread over Amendments
// amendments.
type JudgeResult struct {
	Priors            int     `json:"priors"`
	Amendments        int     `json:"amendments"`
	NsPerDecision     float64 `json:"ns_per_decision"`
	BytesPerDecision  int64   `json:"bytes_per_decision"`
	AllocsPerDecision int64   `json:"allocs_per_decision"`
}

// JudgeSizes are the approvals the judge is measured on.
var JudgeSizes = []int{1, 100, 1000}

// JudgeAmendments is how often each is amended (the most the judge allows).
const JudgeAmendments = approval.MaxAmendments

var judgeTime = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// JudgeState is an approval with priors accepted attempts by as many
// approvers, spread over amendments amendments (so most are void, as after
// a busy day of changes), and the next decision: one more approver's.
func JudgeState(priors, amendments int) (*approval.State, approval.Attempt) {
	approvers := make([]string, priors+2)
	for i := range approvers {
		approvers[i] = fmt.Sprintf("u%04d", i)
	}
	req := approval.Request{Title: "Deploy api", Environment: "production", Fields: map[string]string{"version": "1"}}
	st := approval.New("judge", "alice", req, approval.Policy{
		Name: "production", Approvers: approvers, RequiredApprovals: len(approvers) + 1, Deadline: 24 * time.Hour,
	}, judgeTime.Add(-time.Hour))
	st.Rules = approval.RulesDelegation
	every := max(priors/(amendments+1), 1)
	amended := 0
	for i := range priors {
		if i > 0 && i%every == 0 && amended < amendments {
			req.Fields = map[string]string{"version": fmt.Sprint(amended + 2)}
			if err := st.Amend(approval.Actor{User: "alice", Proof: "stamp"}, req, judgeTime); err != nil {
				panic(err)
			}
			amended++
		}
		decide(st, approval.Attempt{ID: fmt.Sprint("prior-", i), User: approvers[i], Decision: approval.DecisionApprove,
			Channel: "api", SeenHash: st.RequestHash, Proof: "stamp"})
	}
	for amended < amendments {
		req.Fields = map[string]string{"version": fmt.Sprint(amended + 2)}
		if err := st.Amend(approval.Actor{User: "alice", Proof: "stamp"}, req, judgeTime); err != nil {
			panic(err)
		}
		amended++
	}
	next := approval.Attempt{ID: "next", User: approvers[priors], Decision: approval.DecisionApprove,
		Channel: "api", SeenHash: st.RequestHash, Proof: "stamp", Comment: "lgtm"}
	return st, next
}

// decide runs one decision as the workflow's judge does.
func decide(st *approval.State, a approval.Attempt) approval.Attempt {
	a = st.ForWhom(a, nil, "")
	return st.Apply(a, st.Judge(a, nil, judgeTime), judgeTime)
}

// BenchJudge measures one accepted decision on JudgeState(priors,
// amendments); the state is put back after each, so every decision sees
// the same approval.
func BenchJudge(b *testing.B, priors, amendments int) {
	st, next := JudgeState(priors, amendments)
	if a := decide(st, next); !a.Accepted {
		b.Fatalf("the measured decision is refused: %s", a.RefusalReason)
	}
	attempts, approved, events := len(st.Attempts)-1, len(st.ApprovedBy)-1, len(st.Events)
	st.Attempts, st.ApprovedBy = st.Attempts[:attempts], st.ApprovedBy[:approved]
	b.ReportAllocs()
	for b.Loop() {
		decide(st, next)
		st.Attempts, st.ApprovedBy, st.Events = st.Attempts[:attempts], st.ApprovedBy[:approved], st.Events[:events]
	}
}

// Judge measures the judge on every size of JudgeSizes.
func Judge() []JudgeResult {
	var out []JudgeResult
	for _, n := range JudgeSizes {
		r := testing.Benchmark(func(b *testing.B) { BenchJudge(b, n, JudgeAmendments) })
		out = append(out, JudgeResult{Priors: n, Amendments: JudgeAmendments, NsPerDecision: float64(r.NsPerOp()),
			BytesPerDecision: r.AllocedBytesPerOp(), AllocsPerDecision: r.AllocsPerOp()})
	}
	return out
}
