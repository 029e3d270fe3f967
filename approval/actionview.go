package approval

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/signoff/signoff/redact"
)

// Action types and parameters the view knows. They mirror
// activities/action, which imports this package and so cannot be imported
// here; a test keeps the two in step.
const (
	actionNoop       = "noop"
	actionWebhook    = "webhook"
	actionGitHub     = "github_workflow_dispatch"
	actionIAM        = "aws_iam_deactivate_key"
	paramGitHubOwner = "owner"
	paramGitHubRepo  = "repo"
	paramGitHubFlow  = "workflow"
	paramGitHubRef   = "ref"
	paramIAMUser     = "user_name"
	paramIAMKeyID    = "access_key_id"
)

// ActionView is what approvers are shown of an action: its type, what it
// acts on, and every parameter. Approvers decide on what will run, so no
// parameter is left out.
//
// Values are display text, not the raw action: credential shapes are
// masked (defence in depth: params carry no secrets by design) and control
// and invisible characters (newlines, bidi overrides, zero-width spaces)
// are written as Go escapes (\n, \u202e), so a value is one line and reads
// as what it is. Each medium still escapes for itself (HTML, mrkdwn).
type ActionView struct {
	Type   string
	Target string
	// Params are sorted by key.
	Params []Param
}

// Param is one action parameter.
type Param struct{ Key, Value string }

// Headline reads "webhook → https://…", for one-line renderings.
func (v ActionView) Headline() string { return v.Type + " → " + v.Target }

// View describes the action for approvers. It is pure and deterministic.
func (a Action) View() ActionView {
	v := ActionView{Type: shown(a.Type), Params: make([]Param, 0, len(a.Params))}
	if a.Type == "" {
		v.Type = actionNoop // what the gateway runs when none is given
	}
	for _, k := range slices.Sorted(maps.Keys(a.Params)) {
		v.Params = append(v.Params, Param{Key: shown(k), Value: a.param(k)})
	}
	v.Target = a.target()
	return v
}

// target names what the action acts on, per type.
func (a Action) target() string {
	switch a.Type {
	case "", actionNoop:
		return a.withURL("nothing runs")
	case actionWebhook:
		return or(shown(a.URL), "no URL")
	case actionGitHub:
		return a.withURL(or(a.param(paramGitHubOwner), "?") + "/" + or(a.param(paramGitHubRepo), "?") +
			", workflow " + or(a.param(paramGitHubFlow), "?") + " at ref " + or(a.param(paramGitHubRef), "?"))
	case actionIAM:
		return a.withURL("IAM user " + or(a.param(paramIAMUser), "?") + ", access key " + or(a.param(paramIAMKeyID), "?"))
	case "postgres_role":
		return a.withURL("role " + or(a.param("role"), "?") + " for login " + or(a.param("user"), "?") + " on " + or(a.param("target"), "?"))
	case "aws_iam_group":
		return a.withURL("IAM user " + or(a.param("user"), "?") + " in group " + or(a.param("group"), "?"))
	case "webhook_grant":
		return a.withURL(or(a.param("access"), "?") + " for " + or(a.param("subject"), "?") + " through " + or(a.param("target"), "?"))
	case "secret_change":
		return a.withURL("secret " + or(a.param("secret"), "?") + " on " + or(a.param("target"), "?"))
	case "kubernetes_rbac":
		where, role := "cluster-wide", "ClusterRole "
		if ns := a.param("namespace"); ns != "" {
			where, role = "in namespace "+ns, "Role "
		}
		return a.withURL(role + or(a.param("role"), "?") + " for " + strings.ToLower(or(a.param("subject_kind"), "User")) + " " +
			or(a.param("subject"), "?") + " on cluster " + or(a.param("cluster"), "?") + ", " + where)
	}
	// An unknown type shows its URL; its params follow in Params.
	return or(shown(a.URL), "no URL")
}

// withURL adds a URL a type does not take: it would not pass validation,
// but approvers are still shown everything the action carries.
func (a Action) withURL(s string) string {
	if a.URL == "" {
		return s
	}
	return s + " (URL " + shown(a.URL) + ")"
}

// param is a parameter's display value. An IAM access key ID is shown
// whole although the redactor masks key IDs in outputs: it names the key
// to deactivate (it is not the secret key), and approvers must check it.
func (a Action) param(k string) string {
	v := a.Params[k]
	if a.Type == actionIAM && k == paramIAMKeyID {
		return visible(v)
	}
	return shown(v)
}

// credentialShapes masks what looks like a credential; there are no
// configured secrets to match here.
var credentialShapes = redact.New()

// shown masks credential shapes, then makes invisible characters visible.
func shown(s string) string { return visible(credentialShapes.Redact(s)) }

// visible writes every rune that prints nothing, or moves the text, as its
// Go escape; printable text (any script, spaces) stays as it is.
func visible(s string) string {
	if !strings.ContainsFunc(s, hidden) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if !hidden(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

func hidden(r rune) bool { return r != ' ' && !unicode.IsGraphic(r) }

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
