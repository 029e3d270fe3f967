package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signoff/signoff/people"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

// runDelegate hands the caller's approvals (an admin: --from's) to a
// colleague until a time.
func runDelegate(c *cli, args []string) int {
	req := &pb.CreateDelegationRequest{}
	var until, start string
	var asJSON bool
	fs := c.flags()
	fs.StringVar(&until, "until", "", "when it ends: 2026-12-24 (through that day, UTC), an RFC 3339 time, or a duration (8h, 3d)")
	fs.StringVar(&start, "start", "", "when it starts (default now): a date, RFC 3339 time or duration from now")
	fs.StringVar(&req.From, "from", "", "whose approvals (admins only; default: yours)")
	fs.StringVar(&req.Reason, "reason", "", "why, for the audit trail")
	fs.StringVar(&req.RequestId, "request-id", "", "idempotency key: a retry with the same key creates one delegation")
	fs.BoolVar(&asJSON, "json", false, "print the delegation as JSON")
	pos, code, ok := c.parse(fs, args)
	switch {
	case !ok:
		return code
	case len(pos) != 1:
		return c.errorf("want the delegate's user name, got %d arguments", len(pos))
	case until == "":
		return c.errorf("--until is required: a delegation ends")
	}
	req.To = strings.TrimPrefix(pos[0], "@")
	now := time.Now()
	end, err := people.ParseWhen(until, now, true)
	if err != nil {
		return c.errorf("--until: %v", err)
	}
	req.EndTime = timestamppb.New(end)
	if start != "" {
		s, err := people.ParseWhen(start, now, false)
		if err != nil {
			return c.errorf("--start: %v", err)
		}
		req.StartTime = timestamppb.New(s)
	}
	if _, code, ok := c.api(); !ok {
		return code
	}
	defer c.close()
	ctx, cancel := c.call()
	defer cancel()
	d, err := pb.NewDelegationServiceClient(c.conn).CreateDelegation(ctx, req)
	if err != nil {
		return c.apiError(err)
	}
	if asJSON {
		c.printJSON(d)
		return exitOK
	}
	fmt.Fprintf(c.stdout, "%s decides for %s from %s until %s (delegation %s)\n", d.GetTo(), d.GetFrom(),
		d.GetStartTime().AsTime().UTC().Format(time.RFC3339), d.GetEndTime().AsTime().UTC().Format(time.RFC3339), d.GetId())
	return exitOK
}

// runDelegations lists the caller's delegations (made by them or to them).
func runDelegations(c *cli, args []string) int {
	var asJSON bool
	fs := c.flags()
	fs.BoolVar(&asJSON, "json", false, "print the list as JSON")
	pos, code, ok := c.parse(fs, args)
	switch {
	case !ok:
		return code
	case len(pos) != 0:
		return c.errorf("takes no arguments")
	}
	if _, code, ok := c.api(); !ok {
		return code
	}
	defer c.close()
	ctx, cancel := c.call()
	defer cancel()
	resp, err := pb.NewDelegationServiceClient(c.conn).ListDelegations(ctx, &pb.ListDelegationsRequest{})
	if err != nil {
		return c.apiError(err)
	}
	if asJSON {
		c.printJSON(resp)
		return exitOK
	}
	w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tFROM\tTO\tSTART\tEND\tSTATE\tREASON")
	for _, d := range resp.GetDelegations() {
		state := "ahead"
		switch {
		case d.GetActive():
			state = "active"
		case d.GetRevokeTime() != nil:
			state = "revoked by " + d.GetRevokedBy()
		case d.GetEndTime().AsTime().Before(time.Now()):
			state = "ended"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.GetId(), d.GetFrom(), d.GetTo(),
			d.GetStartTime().AsTime().UTC().Format(time.RFC3339), d.GetEndTime().AsTime().UTC().Format(time.RFC3339), state, d.GetReason())
	}
	_ = w.Flush()
	return exitOK
}

// runUndelegate ends a delegation now.
func runUndelegate(c *cli, args []string) int {
	fs := c.flags()
	pos, code, ok := c.parse(fs, args)
	switch {
	case !ok:
		return code
	case len(pos) != 1:
		return c.errorf("want one delegation ID, got %d arguments", len(pos))
	}
	if _, code, ok := c.api(); !ok {
		return code
	}
	defer c.close()
	ctx, cancel := c.call()
	defer cancel()
	d, err := pb.NewDelegationServiceClient(c.conn).RevokeDelegation(ctx, &pb.RevokeDelegationRequest{Id: pos[0]})
	if err != nil {
		return c.apiError(err)
	}
	fmt.Fprintf(c.stdout, "delegation %s from %s to %s ended\n", d.GetId(), d.GetFrom(), d.GetTo())
	return exitOK
}
