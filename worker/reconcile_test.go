package worker

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/workflows"
)

// fakeSchedules is a schedule client holding one schedule; the
// embedded interface panics on anything else.
type fakeSchedules struct {
	client.ScheduleClient
	existing *client.Schedule
	created  *client.ScheduleOptions
	updated  *client.Schedule
}

func (f *fakeSchedules) Create(_ context.Context, o client.ScheduleOptions) (client.ScheduleHandle, error) {
	if f.existing != nil {
		return nil, temporal.ErrScheduleAlreadyRunning
	}
	f.created = &o
	return nil, nil
}

func (f *fakeSchedules) GetHandle(context.Context, string) client.ScheduleHandle {
	return &fakeSchedule{f: f}
}

type fakeSchedule struct {
	client.ScheduleHandle
	f *fakeSchedules
}

func (h *fakeSchedule) Update(_ context.Context, o client.ScheduleUpdateOptions) error {
	u, err := o.DoUpdate(client.ScheduleUpdateInput{Description: client.ScheduleDescription{Schedule: *h.f.existing}})
	if err != nil {
		return err
	}
	h.f.updated = u.Schedule
	return nil
}

func reconcileConfig(t *testing.T, every time.Duration) *config.Loaded {
	t.Helper()
	cfg, err := config.Parse([]byte("notifiers: [log]\nsecurity_notifiers: [email]\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Worker.ReconcileInterval = policy.Duration(every)
	return cfg
}

// TestReconcileScheduleCreated: a new schedule runs a pass every
// reconcile_interval, one at a time, the first at once, with the
// configured notifiers.
func TestReconcileScheduleCreated(t *testing.T) {
	f := &fakeSchedules{}
	if err := syncReconcileSchedule(context.Background(), f, reconcileConfig(t, 30*time.Second), slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	o := f.created
	if o == nil {
		t.Fatal("no schedule created")
	}
	act, _ := o.Action.(*client.ScheduleWorkflowAction)
	switch {
	case o.ID != "signoff-reconcile-grants:signoff":
		t.Errorf("schedule ID %q", o.ID)
	case len(o.Spec.Intervals) != 1 || o.Spec.Intervals[0].Every != 30*time.Second:
		t.Errorf("spec %+v: want every 30s", o.Spec)
	case !o.TriggerImmediately || o.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP:
		t.Errorf("trigger immediately %v, overlap %v", o.TriggerImmediately, o.Overlap)
	case act == nil || act.Workflow != workflows.ReconcileWorkflowName || act.TaskQueue != "signoff":
		t.Errorf("action %+v", o.Action)
	}
	in, _ := act.Args[0].(workflows.ReconcileInput)
	if len(in.Notifiers) != 1 || in.Notifiers[0] != "log" || len(in.SecurityNotifiers) != 1 || in.SecurityNotifiers[0] != "email" {
		t.Errorf("input %+v: want the configured notifiers", in)
	}
}

// TestReconcileScheduleUpdated: a worker started with another interval
// updates the schedule and keeps the pause someone set in the UI.
func TestReconcileScheduleUpdated(t *testing.T) {
	f := &fakeSchedules{existing: &client.Schedule{
		Spec:  &client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: 2 * time.Minute}}},
		State: &client.ScheduleState{Paused: true, Note: "paused during the incident"},
	}}
	if err := syncReconcileSchedule(context.Background(), f, reconcileConfig(t, 10*time.Second), slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	u := f.updated
	if f.created != nil || u == nil {
		t.Fatal("not updated in place")
	}
	if u.Spec.Intervals[0].Every != 10*time.Second || !u.State.Paused || u.Policy.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP {
		t.Errorf("updated to spec %+v, state %+v, policy %+v", u.Spec, u.State, u.Policy)
	}
}
