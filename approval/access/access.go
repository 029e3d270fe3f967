// Package access says who may read what. Reading an approval — its state,
// audit trail, evidence export, list entry or Slack status — is for the
// people it concerns (its requester, the approvers of any stage of its
// policy snapshot, approvers added by escalation) and for admins and
// auditors. Every read path asks CanRead; a caller who may not read an
// approval is told it does not exist.
package access

import (
	"maps"
	"slices"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config/identity"
)

// CanRead reports whether u may read approval st. st may be partial (a
// list entry knows only the requester and the approvers): missing
// people only ever deny.
func CanRead(st *approval.State, u *identity.User) bool {
	switch {
	case u == nil || st == nil:
		return false
	case CanReadAll(u):
		return true
	case u.Name == "":
		return false
	}
	return st.RequestedBy(u.Name) || st.Policy.IsApprover(u.Name) || slices.Contains(st.ExtraApprovers, u.Name) ||
		slices.Contains(slices.Collect(maps.Values(st.Policy.Delegates)), u.Name) ||
		// A delegate keeps reading what they decided once the delegation ends.
		slices.ContainsFunc(st.Attempts, func(a approval.Attempt) bool { return a.Accepted && a.OnBehalfOf != "" && a.User == u.Name })
}

// CanReadFor is CanRead, or u stands in for someone (standsIn: delegations
// to u in force now) who may decide st: a delegate reads what they decide.
func CanReadFor(st *approval.State, u *identity.User, standsIn []string) bool {
	if CanRead(st, u) {
		return true
	}
	if st == nil || u == nil {
		return false
	}
	for _, p := range standsIn {
		if st.Policy.IsApprover(p) || slices.Contains(st.ExtraApprovers, p) {
			return true
		}
	}
	return false
}

// CanReadAll reports whether u may read every approval: admins and
// auditors.
func CanReadAll(u *identity.User) bool {
	return u != nil && (u.Admin || u.HasRole(identity.RoleAuditor))
}

// CanDecodePayloads reports whether u may use the codec endpoints, which
// open any payload Temporal stores: admins and the codec role.
func CanDecodePayloads(u *identity.User) bool {
	return u != nil && (u.Admin || u.HasRole(identity.RoleCodec))
}
