package bench

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
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to create and drop the bench's databases
	"go.temporal.io/sdk/client"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/procs"
	"github.com/signoff/signoff/temporal/devserver"
)

// SplitTaskQueue is the Signoff task queue of the split topology.
const SplitTaskQueue = "signoff-bench-split"

// Split is Signoff the way production runs it: `signoff temporal` on
// PostgreSQL, `signoff worker` and `signoff gateway` as separate processes
// of the real binaries, talking over 127.0.0.1.
type Split struct {
	// HTTPURL is the gateway's REST address.
	HTTPURL string
	// Client reaches the split's Temporal (for the bare baseline and to
	// wait for approvals to close).
	Client                    client.Client
	Temporal, Worker, Gateway *procs.Process

	// SessionKey signs the gateway's browser sessions, so the bench can
	// open the inbox as a configured person.
	SessionKey []byte

	pg      *sql.DB
	dbs     []string
	stopped bool
}

// SplitOptions say where PostgreSQL is and which binaries to run.
type SplitOptions struct {
	// PostgresURL is a postgres:// URL of a role that may create databases
	// (the bench makes two and drops them at the end).
	PostgresURL string
	// ServerBin runs `signoff temporal` (a build with the embedded server);
	// EdgeBin runs worker and gateway (the production image's build, -tags
	// nodev). Both may be the same file.
	ServerBin, EdgeBin string
	// Dir holds the config and the processes' logs.
	Dir string
	// VolumePeople adds that many people and their policies for the
	// volume phase (VolumeConfig); 0 adds none.
	VolumePeople int
}

// StartSplit creates the databases, migrates the schema and starts the three
// processes; it returns when all three answer.
func StartSplit(ctx context.Context, o SplitOptions) (*Split, error) {
	u, err := url.Parse(o.PostgresURL)
	if err != nil || u.User == nil {
		return nil, fmt.Errorf("postgres url: want postgres://user:password@host:port/db, got %q", o.PostgresURL)
	}
	password, _ := u.User.Password()
	db, err := sql.Open("pgx", o.PostgresURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("postgres at %s: %w", u.Host, err)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	main := "signoff_bench_" + hex.EncodeToString(suffix)
	sessionKey := make([]byte, 32)
	_, _ = rand.Read(sessionKey)
	s := &Split{pg: db, dbs: []string{main, main + "_vis"}, SessionKey: sessionKey}
	cfgPath := filepath.Join(o.Dir, "signoff-split.yaml")
	fail := func(err error) (*Split, error) { s.Stop(); return nil, err }

	frontend, taken, err := freeFrontend()
	if err != nil {
		return fail(err)
	}
	var ports []int
	for len(ports) < 3 {
		p, err := devserver.FreePorts("127.0.0.1", 1)
		if err != nil {
			return fail(err)
		}
		if !taken[p[0]] { // not one the server will take
			ports = append(ports, p[0])
		}
	}
	gwHTTP, gwGRPC, workerHealth := addr(ports[0]), addr(ports[1]), addr(ports[2])
	users, policies := VolumeConfig(o.VolumePeople)
	cfg := splitConfig(frontend, gwHTTP, gwGRPC, workerHealth, u.Host, u.User.Username(), s.dbs[0], s.dbs[1], users, policies)
	if _, err := config.Parse([]byte(cfg)); err != nil {
		return fail(fmt.Errorf("the bench's split config: %w", err))
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return fail(err)
	}
	env := append(os.Environ(), "SIGNOFF_POSTGRES_PASSWORD="+password,
		config.EnvSessionKey+"="+base64.StdEncoding.EncodeToString(sessionKey),
		"SIGNOFF_PROOF_KEYS=k1:"+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))

	migrate := exec.CommandContext(ctx, o.ServerBin, "temporal", "migrate", "--config", cfgPath)
	migrate.Env = env
	if out, err := migrate.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("signoff temporal migrate: %w\n%s", err, out))
	}
	if s.Temporal, err = procs.Start(o.Dir, env, "temporal", o.ServerBin, "temporal", "--config", cfgPath); err != nil {
		return fail(err)
	}
	if s.Client, err = client.NewLazyClient(client.Options{HostPort: frontend, Namespace: "default"}); err != nil {
		return fail(err)
	}
	if err := s.Temporal.Until(ctx, 2*time.Minute, func() error {
		_, err := s.Client.CheckHealth(ctx, &client.CheckHealthRequest{})
		if err == nil {
			_, err = s.Client.DescribeTaskQueue(ctx, "probe", 1)
		}
		return err
	}); err != nil {
		return fail(err)
	}
	if s.Worker, err = procs.Start(o.Dir, env, "worker", o.EdgeBin, "worker", "--config", cfgPath); err != nil {
		return fail(err)
	}
	if err := s.Worker.Until(ctx, 2*time.Minute, httpOK("http://"+workerHealth+"/readyz")); err != nil {
		return fail(err)
	}
	if s.Gateway, err = procs.Start(o.Dir, env, "gateway", o.EdgeBin, "gateway", "--config", cfgPath); err != nil {
		return fail(err)
	}
	s.HTTPURL = "http://" + gwHTTP
	if err := s.Gateway.Until(ctx, time.Minute, httpOK(s.HTTPURL+"/readyz")); err != nil {
		return fail(err)
	}
	return s, nil
}

// Stop ends the processes and drops the databases.
func (s *Split) Stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	for _, p := range []*procs.Process{s.Gateway, s.Worker, s.Temporal} {
		if p != nil {
			p.Stop()
		}
	}
	if s.Client != nil {
		s.Client.Close()
	}
	for _, db := range s.dbs {
		// FORCE ends connections a process may have left.
		_, _ = s.pg.Exec(`DROP DATABASE IF EXISTS "` + db + `" WITH (FORCE)`)
	}
	_ = s.pg.Close()
}

// DatabaseMiB is the size of the split's two databases (history and
// visibility) as PostgreSQL counts them.
func (s *Split) DatabaseMiB(ctx context.Context) (float64, error) {
	var total int64
	for _, db := range s.dbs {
		var n int64
		if err := s.pg.QueryRowContext(ctx, "SELECT pg_database_size($1)", db).Scan(&n); err != nil {
			return 0, fmt.Errorf("size of %s: %w", db, err)
		}
		total += n
	}
	return float64(int(float64(total)/(1<<20)*10)) / 10, nil
}

// splitConfig is the production split's config: token hashes, the database
// password from the environment, the log notifier, one policy per bench
// environment as on the embedded stack, and the volume phase's people and
// policies (YAML list items).
func splitConfig(frontend, gwHTTP, gwGRPC, workerHealth, pgAddr, pgUser, mainDB, visDB, moreUsers, morePolicies string) string {
	return fmt.Sprintf(`log: {level: warn, format: json}
temporal:
  address: %s
  namespace: default
  task_queue: %s
  retention: 1d
temporal_server:
  log_level: error
  postgres:
    address: %s
    user: %s
    password_env: SIGNOFF_POSTGRES_PASSWORD
    database: %s
    visibility_database: %s
gateway:
  grpc_address: %s
  http_address: %s
worker:
  health_address: %s
notifiers: [log]
users:
  - {name: alice, email: alice@example.com, token_sha256: %s}
  - {name: bob, email: bob@example.com, token_sha256: %s}
%spolicies:
  - name: bench
    match: {environment: bench}
    approvers: {users: [bob]}
    required_approvals: 1
    deadline: 1h
%s`, frontend, SplitTaskQueue, pgAddr, pgUser, mainDB, visDB, gwGRPC, gwHTTP, workerHealth, sha256Hex("dev-alice"), sha256Hex("dev-bob"),
		moreUsers, morePolicies)
}

// freeFrontend finds a frontend address whose derived service ports are
// free too, all at most 32767 (Temporal's PostgreSQL schema keeps
// membership ports in a SMALLINT); it returns them all as taken.
func freeFrontend() (string, map[int]bool, error) {
	for range 200 {
		ports, err := devserver.FreePorts("127.0.0.1", 1)
		if err != nil {
			return "", nil, err
		}
		service, err := devserver.ServicePorts(ports[0])
		if err != nil {
			continue
		}
		taken := map[int]bool{ports[0]: true}
		for _, p := range service {
			l, err := net.Listen("tcp", addr(p))
			if err != nil {
				taken = nil
				break
			}
			_ = l.Close()
			taken[p] = true
		}
		if taken != nil {
			return addr(ports[0]), taken, nil
		}
	}
	return "", nil, errors.New("no frontend port whose service ports are free")
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func httpOK(u string) func() error {
	c := &http.Client{Timeout: 3 * time.Second}
	return func() error {
		resp, err := c.Get(u)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %d", u, resp.StatusCode)
		}
		return nil
	}
}

// RSSAtRestMiB waits until p's resident memory stops falling (the Go
// runtime returns freed memory to the OS over a few seconds) and returns
// it; at most a minute.
func RSSAtRestMiB(p *procs.Process) float64 {
	last := p.RSSMiB()
	for range 60 {
		time.Sleep(time.Second)
		now := p.RSSMiB()
		if last-now < 0.5 {
			return now
		}
		last = now
	}
	return last
}
