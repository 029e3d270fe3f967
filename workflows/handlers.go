package workflows

// Messages: the query, update and signal handlers the workflow registers,
// and the operations they share (cancel, apply).

import (
	"fmt"
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
)

func (r *approvalRun) registerHandlers(ctx workflow.Context) error {
	st := r.st
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (*approval.State, error) { return st, nil }); err != nil {
		return fmt.Errorf("set query handler: %w", err)
	}
	// Handlers change the state and wake the main loop; refusals are in the
	// state (and so in history) before the caller hears about them.
	handlers := map[string]any{
		UpdateDecide: func(ctx workflow.Context, req DecisionRequest) (DecideResult, error) {
			if err := r.awaitStart(ctx); err != nil {
				return DecideResult{}, err
			}
			a := r.receive(ctx, req)
			if !a.Accepted {
				return DecideResult{}, refusalError(a.RefusalCode, a.RefusalReason)
			}
			return DecideResult{Attempt: a, Approval: st}, nil
		},
		UpdateCancel: func(ctx workflow.Context, req CancelRequest) (*approval.State, error) {
			if err := r.awaitStart(ctx); err != nil {
				return nil, err
			}
			return st, r.cancel(ctx, req)
		},
		UpdateRevoke: func(ctx workflow.Context, req RevokeRequest) (*approval.State, error) {
			if err := r.awaitStart(ctx); err != nil {
				return nil, err
			}
			who := actorOf(ctx, r, req, req.User, req.Admin)
			return st, r.apply(ctx, st.RequestRevoke(who, req.Reason, workflow.Now(ctx)))
		},
		UpdateExtendGrant: func(ctx workflow.Context, req ExtendGrantRequest) (*approval.State, error) {
			if err := r.awaitStart(ctx); err != nil {
				return nil, err
			}
			who := actorOf(ctx, r, req, "signoff", false)
			return st, r.apply(ctx, st.Extend(who, req.Extension, req.To, workflow.Now(ctx)))
		},
		UpdateAcknowledgeRevoke: func(ctx workflow.Context, req AcknowledgeRevokeRequest) (*approval.State, error) {
			if err := r.awaitStart(ctx); err != nil {
				return nil, err
			}
			who := actorOf(ctx, r, req, req.User, req.Admin)
			return st, r.apply(ctx, st.AcknowledgeRevokeFailure(who, req.Reason, workflow.Now(ctx)))
		},
		UpdateBypass: func(ctx workflow.Context, req BypassRequest) (*approval.State, error) {
			if err := r.awaitStart(ctx); err != nil {
				return nil, err
			}
			who := actorOf(ctx, r, req, req.User, false)
			return st, r.apply(ctx, st.Bypass(who, req.Reason, workflow.Now(ctx)))
		},
		UpdateAddDelegate: func(ctx workflow.Context, req AddDelegateRequest) (bool, error) {
			if err := r.awaitStart(ctx); err != nil {
				return false, err
			}
			who := actorOf(ctx, r, req, "signoff", false)
			added, err := st.AddDelegate(who, req.From, req.To, workflow.Now(ctx))
			if err != nil || !added {
				return false, r.apply(ctx, err)
			}
			setDetails(ctx, st)
			if err := r.syncAwaited(ctx); err != nil {
				r.logger.Warn("awaited search attribute not updated", "error", err)
			}
			if r.in.Version >= Version1 && slices.Contains(st.Prompted(), req.To) {
				// Asked now if from is awaited now; otherwise with from's
				// stage, as delegates snapshotted at creation are.
				r.notices = append(r.notices, notice{kind: NoticeDelegated, delegate: req.To})
			}
			return true, nil
		},
		UpdateAmend: func(ctx workflow.Context, req AmendRequest) (*approval.State, error) {
			if err := r.awaitStart(ctx); err != nil {
				return nil, err
			}
			who := actorOf(ctx, r, req, req.User, false)
			//workflowcheck:ignore (Request.Hash: JSON with sorted keys)
			err := r.apply(ctx, st.Amend(who, req.Request, workflow.Now(ctx)))
			// The caller sent the request: answering with it again would
			// double what every amendment adds to history.
			answer := *st
			answer.Request = approval.Request{}
			return &answer, err
		},
	}
	for _, name := range workflow.DeterministicKeys(handlers) {
		// The validator turns away oversized messages before they are
		// written to history; everything else is judged, and recorded, by
		// the handler.
		opts := workflow.UpdateHandlerOptions{Validator: r.validatorFor(name)}
		if err := workflow.SetUpdateHandlerWithOptions(ctx, name, handlers[name], opts); err != nil {
			return fmt.Errorf("set update handler %s: %w", name, err)
		}
	}
	// Signals are drained for the workflow's whole life, so attempts that
	// arrive while the action runs are still recorded (as refused).
	decisions := workflow.GetSignalChannel(ctx, SignalDecision)
	cancels := workflow.GetSignalChannel(ctx, SignalCancel)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(decisions, func(c workflow.ReceiveChannel, _ bool) {
				var req DecisionRequest
				c.Receive(ctx, &req)
				if r.awaitStart(ctx) == nil {
					r.receive(ctx, req)
				}
			})
			sel.AddReceive(cancels, func(c workflow.ReceiveChannel, _ bool) {
				var req CancelRequest
				c.Receive(ctx, &req)
				if err := r.awaitStart(ctx); err != nil {
					return
				}
				if err := r.cancel(ctx, req); err != nil {
					r.logger.Info("cancel refused", "user", req.User, "reason", err)
				}
			})
			sel.Select(ctx)
			if ctx.Err() != nil {
				return
			}
		}
	})
	return nil
}

func (r *approvalRun) cancel(ctx workflow.Context, req CancelRequest) error {
	who := actorOf(ctx, r, req, req.User, req.Admin)
	return r.apply(ctx, r.st.Cancel(who, req.Reason, workflow.Now(ctx)))
}

// apply refreshes the UI details, wakes the main loop and maps a refusal to
// the error the caller gets.
func (r *approvalRun) apply(ctx workflow.Context, err error) error {
	setDetails(ctx, r.st)
	if uerr := r.syncAwaited(ctx); uerr != nil {
		r.logger.Warn("awaited search attribute not updated", "error", uerr)
	}
	r.changed.SendAsync(true)
	if err != nil {
		return refusalError(approval.CodeOf(err), err.Error())
	}
	return nil
}
