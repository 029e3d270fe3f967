package gateway

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signoff/signoff/approval"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

var statusToProto = map[approval.Status]pb.Status{
	approval.StatusPending:   pb.Status_STATUS_PENDING,
	approval.StatusApproved:  pb.Status_STATUS_APPROVED,
	approval.StatusRejected:  pb.Status_STATUS_REJECTED,
	approval.StatusExpired:   pb.Status_STATUS_EXPIRED,
	approval.StatusCancelled: pb.Status_STATUS_CANCELLED,
	approval.StatusBypassed:  pb.Status_STATUS_BYPASSED,
	approval.StatusGranted:   pb.Status_STATUS_GRANTED,
	approval.StatusRevoked:   pb.Status_STATUS_REVOKED,
}

func statusFromProto(s pb.Status) (approval.Status, bool) {
	for k, v := range statusToProto {
		if v == s {
			return k, true
		}
	}
	return "", false
}

func decisionToProto(d approval.Decision) pb.Decision {
	switch d {
	case approval.DecisionApprove:
		return pb.Decision_DECISION_APPROVE
	case approval.DecisionReject:
		return pb.Decision_DECISION_REJECT
	}
	return pb.Decision_DECISION_UNSPECIFIED
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func attemptToProto(a approval.Attempt) *pb.DecisionAttempt {
	out := &pb.DecisionAttempt{
		User: a.User, Decision: decisionToProto(a.Decision), Comment: a.Comment, Time: ts(a.Time),
		Channel: a.Channel, Accepted: a.Accepted, RefusalReason: a.RefusalReason, Values: a.Values,
		Stage: int32(a.Stage), Voided: a.Voided, Verdict: a.Verdict, RefusalCode: string(a.RefusalCode), Proof: a.Proof,
		OnBehalfOf: a.OnBehalfOf,
	}
	if a.Duration > 0 {
		out.Duration = approval.ShortDuration(a.Duration)
	}
	return out
}

func toProto(st *approval.State) *pb.Approval {
	out := &pb.Approval{
		Id: st.ID, Title: st.Request.Title, Description: st.Request.Description,
		Environment: st.Request.Environment, Resource: st.Request.Resource, Fields: st.Request.Fields,
		Requester: st.Requester, Status: statusToProto[st.Status],
		PolicyName: st.Policy.Name, PolicyVersion: st.Policy.Version,
		Approvers: st.Policy.AllApprovers(), RequiredApprovals: int32(st.CurrentStage().RequiredApprovals),
		CreateTime: ts(st.CreatedAt), Deadline: ts(st.Deadline), CloseTime: ts(st.ClosedAt),
		Action:     &pb.Action{Type: st.Request.Action.Type, Url: st.Request.Action.URL, Params: st.Request.Action.Params},
		ApprovedBy: st.ApprovedBy, CancelledBy: st.CancelledBy, CancelReason: st.CancelReason,
		Justification: st.Justification, RequestHash: st.RequestHash, CurrentStage: st.CurrentStage().Name,
		PendingApprovers: st.Pending(), BypassedBy: st.BypassedBy, BypassReason: st.BypassReason,
		Revision: int32(st.Revision), EscalationLevel: int32(st.EscalationLevel),
	}
	if st.Request.Duration > 0 {
		out.Duration = st.Request.Duration.String()
	}
	if !st.Request.StartAt.IsZero() {
		out.StartTime = ts(st.Request.StartAt)
	}
	if g := st.Grant; g != nil {
		out.Grant = &pb.Grant{
			RevokeTime: ts(g.RevokeAt), GrantTime: ts(g.GrantedAt), RevokedTime: ts(g.RevokedAt),
			RevokeRequestedBy: g.RevokeRequestedBy, RevokeReason: g.RevokeReason, RevokeOutput: g.RevokeOutput,
			RevokeFailures: int32(g.RevokeFailures),
			AcknowledgedBy: g.AcknowledgedBy, AcknowledgedReason: g.AcknowledgedReason, AcknowledgedTime: ts(g.AcknowledgedAt),
			StartTime: ts(g.StartAt),
		}
		for _, e := range g.Extensions {
			out.Grant.Extensions = append(out.Grant.Extensions, &pb.GrantExtension{ApprovalId: e.Approval, FromTime: ts(e.From), ToTime: ts(e.To)})
		}
	}
	out.Extends = st.Request.Extends
	if c := st.Request.Secret; c != nil {
		out.SecretChange = &pb.SecretChange{Target: c.Target, Secret: c.Secret, BaseVersion: c.BaseVersion, KeyId: c.KeyID}
		for _, k := range c.Keys {
			out.SecretChange.Keys = append(out.SecretChange.Keys, &pb.SecretKeyChange{Key: k.Key, Op: string(k.Op), Kind: k.Kind,
				OldFingerprint: k.Old.Hash, OldLength: int32(k.Old.Length), NewFingerprint: k.New.Hash, NewLength: int32(k.New.Length)})
		}
	}
	for i, stage := range st.Policy.StageList() {
		ps := &pb.Stage{Name: stage.Name, Approvers: stage.Approvers, RequiredApprovals: int32(stage.RequiredApprovals)}
		for _, a := range st.Attempts {
			if a.Accepted && !a.Voided && a.Stage == i && a.Decision == approval.DecisionApprove {
				ps.ApprovedBy = append(ps.ApprovedBy, a.Who())
			}
		}
		out.Stages = append(out.Stages, ps)
	}
	for _, e := range st.Events {
		out.Events = append(out.Events, &pb.AuditEvent{Time: ts(e.Time), Kind: string(e.Kind), User: e.User, Detail: e.Detail})
	}
	if in := st.Request.Input; in.Type != "" {
		out.Input = &pb.Input{Type: in.Type, Prompt: in.Prompt}
		for _, o := range in.Options {
			out.Input.Options = append(out.Input.Options, &pb.Option{
				Label: o.Label, Value: o.Value, Style: o.Style, Decision: decisionToProto(o.Decision),
			})
		}
	}
	for _, a := range st.Attempts {
		out.Decisions = append(out.Decisions, attemptToProto(a))
	}
	if r := st.ActionResult; r != nil {
		out.ActionResult = &pb.ActionResult{Type: r.Type, Success: r.Success, Output: r.Output, Error: r.Error, FinishTime: ts(r.FinishTime)}
	}
	return out
}
