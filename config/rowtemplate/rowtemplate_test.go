package rowtemplate

import (
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
)

func keyTemplate() Template {
	return Template{
		Title:       "Deactivate {{.access_key_id}} of {{.user_name}}?",
		Description: `Active since {{date "2006-01-02" .create_date}}. Owner: {{default "nobody" .owner}}.`,
		Environment: "aws",
		Resource:    "iam/{{.user_name}}",
		Fields:      map[string]string{"user": "{{.user_name | upper}}"},
		Action: Action{Type: "aws_iam_deactivate_key", Params: map[string]string{
			"user_name": " {{.user_name}} ", "access_key_id": "{{.access_key_id}}",
		}},
		Input: Input{Type: "button", Prompt: "Deactivate {{.access_key_id}}?", Options: []Option{
			{Label: "Deactivate", Value: "deactivate", Style: "danger", Decision: "approve"},
			{Label: "Keep", Value: "keep", Decision: "reject"},
		}},
		Justification: "{{.user_name}} key is {{.age}} days old",
	}
}

func TestRender(t *testing.T) {
	c, err := Compile(keyTemplate(), "trigger", "trigger_key")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Columns(), ","); got != "access_key_id,age,create_date,owner,user_name" {
		t.Errorf("columns %s", got)
	}
	row := map[string]any{
		"access_key_id": "AKIAEXAMPLE000000001", "user_name": "ci-bot", "age": int64(120),
		// SQLite returns text, PostgreSQL a time; NULL arrives as "".
		"create_date": "2025-01-02 03:04:05", "owner": Value(nil),
	}
	r, just, err := c.Render(row, map[string]string{"trigger": "keys", "trigger_key": "AKIAEXAMPLE000000001"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Title != "Deactivate AKIAEXAMPLE000000001 of ci-bot?" || r.Environment != "aws" || r.Resource != "iam/ci-bot" {
		t.Errorf("request %+v", r)
	}
	if r.Description != "Active since 2025-01-02. Owner: nobody." {
		t.Errorf("description %q", r.Description)
	}
	if r.Fields["user"] != "CI-BOT" || r.Fields["trigger"] != "keys" || r.Fields["trigger_key"] != "AKIAEXAMPLE000000001" {
		t.Errorf("fields %v", r.Fields)
	}
	if r.Action.Type != "aws_iam_deactivate_key" || r.Action.Params["user_name"] != "ci-bot" {
		t.Errorf("action %+v", r.Action)
	}
	if r.Input.Prompt != "Deactivate AKIAEXAMPLE000000001?" || r.Input.Options[0].Decision != approval.DecisionApprove ||
		r.Input.Options[1].Decision != approval.DecisionReject {
		t.Errorf("input %+v", r.Input)
	}
	if just != "ci-bot key is 120 days old" {
		t.Errorf("justification %q", just)
	}

	// The same row renders the same request: runs stay idempotent.
	again, _, _ := c.Render(row, map[string]string{"trigger": "keys", "trigger_key": "AKIAEXAMPLE000000001"})
	if again.Hash() != r.Hash() {
		t.Error("rendering is not stable")
	}

	row["create_date"] = time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("x", 3600))
	r, _, err = c.Render(row, nil)
	if err != nil || !strings.Contains(r.Description, "since 2024-05-06") {
		t.Errorf("time column: %q, %v", r.Description, err)
	}
}

func TestRenderErrors(t *testing.T) {
	c, err := Compile(keyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	full := map[string]any{"access_key_id": "A", "user_name": "u", "create_date": "2025-01-02", "owner": "", "age": 1}

	row := map[string]any{"access_key_id": "A", "create_date": "2025-01-02", "owner": "", "age": 1}
	if _, _, err := c.Render(row, nil); err == nil || !strings.Contains(err.Error(), `"user_name"`) {
		t.Errorf("missing column: %v", err)
	}
	row = clone(full)
	row["create_date"] = "soon"
	if _, _, err := c.Render(row, nil); err == nil || !strings.Contains(err.Error(), `"soon" is not a time`) {
		t.Errorf("bad date: %v", err)
	}

	tpl := keyTemplate()
	tpl.Environment = "{{.user_name}} env"
	c, _ = Compile(tpl)
	if _, _, err := c.Render(full, nil); err == nil || !strings.Contains(err.Error(), "environment rendered") {
		t.Errorf("bad environment: %v", err)
	}
	tpl = keyTemplate()
	tpl.Title = "{{.owner}}"
	c, _ = Compile(tpl)
	if _, _, err := c.Render(full, nil); err == nil || !strings.Contains(err.Error(), "title rendered empty") {
		t.Errorf("empty title: %v", err)
	}

	// Long database values are clipped to the API's limits, not refused.
	tpl = keyTemplate()
	c, _ = Compile(tpl)
	row = clone(full)
	row["user_name"] = strings.Repeat("x", 300)
	r, _, err := c.Render(row, nil)
	if err != nil || len([]rune(r.Title)) != maxTitle || !strings.HasSuffix(r.Title, "…") {
		t.Errorf("long title: %d runes, %v", len([]rune(r.Title)), err)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Template)
		want string
	}{
		{func(t *Template) { t.Title = "{{.a" }, "title"},
		{func(t *Template) { t.Fields["x"] = "{{ nope .a }}" }, `fields.x: template: fields.x:1: function "nope" not defined`},
		{func(t *Template) { t.Action.Params["p"] = "{{end}}" }, "action.params.p"},
		{func(t *Template) { t.Input.Type = "slider" }, "input.type"},
		{func(t *Template) { t.Input.Options[1].Value = "deactivate" }, "repeated"},
		{func(t *Template) { t.Input.Options[0].Style = "red" }, "style"},
		{func(t *Template) { t.Input = Input{Type: "text", Options: t.Input.Options} }, "text input takes no options"},
		{func(t *Template) { t.Fields["trigger"] = "x" }, "reserved"},
		{func(t *Template) { t.Environment = "" }, "environment is required"},
	} {
		tpl := keyTemplate()
		tc.edit(&tpl)
		_, err := Compile(tpl, "trigger")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}

// Columns inside with/range are relative to a new dot: not row columns.
func TestColumnsSkipsNestedDot(t *testing.T) {
	c, err := Compile(Template{Title: `{{with .a}}{{.inner}}{{end}}{{if .b}}{{.c}}{{else}}{{.d}}{{end}}{{index . "e"}}`, Environment: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Columns(), ","); got != "a,b,c,d" {
		t.Errorf("columns %s", got)
	}
}

func clone(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}
