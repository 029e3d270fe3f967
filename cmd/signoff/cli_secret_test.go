package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/signoff/signoff/proto/signoff/v1"
)

// secretServer is a gateway that records the proposals it gets and answers
// each with an approval carrying a diff of its keys (or with err).
type secretServer struct {
	pb.UnimplementedApprovalServiceServer
	mu     sync.Mutex
	got    []*pb.ProposeSecretChangeRequest
	tokens []string
	err    error
}

func (s *secretServer) ProposeSecretChange(ctx context.Context, req *pb.ProposeSecretChangeRequest) (*pb.Approval, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.got = append(s.got, proto.Clone(req).(*pb.ProposeSecretChangeRequest))
	s.tokens = append(s.tokens, strings.Join(md.Get("authorization"), ","))
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	sc := &pb.SecretChange{Target: req.GetTarget(), Secret: req.GetSecret(), KeyId: "k1"}
	for _, e := range req.GetChanges() {
		k := &pb.SecretKeyChange{Key: e.GetKey(), Op: e.GetOp()}
		switch e.GetOp() {
		case "delete":
			k.Kind, k.OldFingerprint, k.OldLength = "removed", "hmac-sha256:0123456789abcdef0123456789abcdef", 9
		case "rotate":
			k.Kind, k.OldFingerprint, k.OldLength = "changed", "hmac-sha256:aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb", 12
			k.NewFingerprint, k.NewLength = "hmac-sha256:ccccccccccccccccdddddddddddddddd", int32(len(e.GetValue()))
		default:
			k.Kind, k.NewFingerprint, k.NewLength = "added", "hmac-sha256:short", int32(len(e.GetValue()))
		}
		sc.Keys = append(sc.Keys, k)
	}
	return &pb.Approval{Id: "abcdefghijklmnopqrstuvwxyz", Title: req.GetTitle(), Status: pb.Status_STATUS_PENDING, SecretChange: sc}, nil
}

func (s *secretServer) requests() []*pb.ProposeSecretChangeRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*pb.ProposeSecretChangeRequest(nil), s.got...)
}

// startSecretServer serves srv on a loopback port; it returns the address.
func startSecretServer(t *testing.T, srv *secretServer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	pb.RegisterApprovalServiceServer(g, srv)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

// secretRun is one run of `signoff secret-change` as alice.
type secretRun struct {
	code           int
	stdout, stderr string
}

func runSecret(t *testing.T, addr, stdin string, args ...string) secretRun {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{ctx: context.Background(), name: "secret-change", stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		getenv: envOf("SIGNOFF_TOKEN", "t-alice", "SIGNOFF_ADDR", addr, "SIGNOFF_URL", "https://signoff.example.com")}
	code := runSecretChange(c, args)
	return secretRun{code: code, stdout: out.String(), stderr: errOut.String()}
}

var secretArgs = []string{"--target", "prod-vault", "--secret", "production/api", "--environment", "production"}

func withSecretArgs(more ...string) []string {
	return append(append([]string(nil), secretArgs...), more...)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSecretChangeSendsTheValues: the value of --rotate KEY comes from
// stdin with one trailing newline trimmed, that of --set KEY=@path from the
// file, --delete KEY has none; the gateway gets exactly these edits, in
// order, with the other flags and alice's token, and nothing else. The
// printed lines are the approval and its diff.
func TestSecretChangeSendsTheValues(t *testing.T) {
	srv := &secretServer{}
	addr := startSecretServer(t, srv)
	file := writeFile(t, "token.txt", "tok_from_file\n")
	r := runSecret(t, addr, "n3w-password\n", withSecretArgs("--title", "New DB password", "--justification", "leaked",
		"--request-id", "rot-1", "--rotate", "DB_PASSWORD", "--set", "API_TOKEN=@"+file, "--delete", "OLD_KEY")...)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	got := srv.requests()
	if len(got) != 1 {
		t.Fatalf("%d calls, want 1", len(got))
	}
	want := &pb.ProposeSecretChangeRequest{RequestId: "rot-1", Title: "New DB password", Environment: "production",
		Target: "prod-vault", Secret: "production/api", Justification: "leaked", Changes: []*pb.SecretEdit{
			{Key: "DB_PASSWORD", Op: "rotate", Value: "n3w-password"},
			{Key: "API_TOKEN", Op: "set", Value: "tok_from_file"},
			{Key: "OLD_KEY", Op: "delete"},
		}}
	if !proto.Equal(got[0], want) {
		t.Errorf("the gateway got\n%v\nwant\n%v", got[0], want)
	}
	if srv.tokens[0] != "Bearer t-alice" {
		t.Errorf("authorization %q", srv.tokens[0])
	}
	wantOut := "abcdefghijklmnopqrstuvwxyz\thttps://signoff.example.com/approvals/abcdefghijklmnopqrstuvwxyz\n" +
		"  DB_PASSWORD              changed   hmac-sha256:aaaaaaaaaaaa… (12) → hmac-sha256:cccccccccccc… (12)\n" +
		"  API_TOKEN                added     - (0) → hmac-sha256:short (13)\n" +
		"  OLD_KEY                  removed   hmac-sha256:0123456789ab… (9) → - (0)\n"
	if r.stdout != wantOut {
		t.Errorf("output\n%q\nwant\n%q", r.stdout, wantOut)
	}
	for _, v := range []string{"n3w-password", "tok_from_file"} {
		if strings.Contains(r.stdout+r.stderr, v) {
			t.Errorf("the output shows the value %q", v)
		}
	}
}

// TestSecretChangeTrimsOneNewline: only the shell's trailing newline goes
// (\n or \r\n); other whitespace is the value's.
func TestSecretChangeTrimsOneNewline(t *testing.T) {
	srv := &secretServer{}
	addr := startSecretServer(t, srv)
	for _, tc := range []struct{ stdin, want string }{
		{"pw", "pw"}, {"pw\n", "pw"}, {"pw\r\n", "pw"}, {"pw\n\n", "pw\n"}, {" pw \n", " pw "}, {"a\nb\n", "a\nb"},
	} {
		if r := runSecret(t, addr, tc.stdin, withSecretArgs("--set", "K")...); r.code != exitOK {
			t.Errorf("%q: exit %d: %s", tc.stdin, r.code, r.stderr)
			continue
		}
		got := srv.requests()
		if v := got[len(got)-1].GetChanges()[0].GetValue(); v != tc.want {
			t.Errorf("stdin %q: value %q, want %q", tc.stdin, v, tc.want)
		}
	}
	file := writeFile(t, "v", "from-file\r\n")
	if r := runSecret(t, addr, "", withSecretArgs("--rotate", "K=@"+file)...); r.code != exitOK {
		t.Fatalf("file: exit %d: %s", r.code, r.stderr)
	}
	got := srv.requests()
	if v := got[len(got)-1].GetChanges()[0].GetValue(); v != "from-file" {
		t.Errorf("file: value %q", v)
	}
}

// TestSecretChangeRefusesBeforeCalling: a value on the command line, two
// values from stdin, a delete with a value, an empty or unreadable value and
// missing flags exit 2 before any call, and the message never repeats a
// value.
func TestSecretChangeRefusesBeforeCalling(t *testing.T) {
	srv := &secretServer{}
	addr := startSecretServer(t, srv)
	for _, tc := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"a value on the command line", "", withSecretArgs("--set", "DB_PASSWORD=hunter2-on-the-cli"), "never the command line"},
		{"a rotate's value on the command line", "", withSecretArgs("--rotate", "DB_PASSWORD=hunter2-on-the-cli"), "never the command line"},
		{"a value on the command line after a good one", "stdin-value", withSecretArgs("--set", "A", "--set", "B=hunter2-on-the-cli"), "never the command line"},
		{"two keys from stdin", "stdin-value\n", withSecretArgs("--set", "A", "--rotate", "B"), "only one value can come from stdin"},
		{"a delete with a value", "", withSecretArgs("--delete", "OLD=hunter2-on-the-cli"), "takes no value"},
		{"an empty value", "", withSecretArgs("--set", "A"), "empty value"},
		{"a missing file", "", withSecretArgs("--set", "A=@/nonexistent/hunter2"), "--set A"},
		{"no change", "", withSecretArgs(), "give at least one"},
		{"no target", "x", []string{"--secret", "s", "--environment", "e", "--set", "A"}, "--target, --secret and --environment are required"},
		{"a stray argument", "x", withSecretArgs("--set", "A", "extra"), "unexpected argument"},
	} {
		r := runSecret(t, addr, tc.stdin, tc.args...)
		if r.code != exitError || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", tc.name, r.code, r.stderr, tc.want)
		}
		if strings.Contains(r.stderr+r.stdout, "hunter2-on-the-cli") || strings.Contains(r.stderr+r.stdout, "stdin-value") {
			t.Errorf("%s: the message repeats the value: %q", tc.name, r.stderr)
		}
	}
	big := writeFile(t, "big", strings.Repeat("x", maxSecretInput+1))
	if r := runSecret(t, addr, "", withSecretArgs("--set", "A=@"+big)...); r.code != exitError || !strings.Contains(r.stderr, "longer than") {
		t.Errorf("an oversize file: exit %d %q", r.code, r.stderr)
	}
	if got := srv.requests(); len(got) != 0 {
		t.Fatalf("refused runs reached the gateway: %v", got)
	}
}

// TestSecretChangeAPIErrors: the gateway's refusal is told (exit 2), with
// no value; --json prints the approval.
func TestSecretChangeAPIErrors(t *testing.T) {
	srv := &secretServer{err: status.Error(codes.InvalidArgument, "key DB_PASSWORD: rotate: no such key (set adds one)")}
	addr := startSecretServer(t, srv)
	r := runSecret(t, addr, "pw-value\n", withSecretArgs("--rotate", "DB_PASSWORD")...)
	if r.code != exitError || r.stderr != "signoff secret-change: invalid request: key DB_PASSWORD: rotate: no such key (set adds one)\n" ||
		r.stdout != "" {
		t.Errorf("refused: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	srv.mu.Lock()
	srv.err = nil
	srv.mu.Unlock()
	r = runSecret(t, addr, "pw-value\n", withSecretArgs("--rotate", "DB_PASSWORD", "--json")...)
	// protojson's spacing varies on purpose.
	if r.code != exitOK || !strings.Contains(r.stdout, `"secretChange"`) || !regexp.MustCompile(`"newLength":\s+8\b`).MatchString(r.stdout) ||
		strings.Contains(r.stdout, "pw-value") {
		t.Errorf("--json: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Without a token nothing is sent.
	var errOut bytes.Buffer
	c := &cli{ctx: context.Background(), name: "secret-change", stdin: strings.NewReader("pw-value"), stdout: io.Discard, stderr: &errOut,
		getenv: envOf("SIGNOFF_ADDR", addr)}
	if code := runSecretChange(c, withSecretArgs("--set", "A")); code != exitError || !strings.Contains(errOut.String(), "SIGNOFF_TOKEN") {
		t.Errorf("no token: exit %d %q", code, errOut.String())
	}
	if n := len(srv.requests()); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
}
