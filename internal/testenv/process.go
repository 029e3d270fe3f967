package testenv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/signoff/signoff/app"
)

// workerOfEnv makes a test binary a worker process: it holds the frontend
// address of the parent test's Temporal.
const workerOfEnv = "SIGNOFF_TESTENV_WORKER_OF"

// WorkerProcess is a Signoff worker in an OS process of its own, so a test
// can SIGKILL it: no deferred function, no graceful stop, no last report
// to Temporal, the way a node dies.
type WorkerProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *lockedBuffer
	done  chan struct{}
	err   error
}

// StartWorkerProcess runs the test binary again with only the test named
// test, as a worker on this stack's Temporal. That test must begin with
// ServeWorkerProcess, given the same Options. The process ends when it is
// killed or when this process exits (its stdin closes).
func (s *Stack) StartWorkerProcess(test string) *WorkerProcess {
	s.T.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), workerOfEnv+"="+s.Config.Temporal.Address)
	p := &WorkerProcess{cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		s.T.Fatalf("worker process stdin: %v", err)
	}
	p.stdin = stdin
	if err := cmd.Start(); err != nil {
		s.T.Fatalf("start worker process: %v", err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	s.T.Cleanup(func() {
		p.Kill()
		s.T.Logf("worker process %d output (tail):\n%s", cmd.Process.Pid, tail(p.out.String(), 4000))
	})
	return p
}

// Kill sends SIGKILL and waits until the process is gone.
func (p *WorkerProcess) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	_ = p.stdin.Close()
}

// Exited says whether the process has ended, and how.
func (p *WorkerProcess) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// ServeWorkerProcess is true in a process started by StartWorkerProcess:
// it has then run a worker with the config opts give until the parent
// went away. Elsewhere it returns false at once.
func ServeWorkerProcess(t TB, opts Options) bool {
	addr := os.Getenv(workerOfEnv)
	if addr == "" {
		return false
	}
	cfg := loadConfig(t, opts)
	cfg.Temporal.Address = addr
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: opts.LogLevel}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	set, err := app.SettingsFrom(cfg, opts.lookup)
	if err != nil {
		t.Fatalf("worker process: settings: %v", err)
	}
	b, err := app.Connect(ctx, cfg, "", set, logger)
	if err != nil {
		t.Fatalf("worker process: connect to temporal: %v", err)
	}
	defer b.Close()
	w, err := app.NewWorker(b, cfg, set, logger)
	if err != nil {
		t.Fatalf("worker process: %v", err)
	}
	if err := w.Start(); err != nil {
		t.Fatalf("worker process: start: %v", err)
	}
	fmt.Fprintf(os.Stderr, "worker process %d polling %s\n", os.Getpid(), addr)
	// Runs until killed; if the parent dies first, its end of stdin closes.
	_, _ = io.Copy(io.Discard, os.Stdin)
	w.Stop()
	return true
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
