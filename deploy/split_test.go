package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for setup and clean-up only
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/procs"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/workflows"
)

// TestProductionSplit runs Signoff the production way, as separate processes
// of the real binary over 127.0.0.1: `signoff temporal` on PostgreSQL (after
// an explicit `signoff temporal migrate`), `signoff worker` and `signoff
// gateway`. An approval is created, its worker is SIGKILLed while the
// workflow waits, a new worker takes over, and the approval completes.
func TestProductionSplit(t *testing.T) {
	pg := requirePostgres(t)
	dir := t.TempDir()
	bin := buildSignoff(t, dir)

	suffix := randomHex(t, 4)
	mainDB, visDB := "signoff_split_"+suffix, "signoff_split_"+suffix+"_vis"
	t.Cleanup(func() { pg.dropDatabases(t, mainDB, visDB) })

	frontend := freeFrontendAddr(t)
	addrs := freeAddrs(t, 4)
	gwHTTP, gwGRPC, workerHealth, temporalMetrics := addrs[0], addrs[1], addrs[2], addrs[3]
	cfgPath := filepath.Join(dir, "signoff.yaml")
	cfgYAML := splitConfig(frontend, gwHTTP, gwGRPC, workerHealth, temporalMetrics, pg.user, mainDB, visDB)
	_, err := config.Parse([]byte(cfgYAML))
	require.NoError(t, err, "the test's own config must load")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfgYAML), 0o600))
	// Worker and gateway are separate processes: they share the proof key
	// ring through the environment, as in production.
	env := append(os.Environ(), "SIGNOFF_POSTGRES_PASSWORD="+pg.password,
		"SIGNOFF_PROOF_KEYS=k1:"+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))

	t.Run("the server refuses a database that was not migrated", func(t *testing.T) {
		out, code := runToEnd(t, env, bin, "temporal", "--config", cfgPath)
		require.Equal(t, 1, code, out)
		require.Contains(t, out, "run `signoff temporal migrate`")
	})

	out, code := runToEnd(t, env, bin, "temporal", "migrate", "--config", cfgPath)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "applied schema version")
	out, code = runToEnd(t, env, bin, "temporal", "migrate", "--config", cfgPath)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "schema is current", "a second migrate changes nothing")
	require.NotContains(t, out, "applied schema version")

	srv := startProc(t, dir, env, "temporal", bin, "temporal", "--config", cfgPath)
	tc := waitTemporal(t, srv, frontend)

	w1 := startProc(t, dir, env, "worker-1", bin, "worker", "--config", cfgPath)
	waitOK(t, w1, "http://"+workerHealth+"/readyz")
	gw := startProc(t, dir, env, "gateway", bin, "gateway", "--config", cfgPath)
	waitOK(t, gw, "http://"+gwHTTP+"/readyz")
	api := "http://" + gwHTTP

	created := httpDo(t, http.MethodPost, api+"/v1/approvals", "dev-alice",
		`{"request_id":"split-1","title":"Deploy api 2.4.0","environment":"staging","resource":"api"}`)
	require.Equal(t, http.StatusOK, created.code, created.body)
	a := decodeApproval(t, created.body)
	require.Equal(t, pb.Status_STATUS_PENDING, a.GetStatus())
	require.Equal(t, []string{"bob"}, a.GetApprovers())
	id := a.GetId()
	seen := a.GetRequestHash() // what bob reads and decides on

	// Wait until the first worker has prompted the approvers (its log
	// notifier) and can answer a query for the pending approval: the
	// workflow now waits for a decision, cached on that worker. Kill it there.
	eventually(t, 60*time.Second, "worker-1 to prompt the approvers", func() error {
		if !regexp.MustCompile(`approval requested.*approval_id=` + id).MatchString(w1.Logs()) {
			return errors.New("no prompt logged yet")
		}
		got := httpDo(t, http.MethodGet, api+"/v1/approvals/"+id, "dev-bob", "")
		if got.code != http.StatusOK {
			return fmt.Errorf("get: %d %s", got.code, got.body)
		}
		if st := decodeApproval(t, got.body).GetStatus(); st != pb.Status_STATUS_PENDING {
			return fmt.Errorf("status %s, want pending", st)
		}
		return nil
	}, srv, gw, w1)
	require.NoError(t, w1.Kill())
	w2 := startProc(t, dir, env, "worker-2", bin, "worker", "--config", cfgPath)
	waitOK(t, w2, "http://"+workerHealth+"/readyz")

	// The first decision may wait out the dead worker's sticky queue (5 s)
	// and the gateway's call timeout; a retry with the same request_id counts
	// once, so retrying until the deadline is safe.
	decide := `{"decision":"DECISION_APPROVE","comment":"lgtm","request_id":"split-bob-1","request_hash":"` + seen + `"}`
	var decided httpResult
	attempts, start := 0, time.Now()
	eventually(t, 90*time.Second, "bob's approval to be accepted", func() error {
		attempts++
		decided = httpDo(t, http.MethodPost, api+"/v1/approvals/"+id+":decide", "dev-bob", decide)
		if decided.code != http.StatusOK {
			return fmt.Errorf("decide: %d %s", decided.code, decided.body)
		}
		return nil
	}, srv, gw, w2)
	t.Logf("decision accepted after %d attempt(s), %s after the new worker was ready", attempts, time.Since(start).Round(time.Millisecond))
	resp := &pb.DecideApprovalResponse{}
	require.NoError(t, protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal([]byte(decided.body), resp), decided.body)
	require.True(t, resp.GetAttempt().GetAccepted(), decided.body)
	require.Equal(t, pb.Status_STATUS_APPROVED, resp.GetApproval().GetStatus(), decided.body)

	// The workflow completes once the action and the outcome report ran.
	eventually(t, 60*time.Second, "the workflow to complete", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d, err := tc.DescribeWorkflowExecution(ctx, workflows.ApprovalWorkflowID(id), "")
		if err != nil {
			return err
		}
		if st := d.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			return fmt.Errorf("workflow status %s", st)
		}
		return nil
	}, srv, gw, w2)
	got := httpDo(t, http.MethodGet, api+"/v1/approvals/"+id, "dev-alice", "")
	require.Equal(t, http.StatusOK, got.code, got.body)
	final := decodeApproval(t, got.body)
	require.Equal(t, pb.Status_STATUS_APPROVED, final.GetStatus())
	require.Equal(t, []string{"bob"}, final.GetApprovedBy())
	require.True(t, final.GetActionResult().GetSuccess(), got.body)
	require.Regexp(t, `approval finished.*approval_id=`+id, w2.Logs(), "the new worker finished the workflow")

	// The metrics docs/operations.md tells operators to watch exist.
	for u, names := range map[string][]string{
		"http://" + temporalMetrics + "/metrics": {"task_schedule_to_start_latency", "service_latency", "persistence_latency"},
		api + "/metrics":                         {"signoff_grpc_requests_total", "signoff_grpc_request_duration_seconds", "signoff_http_requests_total"},
		"http://" + workerHealth + "/metrics":    {"go_goroutines", "process_resident_memory_bytes"},
	} {
		m := httpGet(t, u, "")
		require.Equal(t, http.StatusOK, m.code, u)
		for _, name := range names {
			require.Contains(t, m.body, name, u)
		}
	}

	n := pg.connections(t, mainDB, visDB)
	t.Logf("PostgreSQL connections held by signoff temporal: %d", n)
	require.LessOrEqual(t, n, 60, "connection pools should stay near 10 each")
}

// postgres is a reachable PostgreSQL the test may create databases on.
type postgres struct {
	user, password string
	db             *sql.DB
}

// requirePostgres skips unless PostgreSQL answers on 127.0.0.1:5432 and
// the test role logs in; SIGNOFF_REQUIRE_POSTGRES=1 (CI) turns the skip
// into a failure.
func requirePostgres(t *testing.T) *postgres {
	t.Helper()
	required := os.Getenv("SIGNOFF_REQUIRE_POSTGRES") == "1"
	skip := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if required {
			t.Fatalf("SIGNOFF_REQUIRE_POSTGRES=1: %s", msg)
		}
		t.Skipf("%s (set SIGNOFF_REQUIRE_POSTGRES=1 to fail instead)", msg)
	}
	if testing.Short() && !required {
		t.Skip("-short: skipping the PostgreSQL production-split test")
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:5432", 2*time.Second)
	if err != nil {
		skip("no PostgreSQL on 127.0.0.1:5432: %v", err)
	}
	_ = c.Close()
	pg := &postgres{user: envOr("SIGNOFF_TEST_POSTGRES_USER", "signoff"), password: envOr("SIGNOFF_POSTGRES_PASSWORD", "signoff")}
	dsn := url.URL{Scheme: "postgres", User: url.UserPassword(pg.user, pg.password), Host: "127.0.0.1:5432", Path: "/postgres", RawQuery: "sslmode=disable"}
	db, err := sql.Open("pgx", dsn.String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		skip("cannot log in to PostgreSQL as %q (SIGNOFF_TEST_POSTGRES_USER, SIGNOFF_POSTGRES_PASSWORD; "+
			"the role needs LOGIN CREATEDB): %v", pg.user, err)
	}
	pg.db = db
	return pg
}

func (pg *postgres) dropDatabases(t *testing.T, names ...string) {
	for _, n := range names {
		// FORCE ends connections a killed process may have left.
		if _, err := pg.db.Exec(`DROP DATABASE IF EXISTS "` + n + `" WITH (FORCE)`); err != nil {
			t.Errorf("drop database %s: %v", n, err)
		}
	}
}

func (pg *postgres) connections(t *testing.T, names ...string) int {
	var n int
	require.NoError(t, pg.db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = ANY($1)`, names).Scan(&n))
	return n
}

// buildSignoff builds the real binary, as an operator would.
func buildSignoff(t *testing.T, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin, err := procs.Build(ctx, "..", dir, "") // ".." is the module root
	require.NoError(t, err)
	if st, err := os.Stat(bin); err == nil {
		t.Logf("built %s (%d MB)", bin, st.Size()>>20)
	}
	return bin
}

// splitConfig is a production-style config: token hashes, not tokens; the
// database password from the environment.
func splitConfig(frontend, gwHTTP, gwGRPC, workerHealth, metrics, pgUser, mainDB, visDB string) string {
	return fmt.Sprintf(`log: {level: info, format: text}
temporal:
  address: %s
  namespace: default
  task_queue: signoff-split
  retention: 7d
temporal_server:
  metrics_address: %s
  postgres:
    address: 127.0.0.1:5432
    user: %s
    password_env: SIGNOFF_POSTGRES_PASSWORD
    database: %s
    visibility_database: %s
    max_conns: 10
gateway:
  grpc_address: %s
  http_address: %s
worker:
  health_address: %s
users:
  - {name: alice, email: alice@example.com, token_sha256: %s}
  - {name: bob, email: bob@example.com, groups: [platform], token_sha256: %s}
policies:
  - name: default
    match: {environment: "*"}
    approvers: {groups: [platform]}
    required_approvals: 1
    deadline: 1h
notifiers: [log]
`, frontend, metrics, pgUser, mainDB, visDB, gwGRPC, gwHTTP, workerHealth, sha("dev-alice"), sha("dev-bob"))
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// startProc starts a signoff process for the test; it is stopped (and
// its log shown if the test failed) at the end.
func startProc(t *testing.T, dir string, env []string, name, bin string, args ...string) *procs.Process {
	t.Helper()
	p, err := procs.Start(dir, env, name, bin, args...)
	require.NoError(t, err)
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("--- %s log (tail) ---\n%s", name, p.Tail(60))
		}
	})
	return p
}

// runToEnd runs the binary to completion and returns its output and exit
// code.
func runToEnd(t *testing.T, env []string, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	default:
		t.Fatalf("run %v: %v\n%s", args, err, out)
		return "", -1
	}
}

// eventually polls check until it succeeds, failing at the deadline or as
// soon as one of the watched processes exits.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error, watch ...*procs.Process) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return
		}
		for _, p := range watch {
			if exited, how := p.Exited(); exited {
				t.Fatalf("waiting for %s: %s exited (%v)\n%s", what, p.Name, how, p.Tail(40))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up after %s: %v", what, timeout, err)
		}
		<-tick.C
	}
}

func waitOK(t *testing.T, p *procs.Process, url string) {
	t.Helper()
	eventually(t, 60*time.Second, p.Name+" "+url, func() error {
		r := httpGetErr(url)
		if r.err != nil {
			return r.err
		}
		if r.code != http.StatusOK {
			return fmt.Errorf("%d %s", r.code, r.body)
		}
		return nil
	}, p)
}

// waitTemporal waits until the server answers and `signoff temporal` has
// registered Signoff's search attributes in the namespace, and returns a
// client for the rest of the test.
func waitTemporal(t *testing.T, srv *procs.Process, frontend string) client.Client {
	t.Helper()
	c, err := client.NewLazyClient(client.Options{HostPort: frontend, Namespace: "default"})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	eventually(t, 90*time.Second, "signoff temporal", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
		if err != nil {
			return err
		}
		for _, sa := range []string{"ApprovalStatus", "Requester", "Environment"} {
			if _, ok := resp.GetCustomAttributes()[sa]; !ok {
				return fmt.Errorf("search attribute %s not registered yet", sa)
			}
		}
		return nil
	}, srv)
	return c
}

type httpResult struct {
	code int
	body string
	err  error
}

func httpGetErr(url string) httpResult {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return httpResult{err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return httpResult{code: resp.StatusCode, body: string(b), err: err}
}

func httpGet(t *testing.T, url, token string) httpResult {
	t.Helper()
	return httpDo(t, http.MethodGet, url, token, "")
}

func httpDo(t *testing.T, method, url, token, body string) httpResult {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	require.NoError(t, err, "%s %s", method, url)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return httpResult{code: resp.StatusCode, body: string(b)}
}

func decodeApproval(t *testing.T, body string) *pb.Approval {
	t.Helper()
	a := &pb.Approval{}
	require.NoError(t, protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal([]byte(body), a), body)
	return a
}

// freeAddrs returns n distinct free loopback addresses. Every listener stays
// open until all are picked: a port closed at once can be handed out again
// by the next :0 listen, and two processes would then fight over it.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	addrs := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer func() { _ = l.Close() }()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs
}

// servicePortOffsets mirror devserver.ServicePortOffsets (not imported: it
// would link the Temporal server into this test): `signoff temporal` puts
// its other services at these offsets from the frontend port.
var servicePortOffsets = []int{-300, 1, -299, 2, -298, 6, -294}

// freeFrontendAddr finds a frontend port whose derived service ports are
// free too, all at most 32767: Temporal's PostgreSQL schema stores
// membership ports in a SMALLINT (the kernel's ephemeral ports are higher).
func freeFrontendAddr(t *testing.T) string {
	t.Helper()
	for range 200 {
		n, err := rand.Int(rand.Reader, big.NewInt(32767-1000-400))
		require.NoError(t, err)
		port := 1000 + 300 + int(n.Int64())
		ok := true
		for _, off := range append([]int{0}, servicePortOffsets...) {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+off)))
			if err != nil {
				ok = false
				break
			}
			_ = l.Close()
		}
		if ok {
			return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		}
	}
	t.Fatal("no frontend port with free service ports")
	return ""
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
