package notifier

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/wording"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var (
	textTmpl = texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/mail.txt.tmpl"))
	htmlTmpl = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/mail.html.tmpl"))
)

// content is what one email says; both bodies render from it.
type content struct {
	Heading       string
	Intro         string
	Recipient     string
	Title         string
	Description   string
	Requester     string
	Environment   string
	Resource      string
	Fields        []field
	Policy        string
	Status        string
	Progress      string
	Deadline      string
	Justification string
	// Extra is the kind's own paragraph: break-glass reason, action result.
	Extra      string
	Prompt     string
	Options    []link
	ChoiceNote string
	ViewURL    string
	// Action is what runs once granted: approvers decide on it.
	Action approval.ActionView
}

type field struct{ Key, Value string }

// link is one decision link.
type link struct {
	Label string
	URL   string
	Style string
}

// Color is the button's background; each has at least 4.5:1 contrast with
// the white label.
func (l link) Color() string {
	switch l.Style {
	case "primary":
		return "#1a7f37"
	case "danger":
		return "#cf222e"
	}
	return "#0969da"
}

func (c *content) render() (text, html string, err error) {
	var tb, hb bytes.Buffer
	if err := textTmpl.Execute(&tb, c); err != nil {
		return "", "", fmt.Errorf("render text: %w", err)
	}
	if err := htmlTmpl.Execute(&hb, c); err != nil {
		return "", "", fmt.Errorf("render html: %w", err)
	}
	return tb.String(), hb.String(), nil
}

// describe fills what every email says about the approval.
func describe(st *approval.State, recipient string) *content {
	c := &content{
		Recipient:     recipient,
		Title:         st.Request.Title,
		Description:   st.Request.Description,
		Requester:     st.Requester,
		Environment:   st.Request.Environment,
		Resource:      st.Request.Resource,
		Policy:        st.Policy.Name,
		Status:        string(st.Status),
		Progress:      wording.ProgressInFull(st, wording.Plain),
		Deadline:      formatTime(st.Deadline),
		Justification: st.Justification,
		Prompt:        st.Request.Input.Prompt,
		Action:        st.Request.Action.View(),
	}
	keys := make([]string, 0, len(st.Request.Fields))
	for k := range st.Request.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		c.Fields = append(c.Fields, field{Key: k, Value: st.Request.Fields[k]})
	}
	return c
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format("Mon 2 Jan 2006 15:04 MST")
}

// subject is one line, no longer than mail clients show.
func subject(prefix, what string, st *approval.State) string {
	s := fmt.Sprintf("%s %s: %s (%s)", prefix, what, st.Request.Title, st.Request.Environment)
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 180 {
		s = string(r[:179]) + "…"
	}
	return s
}
