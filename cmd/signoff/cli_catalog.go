package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/wording"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

// runCatalog lists what the caller may request, each item with the
// `signoff request` that asks for it.
func runCatalog(c *cli, args []string) int {
	var asJSON bool
	var req pb.ListCatalogRequest
	fs := c.flags()
	fs.StringVar(&req.Environment, "environment", "", "only this environment")
	fs.StringVar(&req.ActionType, "action", "", "only this action type (postgres_role, aws_iam_group, ...)")
	fs.BoolVar(&asJSON, "json", false, "print the catalog as JSON")
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
	resp, err := pb.NewPolicyServiceClient(c.conn).ListCatalog(ctx, &req)
	if err != nil {
		return c.apiError(err)
	}
	if asJSON {
		c.printJSON(resp)
		return exitOK
	}
	if len(resp.GetItems()) == 0 {
		c.infof("nothing you may request here: no policy lets you ask for access the configuration can grant")
		return exitOK
	}
	w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ENVIRONMENT\tITEM\tPOLICY\tAPPROVERS\tAT MOST\tREQUEST WITH")
	for _, it := range resp.GetItems() {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", it.GetEnvironment(), it.GetTitle(), it.GetPolicyName(),
			stageApprovers(it.GetStages()), it.GetMaxDuration(), requestLine(it))
	}
	_ = w.Flush()
	return exitOK
}

// requestLine is the request command's flags for an item, with a
// placeholder for each field the requester fills in.
func requestLine(it *pb.CatalogItem) string {
	parts := []string{"--environment " + it.GetEnvironment(), "--action " + it.GetAction().GetType()}
	params := it.GetAction().GetParams()
	for _, k := range slices.Sorted(maps.Keys(params)) {
		parts = append(parts, "--param "+k+"="+params[k])
	}
	for _, f := range it.GetAsk() {
		parts = append(parts, "--param "+f.GetParam()+"=<"+f.GetParam()+">")
	}
	return strings.Join(append(parts, "--duration <up to "+it.GetMaxDuration()+">"), " ")
}

// stageApprovers says who approves, in the channels' words.
func stageApprovers(stages []*pb.Stage) string {
	out := make([]approval.Stage, len(stages))
	for i, st := range stages {
		out[i] = approval.Stage{Name: st.GetName(), Approvers: st.GetApprovers(), RequiredApprovals: int(st.GetRequiredApprovals())}
	}
	return wording.StageApprovers(out)
}
