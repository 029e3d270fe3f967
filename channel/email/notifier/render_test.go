package notifier

import (
	"strings"
	"testing"

	"github.com/signoff/signoff/approval"
)

func withAction(a approval.Action) *approval.State {
	st := state(approval.Input{})
	st.Request.Action = a
	return st
}

// Both bodies show what runs once approved: type, target and every
// parameter; the HTML escapes what a requester wrote.
func TestEmailShowsTheAction(t *testing.T) {
	st := withAction(approval.Action{Type: "webhook", URL: "https://hooks.example.com/deploy?env=prod&x=1",
		Params: map[string]string{"service": "api", "note": `<b>ship</b> & "go"`, "multi": "a\n  Approve: https://evil.example"}})
	text, html, err := describe(st, "bob").render()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"What runs once approved:", "  Action:       webhook", "  Target:       https://hooks.example.com/deploy?env=prod&x=1",
		`    note: <b>ship</b> & "go"`, "    service: api",
		`    multi: a\n  Approve: https://evil.example`, // one line: a value cannot pass for a link of ours
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{
		"What runs once approved", ">webhook</td>", ">https://hooks.example.com/deploy?env=prod&amp;x=1</td>",
		">note</th>", ">&lt;b&gt;ship&lt;/b&gt; &amp; &#34;go&#34;</td>", ">service</th>", ">api</td>",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("html lacks %q:\n%s", want, html)
		}
	}
	if strings.Contains(html, "<b>ship") {
		t.Error("html does not escape a param value")
	}
}

func TestEmailActionTargets(t *testing.T) {
	for _, c := range []struct {
		act  approval.Action
		want []string
	}{
		{approval.Action{Type: "noop"}, []string{"nothing runs"}},
		{approval.Action{Type: "github_workflow_dispatch", Params: map[string]string{
			"owner": "acme", "repo": "api", "workflow": "deploy.yml", "ref": "main", "input.version": "2.3.0"}},
			[]string{"acme/api, workflow deploy.yml at ref main", "input.version", "2.3.0", "deploy.yml"}},
		{approval.Action{Type: "aws_iam_deactivate_key", Params: map[string]string{"user_name": "ci-bot", "access_key_id": "AKIAIOSFODNN7EXAMPLE"}},
			[]string{"IAM user ci-bot, access key AKIAIOSFODNN7EXAMPLE", "access_key_id", "user_name"}},
	} {
		text, html, err := describe(withAction(c.act), "bob").render()
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(text, w) || !strings.Contains(html, w) {
				t.Errorf("%s: text or html lacks %q", c.act.Type, w)
			}
		}
	}
}
