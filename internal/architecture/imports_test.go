package architecture_test

import (
	"slices"
	"strings"
	"testing"
)

// domain is the pure core: packages that decide, compute and describe,
// and do no I/O. The first group is the domain by design; the second are
// packages outside those folders that are as pure and that the domain (or
// workflow code) builds on, each with why it belongs.
var domain = map[string]string{
	"approval":           "the judge and the state of an approval",
	"policy":             "who may decide what",
	"policy/catalog":     "what a person may request, under the policies",
	"people":             "people, groups and delegations as values",
	"grantlease":         "the lease of granted access",
	"secretchange":       "sealed secret changes (crypto only)",
	"redact":             "redaction of values before they are shown",
	"config/rowtemplate": "turns a row into an approval request",

	"approval/evidence": "exception: builds and verifies the evidence record; bytes in, bytes out",
	"approval/access":   "exception: who may see an approval; a function of the approval and the identity",
	"config/identity":   "exception: who a person is across channels; parsing and matching only",
	"auth/proof":        "exception: HMAC stamps the gateway puts on decisions and workflows check; crypto only",
}

// domainThirdParty are modules outside the standard library the domain
// may import. None: the domain is the standard library and itself.
var domainThirdParty = []string{}

// ioStd are standard packages that reach outside the process (network,
// files, processes, databases, logs). "x/..." is x and everything under it.
// net/url, net/mail and net/netip parse and stay allowed.
var ioStd = []string{
	"net", "net/http/...", "net/rpc/...", "net/smtp", "crypto/tls",
	"os/...", "syscall", "io/ioutil", "path/filepath", "plugin",
	"database/sql/...",
	"log", "log/slog", "log/syslog",
}

// nondeterministicStd are standard packages workflow code may not use: a
// replay would not draw the same numbers.
var nondeterministicStd = []string{"math/rand/...", "crypto/rand"}

// gatewaySide answers people and hands their decisions to Temporal;
// workerSide runs workflows and activities and speaks to the outside on
// their behalf. Neither imports the other.
var (
	gatewaySide = []string{"gateway", "channel/*/callbacks", "channel/web", "channel/ballot"}
	workerSide  = []string{"worker", "activities", "channel/*/notifier"}
	// shared may be imported by both sides and imports neither.
	shared = map[string]string{
		"channel/*/*msg":           "a channel's messages, rendered and parsed",
		"channel/wording":          "the wording every channel uses",
		"channel/email/linktoken":  "the signed link an email carries and the web page checks",
		"channel/teams/botauth":    "the Bot Framework's tokens, checked inbound and fetched outbound",
		"channel/slack/usergroups": "resolves Slack user groups for policy; the gateway and the worker each build one",
	}
)

// fakes stand in for outside services and hold test harnesses.
func isFake(rel string) bool {
	if under(rel, "internal") {
		return true
	}
	e := strings.Split(rel, "/")
	return e[0] == "channel" && strings.HasSuffix(e[len(e)-1], "fake")
}

// fakeUsers may import fakes from non-test files: the end-to-end tests,
// the load generator and the harness itself.
var fakeUsers = []string{"e2e", "bench", "cmd/signoff-bench", "internal"}

// appUsers may import the composition root from non-test files.
var appUsers = map[string]string{
	"cmd":              "the commands: the composition root's reason to exist",
	"e2e":              "end-to-end tests boot the whole service",
	"bench":            "the load generator boots the whole service",
	"internal/testenv": "the harness e2e and cmd/signoff-bench boot the whole service with (test code in a library)",
}

func matchStd(imp string, list []string) bool {
	for _, p := range list {
		if base, ok := strings.CutSuffix(p, "/..."); ok {
			if imp == base || strings.HasPrefix(imp, base+"/") {
				return true
			}
		} else if imp == p {
			return true
		}
	}
	return false
}

func isDomain(rel string) bool { _, ok := domain[rel]; return ok }

func side(rel string) string {
	switch {
	case underAny(rel, gatewaySide...):
		return "gateway side"
	case underAny(rel, workerSide...):
		return "worker side"
	case isFake(rel):
		return "fake"
	}
	for p := range shared {
		if under(rel, p) {
			return "shared"
		}
	}
	return ""
}

// R1.
func TestDomainImportsOnlyDomainAndNoIO(t *testing.T) {
	m := load(t)
	for rel := range domain {
		if m.ByRel[rel] == nil {
			t.Errorf("domain package %s is listed in internal/architecture but does not exist: update the list", rel)
		}
	}
	for _, p := range m.Pkgs {
		if !isDomain(p.Rel) {
			continue
		}
		p.imports(func(imp string, at []string) {
			const rule = "R1 arrows point inward: the domain imports only the domain and the standard library, no I/O"
			if r, ours := m.rel(imp); ours {
				if !isDomain(r) {
					t.Errorf("%s: domain package %s imports %s, which is not domain (%s; if it is pure, add it to domain in internal/architecture with why)", strings.Join(at, ", "), p.Rel, r, rule)
				}
				return
			}
			if isStd(imp) {
				if matchStd(imp, ioStd) {
					t.Errorf("%s: domain package %s imports %s, an I/O package (%s)", strings.Join(at, ", "), p.Rel, imp, rule)
				}
				return
			}
			if !slices.ContainsFunc(domainThirdParty, func(m string) bool { return imp == m || strings.HasPrefix(imp, m+"/") }) {
				t.Errorf("%s: domain package %s imports %s, outside the standard library (%s)", strings.Join(at, ", "), p.Rel, imp, rule)
			}
		})
	}
}

// R2.
func TestGatewaySideAndWorkerSideNeverImportEachOther(t *testing.T) {
	m := load(t)
	for _, p := range m.Pkgs {
		mine := side(p.Rel)
		if strings.HasPrefix(p.Rel, "channel/") && mine == "" {
			t.Errorf("%s: channel package on no side: name it gateway side, worker side, shared or fake in internal/architecture (R2 the gateway side never imports the worker side, and back)", p.Rel)
		}
		var banned []string
		switch mine {
		case "gateway side":
			banned = []string{"worker side"}
		case "worker side":
			banned = []string{"gateway side"}
		case "shared":
			banned = []string{"gateway side", "worker side"}
		default:
			continue
		}
		p.imports(func(imp string, at []string) {
			r, ours := m.rel(imp)
			if !ours {
				return
			}
			if theirs := side(r); slices.Contains(banned, theirs) {
				t.Errorf("%s: %s (%s) imports %s (%s): R2 the gateway side never imports the worker side, and back; shared vocabularies import neither (move what both need into a shared package)",
					strings.Join(at, ", "), p.Rel, mine, r, theirs)
			}
		})
	}
}

// workflowThirdParty are the modules outside the standard library
// workflow code may import: Temporal's workflow API and its types.
var workflowThirdParty = []string{
	"go.temporal.io/api/...", "go.temporal.io/sdk/workflow", "go.temporal.io/sdk/temporal",
	"go.temporal.io/sdk/converter", "go.temporal.io/sdk/log",
}

// R3.
func TestWorkflowsImportNothingNondeterministic(t *testing.T) {
	m := load(t)
	if m.ByRel["workflows"] == nil {
		t.Fatal("no workflows package")
	}
	const rule = "R3 workflow code is deterministic by its imports"
	for _, p := range m.Pkgs {
		if !under(p.Rel, "workflows") {
			continue
		}
		p.imports(func(imp string, at []string) {
			where := strings.Join(at, ", ")
			if r, ours := m.rel(imp); ours {
				if under(r, "workflows") || isDomain(r) {
					return
				}
				what := "a package that is not domain"
				switch {
				case under(r, "activities"):
					what = "activity implementations"
				case under(r, "store"):
					what = "a store (a port with I/O)"
				case under(r, "channel"):
					what = "a channel"
				}
				t.Errorf("%s: %s imports %s, %s (%s: workflows import only the domain)", where, p.Rel, r, what, rule)
				return
			}
			switch {
			case isStd(imp) && matchStd(imp, ioStd):
				t.Errorf("%s: %s imports %s, an I/O package (%s)", where, p.Rel, imp, rule)
			case isStd(imp) && matchStd(imp, nondeterministicStd):
				t.Errorf("%s: %s imports %s, random numbers a replay would not draw again (%s; use workflow.SideEffect or an activity)", where, p.Rel, imp, rule)
			case isStd(imp):
			case imp == "go.temporal.io/sdk/client":
				t.Errorf("%s: %s imports go.temporal.io/sdk/client, a Temporal client (%s)", where, p.Rel, rule)
			case !matchStd(imp, workflowThirdParty):
				t.Errorf("%s: %s imports %s, not known to be deterministic (%s; if it is, add it to workflowThirdParty in internal/architecture)", where, p.Rel, imp, rule)
			}
		})
	}
}

// R5.
func TestFakesAreImportedOnlyByTests(t *testing.T) {
	m := load(t)
	for _, p := range m.Pkgs {
		if underAny(p.Rel, fakeUsers...) {
			continue
		}
		p.imports(func(imp string, at []string) {
			if r, ours := m.rel(imp); ours && isFake(r) {
				t.Errorf("%s: %s imports %s from non-test code: R5 fakes (channel/*/*fake, internal/...) are for _test.go files, e2e, bench, cmd/signoff-bench and internal; production code does not live in internal/",
					strings.Join(at, ", "), p.Rel, r)
			}
		})
	}
}

// R5, from the binary's side: nothing in cmd/signoff's import graph is a fake.
func TestProductionBinaryLinksNoFake(t *testing.T) {
	m := load(t)
	const root = "cmd/signoff"
	if m.ByRel[root] == nil {
		t.Fatal("no " + root)
	}
	from := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		rel := queue[0]
		queue = queue[1:]
		m.ByRel[rel].imports(func(imp string, _ []string) {
			r, ours := m.rel(imp)
			if _, seen := from[r]; !ours || seen || m.ByRel[r] == nil {
				return
			}
			from[r] = rel
			queue = append(queue, r)
		})
	}
	for r := range from {
		if !isFake(r) {
			continue
		}
		chain := []string{r}
		for at := from[r]; at != ""; at = from[at] {
			chain = append([]string{at}, chain...)
		}
		t.Errorf("the production binary links %s (%s): R5 fakes are for tests", r, strings.Join(chain, " → "))
	}
}

// R7.
func TestOnlyCommandsImportTheCompositionRoot(t *testing.T) {
	m := load(t)
	if m.ByRel["app"] == nil {
		t.Fatal("no app package")
	}
	for _, p := range m.Pkgs {
		allowed := false
		for u := range appUsers {
			allowed = allowed || under(p.Rel, u)
		}
		if allowed {
			continue
		}
		p.imports(func(imp string, at []string) {
			if r, ours := m.rel(imp); ours && r == "app" {
				t.Errorf("%s: %s imports app: R7 one composition root; only cmd/..., e2e, bench and tests import app (a library takes what it needs as arguments)",
					strings.Join(at, ", "), p.Rel)
			}
		})
	}
}
