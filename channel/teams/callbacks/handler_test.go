package callbacks

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/channel/teams/botauth"
	"github.com/signoff/signoff/channel/teams/teamsfake"
	"github.com/signoff/signoff/channel/teams/teamsmsg"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/workflows"
)

const (
	approvalID = "tttttttttttttttttttttttttt"
	tenant     = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	serviceURL = "https://smba.trafficmanager.net/teams/"
	bobOID     = "00000000-0000-0000-0000-00000000b0b0"
	aliceOID   = "00000000-0000-0000-0000-0000000a11ce"
	dmConv     = "a:1bobpersonalchat"
	channel    = "19:approvals@thread.tacv2"
)

// stubVerifier accepts "Bearer good" for msteams activities of serviceURL,
// as botauth.Verifier does for a genuine token (tested on its own).
type stubVerifier struct{}

func (stubVerifier) Verify(_ context.Context, authorization, channelID, svc string) (botauth.Claims, error) {
	if authorization != "Bearer good" {
		return botauth.Claims{}, botauth.ErrUnauthorized
	}
	return botauth.Claims{ServiceURL: svc}, nil
}

type harness struct {
	t           *testing.T
	h           *Handler
	mem         *approvalstore.Memory
	tenant, svc string
}

func newHarness(t *testing.T, in approval.Input) *harness {
	return newHarnessWith(t, in, config.Teams{AppID: "app", TenantID: tenant}.WithDefaults(), nil)
}

func newHarnessWith(t *testing.T, in approval.Input, cfg config.Teams, conn *teamsmsg.Connector) *harness {
	t.Helper()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	dir, err := identity.NewDirectory([]identity.User{
		{Name: "alice", TeamsID: aliceOID},
		{Name: "bob", Email: "bob@example.com", TeamsID: bobOID},
		{Name: "carol", Email: "carol@example.com"},
	})
	require.NoError(t, err)
	proofs := proof.Generate()
	mem := approvalstore.NewMemory(proofs, func() time.Time { return now })
	require.NoError(t, mem.Start(context.Background(), workflows.Input{
		ID: approvalID, Requester: "alice", CreatedAt: now.Add(-time.Minute), Rules: approval.RulesProven,
		Request: approval.Request{Title: "Deploy api", Environment: "production", Action: approval.Action{Type: "noop"}, Input: in},
		Policy:  approval.Policy{Name: "production", Approvers: []string{"alice", "bob", "carol"}, RequiredApprovals: 2, Deadline: time.Hour},
	}))
	mem.Posted(approvalID,
		approval.MessageRef{Notifier: config.NotifierTeams, Channel: dmConv, ID: "1", User: "bob"},
		approval.MessageRef{Notifier: config.NotifierTeams, Channel: channel, ID: "2"})
	h, err := New(Options{
		Config: func() config.Teams { return cfg }, Directory: func() *identity.Directory { return dir },
		Verifier: stubVerifier{}, Connector: conn, Approvals: mem, Proofs: proofs, PublicURL: "https://signoff.example.com",
		Now: func() time.Time { return now },
	})
	require.NoError(t, err)
	return &harness{t: t, h: h, mem: mem, tenant: cfg.TenantID, svc: cfg.ServiceURL}
}

// invoke is a click as Teams sends it.
type invoke struct {
	id, from, oid, conv, tenant, service, channelID, auth string
	verb                                                  string
	data                                                  map[string]any
}

func (h *harness) hash() string {
	st, err := h.mem.Get(context.Background(), approvalID)
	require.NoError(h.t, err)
	return st.RequestHash
}

func (h *harness) click(in invoke) (int, teamsmsg.InvokeResponse, string) {
	h.t.Helper()
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&in.id, "act-1")
	def(&in.from, "29:bob")
	def(&in.conv, dmConv)
	def(&in.tenant, h.tenant)
	def(&in.service, h.svc)
	def(&in.channelID, teamsmsg.ChannelTeams)
	def(&in.auth, "Bearer good")
	data := map[string]any{teamsmsg.DataApprovalID: approvalID, teamsmsg.DataRequestHash: h.hash()}
	for k, v := range in.data {
		data[k] = v
	}
	raw, _ := json.Marshal(data)
	value, _ := json.Marshal(teamsmsg.ActionInvokeValue{Action: teamsmsg.ExecuteAction{Type: "Action.Execute", Verb: in.verb, Data: raw}, Trigger: "manual"})
	a := teamsmsg.Activity{
		Type: teamsmsg.TypeInvoke, Name: teamsmsg.NameAdaptiveCardAction, ID: in.id, ChannelID: in.channelID, ServiceURL: in.service,
		From:         &teamsmsg.ChannelAccount{ID: in.from, AADObjectID: in.oid},
		Conversation: &teamsmsg.ConversationAccount{ID: in.conv, TenantID: in.tenant},
		ChannelData:  &teamsmsg.ChannelData{Tenant: &teamsmsg.TenantInfo{ID: in.tenant}},
		Value:        value,
	}
	body, _ := json.Marshal(a)
	req := httptest.NewRequest(http.MethodPost, PathMessages, bytes.NewReader(body))
	req.Header.Set("Authorization", in.auth)
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	var resp teamsmsg.InvokeResponse
	_ = json.Unmarshal(rec.Body.Bytes(), &resp)
	return rec.Code, resp, rec.Body.String()
}

func (h *harness) state() *approval.State {
	st, err := h.mem.Get(context.Background(), approvalID)
	require.NoError(h.t, err)
	return st
}

// TestClickCountsForTheTiedPerson: bob's click (his Entra object ID) in
// the personal chat his card went to counts once, however often Teams
// delivers it; his card is answered with the approval as it stands.
func TestClickCountsForTheTiedPerson(t *testing.T) {
	h := newHarness(t, approval.Input{})
	for range 2 { // the Bot Framework's redelivery
		status, resp, raw := h.click(invoke{oid: bobOID, verb: teamsmsg.VerbApprove, data: map[string]any{teamsmsg.DataComment: "looks good"}})
		require.Equal(t, http.StatusOK, status, raw)
		assert.Equal(t, teamsmsg.ContentTypeAdaptiveCard, resp.Type)
		assert.Contains(t, raw, "✅ Counted: you approved this request.")
		assert.Contains(t, raw, "1 of 2 approvals")
	}
	st := h.state()
	require.Len(t, st.Attempts, 1)
	a := st.Attempts[0]
	assert.True(t, a.Accepted)
	assert.Equal(t, "bob", a.User)
	assert.Equal(t, Channel, a.Channel)
	assert.Equal(t, "looks good", a.Comment)
	assert.Contains(t, a.IdentifiedBy, "Entra object ID "+bobOID)
}

// TestClicksRefused: what the endpoint refuses outright (no activity
// read), and what it delivers as a refused attempt for the audit trail.
func TestClicksRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     invoke
		status int
		reason string
	}{
		{"no token", invoke{oid: bobOID, auth: "Bearer forged"}, http.StatusUnauthorized, ""},
		{"another tenant", invoke{oid: bobOID, tenant: "11111111-1111-1111-1111-111111111111"}, http.StatusForbidden, ""},
		{"another Bot Connector", invoke{oid: bobOID, service: "https://evil.example/teams/"}, http.StatusForbidden, ""},
		{"another channel", invoke{oid: bobOID, channelID: "webchat"}, http.StatusForbidden, ""},
		{"a stranger", invoke{oid: "00000000-0000-0000-0000-00000000dead", from: "29:mallory"}, http.StatusOK, RefusedUnknownUser},
		{"no Entra ID and no members API", invoke{from: "29:bob"}, http.StatusOK, RefusedUnknownUser},
		{"a card copied to another chat", invoke{oid: bobOID, conv: "a:elsewhere"}, http.StatusOK, approval.RefusedNotPromptedHere},
		{"the requester", invoke{oid: aliceOID, from: "29:alice", conv: channel + ";messageid=2"}, http.StatusOK, approval.RefusedSelfApproval},
		{"content the approver did not see", invoke{oid: bobOID, data: map[string]any{teamsmsg.DataRequestHash: "sha256:other"}}, http.StatusOK, approval.RefusedContentChanged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, approval.Input{})
			tc.in.verb = teamsmsg.VerbApprove
			status, _, raw := h.click(tc.in)
			require.Equal(t, tc.status, status, raw)
			st := h.state()
			if tc.reason == "" {
				assert.Empty(t, st.Attempts, "nothing delivered")
				return
			}
			assert.Contains(t, raw, "❌ Not counted: "+tc.reason)
			if tc.reason == RefusedUnknownUser {
				assert.NotContains(t, raw, "Deploy api", "someone who may not read the approval is shown nothing of it")
			}
			require.Len(t, st.Attempts, 1, "recorded for the audit trail")
			assert.False(t, st.Attempts[0].Accepted)
			assert.Equal(t, approval.StatusPending, st.Status)
		})
	}
}

// TestChannelClickCounts: a click on the channel's card (a reply's
// conversation ID carries the message ID) counts.
func TestChannelClickCounts(t *testing.T) {
	h := newHarness(t, approval.Input{})
	_, _, raw := h.click(invoke{oid: bobOID, conv: channel + ";messageid=2", verb: teamsmsg.VerbReject, data: map[string]any{teamsmsg.DataComment: "not now"}})
	assert.Contains(t, raw, "✅ Counted: you rejected this request.")
	assert.Equal(t, approval.StatusRejected, h.state().Status)
	assert.Contains(t, raw, "Rejected by bob")
	assert.NotContains(t, raw, `"Action.Execute","title":"Approve"`, "no controls once decided")
}

// TestInputsAreChecked: the card's inputs are checked as the web form
// checks them; nothing is delivered for a malformed choice.
func TestInputsAreChecked(t *testing.T) {
	opts := []approval.Option{{Label: "Blue", Value: "blue", Decision: approval.DecisionApprove}, {Label: "Green", Value: "green", Decision: approval.DecisionApprove}}
	h := newHarness(t, approval.Input{Type: approval.InputSelect, Options: opts})
	_, _, raw := h.click(invoke{oid: bobOID, verb: teamsmsg.VerbApprove})
	assert.Contains(t, raw, "Choose one of the options to approve.")
	_, _, raw = h.click(invoke{oid: bobOID, id: "act-2", verb: teamsmsg.VerbApprove, data: map[string]any{teamsmsg.DataOption: "red"}})
	assert.Contains(t, raw, "Choose among the options shown.")
	assert.Empty(t, h.state().Attempts)
	_, _, raw = h.click(invoke{oid: bobOID, id: "act-3", verb: teamsmsg.VerbApprove, data: map[string]any{teamsmsg.DataOption: "green"}})
	assert.Contains(t, raw, "✅ Counted")
	assert.Equal(t, []string{"green"}, h.state().Attempts[0].Values)

	m := newHarness(t, approval.Input{Type: approval.InputMultiselect, Options: opts})
	_, _, raw = m.click(invoke{oid: bobOID, verb: teamsmsg.VerbApprove, data: map[string]any{teamsmsg.DataValues: "blue,green"}})
	assert.Contains(t, raw, "✅ Counted")
	assert.Equal(t, []string{"blue", "green"}, m.state().Attempts[0].Values)
}

// TestRefreshOnlyForReaders: the card's refresh shows the approval to
// people who may read it, and nothing of it to anyone else.
func TestRefreshOnlyForReaders(t *testing.T) {
	h := newHarness(t, approval.Input{})
	_, resp, raw := h.click(invoke{oid: bobOID, verb: teamsmsg.VerbRefresh})
	assert.Equal(t, teamsmsg.ContentTypeAdaptiveCard, resp.Type)
	assert.Contains(t, raw, "Deploy api")
	_, resp, raw = h.click(invoke{oid: "00000000-0000-0000-0000-00000000dead", verb: teamsmsg.VerbRefresh})
	assert.Equal(t, teamsmsg.ContentTypeMessage, resp.Type)
	assert.NotContains(t, raw, "Deploy api")
	assert.Empty(t, h.state().Attempts)
}

// TestOtherActivities: a message or an install is acknowledged and does
// nothing; a malformed body is refused.
func TestOtherActivities(t *testing.T) {
	h := newHarness(t, approval.Input{})
	body, _ := json.Marshal(teamsmsg.Activity{Type: teamsmsg.TypeMessage, ChannelID: teamsmsg.ChannelTeams, ServiceURL: serviceURL,
		Text: "approve everything", Conversation: &teamsmsg.ConversationAccount{ID: dmConv, TenantID: tenant},
		From: &teamsmsg.ChannelAccount{ID: "29:bob", AADObjectID: bobOID}})
	req := httptest.NewRequest(http.MethodPost, PathMessages, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer good")
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Empty(t, h.state().Attempts)

	req = httptest.NewRequest(http.MethodPost, PathMessages, strings.NewReader("{not json"))
	req.Header.Set("Authorization", "Bearer good")
	rec = httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
}

// TestEmailThroughTheMembersAPI: a person without a teams_id is tied by
// the email the Bot Connector's members API gives for them; an account
// with a configured person's email but another Entra object ID than their
// teams_id is refused.
func TestEmailThroughTheMembersAPI(t *testing.T) {
	f := teamsfake.New(teamsfake.Options{})
	t.Cleanup(f.Close)
	cfg := config.Teams{AppID: f.AppID(), TenantID: f.TenantID(), ServiceURL: f.ServiceURL(), TokenURL: f.TokenURL()}.WithDefaults()
	conn, err := teamsmsg.NewConnector(teamsmsg.ConnectorOptions{AppID: cfg.AppID, AppPassword: f.AppPassword(),
		TokenURL: cfg.TokenURL, Scope: config.TeamsScope, ServiceURL: cfg.ServiceURL})
	require.NoError(t, err)
	const carolOID = "00000000-0000-0000-0000-0000000ca201"
	const impostorOID = "00000000-0000-0000-0000-00000000bad0"
	f.AddChannel(channel)
	f.AddUser(teamsfake.User{TeamsID: "29:carol", AADObjectID: carolOID, Email: "Carol@Example.com"})
	f.AddUser(teamsfake.User{TeamsID: "29:impostor", AADObjectID: impostorOID, UPN: "bob@example.com"})
	const guestOID = "00000000-0000-0000-0000-0000000a0e57"
	f.AddUser(teamsfake.User{TeamsID: "29:guest", AADObjectID: guestOID, Email: "carol@example.com", Role: "guest"})

	h := newHarnessWith(t, approval.Input{}, cfg, conn)
	_, _, raw := h.click(invoke{from: "29:carol", oid: carolOID, conv: channel + ";messageid=2", verb: teamsmsg.VerbApprove})
	assert.Contains(t, raw, "✅ Counted")
	a := h.state().Attempts[0]
	assert.Equal(t, "carol", a.User)
	assert.Contains(t, a.IdentifiedBy, "email Carol@Example.com from the Bot Connector")

	_, _, raw = h.click(invoke{from: "29:impostor", oid: impostorOID, id: "act-9", conv: channel + ";messageid=2", verb: teamsmsg.VerbApprove})
	assert.Contains(t, raw, "❌ Not counted: "+RefusedMismatch)
	// A guest account carrying carol's email is not carol.
	_, _, raw = h.click(invoke{from: "29:guest", oid: guestOID, id: "act-10", conv: channel + ";messageid=2", verb: teamsmsg.VerbApprove})
	assert.Contains(t, raw, "❌ Not counted: "+RefusedGuest)
	st := h.state()
	require.Len(t, st.Attempts, 3)
	assert.False(t, st.Attempts[1].Accepted)
	assert.False(t, st.Attempts[2].Accepted)
}

// TestSpentBudgetIsToldWhenToRetry: a clicker over their budget on one
// approval (approvalstore.Budget) is told that nothing counted and when
// to try again, and nothing reaches the approval.
func TestSpentBudgetIsToldWhenToRetry(t *testing.T) {
	h := newHarness(t, approval.Input{})
	h.h.ballots.Approvals = approvalstore.NewBudget(h.mem, 1, time.Hour)
	_, _, raw := h.click(invoke{id: "act-1", oid: bobOID, verb: teamsmsg.VerbReject}) // no comment: refused, counts against the budget
	require.NotContains(t, raw, "too many attempts", raw)
	status, _, raw := h.click(invoke{id: "act-2", oid: bobOID, verb: teamsmsg.VerbApprove})
	require.Equal(t, http.StatusOK, status, raw)
	assert.Contains(t, raw, "⏳ Not counted: too many attempts on this approval. Try again in")
	assert.Len(t, h.state().Attempts, 1, "the second click never reached the approval")
}
