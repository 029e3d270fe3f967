package intake

import (
	"errors"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
)

func grantFor(requester string) *approval.State {
	end := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	return &approval.State{ID: "g1", Requester: requester, Status: approval.StatusGranted,
		Request: approval.Request{Title: "Read orders", Environment: "database", Duration: time.Hour, Fields: map[string]string{"ticket": "OPS-1"},
			Action: approval.Action{Type: "postgres_role", Params: map[string]string{"target": "orders", "role": "orders_read", "user": "alice"}}},
		Grant: &approval.Grant{RevokeAt: end}}
}

func TestExtensionIsTheGrantsRequestMarked(t *testing.T) {
	g := grantFor("alice")
	r, err := Extension(g, "alice", 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if r.Extends != "g1" || r.Duration != 30*time.Minute || r.Title != "Extend: Read orders" {
		t.Errorf("request %+v", r)
	}
	if r.Environment != g.Request.Environment || r.Action.Type != g.Request.Action.Type || r.Action.Params["role"] != "orders_read" {
		t.Error("the extension must ask the grant's policy about the grant's action")
	}
	if r.Fields[FieldExtends] != "g1" || r.Fields[FieldCurrentEnd] != "2026-12-01T11:00:00Z" || r.Fields["ticket"] != "OPS-1" {
		t.Errorf("fields %v", r.Fields)
	}
	if _, ok := g.Request.Fields[FieldExtends]; ok {
		t.Error("the grant's own fields changed")
	}
}

func TestExtensionRefusals(t *testing.T) {
	revoking := grantFor("alice")
	revoking.Grant.RevokeRequestedAt = time.Now()
	revoked := grantFor("alice")
	revoked.Status = approval.StatusRevoked
	ext := grantFor("alice")
	ext.Request.Extends = "g0"
	for _, c := range []struct {
		name  string
		grant *approval.State
		who   string
		d     time.Duration
		want  error
	}{
		{"not the grantee", grantFor("alice"), "bob", time.Hour, ErrDenied},
		{"revoke asked for", revoking, "alice", time.Hour, ErrInvalid},
		{"revoked", revoked, "alice", time.Hour, ErrInvalid},
		{"an extension itself", ext, "alice", time.Hour, ErrInvalid},
		{"no duration", grantFor("alice"), "alice", 0, ErrInvalid},
	} {
		if _, err := Extension(c.grant, c.who, c.d); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}
