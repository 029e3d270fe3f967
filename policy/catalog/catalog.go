// Package catalog lists what a person may request: each grantable thing
// the config names (a PostgreSQL role on a target, an IAM group, a
// webhook_grant target, a Kubernetes role) in each environment the
// policies name, with the policy that would govern it, who approves and
// the longest grant. An item the person could not get approved is left
// out, and intake refuses it in the same words, so what is not in the
// catalog cannot be requested: deny by default.
package catalog

import (
	"cmp"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/policy"
)

// Grantable is one thing the config lets an action grant: its action type
// and the parameters the config fixes. Ask names the parameters the
// requester fills in (whose login, which access), with a hint each.
type Grantable struct {
	ActionType string
	// Title names it for people: "orders_read on orders".
	Title  string
	Params map[string]string
	Ask    []Field
}

// Field is a parameter the requester fills in.
type Field struct {
	Param string
	Hint  string
}

// Item is a Grantable in one environment, as the policy in force governs it
// for one requester.
type Item struct {
	// ID is stable across reloads of the same config: the action type,
	// the fixed parameters and the environment.
	ID string
	Grantable
	Environment string
	Policy      policy.Entry
}

// Stages are the item's approval stages, each with who approves and how
// many must.
func (it Item) Stages() []approval.Stage { return it.Policy.Snapshot.StageList() }

// MaxDuration is the longest grant the policy allows.
func (it Item) MaxDuration() time.Duration { return it.Policy.Snapshot.MaxDuration }

// Filter narrows a listing; empty fields match everything.
type Filter struct {
	Environment string
	ActionType  string
}

// List is what requester may request among grantables, in the environments
// the policies name: each item under the policy that would govern it,
// sorted by environment, action type and title. A policy that allows no
// grants (no max_duration), or does not let requester ask, or could never
// be approved for them, lists nothing.
func List(set *policy.Set, grantables []Grantable, requester string, f Filter) []Item {
	var out []Item
	for _, env := range set.Environments() {
		if f.Environment != "" && f.Environment != env {
			continue
		}
		for _, g := range grantables {
			if f.ActionType != "" && f.ActionType != g.ActionType {
				continue
			}
			e, err := set.Requestable(g.Request(env), requester)
			if err != nil || e.Snapshot.MaxDuration <= 0 {
				continue
			}
			out = append(out, Item{ID: ID(g, env), Grantable: g, Environment: env, Policy: e})
		}
	}
	slices.SortFunc(out, func(a, b Item) int {
		return cmp.Or(cmp.Compare(a.Environment, b.Environment), cmp.Compare(a.ActionType, b.ActionType),
			cmp.Compare(a.Title, b.Title), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// Request is the request an item stands for, before the requester's
// fields: what policies match on.
func (g Grantable) Request(env string) approval.Request {
	return approval.Request{Environment: env, Action: approval.Action{Type: g.ActionType, Params: maps.Clone(g.Params)}}
}

// ID names g in env: "postgres_role:role=orders_read,target=orders@database".
func ID(g Grantable, env string) string {
	var b strings.Builder
	b.WriteString(g.ActionType)
	sep := ":"
	for _, k := range slices.Sorted(maps.Keys(g.Params)) {
		b.WriteString(sep + k + "=" + g.Params[k])
		sep = ","
	}
	return b.String() + "@" + env
}

// Errors of Fill.
var (
	ErrNotInCatalog = errors.New("not in the catalog of what you may request")
	ErrMissingField = errors.New("a field is missing")
)

// Find returns the item of items with id.
func Find(items []Item, id string) (Item, error) {
	for _, it := range items {
		if it.ID == id {
			return it, nil
		}
	}
	return Item{}, ErrNotInCatalog
}

// Fill is the request for item with the requester's fields: the fixed
// parameters cannot be overridden, and a field the item does not ask for
// is refused.
func (it Item) Fill(fields map[string]string, d time.Duration) (approval.Request, error) {
	r := it.Request(it.Environment)
	for k := range fields {
		if !slices.ContainsFunc(it.Ask, func(f Field) bool { return f.Param == k }) {
			return approval.Request{}, errors.New("field " + k + " is not asked for by " + it.Title)
		}
	}
	for _, f := range it.Ask {
		v := strings.TrimSpace(fields[f.Param])
		if v == "" {
			return approval.Request{}, errors.Join(ErrMissingField, errors.New("give "+f.Param+" ("+f.Hint+")"))
		}
		if r.Action.Params == nil {
			r.Action.Params = map[string]string{}
		}
		r.Action.Params[f.Param] = v
	}
	r.Title = "Access: " + it.Title + " in " + it.Environment
	r.Duration = d
	return r, nil
}
