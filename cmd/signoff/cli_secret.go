package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	pb "github.com/signoff/signoff/proto/signoff/v1"
)

// editFlag collects --set/--rotate/--delete in order.
type editFlag struct {
	op    string
	edits *[]*pb.SecretEdit
	specs *[]string
}

func (f editFlag) String() string { return "" }
func (f editFlag) Set(v string) error {
	*f.edits = append(*f.edits, &pb.SecretEdit{Key: v, Op: f.op})
	*f.specs = append(*f.specs, v)
	return nil
}

// maxSecretInput bounds one value read from stdin or a file.
const maxSecretInput = 64 << 10

// runSecretChange proposes a secret change. A value is read from stdin
// (--set KEY) or a file (--set KEY=@path), never from the command line:
// other users of the machine see arguments (ps), shells keep them in
// history.
func runSecretChange(c *cli, args []string) int {
	var target, secret, environment, title, justification, requestID string
	var asJSON bool
	var edits []*pb.SecretEdit
	var specs []string
	fs := c.flags()
	fs.StringVar(&target, "target", "", "the configured store (actions.secrets.targets)")
	fs.StringVar(&secret, "secret", "", "the secret's name or path")
	fs.StringVar(&environment, "environment", "", "environment (policies match on it)")
	fs.StringVar(&title, "title", "", "title (default: Change <secret>)")
	fs.StringVar(&justification, "justification", "", "why")
	fs.StringVar(&requestID, "request-id", "", "idempotency key")
	fs.BoolVar(&asJSON, "json", false, "print the approval as JSON")
	fs.Var(editFlag{op: "set", edits: &edits, specs: &specs}, "set", "KEY (value on stdin) or KEY=@file: add or change a key")
	fs.Var(editFlag{op: "rotate", edits: &edits, specs: &specs}, "rotate", "KEY or KEY=@file: change a key that exists")
	fs.Var(editFlag{op: "delete", edits: &edits, specs: &specs}, "delete", "KEY: remove a key")
	pos, code, ok := c.parse(fs, args)
	switch {
	case !ok:
		return code
	case len(pos) > 0:
		return c.errorf("unexpected argument %q", pos[0])
	case target == "" || secret == "" || environment == "":
		return c.errorf("--target, --secret and --environment are required")
	case len(edits) == 0:
		return c.errorf("give at least one --set, --rotate or --delete")
	}
	stdinUsed := false
	for i, e := range edits {
		key, source, hasSource := strings.Cut(specs[i], "=")
		e.Key = key
		if e.Op == "delete" {
			if hasSource {
				return c.errorf("--delete %s takes no value", key)
			}
			continue
		}
		var v []byte
		var err error
		switch {
		case hasSource && strings.HasPrefix(source, "@"):
			v, err = readBounded(func() (io.ReadCloser, error) { return os.Open(source[1:]) })
		case hasSource:
			return c.errorf("--%s %s=…: a value is read from stdin (--%s %s) or a file (%s=@path), never the command line", e.Op, key, e.Op, key, key)
		case stdinUsed:
			return c.errorf("--%s %s: only one value can come from stdin; read the others from files (KEY=@path)", e.Op, key)
		default:
			stdinUsed = true
			v, err = readBounded(func() (io.ReadCloser, error) { return io.NopCloser(c.stdin), nil })
		}
		if err != nil {
			return c.errorf("--%s %s: %v", e.Op, key, err)
		}
		// One trailing newline is the shell's (echo, a file's last line).
		v = bytes.TrimSuffix(bytes.TrimSuffix(v, []byte("\n")), []byte("\r"))
		e.Value = string(v)
	}
	api, code, ok := c.api()
	if !ok {
		return code
	}
	defer c.close()
	ctx, cancel := c.call()
	defer cancel()
	a, err := api.ProposeSecretChange(ctx, &pb.ProposeSecretChangeRequest{
		RequestId: requestID, Title: title, Environment: environment, Target: target, Secret: secret,
		Changes: edits, Justification: justification,
	})
	if err != nil {
		return c.apiError(err)
	}
	if asJSON {
		c.printJSON(a)
		return exitOK
	}
	fmt.Fprintf(c.stdout, "%s\t%s\n", a.GetId(), c.link(a.GetId()))
	for _, k := range a.GetSecretChange().GetKeys() {
		fmt.Fprintf(c.stdout, "  %-24s %-9s %s (%d) → %s (%d)\n", k.GetKey(), k.GetKind(),
			shortFingerprint(k.GetOldFingerprint()), k.GetOldLength(), shortFingerprint(k.GetNewFingerprint()), k.GetNewLength())
	}
	return exitOK
}

// readBounded reads one value, at most maxSecretInput bytes.
func readBounded(open func() (io.ReadCloser, error)) ([]byte, error) {
	r, err := open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxSecretInput+1))
	switch {
	case err != nil:
		return nil, err
	case len(b) > maxSecretInput:
		return nil, fmt.Errorf("longer than %d bytes", maxSecretInput)
	case len(b) == 0:
		return nil, fmt.Errorf("empty value")
	}
	return b, nil
}

func shortFingerprint(h string) string {
	if h == "" {
		return "-"
	}
	if len(h) > 24 {
		return h[:24] + "…"
	}
	return h
}
