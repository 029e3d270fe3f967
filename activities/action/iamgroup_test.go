package action

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/internal/fakecloud"
)

func groupAction(fake *fakecloud.IAM) *IAMGroup {
	return &IAMGroup{
		Groups:        []string{"prod-readonly", "break-glass"},
		Client:        IAMGroupClient(NewIAMClient(IAMClientOptions{Region: "us-east-1", Endpoint: fake.URL, MaxAttempts: 1})),
		VerifyTimeout: 300 * time.Millisecond,
	}
}

func groupState(group, user string) *approval.State {
	return &approval.State{ID: "01JTESTAPPROVAL0000000000", Request: approval.Request{Action: approval.Action{
		Type: IAMGroupType, Params: map[string]string{ParamIAMGroup: group, ParamIAMGroupUser: user},
	}}}
}

func TestIAMGroupValidate(t *testing.T) {
	a := &IAMGroup{Groups: []string{"prod-readonly"}}
	ok := map[string]string{ParamIAMGroup: "prod-readonly", ParamIAMGroupUser: "alice.smith+ops@acme"}
	if err := a.Validate(approval.Action{Type: IAMGroupType, Params: ok}); err != nil {
		t.Fatalf("valid params refused: %v", err)
	}
	if got := a.Resource(approval.Action{Params: map[string]string{ParamIAMGroup: "Prod-ReadOnly", ParamIAMGroupUser: "Alice"}}); got != "aws_iam_group:prod-readonly:alice" {
		t.Errorf("resource %q", got)
	}
	cases := map[string]approval.Action{
		"is not a group users may be added to":  {Params: map[string]string{ParamIAMGroup: "admins", ParamIAMGroupUser: "alice"}},
		"is not a group users may be added to ": {Params: map[string]string{ParamIAMGroup: "Prod-Readonly", ParamIAMGroupUser: "alice"}},
		"param group must be 1-128":             {Params: map[string]string{ParamIAMGroup: "prod readonly", ParamIAMGroupUser: "alice"}},
		"param group must be 1-128 ":            {Params: map[string]string{ParamIAMGroupUser: "alice"}},
		"param group must be 1-128  ":           {Params: map[string]string{ParamIAMGroup: strings.Repeat("g", 129), ParamIAMGroupUser: "alice"}},
		"param user must be 1-64":               {Params: map[string]string{ParamIAMGroup: "prod-readonly", ParamIAMGroupUser: "alice/../bob"}},
		"param user must be 1-64 ":              {Params: map[string]string{ParamIAMGroup: "prod-readonly"}},
		"param user must be 1-64  ":             {Params: map[string]string{ParamIAMGroup: "prod-readonly", ParamIAMGroupUser: strings.Repeat("u", 65)}},
		`unknown param "role"`:                  {Params: map[string]string{ParamIAMGroup: "prod-readonly", ParamIAMGroupUser: "alice", "role": "admin"}},
		"takes no url":                          {URL: "https://iam.amazonaws.com", Params: ok},
	}
	for want, act := range cases {
		err := a.Validate(act)
		if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(want)) {
			t.Errorf("want error containing %q, got %v", want, err)
		}
	}
	// No groups configured: nothing may be granted (deny by default).
	if err := (&IAMGroup{}).Validate(approval.Action{Params: ok}); err == nil {
		t.Error("a group was allowed with none configured")
	}
}

func TestIAMGroupGrantsOnceAndVerifies(t *testing.T) {
	isolateAWS(t)
	envCreds(t)
	fake := fakecloud.NewIAM(t, testKeyID, testSecretKey)
	// The user is in several groups already; the look pages through them.
	fake.PageSize = 1
	fake.AddGroup("aaa-devs", "alice")
	fake.AddGroup("bbb-oncall", "alice")
	fake.AddGroup("prod-readonly", "carol")
	a, st, ctx := groupAction(fake), groupState("prod-readonly", "alice"), context.Background()

	if held, err := a.Holds(ctx, st); err != nil || held {
		t.Fatalf("before: holds %v, %v", held, err)
	}
	out, err := a.Run(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if out != "added user alice to IAM group prod-readonly (verified: member)" {
		t.Fatalf("output %q", out)
	}
	if !fake.InGroup("prod-readonly", "alice") || !fake.InGroup("prod-readonly", "carol") {
		t.Fatal("membership not as granted")
	}
	adds := fake.Calls("AddUserToGroup")
	if len(adds) != 1 || adds[0].Get("GroupName") != "prod-readonly" || adds[0].Get("UserName") != "alice" {
		t.Fatalf("adds %v", adds)
	}
	if held, err := a.Holds(ctx, st); err != nil || !held {
		t.Fatalf("after: holds %v, %v", held, err)
	}

	// A retry of the same grant looks, finds the membership and adds
	// nothing.
	out, err = a.Run(ctx, st)
	if err != nil || out != "user alice was already in IAM group prod-readonly (verified: member)" {
		t.Fatalf("retry: %q, %v", out, err)
	}
	if adds, removes := fake.GroupChanges(); adds != 1 || removes != 0 {
		t.Fatalf("%d adds, %d removes after a retry; want 1, 0", adds, removes)
	}
}

func TestIAMGroupRevokesOnceAndVerifies(t *testing.T) {
	isolateAWS(t)
	envCreds(t)
	fake := fakecloud.NewIAM(t, testKeyID, testSecretKey)
	fake.AddGroup("prod-readonly", "alice", "carol")
	fake.AddGroup("aaa-devs", "alice")
	a, st, ctx := groupAction(fake), groupState("prod-readonly", "alice"), context.Background()

	out, err := a.Revoke(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if out != "removed user alice from IAM group prod-readonly (verified: not a member)" {
		t.Fatalf("output %q", out)
	}
	if fake.InGroup("prod-readonly", "alice") || !fake.InGroup("prod-readonly", "carol") || !fake.InGroup("aaa-devs", "alice") {
		t.Fatal("memberships not as revoked")
	}
	removes := fake.Calls("RemoveUserFromGroup")
	if len(removes) != 1 || removes[0].Get("GroupName") != "prod-readonly" || removes[0].Get("UserName") != "alice" {
		t.Fatalf("removes %v", removes)
	}
	if held, err := a.Holds(ctx, st); err != nil || held {
		t.Fatalf("after: holds %v, %v", held, err)
	}

	out, err = a.Revoke(ctx, st)
	if err != nil || out != "user alice was not in IAM group prod-readonly (verified: not a member)" {
		t.Fatalf("retry: %q, %v", out, err)
	}
	if adds, removes := fake.GroupChanges(); adds != 0 || removes != 1 {
		t.Fatalf("%d adds, %d removes after a retry; want 0, 1", adds, removes)
	}
}

func TestIAMGroupUnverifiedChangeFails(t *testing.T) {
	isolateAWS(t)
	envCreds(t)
	fake := fakecloud.NewIAM(t, testKeyID, testSecretKey)
	fake.AddGroup("prod-readonly", "carol")
	fake.AddUser("alice")
	fake.IgnoreUpdates(true)
	a, ctx := groupAction(fake), context.Background()

	start := time.Now()
	_, err := a.Run(ctx, groupState("prod-readonly", "alice"))
	if err == nil || !strings.Contains(err.Error(), "add user alice to group prod-readonly: not a member when read back") {
		t.Fatalf("grant: %v", err)
	}
	// It read back more than once (IAM is eventually consistent), within
	// its verify timeout.
	if n := len(fake.Calls("ListGroupsForUser")); n < 3 {
		t.Fatalf("%d ListGroupsForUser calls", n)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("verify took %s", d)
	}
	_, err = a.Revoke(ctx, groupState("prod-readonly", "carol"))
	if err == nil || !strings.Contains(err.Error(), "remove user carol from group prod-readonly: still a member when read back") {
		t.Fatalf("revoke: %v", err)
	}
}

func TestIAMGroupErrorsAreClassified(t *testing.T) {
	isolateAWS(t)
	envCreds(t)
	fake := fakecloud.NewIAM(t, testKeyID, testSecretKey)
	fake.AddGroup("prod-readonly", "carol")
	fake.AddUser("alice")
	a, ctx := groupAction(fake), context.Background()

	// A user IAM does not know.
	_, err := a.Run(ctx, groupState("prod-readonly", "mallory"))
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "NoSuchEntity") {
		t.Errorf("unknown user: %v (permanent %v)", err, IsPermanent(err))
	}
	if _, err := a.Holds(ctx, groupState("prod-readonly", "mallory")); err == nil || !IsPermanent(err) {
		t.Errorf("holds, unknown user: %v", err)
	}
	// A configured group IAM does not have.
	_, err = a.Run(ctx, groupState("break-glass", "alice"))
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "The group with name break-glass cannot be found") {
		t.Errorf("unknown group: %v", err)
	}
	// A group not configured is refused before IAM is asked.
	calls := len(fake.Calls(""))
	if _, err := a.Run(ctx, groupState("admins", "alice")); err == nil || !IsPermanent(err) {
		t.Errorf("group not allowed: %v", err)
	}
	if len(fake.Calls("")) != calls {
		t.Error("IAM was called for a group that is not allowed")
	}

	fake.FailNext("AddUserToGroup", fakecloud.Fault{HTTPStatus: 403, Code: "AccessDenied", Message: "not authorized to perform iam:AddUserToGroup"})
	_, err = a.Run(ctx, groupState("prod-readonly", "alice"))
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("access denied: %v", err)
	}
	fake.FailNext("RemoveUserFromGroup", fakecloud.Fault{HTTPStatus: 403, Code: "AccessDenied", Message: "not authorized to perform iam:RemoveUserFromGroup"})
	_, err = a.Revoke(ctx, groupState("prod-readonly", "carol"))
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("revoke, access denied: %v", err)
	}
	fake.FailNext("ListGroupsForUser", fakecloud.Fault{HTTPStatus: 400, Code: "Throttling", Message: "Rate exceeded"})
	_, err = a.Run(ctx, groupState("prod-readonly", "alice"))
	if err == nil || IsPermanent(err) {
		t.Errorf("throttling must be retried: %v", err)
	}
	fake.FailNext("AddUserToGroup", fakecloud.Fault{HTTPStatus: 500, Code: "ServiceFailure", Message: "try again"})
	_, err = a.Run(ctx, groupState("prod-readonly", "alice"))
	if err == nil || IsPermanent(err) {
		t.Errorf("server fault must be retried: %v", err)
	}
	if adds, removes := fake.GroupChanges(); adds != 0 || removes != 0 || fake.InGroup("prod-readonly", "alice") || !fake.InGroup("prod-readonly", "carol") {
		t.Fatalf("membership changed although every change failed (%d adds, %d removes)", adds, removes)
	}
}

func TestIAMGroupWrongCredentialsAreRefused(t *testing.T) {
	isolateAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", testKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-key-at-all-000000000000000")
	fake := fakecloud.NewIAM(t, testKeyID, testSecretKey)
	fake.AddGroup("prod-readonly", "carol")
	fake.AddUser("alice")
	_, err := groupAction(fake).Run(context.Background(), groupState("prod-readonly", "alice"))
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("got %v", err)
	}
	if fake.InGroup("prod-readonly", "alice") {
		t.Fatal("added with wrong credentials")
	}
}
