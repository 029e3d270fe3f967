package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/signoff/signoff/internal/testenv"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

// cliBuild is the signoff binary the CLI tests drive, built once.
var cliBuild struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// TestMain removes the CLI binary's directory after the tests. The binary
// is built on first use, so e2e runs without CLI tests do not pay for it.
func TestMain(m *testing.M) {
	code := m.Run()
	if cliBuild.dir != "" {
		_ = os.RemoveAll(cliBuild.dir)
	}
	os.Exit(code)
}

// signoffBinary builds cmd/signoff with -tags nodev (no embedded Temporal
// server to link: small and quick) into a temp dir, once.
func signoffBinary(t *testing.T) string {
	t.Helper()
	cliBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "signoff-cli-test-")
		if err != nil {
			cliBuild.err = err
			return
		}
		cliBuild.dir, cliBuild.path = dir, filepath.Join(dir, "signoff")
		out, err := exec.Command("go", "build", "-tags", "nodev", "-o", cliBuild.path, "../cmd/signoff").CombinedOutput()
		if err != nil {
			cliBuild.err = errors.New("go build ./cmd/signoff: " + err.Error() + "\n" + string(out))
		}
	})
	require.NoError(t, cliBuild.err)
	return cliBuild.path
}

const testPublicURL = "https://signoff.example.test"

// cliEnv is a CI job's environment: only what the test sets, so the
// runner's own CI variables cannot leak into the derived request ID.
func cliEnv(s *testenv.Stack, token string, extra ...string) []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(),
		"SIGNOFF_ADDR=" + s.GRPCAddr, "SIGNOFF_TOKEN=" + token, "SIGNOFF_URL=" + testPublicURL,
	}, extra...)
}

type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the binary to completion.
func runCLI(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	p := startCLI(t, env, args...)
	return p.wait(t)
}

// cliProc is a running CLI; id receives the approval ID it announces.
type cliProc struct {
	cmd            *exec.Cmd
	stdout, stderr *lockedBuf
	id             chan string
	readers        sync.WaitGroup
}

var announced = regexp.MustCompile(`approval ([a-z2-7]{26}): `)

func startCLI(t *testing.T, env []string, args ...string) *cliProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	p := &cliProc{cmd: exec.CommandContext(ctx, signoffBinary(t), args...), stdout: &lockedBuf{}, stderr: &lockedBuf{}, id: make(chan string, 1)}
	p.cmd.Env = env
	outPipe, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	errPipe, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	scan := func(r io.Reader, into *lockedBuf) {
		defer p.readers.Done()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			into.WriteLine(sc.Text())
			if m := announced.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case p.id <- m[1]:
				default:
				}
			}
		}
	}
	p.readers.Add(2)
	go scan(outPipe, p.stdout)
	go scan(errPipe, p.stderr)
	return p
}

// announcedID waits for the CLI to print the approval it created.
func (p *cliProc) announcedID(t *testing.T) string {
	t.Helper()
	select {
	case id := <-p.id:
		return id
	case <-time.After(time.Minute):
		t.Fatalf("the CLI announced no approval; stdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
		return ""
	}
}

func (p *cliProc) wait(t *testing.T) cliResult {
	t.Helper()
	p.readers.Wait()
	err := p.cmd.Wait()
	res := cliResult{stdout: p.stdout.String(), stderr: p.stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run signoff: %v", err)
	}
	t.Logf("signoff %s → %d\nstdout:\n%s\nstderr:\n%s", strings.Join(p.cmd.Args[1:], " "), res.code, res.stdout, res.stderr)
	return res
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) WriteLine(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s + "\n")
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func parseApprovalJSON(t *testing.T, s string) *pb.Approval {
	t.Helper()
	a := &pb.Approval{}
	require.NoError(t, protojson.Unmarshal([]byte(s), a), s)
	return a
}

// TestCLIPipeline drives the real binary as a CI job would, against the
// embedded stack: each outcome has its exit code.
func TestCLIPipeline(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t, testenv.Options{})
	api := s.GRPC()
	alice := cliEnv(s, "dev-alice")

	t.Run("approved while waiting: exit 0 and the approval as JSON", func(t *testing.T) {
		p := startCLI(t, alice, "request", "--title", "Deploy api v2.3.0", "--environment", "staging",
			"--resource", "api", "--field", "version=2.3.0", "--field", "commit=abc123", "--action", "noop",
			"--justification", "release train", "--request-id", "cli-approve", "--wait", "--json")
		id := p.announcedID(t)
		// The CLI is now polling; bob approves through the API.
		_, err := api.DecideApproval(testenv.Ctx("dev-bob"), &pb.DecideApprovalRequest{
			Id: id, Decision: pb.Decision_DECISION_APPROVE, Comment: "ship it", RequestHash: s.Seen("dev-bob", id),
		})
		require.NoError(t, err)
		res := p.wait(t)
		require.Equal(t, 0, res.code)
		a := parseApprovalJSON(t, res.stdout)
		require.Equal(t, id, a.GetId())
		require.Equal(t, pb.Status_STATUS_APPROVED, a.GetStatus())
		require.Equal(t, []string{"bob"}, a.GetApprovedBy())
		require.Equal(t, map[string]string{"version": "2.3.0", "commit": "abc123"}, a.GetFields())
		require.Equal(t, "release train", a.GetJustification())
		require.Contains(t, res.stderr, "link: "+testPublicURL+"/approvals/"+id)
		require.Contains(t, res.stderr, "approved by bob")
	})

	t.Run("rejected while waiting: exit 1", func(t *testing.T) {
		p := startCLI(t, alice, "request", "--title", "Drop the audit table", "--environment", "staging",
			"--request-id", "cli-reject", "--wait")
		id := p.announcedID(t)
		rej := runCLI(t, cliEnv(s, "dev-carol"), "reject", id, "--comment", "not during the freeze")
		require.Equal(t, 0, rej.code)
		require.Contains(t, rej.stdout, "rejected by carol")
		res := p.wait(t)
		require.Equal(t, 1, res.code)
		require.Contains(t, res.stdout, "approval "+id+" rejected by carol: \"not during the freeze\"")
	})

	t.Run("bad usage: exit 2", func(t *testing.T) {
		for _, args := range [][]string{
			{"request", "--environment", "staging"},
			{"request", "--title", "x"},
			{"request", "--title", "x", "--environment", "staging", "--bogus"},
			{"request", "--title", "x", "--environment", "staging", "--field", "novalue"},
			{"get"},
			{"approve", "a", "b"},
			{"list", "--status", "maybe"},
		} {
			res := runCLI(t, alice, args...)
			require.Equal(t, 2, res.code, "%v", args)
			require.NotEmpty(t, res.stderr)
		}
		res := runCLI(t, cliEnv(s, ""), "get", "aaaaaaaaaaaaaaaaaaaaaaaaaa")
		require.Equal(t, 2, res.code)
		require.Contains(t, res.stderr, "SIGNOFF_TOKEN is not set")
		res = runCLI(t, cliEnv(s, "not-a-token"), "list")
		require.Equal(t, 2, res.code)
		require.Contains(t, res.stderr, "did not accept SIGNOFF_TOKEN")
		res = runCLI(t, alice, "request", "--title", "x", "--environment", "bad env!")
		require.Equal(t, 2, res.code)
		require.Contains(t, res.stderr, "invalid request: environment")
	})

	t.Run("unreachable gateway: exit 2", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		closed := l.Addr().String()
		require.NoError(t, l.Close())
		res := runCLI(t, append(alice, "SIGNOFF_ADDR="+closed), "request", "--title", "x", "--environment", "staging", "--wait")
		require.Equal(t, 2, res.code)
		require.Contains(t, res.stderr, "cannot reach the gateway at "+closed)
	})

	t.Run("stopped waiting at --timeout: exit 1, the approval stays", func(t *testing.T) {
		res := runCLI(t, alice, "request", "--title", "Rotate the DB password", "--environment", "staging",
			"--request-id", "cli-timeout", "--wait", "--timeout", "2s")
		require.Equal(t, 1, res.code)
		require.Contains(t, res.stdout, "stopped waiting after 2s")
		id := announced.FindStringSubmatch(res.stdout)[1]
		a, err := api.GetApproval(testenv.Ctx("dev-bob"), &pb.GetApprovalRequest{Id: id})
		require.NoError(t, err)
		require.Equal(t, pb.Status_STATUS_PENDING, a.GetStatus())

		// A retry of the job finds it and waits again.
		res = runCLI(t, alice, "request", "--title", "Rotate the DB password", "--environment", "staging",
			"--request-id", "cli-timeout", "--timeout", "1s")
		require.Equal(t, 1, res.code)
		require.Equal(t, id, announced.FindStringSubmatch(res.stdout)[1])
	})

	t.Run("the same request id twice is one approval", func(t *testing.T) {
		args := []string{"request", "--title", "Open the firewall", "--environment", "staging", "--request-id", "cli-twice"}
		first, second := runCLI(t, alice, args...), runCLI(t, alice, args...)
		require.Equal(t, 0, first.code)
		require.Equal(t, 0, second.code)
		require.Equal(t, announced.FindStringSubmatch(first.stdout)[1], announced.FindStringSubmatch(second.stdout)[1])
		// The same key with other content is refused, not a second approval.
		other := runCLI(t, alice, "request", "--title", "Open the other firewall", "--environment", "staging", "--request-id", "cli-twice")
		require.Equal(t, 2, other.code)
		require.Contains(t, other.stderr, "pass another --request-id")
	})

	t.Run("a retried CI job finds its approval", func(t *testing.T) {
		gha := func(attempt, job string) []string {
			return append(cliEnv(s, "dev-alice"), "GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=acme/api",
				"GITHUB_RUN_ID=4242", "GITHUB_RUN_ATTEMPT="+attempt, "GITHUB_JOB="+job)
		}
		args := []string{"request", "--title", "Deploy api", "--environment", "production"}
		first := runCLI(t, gha("1", "deploy"), args...)
		retry := runCLI(t, gha("2", "deploy"), args...)
		otherJob := runCLI(t, gha("1", "deploy-eu"), args...)
		id := announced.FindStringSubmatch(first.stdout)[1]
		require.Equal(t, id, announced.FindStringSubmatch(retry.stdout)[1], "re-run attempt: same approval")
		require.NotEqual(t, id, announced.FindStringSubmatch(otherJob.stdout)[1], "another job: its own approval")
		require.Contains(t, first.stderr, "request id ci/github/acme/api/4242/deploy/production")

		jenkins := append(cliEnv(s, "dev-alice"), "JENKINS_URL=https://ci.example.test/", "JOB_NAME=api/main", "BUILD_NUMBER=17")
		a, b := runCLI(t, jenkins, args...), runCLI(t, jenkins, args...)
		require.Equal(t, announced.FindStringSubmatch(a.stdout)[1], announced.FindStringSubmatch(b.stdout)[1])
		require.NotEqual(t, id, announced.FindStringSubmatch(a.stdout)[1])

		// Outside CI, without --request-id, each call is a new approval.
		x, y := runCLI(t, alice, args...), runCLI(t, alice, args...)
		require.NotEqual(t, announced.FindStringSubmatch(x.stdout)[1], announced.FindStringSubmatch(y.stdout)[1])
	})

	t.Run("get, list, approve and cancel", func(t *testing.T) {
		created := runCLI(t, alice, "request", "--title", "Grant read access", "--environment", "staging", "--request-id", "cli-misc")
		require.Equal(t, 0, created.code)
		id := announced.FindStringSubmatch(created.stdout)[1]

		got := runCLI(t, cliEnv(s, "dev-bob"), "get", id, "--json")
		require.Equal(t, 0, got.code)
		require.Equal(t, "Grant read access", parseApprovalJSON(t, got.stdout).GetTitle())
		human := runCLI(t, cliEnv(s, "dev-bob"), "get", id)
		require.Equal(t, 0, human.code)
		require.Regexp(t, `status:\s+pending`, human.stdout)

		testenv.Eventually(t, 30*time.Second, "the approval to be listed", func() bool {
			res := runCLI(t, cliEnv(s, "dev-bob"), "list", "--status", "pending", "--environment", "staging")
			require.Equal(t, 0, res.code)
			return strings.Contains(res.stdout, id)
		})

		self := runCLI(t, alice, "approve", id)
		require.Equal(t, 2, self.code)
		require.Contains(t, self.stderr, "refused:")

		cancelled := runCLI(t, alice, "cancel", id, "--reason", "asked by mistake")
		require.Equal(t, 0, cancelled.code)
		require.Contains(t, cancelled.stdout, "cancelled by alice: \"asked by mistake\"")
		again := runCLI(t, alice, "cancel", id)
		require.Equal(t, 2, again.code)
		require.Contains(t, again.stderr, "not possible now")

		// A job waiting on a cancelled approval fails.
		res := runCLI(t, alice, "request", "--title", "Grant read access", "--environment", "staging", "--request-id", "cli-misc", "--wait")
		require.Equal(t, 1, res.code)

		missing := runCLI(t, alice, "get", "aaaaaaaaaaaaaaaaaaaaaaaaaa")
		require.Equal(t, 2, missing.code)
		require.Contains(t, missing.stderr, "not found")
	})
}
