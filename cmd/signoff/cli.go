package main

// The pipeline CLI: `signoff request|get|list|approve|reject|cancel` talk to
// a gateway's gRPC API. They read no config file — a CI job has none — only
// the environment:
//
//	SIGNOFF_TOKEN   the caller's API token (required)
//	SIGNOFF_ADDR    gateway gRPC address: host:port (default 127.0.0.1:9090),
//	                https://host[:port] (TLS, port 443 by default) or
//	                http://host:port (plaintext)
//	SIGNOFF_TLS=1   TLS with the system's roots for a host:port address
//	SIGNOFF_TLS_CA  PEM file of a private CA (implies TLS)
//	SIGNOFF_TLS_SERVER_NAME  TLS server name when it differs from the host
//	SIGNOFF_URL     the gateway's public URL, for links (<url>/approvals/<id>)
//
// Exit codes: 0 done (for request --wait: approved or bypassed), 1 not
// granted (rejected, expired, cancelled, or stopped waiting), 2 usage,
// connection or API errors.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/signoff/signoff/proto/signoff/v1"
)

// Exit codes of the client commands.
const (
	exitOK         = 0
	exitNotGranted = 1
	exitError      = 2
)

// defaultAddr is the gateway's default gRPC listener.
const defaultAddr = "127.0.0.1:9090"

// callTimeout bounds one API call.
const callTimeout = 30 * time.Second

// clientCommand is a command that talks to a gateway and needs no config.
type clientCommand struct {
	name, args, help string
	run              func(cli *cli, args []string) int
}

var clientCommands = []clientCommand{
	{"request", "--title T --environment E [flags]", "ask for an approval; --wait gates a CI job on it; --start for later access", runRequest},
	{"get", "ID [--json]", "show an approval", runGet},
	{"list", "[--status S] [--environment E] [--waiting]", "list approvals", runList},
	{"catalog", "[--environment E] [--action T] [--json]", "list what you may request, with the request for each", runCatalog},
	{"approve", "ID [--comment C] [--for P] [--duration D]", "approve an approval (--for: as P's delegate; --duration: grant less time)", runDecide},
	{"reject", "ID [--comment C] [--for P]", "reject an approval", runDecide},
	{"cancel", "ID [--reason R]", "cancel an approval (requester or admin)", runCancel},
	{"revoke", "ID [--reason R]", "revoke granted access now (grantee or admin)", runCancel},
	{"extend", "ID --duration D [--justification J]", "ask for more time on granted access (a new approval)", runExtend},
	{"take-over-revoke", "ID --reason R", "stop a failing revoke's retries: you remove the access by hand (admin)", runCancel},
	{"secret-change", "--target T --secret S --environment E (--set K | --rotate K | --delete K)…",
		"propose a change to a secret; values from stdin or @file, never the command line", runSecretChange},
	{"delegate", "USER --until WHEN [--reason R]", "let USER decide your approvals until WHEN", runDelegate},
	{"delegations", "[--json]", "list your delegations (by you and to you)", runDelegations},
	{"undelegate", "ID", "end a delegation now", runUndelegate},
	{"evidence", "verify FILE [--public-key K] | keygen",
		"check an evidence export offline (exit 1 if tampered); make a signing key", runEvidence},
}

// runClientCommand runs name when it is a client command.
func runClientCommand(name string, args []string) (code int, ok bool) {
	for _, c := range clientCommands {
		if c.name == name {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return c.run(&cli{ctx: ctx, name: name, getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, args), true
		}
	}
	return 0, false
}

// printClientUsage lists the client commands for usage().
func printClientUsage(w io.Writer) {
	fmt.Fprintf(w, "\nclient commands (no config file; SIGNOFF_TOKEN, SIGNOFF_ADDR, SIGNOFF_URL from the environment):\n")
	for _, c := range clientCommands {
		fmt.Fprintf(w, "  %-8s %-40s %s\n", c.name, c.args, c.help)
	}
}

// cli is one client command's context.
type cli struct {
	ctx    context.Context
	name   string
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	addr   string
	conn   *grpc.ClientConn
}

// errorf prints a message and returns the usage/error exit code.
func (c *cli) errorf(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "signoff %s: %s\n", c.name, fmt.Sprintf(format, args...))
	return exitError
}

func (c *cli) infof(format string, args ...any) {
	fmt.Fprintf(c.stderr, format+"\n", args...)
}

// flags returns a flag set that reports to stderr, with --addr.
func (c *cli) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("signoff "+c.name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.addr, "addr", "", "gateway gRPC address (default $SIGNOFF_ADDR, else "+defaultAddr+")")
	return fs
}

// parse parses flags anywhere among the arguments (`get ID --json`) and
// returns the positional ones. ok false means exit with code.
func (c *cli) parse(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			return nil, exitOK, false
		}
		if err != nil {
			return nil, exitError, false
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), 0, true
		}
		if len(rest) == 0 {
			return pos, 0, true
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// api dials the gateway. The connection is lazy: an unreachable gateway
// shows as the first call's Unavailable.
func (c *cli) api() (pb.ApprovalServiceClient, int, bool) {
	token := c.getenv("SIGNOFF_TOKEN")
	if token == "" {
		return nil, c.errorf("SIGNOFF_TOKEN is not set (the API token of the user to act as)"), false
	}
	target, creds, err := c.target()
	if err != nil {
		return nil, c.errorf("%v", err), false
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds),
		grpc.WithPerRPCCredentials(bearer{token: token}))
	if err != nil {
		return nil, c.errorf("gateway address %q: %v", c.addr, err), false
	}
	c.conn = conn
	return pb.NewApprovalServiceClient(conn), 0, true
}

func (c *cli) close() {
	if c.conn != nil {
		_ = c.conn.Close()
	}
}

// target resolves the address and transport security.
func (c *cli) target() (string, credentials.TransportCredentials, error) {
	addr := c.addr
	if addr == "" {
		addr = c.getenv("SIGNOFF_ADDR")
	}
	if addr == "" {
		addr = defaultAddr
	}
	c.addr = addr
	useTLS := c.getenv("SIGNOFF_TLS") == "1" || strings.EqualFold(c.getenv("SIGNOFF_TLS"), "true") || c.getenv("SIGNOFF_TLS_CA") != ""
	hostport := addr
	switch {
	case strings.HasPrefix(addr, "https://"):
		u, err := url.Parse(addr)
		if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return "", nil, fmt.Errorf("gateway address %q: want https://host[:port]", addr)
		}
		hostport, useTLS = u.Host, true
		if u.Port() == "" {
			hostport = net.JoinHostPort(u.Hostname(), "443")
		}
	case strings.HasPrefix(addr, "http://"):
		u, err := url.Parse(addr)
		if err != nil || u.Port() == "" || (u.Path != "" && u.Path != "/") {
			return "", nil, fmt.Errorf("gateway address %q: want http://host:port", addr)
		}
		hostport = u.Host
		if useTLS {
			return "", nil, fmt.Errorf("gateway address %q is http:// but SIGNOFF_TLS asks for TLS", addr)
		}
	case strings.Contains(addr, "://"):
		return "", nil, fmt.Errorf("gateway address %q: want host:port, https://host[:port] or http://host:port", addr)
	}
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", nil, fmt.Errorf("gateway address %q: %v", addr, err)
	}
	if !useTLS {
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			c.infof("warning: sending SIGNOFF_TOKEN to %s without TLS (use https://… or SIGNOFF_TLS=1)", hostport)
		}
		return "passthrough:///" + hostport, insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.getenv("SIGNOFF_TLS_SERVER_NAME")}
	if ca := c.getenv("SIGNOFF_TLS_CA"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return "", nil, fmt.Errorf("SIGNOFF_TLS_CA: %v", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return "", nil, fmt.Errorf("SIGNOFF_TLS_CA: no PEM certificate in %s", ca)
		}
	}
	return "passthrough:///" + hostport, credentials.NewTLS(cfg), nil
}

// bearer adds the token to every call.
type bearer struct{ token string }

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false so loopback plaintext works; target
// warns when the token leaves the machine unencrypted.
func (b bearer) RequireTransportSecurity() bool { return false }

// call bounds one API call.
func (c *cli) call() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.ctx, callTimeout)
}

// apiError explains a failed call and returns the exit code (2).
func (c *cli) apiError(err error) int {
	if errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled {
		return c.errorf("interrupted")
	}
	st, _ := status.FromError(err)
	msg := st.Message()
	switch st.Code() {
	case codes.Unauthenticated:
		return c.errorf("the gateway did not accept SIGNOFF_TOKEN: %s", msg)
	case codes.PermissionDenied:
		return c.errorf("refused: %s", msg)
	case codes.NotFound:
		return c.errorf("not found: %s", msg)
	case codes.InvalidArgument:
		return c.errorf("invalid request: %s", msg)
	case codes.FailedPrecondition:
		return c.errorf("not possible now: %s", msg)
	case codes.AlreadyExists:
		return c.errorf("%s; pass another --request-id", msg)
	case codes.Unavailable:
		return c.errorf("cannot reach the gateway at %s (set SIGNOFF_ADDR): %s", c.addr, msg)
	case codes.DeadlineExceeded:
		return c.errorf("the gateway at %s did not answer within %s", c.addr, callTimeout)
	default:
		return c.errorf("%s: %s", st.Code(), msg)
	}
}

// link is where a person looks at approval id.
func (c *cli) link(id string) string {
	if u := strings.TrimRight(c.getenv("SIGNOFF_URL"), "/"); u != "" {
		return u + "/approvals/" + id
	}
	// The approval's page: the same origin behind an https:// address, else the
	// gateway's default HTTP port next to its gRPC port.
	if strings.HasPrefix(c.addr, "https://") {
		return strings.TrimRight(c.addr, "/") + "/approvals/" + id
	}
	host, _, err := net.SplitHostPort(strings.TrimPrefix(c.addr, "http://"))
	if err != nil {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, "8080") + "/approvals/" + id
}

// printJSON writes m as indented protojson.
func (c *cli) printJSON(m proto.Message) {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
	if err != nil {
		c.errorf("encode json: %v", err)
		return
	}
	fmt.Fprintln(c.stdout, string(b))
}

// keyValues is a repeatable k=v flag.
type keyValues map[string]string

func (kv keyValues) String() string { return "" }

func (kv keyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	kv[k] = v
	return nil
}

// strs is a repeatable string flag.
type strs []string

func (s *strs) String() string { return strings.Join(*s, ",") }

func (s *strs) Set(v string) error { *s = append(*s, v); return nil }
