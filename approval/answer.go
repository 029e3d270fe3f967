package approval

import (
	"fmt"
	"unicode/utf8"
)

// Limits of a decision's answer to the request's input.
const (
	// MaxChoices is how many options one decision may choose.
	MaxChoices = 25
	// MaxAnswer is how long a text answer may be, in characters.
	MaxAnswer = 2000
)

// Answer checks what a form (the web page, a Teams card) sent with
// decision d against the input: the option chosen (button, select), the
// options chosen (multiselect) or the text written. It returns the
// decision's values, or why the form must be corrected (a sentence for
// the person, nothing delivered). The workflow judges the values again.
func (in Input) Answer(d Decision, option string, values []string, text string) ([]string, string) {
	switch in.Type {
	case InputButton, InputSelect:
		if option == "" {
			if d == DecisionApprove {
				return nil, "Choose one of the options to approve."
			}
			return nil, ""
		}
		if _, ok := in.Option(option); !ok {
			return nil, "Choose among the options shown."
		}
		return []string{option}, ""
	case InputMultiselect:
		if len(values) > MaxChoices {
			return nil, fmt.Sprintf("Choose at most %d options.", MaxChoices)
		}
		for _, v := range values {
			if _, ok := in.Option(v); !ok {
				return nil, "Choose among the options shown."
			}
		}
		if len(values) == 0 && d == DecisionApprove {
			return nil, "Choose at least one option to approve."
		}
		return values, ""
	case InputText:
		if !utf8.ValidString(text) || utf8.RuneCountInString(text) > MaxAnswer {
			return nil, fmt.Sprintf("The answer must be valid text of at most %d characters.", MaxAnswer)
		}
		if text == "" {
			return nil, ""
		}
		return []string{text}, ""
	}
	return nil, ""
}
