package action

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/store/secretstore/awsfault"
)

// IAMDeactivateKeyType is the action type name.
const IAMDeactivateKeyType = "aws_iam_deactivate_key"

// Parameters of aws_iam_deactivate_key.
const (
	ParamIAMUserName    = "user_name"
	ParamIAMAccessKeyID = "access_key_id"
)

var (
	// accessKeyIDPattern is the shape of IAM (AKIA) and STS (ASIA) key IDs.
	accessKeyIDPattern = regexp.MustCompile(`^(?:AKIA|ASIA)[A-Z0-9]{16}$`)
	// iamUserNamePattern is IAM's user-name charset and length.
	iamUserNamePattern = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,64}$`)
)

// IAMAPI is what the action needs of an IAM client.
type IAMAPI interface {
	ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, opts ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	UpdateAccessKey(ctx context.Context, in *iam.UpdateAccessKeyInput, opts ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error)
}

// IAMDeactivateKey sets an IAM user's access key to Inactive, the first
// move when a key leaks. It looks before it acts (an Inactive key is left
// alone, so a retry is harmless) and reads the key back afterwards: a key
// that is still active after the call is a loud, final failure, never a
// quiet success.
type IAMDeactivateKey struct {
	// Client returns the IAM client. It is called only when the action
	// runs, so the gateway, which only validates, needs no AWS credentials.
	Client func(ctx context.Context) (IAMAPI, error)
	// VerifyTimeout bounds the read-back: IAM is eventually consistent, so
	// the new status may take a moment to show.
	VerifyTimeout time.Duration
}

// Validate checks the user name and key ID shapes; nothing else is accepted.
func (a *IAMDeactivateKey) Validate(act approval.Action) error {
	if act.URL != "" {
		return errors.New("takes no url")
	}
	for _, k := range slices.Sorted(maps.Keys(act.Params)) {
		if k != ParamIAMUserName && k != ParamIAMAccessKeyID {
			return fmt.Errorf("unknown param %q (want %s and %s)", k, ParamIAMUserName, ParamIAMAccessKeyID)
		}
	}
	user, key := act.Params[ParamIAMUserName], act.Params[ParamIAMAccessKeyID]
	switch {
	case user == "":
		return fmt.Errorf("param %s is required", ParamIAMUserName)
	case !iamUserNamePattern.MatchString(user):
		return fmt.Errorf("param %s must be 1-64 characters of A-Z a-z 0-9 + = , . @ _ -", ParamIAMUserName)
	case key == "":
		return fmt.Errorf("param %s is required", ParamIAMAccessKeyID)
	case !accessKeyIDPattern.MatchString(key):
		return fmt.Errorf("param %s must look like an access key ID (AKIA or ASIA and 16 more of A-Z 0-9)", ParamIAMAccessKeyID)
	}
	return nil
}

// Run deactivates the key.
func (a *IAMDeactivateKey) Run(ctx context.Context, st *approval.State) (string, error) {
	act := st.Request.Action
	if err := a.Validate(act); err != nil {
		return "", Permanent(err)
	}
	user, keyID := act.Params[ParamIAMUserName], act.Params[ParamIAMAccessKeyID]
	shown := MaskKeyID(keyID)
	client, err := a.Client(ctx)
	if err != nil {
		// A missing profile or a malformed AWS config will not mend itself.
		return "", Permanent(err)
	}
	status, err := keyStatus(ctx, client, user, keyID)
	if err != nil {
		return "", err
	}
	if status != iamtypes.StatusTypeActive {
		return fmt.Sprintf("access key %s of user %s was already %s; nothing changed", shown, user, status), nil
	}
	_, err = client.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
		UserName: aws.String(user), AccessKeyId: aws.String(keyID), Status: iamtypes.StatusTypeInactive,
	})
	if err != nil {
		return "", classifyAWS(fmt.Errorf("deactivate access key %s of user %s: %w", shown, user, err))
	}
	status, err = a.readBack(ctx, client, user, keyID)
	if err != nil {
		// Retrying is safe: the next attempt looks first.
		return "", fmt.Errorf("deactivated access key %s of user %s but could not read it back: %w", shown, user, err)
	}
	if status == iamtypes.StatusTypeActive {
		return "", Permanent(fmt.Errorf("access key %s of user %s is STILL ACTIVE: IAM accepted UpdateAccessKey but still reports the key Active after %s; the key can still be used, deactivate or delete it by hand (aws iam update-access-key --user-name %s --status Inactive)",
			shown, user, a.verifyTimeout(), user))
	}
	return fmt.Sprintf("access key %s of user %s is now %s", shown, user, status), nil
}

func (a *IAMDeactivateKey) verifyTimeout() time.Duration {
	if a.VerifyTimeout <= 0 {
		return 15 * time.Second
	}
	return a.VerifyTimeout
}

// readBack polls the key's status until it is no longer Active or the
// verify timeout passes; it returns the last status read.
func (a *IAMDeactivateKey) readBack(ctx context.Context, client IAMAPI, user, keyID string) (iamtypes.StatusType, error) {
	deadline := time.Now().Add(a.verifyTimeout())
	wait := 200 * time.Millisecond
	for {
		status, err := keyStatus(ctx, client, user, keyID)
		if err == nil && status != iamtypes.StatusTypeActive {
			return status, nil
		}
		if time.Now().Add(wait).After(deadline) {
			return status, err
		}
		select {
		case <-ctx.Done():
			return status, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// keyStatus finds the key among the user's keys, page by page.
func keyStatus(ctx context.Context, client IAMAPI, user, keyID string) (iamtypes.StatusType, error) {
	pages := iam.NewListAccessKeysPaginator(client, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return "", classifyAWS(fmt.Errorf("list access keys of user %s: %w", user, err))
		}
		for _, k := range page.AccessKeyMetadata {
			if aws.ToString(k.AccessKeyId) == keyID {
				return k.Status, nil
			}
		}
	}
	return "", Permanent(fmt.Errorf("user %s has no access key %s", user, MaskKeyID(keyID)))
}

// classifyAWS marks AWS client faults (access denied, bad credentials,
// invalid requests, no such entity) permanent; the rest is retried.
func classifyAWS(err error) error {
	if awsfault.Permanent(err) {
		return Permanent(err)
	}
	return err
}

// MaskKeyID shows an access key ID's kind and last four characters only
// (AKIA…WXYZ): enough to tell keys apart in a chat message.
func MaskKeyID(id string) string {
	if len(id) < 12 {
		return "…"
	}
	return id[:4] + "…" + id[len(id)-4:]
}

// IAMClientOptions say how to reach IAM.
type IAMClientOptions struct {
	// Profile is a named profile of the shared AWS config; empty uses the
	// standard credential chain.
	Profile string
	Region  string
	// Endpoint overrides IAM's endpoint.
	Endpoint string
	// MaxAttempts bounds the SDK's own retries per call; 0 keeps its
	// default.
	MaxAttempts int
}

// NewIAMClient returns a Client func that loads the AWS config once, on
// first use, and keeps the client (whose credentials cache refreshes
// itself). A failed load is not kept, so a later run tries again.
func NewIAMClient(o IAMClientOptions) func(ctx context.Context) (IAMAPI, error) {
	var (
		mu     sync.Mutex
		client IAMAPI
	)
	return func(ctx context.Context) (IAMAPI, error) {
		mu.Lock()
		defer mu.Unlock()
		if client != nil {
			return client, nil
		}
		opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(o.Region)}
		if o.Profile != "" {
			opts = append(opts, awsconfig.WithSharedConfigProfile(o.Profile))
		}
		if o.MaxAttempts > 0 {
			opts = append(opts, awsconfig.WithRetryMaxAttempts(o.MaxAttempts))
		}
		cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("load AWS config (profile %q): %w", o.Profile, err)
		}
		client = iam.NewFromConfig(cfg, func(io *iam.Options) {
			if o.Endpoint != "" {
				io.BaseEndpoint = aws.String(o.Endpoint)
			}
		})
		return client, nil
	}
}
