package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
)

func logState(a approval.Action) *approval.State {
	return approval.New("abcdefghijklmnopqrstuvwxyz", "alice", approval.Request{Title: "Deploy api", Environment: "production", Action: a},
		approval.Policy{Name: "production", Approvers: []string{"bob"}, RequiredApprovals: 1, Deadline: time.Hour},
		time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
}

// The prompt's log line says what runs: the target and every parameter,
// each in a key of its own that the handler quotes.
func TestPromptLogsTheAction(t *testing.T) {
	st := logState(approval.Action{Type: "webhook", URL: "https://hooks.example.com/deploy?env=prod",
		Params: map[string]string{"service": "api", "note": "a \"b\" c=d\nlevel=ERROR msg=forged"}})
	var buf bytes.Buffer
	l := &Log{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), GatewayURL: "http://gw"}
	if _, err := l.Prompt(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Action struct {
			Type, Target string
			Params       map[string]string
		} `json:"action"`
	}
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	if rec.Action.Type != "webhook" || rec.Action.Target != "https://hooks.example.com/deploy?env=prod" {
		t.Errorf("action %+v", rec.Action)
	}
	want := map[string]string{"service": "api", "note": `a "b" c=d\nlevel=ERROR msg=forged`}
	if len(rec.Action.Params) != len(want) || rec.Action.Params["service"] != want["service"] || rec.Action.Params["note"] != want["note"] {
		t.Errorf("params %v, want %v", rec.Action.Params, want)
	}

	buf.Reset()
	l.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	if _, err := l.Prompt(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	for _, w := range []string{"action.type=webhook", "action.target=\"https://hooks.example.com/deploy?env=prod\"",
		"action.params.service=api", `action.params.note="a \"b\" c=d\\nlevel=ERROR msg=forged"`} {
		if !strings.Contains(text, w) {
			t.Errorf("text log lacks %s:\n%s", w, text)
		}
	}
	if strings.Count(text, "\n") != 1 {
		t.Errorf("a value split the log line:\n%s", text)
	}
}

func TestPromptLogsActionTargets(t *testing.T) {
	for _, c := range []struct {
		act  approval.Action
		want []string
	}{
		{approval.Action{Type: "noop"}, []string{`action.target="nothing runs"`}},
		{approval.Action{Type: "github_workflow_dispatch", Params: map[string]string{
			"owner": "acme", "repo": "api", "workflow": "deploy.yml", "ref": "main", "input.version": "2.3.0"}},
			[]string{`action.target="acme/api, workflow deploy.yml at ref main"`, "action.params.input.version=2.3.0",
				"action.params.owner=acme", "action.params.ref=main", "action.params.repo=api", "action.params.workflow=deploy.yml"}},
		{approval.Action{Type: "aws_iam_deactivate_key", Params: map[string]string{"user_name": "ci-bot", "access_key_id": "AKIAIOSFODNN7EXAMPLE"}},
			[]string{`action.target="IAM user ci-bot, access key AKIAIOSFODNN7EXAMPLE"`,
				"action.params.access_key_id=AKIAIOSFODNN7EXAMPLE", "action.params.user_name=ci-bot"}},
	} {
		var buf bytes.Buffer
		l := &Log{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
		if _, err := l.Prompt(context.Background(), logState(c.act)); err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(buf.String(), w) {
				t.Errorf("%s: log lacks %s:\n%s", c.act.Type, w, buf.String())
			}
		}
	}
}

// A delegate added late is named in the log, with the approval's page.
func TestDelegatedLogsTheDelegate(t *testing.T) {
	var buf bytes.Buffer
	l := &Log{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), GatewayURL: "http://gw/"}
	d, err := l.Delegated(context.Background(), logState(approval.Action{Type: "noop"}), "carol")
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Msg, Delegate, Open string }
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	if rec.Msg != "approval delegated" || rec.Delegate != "carol" || rec.Open != "http://gw/approvals/abcdefghijklmnopqrstuvwxyz" ||
		len(d.Targets) != 1 || d.Targets[0] != "log:carol" {
		t.Fatalf("%+v %v", rec, d.Targets)
	}
}
