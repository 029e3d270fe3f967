package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"os"

	"github.com/signoff/signoff/approval/evidence"
)

// `signoff evidence verify FILE` checks an evidence export offline; it needs
// no config file and no gateway, so it is a client command.
//
// Exit codes of `signoff evidence verify`: 0 intact, 1 altered or not
// evidence, 2 usage or unreadable file.
func runEvidence(c *cli, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(c.stderr, "usage: signoff evidence verify [--public-key BASE64] FILE | signoff evidence keygen")
		return exitError
	}
	switch args[0] {
	case "verify":
		return evidenceVerify(c, args[1:])
	case "keygen":
		return evidenceKeygen(c)
	}
	fmt.Fprintf(c.stderr, "signoff evidence: unknown subcommand %q (want verify or keygen)\n", args[0])
	return exitError
}

func evidenceVerify(c *cli, args []string) int {
	fs := flag.NewFlagSet("evidence verify", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	pinned := fs.String("public-key", c.getenv("SIGNOFF_EVIDENCE_PUBLIC_KEY"),
		"the base64 Ed25519 public key the export must be signed with (default $SIGNOFF_EVIDENCE_PUBLIC_KEY)")
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(c.stderr, "usage: signoff evidence verify [--public-key BASE64] FILE")
		return exitError
	}
	var pin ed25519.PublicKey
	if *pinned != "" {
		k, err := evidence.ParsePublicKey(*pinned)
		if err != nil {
			fmt.Fprintf(c.stderr, "signoff evidence verify: --public-key: %v\n", err)
			return exitError
		}
		pin = k
	}
	b, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(c.stderr, "signoff evidence verify: %v\n", err)
		return exitError
	}
	res, err := evidence.Verify(b, pin)
	if err != nil {
		fmt.Fprintf(c.stderr, "FAILED: %s: %v\n", fs.Arg(0), err)
		return exitNotGranted
	}
	d := res.Document
	fmt.Fprintf(c.stdout, "OK: approval %s (%s, policy %s %s): %d entries, hash chain intact, signed by key %s\n",
		d.Approval.ID, d.Approval.Status, d.Approval.Policy.Name, d.Approval.Policy.Version, len(d.Entries), res.KeyFingerprint)
	if pin == nil {
		fmt.Fprintln(c.stdout, "Note: no --public-key given: compare the key fingerprint with the one you trust.")
	}
	return exitOK
}

// evidenceKeygen prints a new signing key for SIGNOFF_EVIDENCE_KEY and its
// public key, for auditors.
func evidenceKeygen(c *cli) int {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		fmt.Fprintf(c.stderr, "signoff evidence keygen: %v\n", err)
		return exitError
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	fmt.Fprintf(c.stdout, "%s=%s\n", evidence.EnvKey, base64.StdEncoding.EncodeToString(seed))
	fmt.Fprintf(c.stdout, "# public key (give it to auditors; signoff evidence verify --public-key):\n# %s\n",
		base64.StdEncoding.EncodeToString(pub))
	fmt.Fprintf(c.stdout, "# fingerprint: %s\n", evidence.Fingerprint(pub))
	return exitOK
}
