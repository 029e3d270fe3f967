package activities

import (
	"context"

	"github.com/signoff/signoff/proof"
	"github.com/signoff/signoff/workflows"
)

// VerifyProof checks the gateway's stamp on a message. The workflow runs it
// as a local activity. A worker without keys refuses everything (deny by
// default).
func (a *Activities) VerifyProof(_ context.Context, in workflows.ProofInput) (proof.Verdict, error) {
	return a.Proofs.Check(in.Subject, in.Stamp), nil
}
