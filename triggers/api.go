// Package triggers runs scheduled queries that start approvals: each
// trigger is a Temporal Schedule whose action is TriggerRunWorkflow, which
// runs one activity that queries the database (PostgreSQL, Steampipe or
// SQLite) and starts one approval per row through intake, idempotently.
package triggers

import (
	"fmt"
	"strconv"
	"time"
)

// Public names other processes rely on.
const (
	// WorkflowName is the workflow each schedule starts.
	WorkflowName = "TriggerRunWorkflow"
	// ActivityName queries and starts approvals.
	ActivityName = "RunTrigger"
	// SchedulePrefix starts every trigger schedule's ID; the task queue
	// follows, so deployments sharing a namespace keep apart.
	SchedulePrefix = "signoff-trigger:"

	// Fields every trigger approval carries (config.TriggerReservedFields).
	FieldTrigger = "trigger"
	FieldKey     = "trigger_key"
)

// Error types of failed runs; neither is retried.
const (
	// ErrTypeConfig: the trigger is not configured on this worker, its
	// requester is unknown, a secret is missing.
	ErrTypeConfig = "TriggerConfig"
	// ErrTypeQuery: the database refused the query (syntax, unknown table
	// or column, permissions) or its result lacks columns the templates or
	// primary_key need.
	ErrTypeQuery = "TriggerQuery"
)

// ScheduleID is the schedule of trigger name on taskQueue.
func ScheduleID(taskQueue, name string) string {
	return SchedulePrefix + taskQueue + ":" + name
}

// RunInput starts TriggerRunWorkflow. It names the trigger only: the
// query, database and templates come from the worker's config, so no
// connection string lands in workflow history.
type RunInput struct {
	Trigger string `json:"trigger"`
}

// ActivityInput is the activity's input; Time is the run's workflow time,
// fixed across activity retries so the window bucket does not move.
type ActivityInput struct {
	Trigger string    `json:"trigger"`
	Time    time.Time `json:"time"`
}

// KeyApproval ties a row's key to its approval.
type KeyApproval struct {
	Key        string `json:"key"`
	ApprovalID string `json:"approval_id"`
}

// KeyError is a row that could not get its approval.
type KeyError struct {
	Key   string `json:"key,omitempty"`
	Error string `json:"error"`
}

// RunResult is what one run did; it is the workflow's result, visible in
// the Temporal UI.
type RunResult struct {
	Trigger string    `json:"trigger"`
	Time    time.Time `json:"time"`
	Rows    int       `json:"rows"`
	Columns []string  `json:"columns,omitempty"`
	// Started are new approvals.
	Started []KeyApproval `json:"started,omitempty"`
	// Pending already had a pending approval (this window).
	Pending []KeyApproval `json:"pending,omitempty"`
	// Closed already had an approval that is decided, expired or cancelled
	// (this window): no new one until the window passes.
	Closed []KeyApproval `json:"closed,omitempty"`
	// Cancelled were pending approvals whose row disappeared
	// (on_disappear: cancel).
	Cancelled []KeyApproval `json:"cancelled,omitempty"`
	Errors    []KeyError    `json:"errors,omitempty"`
}

// Summary is one line for logs and the UI.
func (r RunResult) Summary() string {
	s := fmt.Sprintf("%d rows: %d started, %d pending, %d closed, %d cancelled, %d errors",
		r.Rows, len(r.Started), len(r.Pending), len(r.Closed), len(r.Cancelled), len(r.Errors))
	if len(r.Errors) > 0 {
		s += " (first: " + r.Errors[0].Error + ")"
	}
	return s
}

// RequestID is the intake request ID of key's approval in window bucket
// (0: no window). Trigger names hold no '/' and the bucket segment is
// always there, so no two (trigger, bucket, key) share one.
func RequestID(trigger, key string, bucket int64) string {
	seg := "-"
	if bucket != 0 {
		seg = strconv.FormatInt(bucket, 10)
	}
	return "trigger/" + trigger + "/" + seg + "/" + key
}

// Bucket is the window bucket of t: whole windows since the Unix epoch.
func Bucket(t time.Time, window time.Duration) int64 {
	if window <= 0 {
		return 0
	}
	return t.Unix() / int64(window/time.Second)
}
