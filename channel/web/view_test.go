package web

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
)

func actionState(a approval.Action) *approval.State {
	return approval.New(approvalID, "alice", approval.Request{Title: "Deploy api", Environment: "production", Action: a},
		approval.Policy{Name: "production", Approvers: []string{"bob"}, RequiredApprovals: 1, Deadline: time.Hour}, now)
}

// renderPage renders a page as the handler does.
func renderPage(t *testing.T, name string, data any) string {
	t.Helper()
	var b bytes.Buffer
	if err := pages[name].ExecuteTemplate(&b, "layout", data); err != nil {
		t.Fatalf("render %s: %v", name, err)
	}
	return b.String()
}

// The confirmation page, the audit page and the message pages show what
// runs once approved, every parameter escaped.
func TestPagesShowTheAction(t *testing.T) {
	st := actionState(approval.Action{Type: "webhook", URL: "https://hooks.example.com/deploy?env=prod&x=1",
		Params: map[string]string{"service": "api", "note": `<script>alert(1)</script> & "go"`}})
	s := summarize(st)
	for name, data := range map[string]any{
		"confirm":  &confirmPage{PageTitle: "Approve", Summary: s},
		"approval": &approvalPageData{PageTitle: "Audit trail", ID: approvalID, Summary: s},
		"message":  &message{PageTitle: "Done", Heading: "Done", Summary: s},
	} {
		page := renderPage(t, name, data)
		for _, want := range []string{
			"What runs once approved", "<dd>webhook</dd>", "<dd>https://hooks.example.com/deploy?env=prod&amp;x=1</dd>",
			"<dt><code>note</code></dt><dd><code>&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;go&#34;</code></dd>",
			"<dt><code>service</code></dt><dd><code>api</code></dd>",
		} {
			if !strings.Contains(page, want) {
				t.Errorf("%s page lacks %q:\n%s", name, want, page)
			}
		}
		if strings.Contains(page, "<script>") {
			t.Errorf("%s page does not escape a param value", name)
		}
	}
}

func TestPagesShowActionTargets(t *testing.T) {
	for _, c := range []struct {
		act  approval.Action
		want []string
	}{
		{approval.Action{Type: "noop"}, []string{"<dd>nothing runs</dd>"}},
		{approval.Action{Type: "github_workflow_dispatch", Params: map[string]string{
			"owner": "acme", "repo": "api", "workflow": "deploy.yml", "ref": "main", "input.version": "2.3.0"}},
			[]string{"<dd>acme/api, workflow deploy.yml at ref main</dd>", "<code>input.version</code>", "<code>2.3.0</code>"}},
		{approval.Action{Type: "aws_iam_deactivate_key", Params: map[string]string{"user_name": "ci-bot", "access_key_id": "AKIAIOSFODNN7EXAMPLE"}},
			[]string{"<dd>IAM user ci-bot, access key AKIAIOSFODNN7EXAMPLE</dd>", "<code>AKIAIOSFODNN7EXAMPLE</code>", "<code>ci-bot</code>"}},
	} {
		page := renderPage(t, "message", &message{Heading: "x", Summary: summarize(actionState(c.act))})
		for _, w := range c.want {
			if !strings.Contains(page, w) {
				t.Errorf("%s: page lacks %q", c.act.Type, w)
			}
		}
	}
}
