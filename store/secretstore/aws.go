package secretstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/signoff/signoff/store/secretstore/awsfault"
)

// ErrPermanent marks errors a retry will not mend: access denied, bad
// credentials or token, a request the store refuses, a secret that is not
// a set of string key/value pairs. Test with errors.Is(err, ErrPermanent);
// other errors (throttling, 5xx answers, the network) may pass later.
var ErrPermanent = errors.New("permanent secret store error")

// permanentError is err, marked ErrPermanent; its message is err's.
type permanentError struct{ err error }

func (e permanentError) Error() string   { return e.err.Error() }
func (e permanentError) Unwrap() []error { return []error{e.err, ErrPermanent} }

// permanent marks err ErrPermanent (nil stays nil).
func permanent(err error) error {
	if err == nil || errors.Is(err, ErrPermanent) {
		return err
	}
	return permanentError{err}
}

// AWSOptions say how to reach AWS Secrets Manager. Credentials come from
// the AWS SDK's standard chain (environment, shared files, SSO, container
// and instance roles).
type AWSOptions struct {
	// Region of the secrets; default us-east-1.
	Region string
	// Endpoint overrides Secrets Manager's endpoint (a VPC endpoint, a
	// test fake).
	Endpoint string
	// Profile is a named profile of the shared AWS config; empty uses the
	// standard chain (AWS_PROFILE included).
	Profile string
	// MaxAttempts bounds the SDK's own attempts per call (it retries
	// throttling and 5xx answers); 0 keeps its default (3).
	MaxAttempts int

	// tune adjusts the client's options (tests: a retryer that does not
	// wait).
	tune func(*sm.Options)
}

// AWS is a Store over AWS Secrets Manager. A secret's value is a JSON
// object of string keys and values in its SecretString; its version is
// the VersionId of its AWSCURRENT version. Staged blobs are secrets of
// their own, named StagingPrefix+id, deleted without recovery window.
//
// The AWS config is loaded on first use, not by NewAWS, so a process that
// only validates needs no credentials; a failed load is tried again on
// the next call.
//
// IAM permissions needed: secretsmanager:GetSecretValue and
// PutSecretValue on the secrets it changes, CreateSecret on those it may
// create, and GetSecretValue, CreateSecret, PutSecretValue and
// DeleteSecret on signoff-staging/*.
type AWS struct {
	opts AWSOptions

	mu     sync.Mutex
	client *sm.Client
}

// NewAWS returns a Store over Secrets Manager; it connects on first use.
func NewAWS(o AWSOptions) *AWS {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	return &AWS{opts: o}
}

// api returns the client, loading the AWS config the first time.
func (a *AWS) api(ctx context.Context) (*sm.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.client != nil {
		return a.client, nil
	}
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(a.opts.Region)}
	if a.opts.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(a.opts.Profile))
	}
	if a.opts.MaxAttempts > 0 {
		opts = append(opts, awsconfig.WithRetryMaxAttempts(a.opts.MaxAttempts))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		// A missing profile or a malformed AWS config will not mend itself.
		return nil, permanent(fmt.Errorf("load AWS config (profile %q): %w", a.opts.Profile, err))
	}
	a.client = sm.NewFromConfig(cfg, func(o *sm.Options) {
		if a.opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(a.opts.Endpoint)
		}
		if a.opts.tune != nil {
			a.opts.tune(o)
		}
	})
	return a.client, nil
}

// awsVersionID is the Secrets Manager VersionId (and ClientRequestToken) a
// Write with token makes: the hex SHA-256 of the token, 64 characters, as
// AWS wants 32 to 64.
func awsVersionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Read implements Store.
func (a *AWS) Read(ctx context.Context, name string) (Secret, error) {
	if err := checkName(name); err != nil {
		return Secret{}, err
	}
	c, err := a.api(ctx)
	if err != nil {
		return Secret{}, err
	}
	out, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(name)})
	switch {
	case isNotFound(err):
		return Secret{}, nil
	case isMarkedDeleted(err):
		return Secret{}, permanent(fmt.Errorf("secret %s is scheduled for deletion: restore it (aws secretsmanager restore-secret) or wait until it is gone", name))
	case err != nil:
		return Secret{}, classifyAWS(fmt.Errorf("read secret %s: %w", name, err))
	}
	data, err := parseJSONSecret(name, out.SecretString)
	if err != nil {
		return Secret{}, err
	}
	return Secret{Data: data, Version: aws.ToString(out.VersionId), Exists: true}, nil
}

// Write implements Store. The new version's VersionId (and the
// ClientRequestToken) is the hex SHA-256 of token, so Secrets Manager
// itself makes a retried call write nothing more, and a retried Write
// finds its version.
//
// Secrets Manager cannot refuse a write over another version, so expect
// is checked by reading the current VersionId just before the write:
// another writer that gets in between that read and the write is not
// caught (a window of one round trip). Writers that go through Signoff
// read, check and write the same way.
func (a *AWS) Write(ctx context.Context, name string, data map[string]string, token, expect string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	c, err := a.api(ctx)
	if err != nil {
		return "", err
	}
	ours := awsVersionID(token)
	value, err := jsonSecret(data)
	if err != nil {
		return "", permanent(fmt.Errorf("write secret %s: %w", name, err))
	}
	cur, exists, err := a.current(ctx, c, name)
	if err != nil {
		return "", err
	}
	if exists && cur == ours {
		return ours, nil // an earlier call with this token wrote it
	}
	if cur != expect {
		if exists {
			// Written with this token, then by someone else?
			_, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(name), VersionId: aws.String(ours)})
			switch {
			case err == nil:
				return ours, nil
			case !isNotFound(err):
				return "", classifyAWS(fmt.Errorf("read secret %s: %w", name, err))
			}
		}
		return "", fmt.Errorf("secret %s: %w: at version %q, expected %q", name, ErrConflict, cur, expect)
	}
	if !exists {
		out, err := c.CreateSecret(ctx, &sm.CreateSecretInput{
			Name: aws.String(name), SecretString: aws.String(value), ClientRequestToken: aws.String(ours),
		})
		if err == nil {
			return aws.ToString(out.VersionId), nil
		}
		if !hasCode(err, "ResourceExistsException") {
			return "", classifyAWS(fmt.Errorf("create secret %s: %w", name, err))
		}
		// Created meanwhile, or a secret with no value yet.
		cur, exists, err := a.current(ctx, c, name)
		switch {
		case err != nil:
			return "", err
		case exists && cur == ours:
			return ours, nil
		case exists:
			return "", fmt.Errorf("secret %s: %w: created meanwhile (version %q)", name, ErrConflict, cur)
		}
	}
	out, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{
		SecretId: aws.String(name), SecretString: aws.String(value), ClientRequestToken: aws.String(ours),
	})
	if hasCode(err, "ResourceExistsException") {
		return "", permanent(fmt.Errorf("write secret %s: version %s exists with other values: the token was used for another change", name, ours))
	}
	if err != nil {
		return "", classifyAWS(fmt.Errorf("write secret %s: %w", name, err))
	}
	return aws.ToString(out.VersionId), nil
}

// current is the secret's AWSCURRENT VersionId; exists is false when
// there is no such secret or it has no value.
func (a *AWS) current(ctx context.Context, c *sm.Client, name string) (version string, exists bool, err error) {
	out, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(name)})
	switch {
	case isNotFound(err):
		return "", false, nil
	case isMarkedDeleted(err):
		return "", false, permanent(fmt.Errorf("secret %s is scheduled for deletion: restore it (aws secretsmanager restore-secret) or wait until it is gone", name))
	case err != nil:
		return "", false, classifyAWS(fmt.Errorf("read secret %s: %w", name, err))
	}
	return aws.ToString(out.VersionId), true, nil
}

// Stage implements Store.
func (a *AWS) Stage(ctx context.Context, id, blob string) error {
	name, err := stagedName(id)
	if err != nil {
		return err
	}
	c, err := a.api(ctx)
	if err != nil {
		return err
	}
	_, err = c.CreateSecret(ctx, &sm.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(blob),
		Description: aws.String("Sealed values of a proposed Signoff secret change; deleted when it is applied or discarded."),
	})
	if hasCode(err, "ResourceExistsException") {
		_, err = c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(blob)})
	}
	if err != nil {
		return classifyAWS(fmt.Errorf("stage %s: %w", name, err))
	}
	return nil
}

// Staged implements Store.
func (a *AWS) Staged(ctx context.Context, id string) (string, bool, error) {
	name, err := stagedName(id)
	if err != nil {
		return "", false, err
	}
	c, err := a.api(ctx)
	if err != nil {
		return "", false, err
	}
	out, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(name)})
	switch {
	case isNotFound(err), isMarkedDeleted(err):
		return "", false, nil
	case err != nil:
		return "", false, classifyAWS(fmt.Errorf("read %s: %w", name, err))
	case out.SecretString == nil:
		return "", false, permanent(fmt.Errorf("read %s: it holds a binary value, not a staged change", name))
	}
	return *out.SecretString, true, nil
}

// Unstage implements Store.
func (a *AWS) Unstage(ctx context.Context, id string) error {
	name, err := stagedName(id)
	if err != nil {
		return err
	}
	c, err := a.api(ctx)
	if err != nil {
		return err
	}
	_, err = c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)})
	if err != nil && !isNotFound(err) {
		return classifyAWS(fmt.Errorf("delete %s: %w", name, err))
	}
	return nil
}

// jsonSecret is data as a SecretString.
func jsonSecret(data map[string]string) (string, error) {
	if data == nil {
		data = map[string]string{}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return "", errors.New("cannot encode the values as JSON")
	}
	return string(b), nil
}

// parseJSONSecret reads a SecretString holding a JSON object of strings.
// Its errors name the secret and keys, never a value (nor the JSON
// decoder's message, which may quote it).
func parseJSONSecret(name string, s *string) (map[string]string, error) {
	if s == nil {
		return nil, permanent(fmt.Errorf("secret %s holds a binary value (SecretBinary), not a JSON object of string keys and values", name))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(*s), &raw); err != nil || raw == nil {
		return nil, permanent(fmt.Errorf("secret %s: its value is not a JSON object of string keys and values", name))
	}
	data := make(map[string]string, len(raw))
	for _, k := range sortedKeys(raw) {
		var v string
		if err := json.Unmarshal(raw[k], &v); err != nil {
			return nil, permanent(fmt.Errorf("secret %s: key %q holds %s, not a string (Signoff changes secrets of string values only)", name, k, jsonKind(raw[k])))
		}
		data[k] = v
	}
	return data, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// jsonKind names the kind of a JSON value, for errors.
func jsonKind(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// hasCode tells whether err is an AWS API error with code.
func hasCode(err error, code string) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == code
}

func isNotFound(err error) bool { return hasCode(err, "ResourceNotFoundException") }

// isMarkedDeleted tells whether err says the secret is scheduled for
// deletion (Secrets Manager answers InvalidRequestException).
func isMarkedDeleted(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidRequestException" {
		return false
	}
	msg := strings.ToLower(api.ErrorMessage())
	return strings.Contains(msg, "marked for deletion") || strings.Contains(msg, "scheduled for deletion")
}

// classifyAWS marks AWS client faults (access denied, bad credentials,
// invalid requests, no such entity) permanent; the rest is retried.
func classifyAWS(err error) error {
	if awsfault.Permanent(err) {
		return permanent(err)
	}
	return err
}
