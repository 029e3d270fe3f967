package approval

// EventKind says what an audit event records. Kinds are stable: evidence,
// the audit page and notifiers read them.
type EventKind string

// Event kinds.
const (
	EventNotified         EventKind = "notified"
	EventNotifyFailed     EventKind = "notify_failed"
	EventReminded         EventKind = "reminded"
	EventEscalated        EventKind = "escalated"
	EventStageApproved    EventKind = "stage_approved"
	EventAmended          EventKind = "amended"
	EventCancelled        EventKind = "cancelled"
	EventBreakGlass       EventKind = "break_glass"
	EventExpired          EventKind = "expired"
	EventDeadlineRejected EventKind = "deadline_rejected"
	EventAction           EventKind = "action"
	// Access grants: granted, revoke asked for early, a revoke attempt
	// that failed (it is tried again), revoked.
	EventGranted EventKind = "granted"
	// A scheduled grant: it waits for its start, or its window ended
	// before the approval (nothing granted).
	EventGrantScheduled    EventKind = "grant_scheduled"
	EventGrantWindowPassed EventKind = "grant_window_passed"
	EventRevokeRequested   EventKind = "revoke_requested"
	EventRevokeRefused     EventKind = "revoke_refused"
	EventRevokeFailed      EventKind = "revoke_failed"
	EventRevoked           EventKind = "revoked"
	// Grants, continued: an extension approved (or refused, when it came
	// too late), the grantee told the end is near, a failing revoke taken
	// over by an admin (or that refused).
	EventExtended           EventKind = "extended"
	EventExtendRefused      EventKind = "extend_refused"
	EventGrantEnding        EventKind = "grant_ending"
	EventRevokeAcknowledged EventKind = "revoke_acknowledged"
	EventRevokeAckRefused   EventKind = "revoke_acknowledge_refused"
	// EventDiscarded: what an action kept for its run (a secret change's
	// staged values) was destroyed, the run not happening.
	EventDiscarded EventKind = "discarded"
	// EventStartRefused: the approval was not started through Signoff
	// (no valid start stamp): it ended at once, asking no one.
	EventStartRefused EventKind = "start_refused"
	// EventDelegated: a delegation made after the approval was created now
	// reaches it (User: the delegate; Detail: for whom).
	EventDelegated EventKind = "delegated"
	// Refused operations of the requester or an admin.
	EventCancelRefused     EventKind = "cancel_refused"
	EventBreakGlassRefused EventKind = "break_glass_refused"
	EventAmendRefused      EventKind = "amend_refused"
	EventDelegateRefused   EventKind = "delegate_refused"
)
