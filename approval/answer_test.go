package approval

import (
	"slices"
	"strings"
	"testing"
)

func TestAnswer(t *testing.T) {
	opts := []Option{{Label: "Blue", Value: "blue", Decision: DecisionApprove}, {Label: "Green", Value: "green", Decision: DecisionApprove}}
	sel := Input{Type: InputSelect, Options: opts}
	multi := Input{Type: InputMultiselect, Options: opts}
	text := Input{Type: InputText}
	many := make([]string, MaxChoices+1)
	for i := range many {
		many[i] = "blue"
	}
	for _, c := range []struct {
		name   string
		in     Input
		d      Decision
		option string
		values []string
		text   string
		want   []string
		msg    string
	}{
		{"no input", Input{}, DecisionApprove, "", nil, "", nil, ""},
		{"select approves with an option", sel, DecisionApprove, "green", nil, "", []string{"green"}, ""},
		{"select needs an option to approve", sel, DecisionApprove, "", nil, "", nil, "Choose one of the options"},
		{"select rejects without one", sel, DecisionReject, "", nil, "", nil, ""},
		{"select refuses an unknown option", sel, DecisionApprove, "red", nil, "", nil, "Choose among the options shown."},
		{"multiselect", multi, DecisionApprove, "", []string{"blue", "green"}, "", []string{"blue", "green"}, ""},
		{"multiselect needs one to approve", multi, DecisionApprove, "", nil, "", nil, "at least one"},
		{"multiselect refuses an unknown value", multi, DecisionReject, "", []string{"red"}, "", nil, "Choose among"},
		{"multiselect bounded", multi, DecisionApprove, "", many, "", nil, "at most"},
		{"text", text, DecisionApprove, "", nil, "INC-42", []string{"INC-42"}, ""},
		{"text may be empty", text, DecisionReject, "", nil, "", nil, ""},
		{"text bounded", text, DecisionApprove, "", nil, strings.Repeat("x", MaxAnswer+1), nil, "at most"},
		{"text must be UTF-8", text, DecisionApprove, "", nil, "\xff", nil, "valid text"},
	} {
		got, msg := c.in.Answer(c.d, c.option, c.values, c.text)
		if !slices.Equal(got, c.want) || (c.msg == "") != (msg == "") || !strings.Contains(msg, c.msg) {
			t.Errorf("%s: got %q %q, want %q %q", c.name, got, msg, c.want, c.msg)
		}
	}
}
