package workflows

// Admitting a start in one local activity (Version4), and checking every
// later message's signature in workflow code.
//
// Before Version4 an approval ran two local activities at start (its
// stamp, then its siblings under its ID) and one per message after (the
// message's stamp): a marker in history each. From Version4 one local
// activity answers all three questions of the start, and returns the
// public keys of the worker's ring as well; history keeps them with the
// answer. Every later message's Ed25519 signature is checked against
// those keys in workflow code: replay reads the same keys from the same
// history, so its verdict cannot change when a worker's ring does. A
// message signed by a key the run does not hold (the ring rotated after
// the start), or stamped by an older gateway without a signature, is
// checked in a local activity as before. The recorded keys are trusted
// for signatureKeysFor; the first message after that is checked by the
// ring, which returns its keys again: a key removed from the ring stops
// counting in running approvals within that time.

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
)

// AdmitInput is a start to check: its stamp over its input, and the run
// whose siblings are asked for.
type AdmitInput struct {
	Proof ProofInput `json:"proof"`
	Runs  RunsInput  `json:"runs"`
}

// Admission is what the check of a start found.
type Admission struct {
	Verdict proof.Verdict `json:"verdict"`
	// OtherRuns are other runs under the approval's workflow ID (asked
	// only when the stamp is good).
	OtherRuns []string `json:"other_runs,omitempty"`
	// PublicKeys are the worker ring's signature keys when the stamp is
	// good: what the run checks its messages' signatures with.
	PublicKeys map[string][]byte `json:"public_keys,omitempty"`
}

// admit checks the start of a Version4 approval and returns why it is
// refused, or "" (then r holds the keys to check signatures with). The
// reasons are those of the checks it replaces, in the same order.
func (r *approvalRun) admit(ctx workflow.Context) string {
	stamp, ref := stampOf(r.in)
	if !ref.OK() {
		return "not started through Signoff: " + ref.Message
	}
	info := workflow.GetInfo(ctx)
	lctx := startCheck(ctx, "check the start: its stamp, and that it is the approval's only run")
	in := AdmitInput{
		Proof: ProofInput{Subject: ProofSubject(r.in.ID, r.in), Stamp: *stamp},
		Runs:  RunsInput{WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID},
	}
	var a Admission
	if err := workflow.ExecuteLocalActivity(lctx, ActivityAdmit, in).Get(ctx, &a); err != nil {
		return "could not check the start: " + rootMessage(err)
	}
	if _, ref := ProofOutcome(a.Verdict, workflow.Now(ctx)); !ref.OK() {
		return "not started through Signoff: " + ref.Message
	}
	if reason := copiedStamp(info.WorkflowStartTime, stamp.IssuedAt); reason != "" {
		return reason
	}
	if len(a.OtherRuns) > 0 {
		return fmt.Sprintf("another run of this approval exists (%s): this run is a copy", a.OtherRuns[0])
	}
	r.signatureKeys, r.keysAt = a.PublicKeys, workflow.Now(ctx)
	return ""
}

// signatureKeysFor is how long a run checks signatures with the public
// keys it recorded before it asks the worker's ring again: a key removed
// from the ring (a rotation after a leak) stops counting everywhere within
// this time, as a JWKS cache would.
const signatureKeysFor = 10 * time.Minute

// proven is how m was proven, or why it counts for nothing: its signature
// checked in workflow code when the run holds the key it names and holds
// it for less than signatureKeysFor; else its stamp in a local activity
// (verify), which from Version4 brings the ring's keys back, recorded.
func proven[M Provable[M]](ctx workflow.Context, r *approvalRun, m M) (string, approval.Refusal) {
	now := workflow.Now(ctx)
	if r.signatureKeys != nil && now.Sub(r.keysAt) < signatureKeysFor {
		if stamp, ref := stampOf(m); ref.OK() {
			if v, known := proof.CheckSignature(r.signatureKeys, ProofSubject(r.st.ID, m), *stamp); known {
				return ProofOutcome(v, now)
			}
		}
	}
	how, ref, keys := verifyAsking(ctx, r.st.ID, m, r.in.Version >= Version4)
	if keys != nil {
		r.signatureKeys, r.keysAt = keys, workflow.Now(ctx)
	}
	return how, ref
}

// checkVersion stops a worker from running an approval newer than it
// knows: the workflow task fails and is retried until a worker that knows
// the version takes it (workers are deployed before gateways), instead of
// running it down a path its history will not replay on.
func checkVersion(in Input) {
	if in.Version > VersionLatest {
		panic(fmt.Sprintf("approval %s runs version %d; this worker knows versions up to %d: deploy the new worker", in.ID, in.Version, VersionLatest))
	}
}
