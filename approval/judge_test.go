package approval

import (
	"strings"
	"testing"
	"time"
)

// proven is an approval judged by the proven rules: two stages, a comment to
// reject, 2FA for Slack clicks.
func proven() *State {
	st := New("a1", "alice", Request{Title: "Deploy", Environment: "production",
		Input: Input{Type: InputButton, Options: []Option{
			{Label: "Ship", Value: "ship", Decision: DecisionApprove},
			{Label: "Stop", Value: "stop", Decision: DecisionReject},
		}}},
		Policy{Name: "p", Stages: []Stage{
			{Name: "lead", Approvers: []string{"bob"}, RequiredApprovals: 1},
			{Name: "security", Approvers: []string{"dana", "erin"}, RequiredApprovals: 1},
		}, Deadline: time.Hour, RequireComment: CommentRule{Reject: true}, Require2FA: true}, t0)
	st.Rules = RulesProven
	st.Messages = []MessageRef{{Notifier: "slack", Channel: "C1", ID: "1"}}
	return st
}

// TestJudgeEveryCodeEveryChannel drives the judge through every refusal
// code from the API, email and Slack: one rule set, whatever the channel.
func TestJudgeEveryCodeEveryChannel(t *testing.T) {
	type tc struct {
		name  string
		setup func(*State)
		a     Attempt
		now   time.Time
		code  Code
	}
	ok := func(user string) Attempt {
		return Attempt{User: user, Decision: DecisionApprove, Values: []string{"ship"}, Proof: "stamp"}
	}
	with := func(a Attempt, f func(*Attempt)) Attempt { f(&a); return a }
	cases := []tc{
		{name: "accepted", a: ok("bob"), code: ""},
		{name: "unproven", a: with(ok("bob"), func(a *Attempt) { a.Proof = "" }), code: CodeUnproven},
		{name: "gateway refusal stands", a: with(ok("bob"), func(a *Attempt) { a.RefusalReason = "slack guest accounts may not decide" }), code: CodePersonRefused},
		{name: "not pending", setup: func(s *State) { s.Status = StatusCancelled }, a: ok("bob"), code: CodeNotPending},
		{name: "deadline passed", a: ok("bob"), now: t0.Add(time.Hour), code: CodeDeadlinePassed},
		{name: "unknown decision", a: with(ok("bob"), func(a *Attempt) { a.Decision = "maybe" }), code: CodeUnknownDecision},
		{name: "invalid choice", a: with(ok("bob"), func(a *Attempt) { a.Values = []string{"nuke"} }), code: CodeInvalidChoice},
		{name: "self approval", a: ok("alice"), code: CodeSelfApproval},
		{name: "not approver", a: ok("mallory"), code: CodeNotApprover},
		{name: "not this stage", a: ok("dana"), code: CodeNotThisStage},
		{name: "already decided", setup: func(s *State) {
			s.Stage = 1
			s.Attempts = append(s.Attempts, Attempt{ID: "x", User: "dana", Decision: DecisionApprove, Accepted: true, Stage: 1})
		}, a: ok("dana"), code: CodeAlreadyDecided},
		{name: "earlier stage", setup: func(s *State) {
			s.Stage = 1
			s.ExtraApprovers = []string{"bob"}
			s.Attempts = append(s.Attempts, Attempt{ID: "x", User: "bob", Decision: DecisionApprove, Accepted: true, Stage: 0})
		}, a: ok("bob"), code: CodeEarlierStage},
		{name: "comment required", a: with(ok("bob"), func(a *Attempt) { a.Decision, a.Values = DecisionReject, []string{"stop"} }), code: CodeCommentRequired},
		{name: "shorter, not a grant", a: with(ok("bob"), func(a *Attempt) { a.Duration = time.Minute }), code: CodeInvalidDuration},
		{name: "shorter grant", setup: func(s *State) { s.Request.Duration = time.Hour },
			a: with(ok("bob"), func(a *Attempt) { a.Duration = time.Minute }), code: ""},
		{name: "longer than asked", setup: func(s *State) { s.Request.Duration = time.Hour },
			a: with(ok("bob"), func(a *Attempt) { a.Duration = 2 * time.Hour }), code: CodeInvalidDuration},
		{name: "shorter on a rejection", setup: func(s *State) { s.Request.Duration = time.Hour },
			a: with(ok("bob"), func(a *Attempt) {
				a.Decision, a.Values, a.Comment, a.Duration = DecisionReject, []string{"stop"}, "no", time.Minute
			}),
			code: CodeInvalidDuration},
	}
	channels := []struct {
		name  string
		place func() *Place
		bind  func(*State, *Attempt)
	}{
		{"api", nil, func(s *State, a *Attempt) { a.Channel, a.SeenHash = "api", s.RequestHash }},
		{"email", nil, func(s *State, a *Attempt) { a.Channel, a.SeenHash = "email", s.RequestHash }},
		{"slack", func() *Place { return &Place{Channel: "C1", Revision: 0, Has2FA: true} }, func(_ *State, a *Attempt) { a.Channel = "slack:C1" }},
	}
	for _, ch := range channels {
		for _, c := range cases {
			t.Run(ch.name+"/"+c.name, func(t *testing.T) {
				st := proven()
				if c.setup != nil {
					c.setup(st)
				}
				a := c.a
				ch.bind(st, &a)
				var place *Place
				if ch.place != nil {
					place = ch.place()
				}
				now := c.now
				if now.IsZero() {
					now = t0.Add(time.Minute)
				}
				got := st.Judge(a, place, now)
				if got.Code != c.code {
					t.Fatalf("code %q (%s), want %q", got.Code, got.Message, c.code)
				}
				if (got.Code == "") != (got.Message == "") {
					t.Fatalf("code and message disagree: %+v", got)
				}
			})
		}
	}

	// Content binding: API and email by hash, Slack by the prompt's revision.
	st := proven()
	api := ok("bob")
	api.Channel, api.SeenHash = "api", ""
	if got := st.Judge(api, nil, t0); got.Code != CodeContentChanged {
		t.Fatalf("api without a hash: %+v", got)
	}
	api.SeenHash = strings.Repeat("0", 64)
	if got := st.Judge(api, nil, t0); got.Code != CodeContentChanged {
		t.Fatalf("api with another hash: %+v", got)
	}
	for _, c := range []struct {
		place Place
		want  Code
	}{
		{Place{Channel: "C1", Revision: 1, Has2FA: true}, CodeContentChanged},
		{Place{Channel: "C1", Revision: -1, Has2FA: true}, CodeContentChanged},
		{Place{Channel: "C1", Revision: 0}, CodeNo2FA},
		{Place{Channel: "C9", Revision: 0, Has2FA: true}, CodeNotPromptedHere},
		{Place{Channel: "C1", Revision: 0, Has2FA: true, AllowedChannels: []string{"C2"}}, CodeChannel},
	} {
		p := c.place
		if got := st.Judge(ok("bob"), &p, t0); got.Code != c.want {
			t.Errorf("slack place %+v: %+v, want %s", c.place, got, c.want)
		}
	}
}

// TestRefusalClasses maps every code to the caller's error class.
func TestRefusalClasses(t *testing.T) {
	for code, want := range map[Code]Class{
		CodeUnproven: ClassPermission, CodeNotApprover: ClassPermission, CodePolicyDenied: ClassPermission,
		CodeInvalidChoice: ClassInvalid, CodeCommentRequired: ClassInvalid,
		CodeNotPending: ClassPrecondition, CodeContentChanged: ClassPrecondition, CodeDeadlinePassed: ClassPrecondition,
	} {
		if got := code.Class(); got != want {
			t.Errorf("%s: class %d, want %d", code, got, want)
		}
	}
}

// TestRefusalsAreBounded: a stranger's and a forger's refused attempts are
// kept up to the cap, then counted; comments and values are cut to size;
// the state stays small whatever they send.
func TestRefusalsAreBounded(t *testing.T) {
	st := proven()
	big := strings.Repeat("x", 50_000)
	values := make([]string, 100)
	for i := range values {
		values[i] = big
	}
	for i := range 100 {
		st.Apply(Attempt{ID: "m" + string(rune('A'+i%26)) + strings.Repeat("i", i), User: "mallory", Decision: DecisionApprove,
			Comment: big, Values: values, Proof: "stamp"}, Refusal{Code: CodeNotApprover, Message: RefusedNotApprover}, t0)
		st.Apply(Attempt{ID: "f" + strings.Repeat("i", i), User: "user" + strings.Repeat("z", i%7), Decision: DecisionApprove},
			Refusal{Code: CodeUnproven, Message: RefusedUnproven}, t0)
	}
	if len(st.Attempts) != 2*MaxRefusedPerPerson {
		t.Fatalf("%d attempts kept, want %d", len(st.Attempts), 2*MaxRefusedPerPerson)
	}
	if st.DroppedTotal() != 200-2*MaxRefusedPerPerson {
		t.Fatalf("dropped %d, want %d (%+v)", st.DroppedTotal(), 200-2*MaxRefusedPerPerson, st.Dropped)
	}
	for _, a := range st.Attempts {
		if len([]rune(a.Comment)) > MaxCommentRunes+1 || len(a.Values) > MaxValues || (len(a.Values) > 0 && len(a.Values[0]) > MaxValueBytes+len("…")) {
			t.Fatalf("attempt not bounded: comment %d, values %d", len(a.Comment), len(a.Values))
		}
	}
	// Cancels by strangers share the cap.
	for range 50 {
		_ = st.Cancel(Actor{User: "mallory", Proof: "stamp"}, big, t0)
	}
	refusedEvents := 0
	for _, e := range st.Events {
		if e.Kind == "cancel_refused" {
			refusedEvents++
		}
	}
	if refusedEvents != 0 {
		t.Fatalf("mallory is over the cap already, yet %d cancel refusals were kept", refusedEvents)
	}
	// A real approver still decides.
	a := st.Apply(Attempt{ID: "bob", User: "bob", Decision: DecisionApprove, Values: []string{"ship"}, Proof: "stamp"}, Refusal{}, t0)
	if !a.Accepted || st.Stage != 1 {
		t.Fatalf("bob's approval after the flood: %+v, stage %d", a, st.Stage)
	}
}

// TestAmendmentsAreBounded keeps hashes, not whole requests, and stops at
// MaxAmendments.
func TestAmendmentsAreBounded(t *testing.T) {
	st := proven()
	for i := range MaxAmendments {
		req := st.Request
		req.Description = strings.Repeat("d", i+1)
		if err := st.Amend(Actor{User: "alice", Proof: "stamp"}, req, t0); err != nil {
			t.Fatalf("amend %d: %v", i, err)
		}
	}
	if err := st.Amend(Actor{User: "alice", Proof: "stamp"}, st.Request, t0); CodeOf(err) != CodeTooManyAmendments {
		t.Fatalf("amend past the limit: %v", err)
	}
	if len(st.PreviousHashes) != MaxAmendments || len(st.PreviousRequests) != 0 {
		t.Fatalf("kept %d hashes, %d requests", len(st.PreviousHashes), len(st.PreviousRequests))
	}
	if err := st.Amend(Actor{User: "alice"}, st.Request, t0); CodeOf(err) != CodeUnproven {
		t.Fatalf("unproven amend: %v", err)
	}
}

func TestOperationsNeedProof(t *testing.T) {
	st := proven()
	if err := st.Cancel(Actor{User: "dana", Admin: true}, "x", t0); CodeOf(err) != CodeUnproven {
		t.Fatalf("unproven admin cancel: %v", err)
	}
	if err := st.Bypass(Actor{User: "alice"}, "x", t0); CodeOf(err) != CodeUnproven {
		t.Fatalf("unproven bypass: %v", err)
	}
	if st.Status != StatusPending {
		t.Fatalf("status %s", st.Status)
	}
	last := st.Events[len(st.Events)-1]
	if last.User != UnprovenKey || !strings.Contains(last.Detail, `claimed user "alice"`) {
		t.Fatalf("unproven attempt recorded as %+v", last)
	}
	if err := st.Cancel(Actor{User: "dana", Admin: true, Proof: "stamp"}, "freeze", t0); err != nil {
		t.Fatalf("proven admin cancel: %v", err)
	}
}

func TestProofAge(t *testing.T) {
	if r := CheckProofAge(t0, t0.Add(ProofMaxAge+time.Second)); r.Code != CodeStaleProof {
		t.Fatalf("old stamp: %+v", r)
	}
	if r := CheckProofAge(t0.Add(time.Hour), t0); r.Code != CodeStaleProof {
		t.Fatalf("future stamp: %+v", r)
	}
	if r := CheckProofAge(t0, t0.Add(time.Minute)); !r.OK() {
		t.Fatalf("fresh stamp: %+v", r)
	}
}

// TestEveryRefusedOperationSharesTheCap: whatever operation a forger
// repeats (they need no stamp to send one straight to Temporal), what is
// kept of its refusals stays within the person's cap, so no operation can
// grow the state without bound.
func TestEveryRefusedOperationSharesTheCap(t *testing.T) {
	forger := Actor{User: "mallory"}
	ops := map[string]func(st *State){
		"cancel":             func(st *State) { _ = st.Cancel(forger, "x", t0) },
		"break-glass":        func(st *State) { _ = st.Bypass(forger, "x", t0) },
		"amend":              func(st *State) { _ = st.Amend(forger, st.Request, t0) },
		"revoke":             func(st *State) { _ = st.RequestRevoke(forger, "x", t0) },
		"extend":             func(st *State) { _ = st.Extend(forger, "e1", t0.Add(time.Hour), t0) },
		"acknowledge revoke": func(st *State) { _ = st.AcknowledgeRevokeFailure(forger, "x", t0) },
		"add delegate":       func(st *State) { _, _ = st.AddDelegate(forger, "bob", "erin", t0) },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			st := proven()
			st.Rules = RulesDelegation
			for range 3 * MaxRefusedPerPerson {
				op(st)
			}
			if len(st.Events) > MaxRefusedPerPerson {
				t.Fatalf("%d events kept, cap %d", len(st.Events), MaxRefusedPerPerson)
			}
			if st.DroppedTotal() != 2*MaxRefusedPerPerson {
				t.Fatalf("dropped %d, want %d", st.DroppedTotal(), 2*MaxRefusedPerPerson)
			}
		})
	}
}
