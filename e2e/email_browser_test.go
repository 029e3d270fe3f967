package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/approval"
)

// TestEmailBrowserApprove drives headless Chromium as an approver would:
// open the link from the email, read the confirmation page, write a
// comment, click Approve, read the outcome page. The workflow must then be
// approved with the comment, through the email channel.
func TestEmailBrowserApprove(t *testing.T) {
	t.Parallel()
	needBrowser(t)
	e := startEmailEnv(t)
	id := e.create(t, `{"title":"Grant break-glass access to prod DB","environment":"staging",
		"fields":{"ticket":"OPS-7","duration":"2h"}}`)
	m := e.mail(t, "carol@example.com", "[Signoff] Approval needed", id)
	link := m.Links(e.HTTPURL + "/d/")[0]

	// A phone-sized window: the pages must read well there.
	steps := browser(t, 412, 915, 90*time.Second)

	require.NoError(t, chromedp.Do(steps,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS("#decide-form")),
	))
	heading, err := chromedp.Run(steps, chromedp.Text(chromedp.CSS("h1")))
	require.NoError(t, err)
	require.Equal(t, "Approve this request?", strings.TrimSpace(heading))
	facts, err := chromedp.Run(steps, chromedp.Text(chromedp.CSS("#request-title")))
	require.NoError(t, err)
	require.Equal(t, "Grant break-glass access to prod DB", strings.TrimSpace(facts))
	// The stylesheet loaded under the page's CSP: the button is green.
	bg, err := chromedp.Run(steps, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("#confirm")).backgroundColor`))
	require.NoError(t, err)
	require.Equal(t, "rgb(26, 127, 55)", bg)
	// The comment box has a label.
	label, err := chromedp.Run(steps, chromedp.Text(chromedp.CSS(`label[for="comment"]`)))
	require.NoError(t, err)
	require.Contains(t, label, "Comment")

	// Opening the page decided nothing.
	require.Empty(t, e.state(t, id).Attempts)

	require.NoError(t, chromedp.Do(steps, chromedp.SendKeys(chromedp.CSS("#comment"), "checked OPS-7 with the on-call")))
	confirmShot, err := chromedp.Run(steps, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(steps,
		chromedp.Click(chromedp.CSS("#confirm")),
		chromedp.WaitVisible(chromedp.CSS("#outcome")),
	))
	res, err := chromedp.Run(steps, chromedp.AttributeValue(chromedp.CSS("#outcome"), "data-result"))
	require.NoError(t, err)
	require.Equal(t, "accepted", res.Value)
	outcome, err := chromedp.Run(steps, chromedp.Text(chromedp.CSS("#outcome")))
	require.NoError(t, err)
	require.Contains(t, outcome, "Your approval was recorded")
	outcomeShot, err := chromedp.Run(steps, chromedp.FullScreenshot(100))
	require.NoError(t, err)

	// The outcome page links to the audit trail; the session cookie set
	// from the link lets the browser read it.
	require.NoError(t, chromedp.Do(steps,
		chromedp.Click(chromedp.CSS(".note a")),
		chromedp.WaitVisible(chromedp.CSS("#timeline")),
	))
	timeline, err := chromedp.Run(steps, chromedp.Text(chromedp.CSS("#timeline")))
	require.NoError(t, err)
	for _, want := range []string{"Requested", "Notified", "Decision", "carol", "via email", "checked OPS-7 with the on-call", "Outcome"} {
		require.Contains(t, timeline, want)
	}
	trailShot, err := chromedp.Run(steps, chromedp.FullScreenshot(100))
	require.NoError(t, err)

	keepShots(t, "email-", map[string][]byte{"confirm.png": confirmShot, "outcome.png": outcomeShot, "audit-trail.png": trailShot})

	st := e.state(t, id)
	require.Equal(t, approval.StatusApproved, st.Status)
	require.Len(t, st.Attempts, 1)
	a := st.Attempts[0]
	require.Equal(t, "carol", a.User)
	require.Equal(t, "email", a.Channel)
	require.Equal(t, "checked OPS-7 with the on-call", a.Comment)
	require.True(t, a.Accepted)

	// Opening the link again shows it as used and records nothing more.
	require.NoError(t, chromedp.Do(steps, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#outcome"))))
	res, err = chromedp.Run(steps, chromedp.AttributeValue(chromedp.CSS("#outcome"), "data-result"))
	require.NoError(t, err)
	require.Equal(t, "used", res.Value)
	require.Len(t, e.state(t, id).Attempts, 1)

	code, body := e.Do(http.MethodGet, "/v1/approvals/"+id, "dev-alice", "")
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, "STATUS_APPROVED", decodeApproval(t, body).GetStatus().String())
}
