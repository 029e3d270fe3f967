package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/testenv"
	"github.com/signoff/signoff/temporal/codec"
	"github.com/signoff/signoff/workflows"
)

var testSessionKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))

// TestWebSignInThroughTheIdentityProvider drives headless Chromium as an
// approver would: open the link from Slack, sign in with the company's
// identity provider (a real OpenID provider on 127.0.0.1: authorization
// code, PKCE, nonce), approve on the approval's page, find nothing left
// in the inbox, sign out. The decision counts for the person the provider
// named, through the web channel. Someone the provider knows but Signoff
// does not is refused, and a callback this browser did not start is too.
func TestWebSignInThroughTheIdentityProvider(t *testing.T) {
	t.Parallel()
	needBrowser(t)
	idp, err := mockoidc.Run()
	require.NoError(t, err)
	t.Cleanup(func() { _ = idp.Shutdown() })
	client := idp.Config()
	s := testenv.Start(t, testenv.Options{
		Mutate: func(c *config.Loaded) {
			c.OIDC = config.OIDC{Issuer: idp.Issuer(), Audience: client.ClientID, ClientID: client.ClientID, UserClaim: config.OIDCClaimEmail,
				Scopes: []string{"openid", "email", "profile"}}
		},
		Env: map[string]string{config.EnvSessionKey: testSessionKey, config.EnvOIDCClientSecret: client.ClientSecret},
	})
	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice",
		`{"title":"Open a shell on payments-db-1","environment":"staging","fields":{"ticket":"INC-42"}}`)
	require.Equal(t, http.StatusOK, code, string(body))
	id := decodeApproval(t, body).GetId()

	idp.QueueUser(&mockoidc.MockUser{Subject: "idp-bob", Email: "bob@example.com", EmailVerified: true, PreferredUsername: "bob"})
	steps := browser(t, 1280, 900, 90*time.Second)
	require.NoError(t, chromedp.Do(steps,
		chromedp.Navigate(s.HTTPURL+"/approvals/"+id), // Slack's "Open in Signoff"
		chromedp.WaitVisible(chromedp.CSS("#signin-oidc")),
	))
	signinShot, err := chromedp.Run(steps, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(steps,
		chromedp.Click(chromedp.CSS("#signin-oidc")),
		chromedp.WaitVisible(chromedp.CSS("#decide-form")),
	))
	who, err := chromedp.Run(steps, chromedp.Text(chromedp.CSS("#signed-in-as")))
	require.NoError(t, err)
	require.Equal(t, "bob", strings.TrimSpace(who))
	action, err := chromedp.Run(steps, chromedp.Text(chromedp.CSS("#action-view")))
	require.NoError(t, err)
	require.Contains(t, action, "noop", "approvers see the action that will run")
	require.NoError(t, chromedp.Do(steps, chromedp.SendKeys(chromedp.CSS("#comment"), "INC-42 checked")))
	pageShot, err := chromedp.Run(steps, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(steps,
		chromedp.Click(chromedp.CSS("#approve")),
		chromedp.WaitVisible(chromedp.CSS("#done")),
	))
	doneShot, err := chromedp.Run(steps, chromedp.FullScreenshot(100))
	require.NoError(t, err)

	st := state(t, s, id)
	require.Equal(t, approval.StatusApproved, st.Status)
	require.Len(t, st.Attempts, 1)
	a := st.Attempts[0]
	require.True(t, a.Accepted)
	require.Equal(t, "bob", a.User)
	require.Equal(t, "web", a.Channel)
	require.Equal(t, "INC-42 checked", a.Comment)
	require.Equal(t, "web session (OIDC sign-in)", a.IdentifiedBy)

	require.NoError(t, chromedp.Do(steps,
		chromedp.Navigate(s.HTTPURL+"/inbox"),
		chromedp.WaitVisible(chromedp.CSS("#inbox-empty")),
	))
	inboxShot, err := chromedp.Run(steps, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(steps,
		chromedp.Click(chromedp.CSS("#signout")),
		chromedp.WaitVisible(chromedp.CSS("#outcome")),
	))
	res, err := chromedp.Run(steps, chromedp.AttributeValue(chromedp.CSS("#outcome"), "data-result"))
	require.NoError(t, err)
	require.Equal(t, "signed_out", res.Value)
	// Signed out: the inbox sends the browser to sign in again.
	require.NoError(t, chromedp.Do(steps,
		chromedp.Navigate(s.HTTPURL+"/inbox"),
		chromedp.WaitVisible(chromedp.CSS("#signin-oidc")),
	))
	keepShots(t, "web-", map[string][]byte{"signin.png": signinShot, "approval.png": pageShot, "decided.png": doneShot, "inbox.png": inboxShot})

	// Someone the provider vouches for but Signoff does not know.
	idp.QueueUser(&mockoidc.MockUser{Subject: "idp-mallory", Email: "mallory@example.com", EmailVerified: true})
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	hc := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	resp, err := hc.Get(s.HTTPURL + "/auth/start?next=/inbox")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, string(page))
	require.Contains(t, string(page), "Sign-in failed")
	// A callback with a code this browser never asked for (login CSRF).
	resp, err = (&http.Client{Timeout: 20 * time.Second}).Get(s.HTTPURL + "/auth/callback?code=stolen&state=whatever")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, approval.StatusApproved, state(t, s, id).Status)
}

// TestTemporalUIDecodesForSignedInPeople: with payload encryption on, the
// Temporal Web UI (as `signoff dev` configures it) decodes an approval's
// input through the gateway's /codec with the browser's Signoff session:
// an admin signed in to Signoff reads the request in the UI; bob, signed
// in without the codec role, is refused by the codec and reads nothing.
func TestTemporalUIDecodesForSignedInPeople(t *testing.T) {
	t.Parallel()
	needBrowser(t)
	s := testenv.Start(t, testenv.Options{UI: true, Env: map[string]string{
		codec.EnvKeys: "k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32)),
	}})
	const title = "Rotate the payroll signing key"
	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", `{"title":"`+title+`","environment":"staging"}`)
	require.Equal(t, http.StatusOK, code, string(body))
	id := decodeApproval(t, body).GetId()
	desc, err := s.Client.DescribeWorkflowExecution(context.Background(), workflows.ApprovalWorkflowID(id), "")
	require.NoError(t, err)
	page := s.UIURL + "/namespaces/" + s.Config.Temporal.Namespace + "/workflows/" + workflows.ApprovalWorkflowID(id) + "/" +
		desc.GetWorkflowExecutionInfo().GetExecution().GetRunId() + "/history"

	signIn := func(steps context.Context, user string) {
		t.Helper()
		require.NoError(t, chromedp.Do(steps,
			chromedp.Navigate(s.HTTPURL+"/signin"),
			chromedp.Click(chromedp.CSS("#dev-"+user)),
			chromedp.WaitVisible(chromedp.CSS("#signed-in-as")),
		))
	}
	shows := `document.body.innerText.includes(` + "`" + title + "`" + `)`

	dana := browser(t, 1440, 1000, 120*time.Second)
	signIn(dana, "dana")
	require.NoError(t, chromedp.Do(dana,
		chromedp.Navigate(page),
		chromedp.Poll[chromedp.Void](shows, chromedp.WithPollingInterval(250*time.Millisecond), chromedp.WithPollingTimeout(90*time.Second)),
	), "the UI never showed the decrypted title to dana")
	danaShot, err := chromedp.Run(dana, chromedp.FullScreenshot(100))
	require.NoError(t, err)

	bob := browser(t, 1440, 1000, 120*time.Second)
	signIn(bob, "bob")
	require.NoError(t, chromedp.Do(bob, chromedp.Navigate(page)))
	testenv.Eventually(t, 60*time.Second, "the UI asks the codec for bob", func() bool {
		return strings.Contains(s.Logs.String(), "codec call refused: no codec role") && strings.Contains(s.Logs.String(), "user=bob")
	})
	// Once the codec has refused, the page has what it will get.
	require.NoError(t, chromedp.Do(bob, chromedp.WaitVisible(chromedp.CSS("body"))))
	showsTitle, err := chromedp.Run(bob, chromedp.Evaluate[bool](shows))
	require.NoError(t, err)
	require.False(t, showsTitle, "bob reads the decrypted title without the codec role")
	bobShot, err := chromedp.Run(bob, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	keepShots(t, "temporal-ui-", map[string][]byte{"codec-role.png": danaShot, "no-codec-role.png": bobShot})
}
