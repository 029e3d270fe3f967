package activities

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"github.com/signoff/signoff/activities/action"
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/temporal/connect"
	"github.com/signoff/signoff/workflows"
)

// flakyAction fails while fail is set.
type flakyAction struct{ fail bool }

func (f *flakyAction) Validate(approval.Action) error { return nil }
func (f *flakyAction) Run(context.Context, *approval.State) (string, error) {
	if f.fail {
		return "", errors.New("the target refused")
	}
	return "done", nil
}

// failingNotifier fails every notification.
type failingNotifier struct{}

func (failingNotifier) Prompt(context.Context, *approval.State) (approval.Delivery, error) {
	return approval.Delivery{}, errors.New("smtp: connection refused")
}
func (failingNotifier) Outcome(context.Context, *approval.State) (approval.Delivery, error) {
	return approval.Delivery{}, errors.New("smtp: connection refused")
}

// okNotifier delivers every notification.
type okNotifier struct{}

func (okNotifier) Prompt(context.Context, *approval.State) (approval.Delivery, error) {
	return approval.Delivery{Targets: []string{"log"}}, nil
}
func (okNotifier) Outcome(context.Context, *approval.State) (approval.Delivery, error) {
	return approval.Delivery{Targets: []string{"log"}}, nil
}

// counterValues are the values of the counter family name (with _total),
// by the value of label key.
func counterValues(t *testing.T, reg prometheus.Gatherer, name, key string) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == key {
					out[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// TestActivityMetrics: each action attempt counts as a run of its type and
// phase, a failed one as a failure too; a failed notification counts by
// notifier, a delivered one adds 0 (the series is there before the first
// failure). Every series has the task queue label.
func TestActivityMetrics(t *testing.T) {
	m, err := connect.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	var ts testsuite.WorkflowTestSuite
	ts.SetMetricsHandler(m.Handler)
	env := ts.NewTestActivityEnvironment()
	flaky := &flakyAction{}
	reg := action.NewRegistry(nil)
	reg.Register("webhook", flaky)
	a := &Activities{Actions: reg, Notifiers: map[string]Notifier{"email": failingNotifier{}, "log": okNotifier{}}}
	env.RegisterActivityWithOptions(a.RunAction, activity.RegisterOptions{Name: workflows.ActivityRunAction})
	env.RegisterActivityWithOptions(a.Notify, activity.RegisterOptions{Name: workflows.ActivityNotify})

	in := workflows.ActionInput{Approval: approval.State{ID: "a1", Request: approval.Request{Action: approval.Action{Type: "webhook"}}}}
	if _, err := env.ExecuteActivity(workflows.ActivityRunAction, in); err != nil {
		t.Fatal(err)
	}
	flaky.fail = true
	if _, err := env.ExecuteActivity(workflows.ActivityRunAction, in); err == nil {
		t.Fatal("the failing action succeeded")
	}
	if _, err := env.ExecuteActivity(workflows.ActivityNotify, workflows.NotifyInput{Notifier: "email", Kind: workflows.NoticePrompt}); err == nil {
		t.Fatal("the failing notifier succeeded")
	}
	if _, err := env.ExecuteActivity(workflows.ActivityNotify, workflows.NotifyInput{Notifier: "log", Kind: workflows.NoticePrompt}); err != nil {
		t.Fatal(err)
	}

	if got := counterValues(t, m.Registry, "signoff_action_runs_total", "action"); got["webhook"] != 2 {
		t.Errorf("action runs = %v, want 2 webhook", got)
	}
	if got := counterValues(t, m.Registry, "signoff_action_runs_total", "phase"); got["run"] != 2 {
		t.Errorf("action runs by phase = %v, want 2 run", got)
	}
	if got := counterValues(t, m.Registry, "signoff_action_failures_total", "action"); got["webhook"] != 1 || len(got) != 1 {
		t.Errorf("action failures = %v, want 1 webhook", got)
	}
	if got := counterValues(t, m.Registry, "signoff_notify_failures_total", "notifier"); got["email"] != 1 || got["log"] != 0 || len(got) != 2 {
		t.Errorf("notify failures = %v, want 1 email and 0 log", got)
	}
	for _, name := range []string{"signoff_action_runs_total", "signoff_action_failures_total", "signoff_notify_failures_total"} {
		if got := counterValues(t, m.Registry, name, "task_queue"); len(got) == 0 {
			t.Errorf("%s has no task_queue label", name)
		}
	}
}

// TestMetricsOutsideAnActivity: methods called directly (tests, tools)
// record nothing and do not panic.
func TestMetricsOutsideAnActivity(t *testing.T) {
	reg := action.NewRegistry(nil)
	reg.Register("webhook", &flakyAction{fail: true})
	a := &Activities{Actions: reg, Notifiers: map[string]Notifier{"email": failingNotifier{}}}
	in := workflows.ActionInput{Approval: approval.State{ID: "a1", Request: approval.Request{Action: approval.Action{Type: "webhook"}}}}
	if _, err := a.RunAction(context.Background(), in); err == nil {
		t.Error("the failing action succeeded")
	}
	if _, err := a.Notify(context.Background(), workflows.NotifyInput{Notifier: "email", Kind: workflows.NoticePrompt}); err == nil {
		t.Error("the failing notifier succeeded")
	}
}
