package workflows

// Proof: checking the gateway's stamp on a message (verify, stampOf,
// CheckStamp, ProofOutcome) and who asks for an operation (actorOf).

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
)

// verify checks a message's stamp in a local activity, whose verdict
// history keeps: replay does not depend on the keys a worker holds later.
// It returns how the message was proven, or the refusal.
func verify[M Provable[M]](ctx workflow.Context, approvalID string, m M) (string, approval.Refusal) {
	how, ref, _ := verifyAsking(ctx, approvalID, m, false)
	return how, ref
}

// verifyAsking is verify that also returns the ring's public keys when
// wantKeys (nil when the local activity failed or the worker is older).
func verifyAsking[M Provable[M]](ctx workflow.Context, approvalID string, m M, wantKeys bool) (string, approval.Refusal, map[string][]byte) {
	stamp, ref := stampOf(m)
	if !ref.OK() {
		return "", ref, nil
	}
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
		Summary:             "verify " + m.proofKind() + " proof",
	})
	in := ProofInput{Subject: ProofSubject(approvalID, m), Stamp: *stamp, WantKeys: wantKeys}
	var v proof.Verdict
	err := workflow.ExecuteLocalActivity(ctx, ActivityVerifyProof, in).Get(ctx, &v)
	if err != nil {
		return "", approval.Refusal{Code: approval.CodeUnproven, Message: approval.RefusedUnproven + ": " + rootMessage(err)}, nil
	}
	how, ref := ProofOutcome(v, workflow.Now(ctx))
	return how, ref, v.PublicKeys
}

// stampOf is m's stamp, or the refusal of a message that has none.
func stampOf[M Provable[M]](m M) (*proof.Stamp, approval.Refusal) {
	if s := m.stamp(); s != nil && s.MAC != "" {
		return s, approval.Refusal{}
	}
	return nil, approval.Refusal{Code: approval.CodeUnproven, Message: approval.RefusedUnproven}
}

// CheckStamp is verify without Temporal: how m was proven with k at now, or
// why it counts for nothing (for the in-memory approvals port).
func CheckStamp[M Provable[M]](k *proof.Keyring, approvalID string, m M, now time.Time) (string, approval.Refusal) {
	stamp, ref := stampOf(m)
	if !ref.OK() {
		return "", ref
	}
	return ProofOutcome(k.Check(ProofSubject(approvalID, m), *stamp), now)
}

// ProofOutcome is what a stamp's verdict means at now: how the message was
// proven, or why it counts for nothing.
func ProofOutcome(v proof.Verdict, now time.Time) (string, approval.Refusal) {
	if !v.OK {
		return "", approval.Refusal{Code: approval.CodeUnproven, Message: approval.RefusedUnproven + ": " + v.Error}
	}
	if ref := approval.CheckProofAge(v.IssuedAt, now); !ref.OK() {
		return "", ref
	}
	return fmt.Sprintf("gateway stamp (key %s, %s)", v.KeyID, v.IssuedAt.UTC().Format(time.RFC3339)), approval.Refusal{}
}

// actorOf is who asks for an operation: under the proven rules, the user
// and admin flag count only with a valid stamp, and the stamp's refusal
// is what the operation is refused for.
func actorOf[M Provable[M]](ctx workflow.Context, r *approvalRun, m M, user string, admin bool) approval.Actor {
	if r.rules(ctx) == approval.RulesLegacy {
		return approval.Actor{User: user, Admin: admin, Proof: "legacy: trusted as sent"}
	}
	who := approval.Actor{User: user}
	who.Proof, who.ProofRefusal = proven(ctx, r, m)
	if who.Proof != "" {
		who.Admin = admin
	}
	return who
}
