// Package procs runs signoff binaries as separate OS processes, the way
// production does: the deploy split test and the bench's production
// topology both start, watch, stop and kill them through it. It links no
// Temporal server, so a test using it stays small.
package procs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is one running process whose output goes to a file.
type Process struct {
	Name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// Start runs bin with args and env, its output in dir/<name>.log.
func Start(dir string, env []string, name, bin string, args ...string) (*Process, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Logs is everything the process wrote so far.
func (p *Process) Logs() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// Tail is the last n lines of Logs.
func (p *Process) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Logs(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Until polls check every 200 ms until it succeeds, and fails as soon as
// the process exits, ctx ends or timeout passes.
func (p *Process) Until(ctx context.Context, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return nil
		}
		if exited, how := p.Exited(); exited {
			return fmt.Errorf("%s exited (%v):\n%s", p.Name, how, p.Tail(40))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", p.Name, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Stop asks for a graceful stop (SIGTERM) and kills after 30 s.
func (p *Process) Stop() {
	if exited, _ := p.Exited(); exited {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Kill sends SIGKILL, as when a node dies (no clean shutdown), and checks
// that SIGKILL is what ended the process.
func (p *Process) Kill() error {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s: %w", p.Name, err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s did not die on SIGKILL", p.Name)
	}
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) {
		return fmt.Errorf("%s: ended with %v, not by SIGKILL", p.Name, p.err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return fmt.Errorf("%s: ended with %v, not by SIGKILL", p.Name, p.err)
	}
	return nil
}

// RSSMiB is the process's resident memory now.
func (p *Process) RSSMiB() float64 { return MemoryMiB(p.cmd.Process.Pid, "VmRSS") }

// MemoryMiB reads a memory field of /proc/<pid>/status (VmRSS, VmHWM, ...)
// in MiB, 0 when it cannot.
func MemoryMiB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			kb, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return 0
			}
			return float64(int(kb/1024*10)) / 10
		}
	}
	return 0
}

// Build builds cmd/signoff of the module at moduleDir into dir with the
// given build tags (none, or "nodev" as the production image builds it,
// static and stripped) and returns the binary's path.
func Build(ctx context.Context, moduleDir, dir, tags string) (string, error) {
	name := "signoff"
	args := []string{"build"}
	if tags != "" { // as deploy/Dockerfile builds it
		name += "-" + strings.ReplaceAll(tags, ",", "-")
		args = append(args, "-trimpath", "-tags", tags, "-ldflags", "-s -w")
	}
	bin := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", append(args, "-o", bin, "./cmd/signoff")...)
	cmd.Dir = moduleDir
	if tags != "" {
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", tags, err, out)
	}
	return bin, nil
}
