package callbacks

import "testing"

// TestIdentifiedBy: the evidence names the Slack user and how it was tied
// to the configured person.
func TestIdentifiedBy(t *testing.T) {
	for p, want := range map[Person]string{
		{SlackID: "U123", Via: "configured slack_id"}: "slack user U123 (configured slack_id)",
		{SlackID: "U123", Via: "Slack profile email"}: "slack user U123 (Slack profile email)",
		{SlackID: "U123"}: "slack user U123 (not tied to a configured user)",
	} {
		if got := p.IdentifiedBy(); got != want {
			t.Errorf("%+v: %q, want %q", p, got, want)
		}
	}
}
