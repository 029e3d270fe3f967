package bench

import (
	"fmt"
	"testing"
)

// BenchmarkJudge is one decision on approvals of 1, 100 and 1,000 earlier
// attempts amended 25 times: make bench reports it against its targets
// (≤ 50 µs, ≤ 32 KB, flat as the approval grows).
func BenchmarkJudge(b *testing.B) {
	for _, n := range JudgeSizes {
		b.Run(fmt.Sprintf("priors=%d", n), func(b *testing.B) { BenchJudge(b, n, JudgeAmendments) })
	}
}

func TestJudgeStateIsWhatItSays(t *testing.T) {
	for _, n := range JudgeSizes {
		st, next := JudgeState(n, JudgeAmendments)
		if len(st.Attempts) != n || st.Revision != JudgeAmendments {
			t.Fatalf("priors=%d: %d attempts, revision %d", n, len(st.Attempts), st.Revision)
		}
		if a := decide(st, next); !a.Accepted {
			t.Fatalf("priors=%d: the next decision is refused: %s", n, a.RefusalReason)
		}
	}
}
