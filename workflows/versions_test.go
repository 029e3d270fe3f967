package workflows

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
)

// TestBranchesListEveryChange: every workflow.GetVersion change of
// ApprovalWorkflow that still has an old side (minSupported
// DefaultVersion) is in Branches, so `signoff approvals versions` counts
// it and docs/versions.md has it; and Branches lists no other.
func TestBranchesListEveryChange(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	consts, used := map[string]string{}, map[string]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		// The people workflow has markers of its own; it is not an approval.
		if strings.HasSuffix(name, "_test.go") || name == "people.go" {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for i, id := range n.Names {
					if i < len(n.Values) {
						if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							consts[id.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			case *ast.CallExpr:
				// newSide(ctx, in, change) asks GetVersion for approvals
				// started before Version3.
				if fn, ok := n.Fun.(*ast.Ident); ok && fn.Name == "newSide" && len(n.Args) == 3 {
					id, ok := n.Args[2].(*ast.Ident)
					if !ok {
						t.Errorf("%s: newSide with a change ID that is not a named constant", fset.Position(n.Pos()))
						return true
					}
					used[id.Name] = fset.Position(n.Pos()).String()
					return true
				}
				// A retired change keeps its call with minSupported 1: it
				// has no old side any more. newSide's own call passes its
				// parameter on.
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "GetVersion" && len(n.Args) == 4 {
					if id, ok := n.Args[1].(*ast.Ident); ok && id.Name == "change" && name == "versions.go" {
						return true
					}
					if minArg, ok := n.Args[2].(*ast.SelectorExpr); !ok || minArg.Sel.Name != "DefaultVersion" {
						return true
					}
					id, ok := n.Args[1].(*ast.Ident)
					if !ok {
						t.Errorf("%s: GetVersion with a change ID that is not a named constant", fset.Position(n.Pos()))
						return true
					}
					used[id.Name] = fset.Position(n.Pos()).String()
				}
			}
			return true
		})
	}
	var listed []string
	for _, b := range Branches {
		if b.Kind == BranchChange {
			listed = append(listed, b.Name)
		}
	}
	for name, where := range used {
		if !slices.Contains(listed, consts[name]) {
			t.Errorf("%s: change %q (%s) is not in Branches: add it there and to docs/versions.md", where, consts[name], name)
		}
	}
	for _, id := range listed {
		found := false
		for name := range used {
			found = found || consts[name] == id
		}
		if !found {
			t.Errorf("Branches lists change %q, which no GetVersion call uses: retired branches leave the list", id)
		}
	}
}

// unrecordedOldSides are the branches whose old side no recorded history
// takes, with why.
var unrecordedOldSides = map[string]string{
	changeCancelRevokes: "the old side ended the run cancelled during a grant; no such history was recorded before the change",
}

// TestOldSidesRecorded replays the recorded histories and names, for each
// branch, those that take its old side: they are what replay still needs
// the branch for, and what fails once it is deleted (docs/versions.md,
// retiring a branch). Each history taking an old side must also lack every
// TemporalChangeVersion value that clears the branch, or the counts of
// `signoff approvals versions` would miss approvals like it.
func TestOldSidesRecorded(t *testing.T) {
	files, err := filepath.Glob("testdata/history_*.json")
	if err != nil {
		t.Fatal(err)
	}
	takers := map[int][]string{}
	for _, f := range files {
		h := readHistory(t, f)
		if workflowType(h) != WorkflowName {
			continue
		}
		versions := replayVersions(t, h)
		in, recorded := startOf(t, h), changeVersions(t, h)
		rules := in.Rules
		if rules == approval.RulesLegacy && versions[changeProvenDecisions] == 1 {
			rules = approval.RulesProven
		}
		for i, b := range Branches {
			var takes bool
			switch b.Kind {
			case BranchChange:
				v, called := versions[b.Name]
				takes = called && v == workflow.DefaultVersion
			case BranchInput:
				takes = in.Version == b.Value
			case BranchRules:
				takes = rules == b.Value
			}
			if !takes {
				continue
			}
			takers[i] = append(takers[i], filepath.Base(f))
			if b.ClearedFrom > 0 && in.Version >= b.ClearedFrom {
				t.Errorf("%s takes the old side of %s %s but started at Version %d, which clears it", filepath.Base(f), b.Kind, b.Name, in.Version)
			}
			for _, c := range b.Clears {
				if slices.Contains(recorded, c) {
					t.Errorf("%s takes the old side of %s %s but recorded %s, which clears it", filepath.Base(f), b.Kind, b.Name, c)
				}
			}
		}
	}
	for i, b := range Branches {
		why, unrecorded := unrecordedOldSides[b.Name]
		switch {
		case len(takers[i]) == 0 && !unrecorded:
			t.Errorf("no recorded history takes the old side of %s %s: record one, or say why in unrecordedOldSides", b.Kind, b.Name)
		case len(takers[i]) > 0 && unrecorded:
			t.Errorf("%s %s is in unrecordedOldSides, but %s take its old side", b.Kind, b.Name, strings.Join(takers[i], ", "))
		case unrecorded:
			t.Logf("%s %s: no recorded history (%s)", b.Kind, b.Name, why)
		default:
			t.Logf("%s %s: %d histories take the old side: %s", b.Kind, b.Name, len(takers[i]), strings.Join(takers[i], ", "))
		}
	}
}

// TestRetiredHistoriesFailReplay: a history moved to testdata/retired/
// when its branch was deleted must fail to replay, loudly, rather than
// replay down another path.
func TestRetiredHistoriesFailReplay(t *testing.T) {
	files, err := filepath.Glob("testdata/retired/history_*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("no branch retired yet")
	}
	for _, f := range files {
		r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r.RegisterWorkflowWithOptions(ApprovalWorkflow, workflow.RegisterOptions{Name: WorkflowName})
		r.RegisterWorkflowWithOptions(LeaseWorkflow, workflow.RegisterOptions{Name: LeaseWorkflowName})
		if err := r.ReplayWorkflowHistory(nil, readHistory(t, f)); err == nil {
			t.Errorf("%s replays although its branch was retired: move it back to testdata/", f)
		}
	}
}

// replayVersions replays h and returns what each GetVersion call first
// returned, by change ID.
func replayVersions(t *testing.T, h *historypb.History) map[string]workflow.Version {
	t.Helper()
	rec := &versionRecorder{seen: map[string]workflow.Version{}}
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
		Interceptors: []interceptor.WorkerInterceptor{rec},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.RegisterWorkflowWithOptions(ApprovalWorkflow, workflow.RegisterOptions{Name: WorkflowName})
	if err := r.ReplayWorkflowHistory(nil, h); err != nil {
		t.Fatalf("replay: %v", err)
	}
	return rec.seen
}

// startOf is the approval's Input.
func startOf(t *testing.T, h *historypb.History) Input {
	t.Helper()
	var in Input
	ps := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
	if len(ps) != 1 || json.Unmarshal(ps[0].GetData(), &in) != nil {
		t.Fatal("no Input in the started event")
	}
	return in
}

// changeVersions is the last TemporalChangeVersion the history upserted:
// what visibility shows of it.
func changeVersions(t *testing.T, h *historypb.History) []string {
	t.Helper()
	var out []string
	for _, e := range h.GetEvents() {
		p := e.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields()["TemporalChangeVersion"]
		if p == nil {
			continue
		}
		if err := converter.GetDefaultDataConverter().FromPayload(p, &out); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

type versionRecorder struct {
	interceptor.WorkerInterceptorBase
	seen map[string]workflow.Version
}

func (r *versionRecorder) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &versionInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, r: r}
}

type versionInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	r *versionRecorder
}

func (i *versionInbound) Init(out interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&versionOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: out}, r: i.r})
}

type versionOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	r *versionRecorder
}

func (o *versionOutbound) GetVersion(ctx workflow.Context, id string, minSupported, maxSupported workflow.Version) workflow.Version {
	v := o.Next.GetVersion(ctx, id, minSupported, maxSupported)
	if _, ok := o.r.seen[id]; !ok {
		o.r.seen[id] = v
	}
	return v
}
