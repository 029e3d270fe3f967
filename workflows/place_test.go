package workflows

import (
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/policy"
)

const promptChannel = "C0PROD"

// expectSlackPrompt makes every notification post one channel prompt,
// after delay.
func (s *ApprovalSuite) expectSlackPrompt(delay time.Duration) {
	s.env.OnActivity(ActivityNotify, mock.Anything, mock.Anything).After(delay).Return(approval.Delivery{
		Targets:  []string{"slack:#production"},
		Messages: []approval.MessageRef{{Notifier: "slack", Channel: promptChannel, ID: "1700000000.000001"}},
	}, nil)
}

// click signals a Slack click by user, made at after in channel.
func (s *ApprovalSuite) click(after time.Duration, user, channel string, edit func(*DecisionRequest)) {
	s.env.RegisterDelayedCallback(func() {
		req := DecisionRequest{
			AttemptID: "slack:" + user + after.String(), User: user, Decision: approval.DecisionApprove,
			Channel: "slack:" + channel,
			Slack: &SlackClick{
				Place:   approval.Place{Channel: channel, Revision: 0, Has2FA: true},
				Decider: policy.Decider{User: user, Groups: []string{}, Slack: &policy.SlackUser{UserID: "U0" + user, Has2FA: true, Team: "T0OK", Channel: channel}},
			},
		}
		if edit != nil {
			edit(&req)
		}
		s.env.SignalWorkflow(SignalDecision, s.seal(req))
	}, after)
}

func (s *ApprovalSuite) refusals(st *approval.State) [][2]string {
	var got [][2]string
	for _, a := range st.Attempts {
		got = append(got, [2]string{a.User, a.RefusalReason})
	}
	return got
}

// TestSlackClickIsJudgedByTheWorkflow: the place of a click (the prompt's
// channel and revision, 2FA) is checked against the approval's own state.
func (s *ApprovalSuite) TestSlackClickIsJudgedByTheWorkflow() {
	s.expectSlackPrompt(0)
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(approval.ActionResult{Success: true}, nil).Once()
	s.click(time.Minute, "bob", "C0RANDOM", nil)
	s.click(2*time.Minute, "bob", promptChannel, func(r *DecisionRequest) { r.Slack.Place.Revision = 3 })
	s.click(3*time.Minute, "bob", promptChannel, func(r *DecisionRequest) { r.Slack.Place.Require2FA, r.Slack.Place.Has2FA = true, false })
	s.click(4*time.Minute, "bob", promptChannel, func(r *DecisionRequest) { r.Slack.Place.AllowedChannels = []string{"C0ELSEWHERE"} })
	s.click(5*time.Minute, "bob", promptChannel, nil)
	s.click(6*time.Minute, "carol", promptChannel, func(r *DecisionRequest) { r.Refusal = "guest accounts may not decide" })
	s.click(7*time.Minute, "erin", promptChannel, nil)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(2)))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Equal([][2]string{
		{"bob", approval.RefusedNotPromptedHere},
		{"bob", approval.RefusedOutdated},
		{"bob", approval.RefusedNo2FA},
		{"bob", approval.RefusedChannel},
		{"bob", ""},
		{"carol", "guest accounts may not decide"},
		{"erin", ""},
	}, s.refusals(st), "the gateway's own refusal is kept")
	s.Equal([]string{"bob", "erin"}, st.ApprovedBy)
}

// TestSlackClickBeforeItsPromptIsRecordedWaits: a click can reach the
// workflow before the notify activity that posted its prompt reports back;
// it is judged once the prompts are recorded, not refused.
func (s *ApprovalSuite) TestSlackClickBeforeItsPromptIsRecordedWaits() {
	s.expectSlackPrompt(10 * time.Minute)
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(approval.ActionResult{Success: true}, nil).Once()
	s.click(time.Minute, "bob", promptChannel, nil)
	// The same click redelivered while it waits (a Slack retry).
	s.click(2*time.Minute, "bob", promptChannel, func(r *DecisionRequest) { r.AttemptID = "slack:bob1m0s" })
	s.click(3*time.Minute, "carol", promptChannel, nil)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(1)))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Require().Len(st.Attempts, 2, "the redelivered click is recorded once")
	s.True(st.Attempts[0].Accepted)
	s.Equal(t0.Add(10*time.Minute), st.Attempts[0].Time, "judged when the prompt was recorded")
	s.Equal("carol", st.Attempts[1].User)
	s.Equal(approval.RefusedNotPending, st.Attempts[1].RefusalReason, "judged in arrival order")
}

// TestSlackOptionGetsItsDecision: an option click carries only its value;
// the workflow maps it to the option's decision, and refuses a value that
// is not offered.
func (s *ApprovalSuite) TestSlackOptionGetsItsDecision() {
	s.expectSlackPrompt(0)
	in := input(2)
	in.Request.Input = approval.Input{Type: approval.InputButton, Options: []approval.Option{
		{Label: "Ship", Value: "ship", Decision: approval.DecisionApprove},
		{Label: "Roll back", Value: "rollback", Decision: approval.DecisionReject},
	}}
	option := func(v string) func(*DecisionRequest) {
		return func(r *DecisionRequest) { r.Decision, r.Values = "", []string{v} }
	}
	s.click(time.Minute, "bob", promptChannel, option("ship"))
	s.click(2*time.Minute, "carol", promptChannel, option("yolo"))
	s.click(3*time.Minute, "erin", promptChannel, option("rollback"))
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(in))

	st := s.result()
	s.Equal(approval.StatusRejected, st.Status)
	s.Require().Len(st.Attempts, 3)
	s.Equal(approval.DecisionApprove, st.Attempts[0].Decision)
	s.True(st.Attempts[0].Accepted)
	s.Equal(approval.RefusedInvalidChoice, st.Attempts[1].RefusalReason)
	s.Equal(approval.DecisionReject, st.Attempts[2].Decision)
	s.Equal([]string{"rollback"}, st.Attempts[2].Values)
}

// TestSlackClickRunsThePolicysRego: a policy's Rego module sees the
// clicker's Slack facts; its verdict is recorded with the attempt, and a
// module that fails to evaluate denies.
func (s *ApprovalSuite) TestSlackClickRunsThePolicysRego() {
	s.expectSlackPrompt(0)
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(approval.ActionResult{Success: true}, nil).Once()
	in := input(1)
	in.Policy.Rego = `package signoff
allow if input.decider.slack.team == "T0OK"
deny contains "decide from the production channel" if input.decider.slack.channel != "C0PROD"
`
	s.click(time.Minute, "bob", promptChannel, func(r *DecisionRequest) { r.Slack.Decider.Slack.Team = "T0OTHER" })
	s.click(2*time.Minute, "carol", promptChannel, func(r *DecisionRequest) { r.Slack.Decider.Slack.Channel = "C0ELSE" })
	s.click(3*time.Minute, "erin", promptChannel, nil)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(in))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Require().Len(st.Attempts, 3)
	s.Equal(approval.RefusedByPolicy, st.Attempts[0].RefusalReason)
	s.Equal("rego: deny", st.Attempts[0].Verdict)
	s.Equal(approval.RefusedByPolicy+": decide from the production channel", st.Attempts[1].RefusalReason)
	s.True(st.Attempts[2].Accepted)
	s.Equal("rego: allow", st.Attempts[2].Verdict)
}

// TestSlackRegoThatCannotEvaluateDenies: deny by default.
func (s *ApprovalSuite) TestSlackRegoThatCannotEvaluateDenies() {
	s.expectSlackPrompt(0)
	in := input(1)
	in.Policy.Rego = "package other\nallow := true\n"
	s.click(time.Minute, "bob", promptChannel, nil)
	s.env.RegisterDelayedCallback(func() { s.env.CancelWorkflow() }, time.Hour)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(in))

	st := s.result()
	s.Require().Len(st.Attempts, 1)
	s.Contains(st.Attempts[0].RefusalReason, "could not be evaluated (deny by default)")
	s.Contains(st.Attempts[0].Verdict, "rego: error")
}
