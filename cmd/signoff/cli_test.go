package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/signoff/signoff/proto/signoff/v1"
)

func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestCIRequestID(t *testing.T) {
	for _, tc := range []struct {
		env      []string
		id, ci   string
		env2     []string // another attempt of the same job: same id
		resource string
	}{
		{env: []string{"GITHUB_ACTIONS", "true", "GITHUB_REPOSITORY", "acme/api", "GITHUB_RUN_ID", "99", "GITHUB_RUN_ATTEMPT", "1", "GITHUB_JOB", "deploy"},
			env2: []string{"GITHUB_ACTIONS", "true", "GITHUB_REPOSITORY", "acme/api", "GITHUB_RUN_ID", "99", "GITHUB_RUN_ATTEMPT", "3", "GITHUB_JOB", "deploy"},
			id:   "ci/github/acme/api/99/deploy/production", ci: "GitHub Actions"},
		{env: []string{"GITLAB_CI", "true", "CI_PROJECT_PATH", "acme/api", "CI_PIPELINE_ID", "7", "CI_JOB_ID", "1001", "CI_JOB_NAME", "deploy"},
			env2: []string{"GITLAB_CI", "true", "CI_PROJECT_PATH", "acme/api", "CI_PIPELINE_ID", "7", "CI_JOB_ID", "1002", "CI_JOB_NAME", "deploy"},
			id:   "ci/gitlab/acme/api/7/deploy/production/api", ci: "GitLab CI", resource: "api"},
		{env: []string{"CIRCLECI", "true", "CIRCLE_WORKFLOW_ID", "wf-1", "CIRCLE_JOB", "deploy", "CIRCLE_BUILD_NUM", "5"},
			id: "ci/circleci/wf-1/deploy/production", ci: "CircleCI"},
		{env: []string{"JENKINS_URL", "https://ci/", "JOB_NAME", "api/main", "BUILD_NUMBER", "17", "STAGE_NAME", "Deploy"},
			id: "ci/jenkins/api/main/17/Deploy/production", ci: "Jenkins"},
		{env: []string{"JOB_NAME", "api/main", "BUILD_NUMBER", "17"}, id: "ci/jenkins/api/main/17/production", ci: "Jenkins"},
		{env: []string{"CI", "true"}, id: "", ci: ""},
	} {
		id, ci := ciRequestID(envOf(tc.env...), "production", tc.resource)
		if id != tc.id || ci != tc.ci {
			t.Errorf("%v: got %q (%s), want %q (%s)", tc.env, id, ci, tc.id, tc.ci)
		}
		if tc.env2 != nil {
			if again, _ := ciRequestID(envOf(tc.env2...), "production", tc.resource); again != id {
				t.Errorf("%v: a retry got %q, want %q", tc.env2, again, id)
			}
		}
	}
	long, _ := ciRequestID(envOf("GITHUB_ACTIONS", "true", "GITHUB_RUN_ID", "1", "GITHUB_REPOSITORY", strings.Repeat("r", 200)), "prod", "")
	if len(long) > maxRequestID || !strings.HasPrefix(long, "ci/github/") {
		t.Errorf("long id %q", long)
	}
}

func TestTarget(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		env    []string
		target string
		tls    bool
		err    string
		warns  bool
	}{
		{addr: "", target: "passthrough:///127.0.0.1:9090"},
		{addr: "https://signoff.example.com", target: "passthrough:///signoff.example.com:443", tls: true},
		{addr: "https://signoff.example.com:8443/", target: "passthrough:///signoff.example.com:8443", tls: true},
		{addr: "http://localhost:9090", target: "passthrough:///localhost:9090"},
		{addr: "gw.internal:9090", env: []string{"SIGNOFF_TLS", "1"}, target: "passthrough:///gw.internal:9090", tls: true},
		{addr: "gw.internal:9090", target: "passthrough:///gw.internal:9090", warns: true},
		{addr: "http://gw:9090", env: []string{"SIGNOFF_TLS", "1"}, err: "asks for TLS"},
		{addr: "grpc://gw:9090", err: "want host:port"},
		{addr: "https://gw/v1", err: "want https://host[:port]"},
		{addr: "gw", err: "missing port"},
		{addr: "gw:1", env: []string{"SIGNOFF_TLS_CA", "/nonexistent/ca.pem"}, err: "SIGNOFF_TLS_CA"},
	} {
		var stderr bytes.Buffer
		c := &cli{ctx: context.Background(), name: "get", getenv: envOf(tc.env...), stderr: &stderr, addr: tc.addr}
		target, creds, err := c.target()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: got %v, want %q", tc.addr, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.addr, err)
			continue
		}
		if target != tc.target || (creds.Info().SecurityProtocol == "tls") != tc.tls {
			t.Errorf("%s: got %s tls=%v", tc.addr, target, creds.Info().SecurityProtocol)
		}
		if warned := strings.Contains(stderr.String(), "without TLS"); warned != tc.warns {
			t.Errorf("%s: warning %q", tc.addr, stderr.String())
		}
	}
}

func TestLink(t *testing.T) {
	c := &cli{getenv: envOf("SIGNOFF_URL", "https://signoff.example.com/"), addr: "gw:9090"}
	if got := c.link("abc"); got != "https://signoff.example.com/approvals/abc" {
		t.Error(got)
	}
	c = &cli{getenv: envOf(), addr: "https://gw.example.com"}
	if got := c.link("abc"); got != "https://gw.example.com/approvals/abc" {
		t.Error(got)
	}
	c = &cli{getenv: envOf(), addr: "10.0.0.5:9090"}
	if got := c.link("abc"); got != "http://10.0.0.5:8080/approvals/abc" {
		t.Error(got)
	}
}

func TestParseIntersperse(t *testing.T) {
	c := &cli{name: "get", stderr: &bytes.Buffer{}}
	fs := c.flags()
	asJSON := fs.Bool("json", false, "")
	pos, _, ok := c.parse(fs, []string{"abc", "--json", "--", "--weird"})
	if !ok || !*asJSON || strings.Join(pos, " ") != "abc --weird" {
		t.Errorf("pos %v json %v ok %v", pos, *asJSON, ok)
	}
}

var spaces = regexp.MustCompile(` +`)

// `signoff get` shows what runs: the action's target and every parameter,
// with control characters escaped so a value cannot drive the terminal.
func TestDescribeShowsTheAction(t *testing.T) {
	for _, tc := range []struct {
		act  *pb.Action
		want []string
	}{
		{&pb.Action{Type: "webhook", Url: "https://hooks.example.com/deploy?env=prod",
			Params: map[string]string{"service": "api", "note": "\x1b[2Jok\tgo\nnext", "empty": ""}},
			[]string{"\naction: webhook → https://hooks.example.com/deploy?env=prod\n",
				"\n param empty: \"\"\n", "\n param note: \\x1b[2Jok\\tgo\\nnext\n", "\n param service: api\n"}},
		{&pb.Action{Type: "github_workflow_dispatch", Params: map[string]string{
			"owner": "acme", "repo": "api", "workflow": "deploy.yml", "ref": "main", "input.version": "2.3.0"}},
			[]string{"github_workflow_dispatch → acme/api, workflow deploy.yml at ref main", "param input.version:", "2.3.0",
				"param owner:", "param ref:", "param repo:", "param workflow:", "deploy.yml"}},
		{&pb.Action{Type: "aws_iam_deactivate_key", Params: map[string]string{"user_name": "ci-bot", "access_key_id": "AKIAIOSFODNN7EXAMPLE"}},
			[]string{"aws_iam_deactivate_key → IAM user ci-bot, access key AKIAIOSFODNN7EXAMPLE", "param access_key_id:", "param user_name:"}},
		{&pb.Action{Type: "noop"}, []string{"action:", "noop → nothing runs"}},
	} {
		var out bytes.Buffer
		c := &cli{getenv: envOf(), stdout: &out}
		c.describe(&pb.Approval{Id: "abc", Title: "Deploy", Action: tc.act})
		flat := spaces.ReplaceAllString(out.String(), " ") // columns vary with the longest name
		for _, w := range tc.want {
			if !strings.Contains(flat, w) {
				t.Errorf("%s: output lacks %q:\n%s", tc.act.GetType(), w, out.String())
			}
		}
		if strings.Contains(out.String(), "\x1b") {
			t.Errorf("a raw escape character reached the terminal:\n%q", out.String())
		}
	}
}

// `signoff get` of a scheduled grant approved for less: when it starts,
// when it is revoked, and who approved for how long.
func TestDescribeShowsTheGrantsTerms(t *testing.T) {
	start := time.Date(2026, 12, 12, 9, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	c := &cli{getenv: envOf(), stdout: &out}
	c.describe(&pb.Approval{Id: "abc", Title: "Saturday window", Duration: "2h0m0s", StartTime: timestamppb.New(start),
		Grant:     &pb.Grant{StartTime: timestamppb.New(start), RevokeTime: timestamppb.New(start.Add(30 * time.Minute))},
		Decisions: []*pb.DecisionAttempt{{User: "bob", Decision: pb.Decision_DECISION_APPROVE, Channel: "api", Accepted: true, Duration: "30m"}}})
	flat := spaces.ReplaceAllString(out.String(), " ")
	for _, w := range []string{"access for: 2h0m0s", "grant starts: 2026-12-12", "revoke at: 2026-12-12", "bob approve (api, accepted, for 30m only)"} {
		if !strings.Contains(flat, w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
}
