// Package rowtemplate renders an approval request from one row of a
// trigger's query with text/template. It does no I/O and knows nothing of
// config, so config can compile templates at load (syntax errors and
// unknown functions fail the load) and triggers can render them per row.
package rowtemplate

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"

	"github.com/signoff/signoff/approval"
)

// Template is the approval a trigger asks for, per row. Every text is a Go
// template over the row's columns ({{.user_name}}); action and input types,
// option values and decisions are fixed.
type Template struct {
	Title         string            `yaml:"title"`
	Description   string            `yaml:"description"`
	Environment   string            `yaml:"environment"`
	Resource      string            `yaml:"resource"`
	Fields        map[string]string `yaml:"fields"`
	Justification string            `yaml:"justification"`
	Action        Action            `yaml:"action"`
	Input         Input             `yaml:"input"`
}

// Action is what runs once granted; URL and params are templates.
type Action struct {
	Type   string            `yaml:"type"`
	URL    string            `yaml:"url"`
	Params map[string]string `yaml:"params"`
}

// Input is what approvers choose; the prompt is a template.
type Input struct {
	Type    string   `yaml:"type"`
	Prompt  string   `yaml:"prompt"`
	Options []Option `yaml:"options"`
}

// Option is one fixed choice.
type Option struct {
	Label    string `yaml:"label"`
	Value    string `yaml:"value"`
	Style    string `yaml:"style"`
	Decision string `yaml:"decision"` // approve or reject
}

// Limits match the gateway's, so a row cannot start an approval the API
// would refuse.
const (
	maxTitle    = 200
	maxText     = 4000
	maxValue    = 2000
	maxOptions  = 25
	maxFields   = 50
	maxFieldKey = 64
)

// Funcs are the functions templates may call besides text/template's own.
func Funcs() template.FuncMap {
	return template.FuncMap{
		"upper": strings.ToUpper,
		"lower": strings.ToLower,
		"trim":  strings.TrimSpace,
		// default returns def when v is empty (NULL columns render as "").
		"default": func(def string, v any) string {
			if s := toString(v); s != "" {
				return s
			}
			return def
		},
		// date formats a time column (or an RFC 3339 / SQL timestamp text)
		// with a Go layout.
		"date": func(layout string, v any) (string, error) {
			t, err := toTime(v)
			if err != nil {
				return "", err
			}
			return t.UTC().Format(layout), nil
		},
		"join": func(sep string, v []string) string { return strings.Join(v, sep) },
		"truncate": func(n int, v any) string {
			s := toString(v)
			if utf8.RuneCountInString(s) <= n {
				return s
			}
			return string([]rune(s)[:n]) + "…"
		},
	}
}

// Compiled is a parsed Template.
type Compiled struct {
	src   Template
	texts map[string]*template.Template // by path: "title", "fields.user", ...
}

// textPaths lists every templated text of t with a stable name.
func textPaths(t Template) map[string]string {
	out := map[string]string{
		"title": t.Title, "description": t.Description, "environment": t.Environment,
		"resource": t.Resource, "justification": t.Justification,
		"action.url": t.Action.URL, "input.prompt": t.Input.Prompt,
	}
	for k, v := range t.Fields {
		out["fields."+k] = v
	}
	for k, v := range t.Action.Params {
		out["action.params."+k] = v
	}
	return out
}

// Compile parses every text and checks the fixed parts (input shape, option
// decisions). reserved field names may not be used by the template.
func Compile(t Template, reserved ...string) (*Compiled, error) {
	if strings.TrimSpace(t.Title) == "" {
		return nil, errors.New("title is required")
	}
	if strings.TrimSpace(t.Environment) == "" {
		return nil, errors.New("environment is required")
	}
	for _, r := range reserved {
		if _, ok := t.Fields[r]; ok {
			return nil, fmt.Errorf("fields.%s is reserved (the trigger sets it)", r)
		}
	}
	if len(t.Fields)+len(reserved) > maxFields || len(t.Action.Params) > maxFields {
		return nil, fmt.Errorf("at most %d fields and %d action params", maxFields-len(reserved), maxFields)
	}
	for k := range t.Fields {
		if k == "" || len(k) > maxFieldKey {
			return nil, fmt.Errorf("field names must be 1-%d characters", maxFieldKey)
		}
	}
	if err := checkInput(t.Input); err != nil {
		return nil, err
	}
	c := &Compiled{src: t, texts: map[string]*template.Template{}}
	paths := textPaths(t)
	for _, p := range slices.Sorted(maps.Keys(paths)) {
		tt, err := template.New(p).Funcs(Funcs()).Option("missingkey=error").Parse(paths[p])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		c.texts[p] = tt
	}
	return c, nil
}

func checkInput(in Input) error {
	switch in.Type {
	case "":
		if len(in.Options) > 0 {
			return errors.New("input.type is required with options")
		}
		return nil
	case approval.InputText:
		if len(in.Options) > 0 {
			return errors.New("a text input takes no options")
		}
		return nil
	case approval.InputButton, approval.InputSelect, approval.InputMultiselect:
	default:
		return fmt.Errorf("input.type must be button, select, multiselect or text, not %q", in.Type)
	}
	if n := len(in.Options); n == 0 || n > maxOptions {
		return fmt.Errorf("input needs 1-%d options", maxOptions)
	}
	seen := map[string]bool{}
	for i, o := range in.Options {
		switch {
		case o.Label == "" || o.Value == "":
			return fmt.Errorf("input.options[%d]: label and value are required", i)
		case seen[o.Value]:
			return fmt.Errorf("input.options[%d]: value %q is repeated", i, o.Value)
		case o.Style != "" && o.Style != "primary" && o.Style != "danger":
			return fmt.Errorf("input.options[%d].style must be primary, danger or empty", i)
		case o.Decision != string(approval.DecisionApprove) && o.Decision != string(approval.DecisionReject) &&
			!(o.Decision == "" && in.Type == approval.InputMultiselect):
			return fmt.Errorf("input.options[%d].decision must be approve or reject", i)
		}
		seen[o.Value] = true
	}
	return nil
}

// Columns are the row columns the templates refer to as {{.name}} outside
// with/range blocks (where dot changes), sorted: the ones a query must return.
func (c *Compiled) Columns() []string {
	set := map[string]bool{}
	for _, t := range c.texts {
		if t.Tree != nil {
			fieldsIn(t.Tree.Root, set)
		}
	}
	return slices.Sorted(maps.Keys(set))
}

func fieldsIn(n parse.Node, set map[string]bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			fieldsIn(c, set)
		}
	case *parse.ActionNode:
		fieldsIn(n.Pipe, set)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, cmd := range n.Cmds {
			for _, a := range cmd.Args {
				fieldsIn(a, set)
			}
		}
	case *parse.FieldNode:
		set[n.Ident[0]] = true
	case *parse.IfNode:
		fieldsIn(n.Pipe, set)
		fieldsIn(n.List, set)
		fieldsIn(n.ElseList, set)
	case *parse.RangeNode:
		fieldsIn(n.Pipe, set)
	case *parse.WithNode:
		fieldsIn(n.Pipe, set)
		fieldsIn(n.ElseList, set)
	}
}

// Render executes the templates over row (column name to value) and returns
// the request, checked against the gateway's limits, and the justification.
// extra fields (the trigger's own) are added as they are.
func (c *Compiled) Render(row map[string]any, extra map[string]string) (approval.Request, string, error) {
	out := map[string]string{}
	for _, p := range slices.Sorted(maps.Keys(c.texts)) {
		var b bytes.Buffer
		if err := c.texts[p].Execute(&b, row); err != nil {
			return approval.Request{}, "", fmt.Errorf("render %s: %w", p, err)
		}
		out[p] = b.String()
	}
	r := approval.Request{
		Title:       strings.TrimSpace(out["title"]),
		Description: clip(out["description"], maxText),
		Environment: strings.TrimSpace(out["environment"]),
		Resource:    clip(strings.TrimSpace(out["resource"]), maxTitle),
		Action:      approval.Action{Type: c.src.Action.Type, URL: strings.TrimSpace(out["action.url"])},
	}
	if r.Action.Type == "" {
		r.Action.Type = "noop"
	}
	for k := range c.src.Fields {
		if r.Fields == nil {
			r.Fields = map[string]string{}
		}
		r.Fields[k] = clip(out["fields."+k], maxValue)
	}
	for k, v := range extra {
		if r.Fields == nil {
			r.Fields = map[string]string{}
		}
		r.Fields[k] = clip(v, maxValue)
	}
	for k := range c.src.Action.Params {
		if r.Action.Params == nil {
			r.Action.Params = map[string]string{}
		}
		// Params feed an action's validation: no silent clipping.
		r.Action.Params[k] = strings.TrimSpace(out["action.params."+k])
	}
	if in := c.src.Input; in.Type != "" {
		r.Input = approval.Input{Type: in.Type, Prompt: clip(out["input.prompt"], maxTitle)}
		for _, o := range in.Options {
			r.Input.Options = append(r.Input.Options, approval.Option{
				Label: o.Label, Value: o.Value, Style: o.Style, Decision: approval.Decision(o.Decision),
			})
		}
	}
	if r.Title == "" {
		return r, "", errors.New("title rendered empty")
	}
	r.Title = clip(r.Title, maxTitle)
	if !approval.IsName(r.Environment) {
		return r, "", fmt.Errorf("environment rendered as %q: want 1-64 letters, digits, '_', '.', ':', '/' or '-'", clip(r.Environment, 40))
	}
	return r, clip(strings.TrimSpace(out["justification"]), maxText), nil
}

// clip shortens s to n runes with an ellipsis; database values are not ours
// to refuse.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func toString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	case time.Time:
		return v.UTC().Format(time.RFC3339)
	default:
		return fmt.Sprint(v)
	}
}

// SQL drivers return timestamps as time.Time, or as text (SQLite).
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05", "2006-01-02"}

func toTime(v any) (time.Time, error) {
	if t, ok := v.(time.Time); ok {
		return t, nil
	}
	s := toString(v)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("date: %q is not a time", clip(s, 40))
}

// Value makes a driver value template-friendly: text for bytes, "" for
// NULL; times stay times (for date).
func Value(v any) any {
	switch v := v.(type) {
	case nil:
		return ""
	case []byte:
		return string(v)
	default:
		return v
	}
}

// Key is the text form of a primary-key value.
func Key(v any) string { return toString(v) }
