package action

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/signoff/signoff/approval"
)

// IAMGroupType adds an IAM user to an IAM group for the approval's
// duration, then removes it.
const IAMGroupType = "aws_iam_group"

// Parameters of aws_iam_group.
const (
	ParamIAMGroup     = "group"
	ParamIAMGroupUser = "user"
)

// iamGroupNamePattern is IAM's group-name charset and length.
var iamGroupNamePattern = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,128}$`)

// IAMGroupAPI is what aws_iam_group needs of an IAM client.
type IAMGroupAPI interface {
	AddUserToGroup(ctx context.Context, in *iam.AddUserToGroupInput, opts ...func(*iam.Options)) (*iam.AddUserToGroupOutput, error)
	RemoveUserFromGroup(ctx context.Context, in *iam.RemoveUserFromGroupInput, opts ...func(*iam.Options)) (*iam.RemoveUserFromGroupOutput, error)
	ListGroupsForUser(ctx context.Context, in *iam.ListGroupsForUserInput, opts ...func(*iam.Options)) (*iam.ListGroupsForUserOutput, error)
}

// IAMGroupClient adapts a Client func of NewIAMClient, so both IAM actions
// share one client: the *iam.Client it returns has the group calls too.
func IAMGroupClient(client func(ctx context.Context) (IAMAPI, error)) func(ctx context.Context) (IAMGroupAPI, error) {
	return func(ctx context.Context) (IAMGroupAPI, error) {
		c, err := client(ctx)
		if err != nil {
			return nil, err
		}
		g, ok := c.(IAMGroupAPI)
		if !ok {
			return nil, fmt.Errorf("IAM client %T cannot manage group membership", c)
		}
		return g, nil
	}
}

// IAMGroup is the aws_iam_group action. Grant and revoke each look first
// (ListGroupsForUser), act only if needed, and read back after: a retry
// never acts twice, and success means IAM says so.
type IAMGroup struct {
	// Groups are the groups users may be added to
	// (actions.aws_iam.groups); none means none.
	Groups []string
	// Client returns the IAM client. It is called only when the action
	// runs, so the gateway, which only validates, needs no AWS credentials.
	Client func(ctx context.Context) (IAMGroupAPI, error)
	// VerifyTimeout bounds the read-back: IAM is eventually consistent, so
	// a new membership may take a moment to show.
	VerifyTimeout time.Duration
}

// Validate checks group and user before anyone is asked.
func (g *IAMGroup) Validate(a approval.Action) error {
	if a.URL != "" {
		return errors.New("takes no url")
	}
	for _, k := range slices.Sorted(maps.Keys(a.Params)) {
		if k != ParamIAMGroup && k != ParamIAMGroupUser {
			return fmt.Errorf("unknown param %q (want %s and %s)", k, ParamIAMGroup, ParamIAMGroupUser)
		}
	}
	group, user := a.Params[ParamIAMGroup], a.Params[ParamIAMGroupUser]
	switch {
	case !iamGroupNamePattern.MatchString(group):
		return fmt.Errorf("param %s must be 1-128 characters of A-Z a-z 0-9 + = , . @ _ -", ParamIAMGroup)
	case !slices.Contains(g.Groups, group):
		return fmt.Errorf("param %s %q is not a group users may be added to (actions.aws_iam.groups: %v)", ParamIAMGroup, group, g.Groups)
	case !iamUserNamePattern.MatchString(user):
		return fmt.Errorf("param %s must be 1-64 characters of A-Z a-z 0-9 + = , . @ _ -", ParamIAMGroupUser)
	}
	return nil
}

// Resource is the membership. IAM names are case-insensitive ("Admins" is
// "admins"), so it is lower case: spellings of one membership overlap.
func (g *IAMGroup) Resource(a approval.Action) string {
	return strings.ToLower(strings.Join([]string{IAMGroupType, a.Params[ParamIAMGroup], a.Params[ParamIAMGroupUser]}, ":"))
}

// Holds reads whether the user is in the group now.
func (g *IAMGroup) Holds(ctx context.Context, st *approval.State) (bool, error) {
	client, group, user, err := g.open(ctx, st)
	if err != nil {
		return false, err
	}
	return inGroup(ctx, client, group, user)
}

// Run adds the user to the group.
func (g *IAMGroup) Run(ctx context.Context, st *approval.State) (string, error) {
	client, group, user, err := g.open(ctx, st)
	if err != nil {
		return "", err
	}
	member, err := inGroup(ctx, client, group, user)
	if err != nil {
		return "", err
	}
	out := fmt.Sprintf("user %s was already in IAM group %s (verified: member)", user, group)
	if !member {
		if _, err := client.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String(group), UserName: aws.String(user)}); err != nil {
			return "", classifyAWS(fmt.Errorf("add user %s to group %s: %w", user, group, err))
		}
		out = fmt.Sprintf("added user %s to IAM group %s (verified: member)", user, group)
	}
	// Not a member yet stays retryable: the next attempt looks first, and
	// adding twice is harmless in IAM.
	if err := g.readBack(ctx, client, group, user, true); err != nil {
		return "", fmt.Errorf("add user %s to group %s: %w", user, group, err)
	}
	return out, nil
}

// Revoke removes the user from the group.
func (g *IAMGroup) Revoke(ctx context.Context, st *approval.State) (string, error) {
	client, group, user, err := g.open(ctx, st)
	if err != nil {
		return "", err
	}
	member, err := inGroup(ctx, client, group, user)
	if err != nil {
		return "", err
	}
	out := fmt.Sprintf("user %s was not in IAM group %s (verified: not a member)", user, group)
	if member {
		if _, err := client.RemoveUserFromGroup(ctx, &iam.RemoveUserFromGroupInput{GroupName: aws.String(group), UserName: aws.String(user)}); err != nil {
			return "", classifyAWS(fmt.Errorf("remove user %s from group %s: %w", user, group, err))
		}
		out = fmt.Sprintf("removed user %s from IAM group %s (verified: not a member)", user, group)
	}
	if err := g.readBack(ctx, client, group, user, false); err != nil {
		return "", fmt.Errorf("remove user %s from group %s: %w", user, group, err)
	}
	return out, nil
}

// open validates again (config may have changed since the approval was
// created) and gets the client.
func (g *IAMGroup) open(ctx context.Context, st *approval.State) (IAMGroupAPI, string, string, error) {
	a := st.Request.Action
	if err := g.Validate(a); err != nil {
		return nil, "", "", Permanent(err)
	}
	client, err := g.Client(ctx)
	if err != nil {
		// A missing profile or a malformed AWS config will not mend itself.
		return nil, "", "", Permanent(err)
	}
	return client, a.Params[ParamIAMGroup], a.Params[ParamIAMGroupUser], nil
}

func (g *IAMGroup) verifyTimeout() time.Duration {
	if g.VerifyTimeout <= 0 {
		return 15 * time.Second
	}
	return g.VerifyTimeout
}

// readBack polls the membership until it is want or the verify timeout
// passes.
func (g *IAMGroup) readBack(ctx context.Context, client IAMGroupAPI, group, user string, want bool) error {
	deadline := time.Now().Add(g.verifyTimeout())
	wait := 200 * time.Millisecond
	for {
		member, err := inGroup(ctx, client, group, user)
		switch {
		case err == nil && member == want:
			return nil
		case IsPermanent(err):
			return err
		case time.Now().Add(wait).After(deadline):
			if err != nil {
				return fmt.Errorf("could not read the membership back: %w", err)
			}
			if want {
				return fmt.Errorf("not a member when read back for %s", g.verifyTimeout())
			}
			return fmt.Errorf("still a member when read back for %s", g.verifyTimeout())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// inGroup looks for the group among the user's groups, page by page.
func inGroup(ctx context.Context, client IAMGroupAPI, group, user string) (bool, error) {
	pages := iam.NewListGroupsForUserPaginator(client, &iam.ListGroupsForUserInput{UserName: aws.String(user)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return false, classifyAWS(fmt.Errorf("list groups of user %s: %w", user, err))
		}
		for _, gr := range page.Groups {
			// IAM group names are case-insensitive.
			if strings.EqualFold(aws.ToString(gr.GroupName), group) {
				return true, nil
			}
		}
	}
	return false, nil
}
