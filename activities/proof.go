package activities

import (
	"context"
	"time"

	"github.com/signoff/signoff/proof"
)

// ProofInput is a message's canonical bytes and the stamp it carried.
type ProofInput struct {
	Subject []byte      `json:"subject"`
	Stamp   proof.Stamp `json:"stamp"`
}

// ProofVerdict is what VerifyProof found; the workflow records it in
// history, so replay gives the same verdict whatever keys a worker holds.
type ProofVerdict struct {
	OK       bool      `json:"ok"`
	KeyID    string    `json:"key_id,omitempty"`
	IssuedAt time.Time `json:"issued_at,omitzero"`
	Error    string    `json:"error,omitempty"`
}

// VerifyProof checks the gateway's stamp on a message. The workflow runs it
// as a local activity. A worker without keys refuses everything (deny by
// default).
func (a *Activities) VerifyProof(_ context.Context, in ProofInput) (ProofVerdict, error) {
	if a.Proofs == nil {
		return ProofVerdict{Error: "this worker holds no proof keys (" + proof.KeysEnv + ")"}, nil
	}
	if err := a.Proofs.Verify(in.Subject, &in.Stamp); err != nil {
		return ProofVerdict{Error: err.Error()}, nil
	}
	return ProofVerdict{OK: true, KeyID: in.Stamp.KeyID, IssuedAt: in.Stamp.IssuedAt}, nil
}
