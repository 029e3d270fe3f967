package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/store/approvalstore"
)

// load reads an approval, open or finished.
func (h *Handler) load(ctx context.Context, id string) (*approval.State, error) {
	st, err := h.approvals.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read approval %s: %w", id, err)
	}
	return st, nil
}

// refusalOf is the workflow's refusal of a decision, ok false for any
// other error. A decision that races the approval's end is refused as not
// pending, as the workflow would have.
func refusalOf(err error) (ref approval.Refusal, ok bool) {
	switch {
	case errors.As(err, &ref):
		return ref, true
	case errors.Is(err, approvalstore.ErrClosed):
		return approval.Refusal{Code: approval.CodeNotPending, Message: approval.RefusedNotPending}, true
	}
	return approval.Refusal{}, false
}

// refusalStatus is the HTTP status of a refused decision.
func refusalStatus(c approval.Code) int {
	switch c.Class() {
	case approval.ClassPermission:
		return http.StatusForbidden
	case approval.ClassInvalid:
		return http.StatusBadRequest
	}
	return http.StatusConflict
}

// callContext bounds one page's calls to approvals.
func (h *Handler) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, h.timeout)
}

// formatTime is how pages show instants: UTC, unambiguous.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format("Mon 2 Jan 2006 15:04:05 MST")
}
