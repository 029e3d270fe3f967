package activities

import (
	"context"
	"errors"
	"time"

	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/workflows"
)

// VerifyProof checks the gateway's stamp on a message. The workflow runs it
// as a local activity. A worker without keys refuses everything (deny by
// default).
func (a *Activities) VerifyProof(_ context.Context, in workflows.ProofInput) (proof.Verdict, error) {
	v := a.Proofs.Check(in.Subject, in.Stamp)
	if in.WantKeys {
		v.PublicKeys = a.Proofs.PublicKeys()
	}
	return v, nil
}

// StampLease stamps the state a lease workflow continues as new with, so
// its next run can tell it from a state someone started it with by hand.
func (a *Activities) StampLease(_ context.Context, in workflows.LeaseStart) (workflows.LeaseStart, error) {
	if a.Proofs == nil {
		return in, errors.New("this worker holds no proof keys")
	}
	return workflows.Stamp(a.Proofs, workflows.LeaseSubject(in.State.Resource), in, time.Now()), nil
}

// StampPeople stamps the state the people workflow continues as new with.
func (a *Activities) StampPeople(_ context.Context, in workflows.PeopleStart) (workflows.PeopleStart, error) {
	if a.Proofs == nil {
		return in, errors.New("this worker holds no proof keys")
	}
	return workflows.Stamp(a.Proofs, workflows.PeopleSubject, in, time.Now()), nil
}
