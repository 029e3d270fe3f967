package fakecloud

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Staging labels Secrets Manager moves between versions.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
)

// SecretsManager is a fake of AWS Secrets Manager's JSON 1.1 API (POST /,
// X-Amz-Target: secretsmanager.<Operation>) covering CreateSecret,
// PutSecretValue, GetSecretValue, DescribeSecret, DeleteSecret and
// ListSecretVersionIds, for string secrets. It checks each request's SigV4
// signature against the credentials it was given, keeps every version with
// its staging labels, and honours ClientRequestToken idempotency as AWS
// documents it: the same token with the same value is answered with the
// version already written, with another value it is refused.
type SecretsManager struct {
	URL string
	// AccessKeyID and SecretKey are the caller's credentials.
	AccessKeyID, SecretKey string
	// Region and Account make up the secrets' ARNs.
	Region, Account string

	mu sync.Mutex
	// secrets holds live secrets and those scheduled for deletion, by name.
	secrets map[string]*smSecret
	calls   map[string]int
	fails   map[string][]Fault
	holds   map[string][]*Hold
	all     []*Hold
}

type smSecret struct {
	name, arn, description string
	created, changed       time.Time
	// deleted is when DeleteSecret scheduled the secret's deletion (zero:
	// live), deletion when the recovery window ends.
	deleted, deletion time.Time
	versions          []*smVersion // in the order written
}

type smVersion struct {
	id, value string
	stages    []string
	created   time.Time
}

// NewSecretsManager serves a fake Secrets Manager (region us-east-1,
// account 123456789012) until the test ends. Held calls are released
// before the server closes.
func NewSecretsManager(t testing.TB, accessKeyID, secretKey string) *SecretsManager {
	f := &SecretsManager{AccessKeyID: accessKeyID, SecretKey: secretKey, Region: "us-east-1", Account: "123456789012",
		secrets: map[string]*smSecret{}, calls: map[string]int{}, fails: map[string][]Fault{}, holds: map[string][]*Hold{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	t.Cleanup(f.releaseAll) // runs first: Close waits for held calls
	f.URL = srv.URL
	return f
}

// AddSecret writes value as the secret's new AWSCURRENT version, creating
// the secret if need be, as CreateSecret or PutSecretValue would; it
// returns the version ID.
func (f *SecretsManager) AddSecret(name, value string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.secrets[name]
	if s == nil {
		s = f.newSecret(name, "")
	}
	return f.addVersion(s, newUUID(), value, nil).id
}

// Secret is the secret's AWSCURRENT value; ok is false if there is no
// such secret, it is scheduled for deletion, or it has no current value.
func (f *SecretsManager) Secret(name string) (current string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.secrets[name]
	if s == nil || !s.deleted.IsZero() {
		return "", false
	}
	if v := s.byStage(StageCurrent); v != nil {
		return v.value, true
	}
	return "", false
}

// Versions is how many versions of the secret were written: idempotent
// retries and refused writes write none (0 if there is no such secret).
func (f *SecretsManager) Versions(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.secrets[name]; s != nil {
		return len(s.versions)
	}
	return 0
}

// Calls counts the correctly signed calls of op ("GetSecretValue", ...;
// "" for all), those answered with an injected fault included.
func (f *SecretsManager) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if op != "" {
		return f.calls[op]
	}
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

// FailNext makes the next n calls of op fail with HTTP 500
// InternalServiceError, changing nothing: an outage. The SDK retries such
// answers.
func (f *SecretsManager) FailNext(op string, n int) {
	for range n {
		f.FailNextWith(op, Fault{HTTPStatus: 500, Code: "InternalServiceError", Message: "An error occurred on the server side."})
	}
}

// FailNextWith makes the next calls of op answer with faults, one each
// (for example {400, "ThrottlingException", "Rate exceeded"}).
func (f *SecretsManager) FailNextWith(op string, faults ...Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails[op] = append(f.fails[op], faults...)
}

// HoldNext holds the next call of op (after its signature check, before it
// changes anything) until the returned Hold is released.
func (f *SecretsManager) HoldNext(op string) *Hold {
	h := NewHold()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holds[op] = append(f.holds[op], h)
	f.all = append(f.all, h)
	return h
}

func (f *SecretsManager) releaseAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, h := range f.all {
		h.Release()
	}
}

// smError is an error answer: Fault's code becomes the JSON __type.
func smError(status int, code, format string, args ...any) *Fault {
	return &Fault{HTTPStatus: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

const smTargetPrefix = "secretsmanager."

func (f *SecretsManager) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.Method != http.MethodPost {
		f.fault(w, smError(400, "SerializationException", "want a JSON POST"))
		return
	}
	if r.Header.Get("Authorization") == "" {
		f.fault(w, smError(400, "MissingAuthenticationTokenException", "Request is missing Authentication Token"))
		return
	}
	if err := checkSigV4(r, body, f.AccessKeyID, f.SecretKey, "secretsmanager"); err != nil {
		if errors.Is(err, errUnknownAccessKey) {
			f.fault(w, smError(400, "UnrecognizedClientException", "The security token included in the request is invalid."))
		} else {
			f.fault(w, smError(400, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided: %v", err))
		}
		return
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), smTargetPrefix)
	if !ok {
		f.fault(w, smError(400, "UnknownOperationException", "unknown target %q", r.Header.Get("X-Amz-Target")))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		f.fault(w, smError(400, "SerializationException", "unexpected Content-Type %q", ct))
		return
	}
	f.mu.Lock()
	f.calls[op]++
	var injected *Fault
	if q := f.fails[op]; len(q) > 0 {
		injected, f.fails[op] = &q[0], q[1:]
	}
	var hold *Hold
	if q := f.holds[op]; injected == nil && len(q) > 0 {
		hold, f.holds[op] = q[0], q[1:]
	}
	f.mu.Unlock()
	if injected != nil {
		f.fault(w, injected)
		return
	}
	if hold != nil {
		hold.Wait()
		defer hold.Done()
	}

	var handle func([]byte) (any, *Fault)
	switch op {
	case "CreateSecret":
		handle = f.createSecret
	case "PutSecretValue":
		handle = f.putSecretValue
	case "GetSecretValue":
		handle = f.getSecretValue
	case "DescribeSecret":
		handle = f.describeSecret
	case "DeleteSecret":
		handle = f.deleteSecret
	case "ListSecretVersionIds":
		handle = f.listSecretVersionIds
	default:
		f.fault(w, smError(400, "UnknownOperationException", "the fake does not implement %s", op))
		return
	}
	f.mu.Lock()
	out, flt := handle(body)
	f.mu.Unlock()
	if flt != nil {
		f.fault(w, flt)
		return
	}
	f.write(w, http.StatusOK, out)
}

func (f *SecretsManager) write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", newUUID())
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *SecretsManager) fault(w http.ResponseWriter, flt *Fault) {
	f.write(w, flt.HTTPStatus, map[string]string{"__type": flt.Code, "message": flt.Message})
}

// decode reads a request body into in; a body that does not parse is a
// SerializationException.
func decode(body []byte, in any) *Fault {
	if err := json.Unmarshal(body, in); err != nil {
		return smError(400, "SerializationException", "%v", err)
	}
	return nil
}

// epoch is a timestamp as AWS JSON writes it: seconds since the epoch.
func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// newUUID is a random version 4 UUID, the form of the SDK's request tokens.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// newSecret creates a live secret with no versions; f.mu is held.
func (f *SecretsManager) newSecret(name, description string) *smSecret {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	var suffix [6]byte // AWS ends ARNs with six random letters
	_, _ = rand.Read(suffix[:])
	for i, c := range suffix {
		suffix[i] = letters[int(c)%len(letters)]
	}
	now := time.Now()
	s := &smSecret{name: name, description: description, created: now, changed: now,
		arn: fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", f.Region, f.Account, name, suffix[:])}
	f.secrets[name] = s
	return s
}

// addVersion writes a version and gives it stages (AWSCURRENT if none),
// taking each from the version that had it; the version losing AWSCURRENT
// gets AWSPREVIOUS. f.mu is held.
func (f *SecretsManager) addVersion(s *smSecret, id, value string, stages []string) *smVersion {
	if len(stages) == 0 {
		stages = []string{StageCurrent}
	}
	v := &smVersion{id: id, value: value, created: time.Now()}
	for _, st := range stages {
		if old := s.byStage(st); old != nil {
			old.stages = slices.DeleteFunc(old.stages, func(x string) bool { return x == st })
			if st == StageCurrent {
				if prev := s.byStage(StagePrevious); prev != nil {
					prev.stages = slices.DeleteFunc(prev.stages, func(x string) bool { return x == StagePrevious })
				}
				old.stages = append(old.stages, StagePrevious)
			}
		}
		v.stages = append(v.stages, st)
	}
	s.versions = append(s.versions, v)
	s.changed = v.created
	return v
}

func (s *smSecret) byStage(stage string) *smVersion {
	for _, v := range s.versions {
		if slices.Contains(v.stages, stage) {
			return v
		}
	}
	return nil
}

func (s *smSecret) byID(id string) *smVersion {
	for _, v := range s.versions {
		if v.id == id {
			return v
		}
	}
	return nil
}

// lookup finds a secret by name, ARN or partial ARN (without the random
// suffix); f.mu is held.
func (f *SecretsManager) lookup(id string) *smSecret {
	if s := f.secrets[id]; s != nil {
		return s
	}
	if strings.HasPrefix(id, "arn:") {
		for _, s := range f.secrets {
			if s.arn == id || s.arn[:len(s.arn)-7] == id {
				return s
			}
		}
	}
	return nil
}

var (
	errNoSecret      = smError(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
	errMarkedDeleted = smError(400, "InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion.")
)

// liveSecret finds a secret that is not scheduled for deletion; f.mu is
// held.
func (f *SecretsManager) liveSecret(id string) (*smSecret, *Fault) {
	s := f.lookup(id)
	switch {
	case s == nil:
		return nil, errNoSecret
	case !s.deleted.IsZero():
		return nil, errMarkedDeleted
	}
	return s, nil
}

// checkValue validates a SecretString, and a ClientRequestToken if sent
// (the SDK always sends one): AWS wants 32 to 64 characters.
func checkValue(value *string, binary json.RawMessage, token string) *Fault {
	switch {
	case len(binary) > 0 && string(binary) != "null":
		return smError(400, "InvalidParameterException", "the fake stores SecretString only, not SecretBinary")
	case value == nil:
		return smError(400, "InvalidParameterException", "You must provide either SecretString or SecretBinary.")
	case len(*value) > 65536:
		return smError(400, "ValidationException", "1 validation error detected: Value at 'secretString' failed to satisfy constraint: Member must have length less than or equal to 65536")
	case token != "" && (len(token) < 32 || len(token) > 64):
		return smError(400, "ValidationException", "1 validation error detected: Value at 'clientRequestToken' failed to satisfy constraint: Member must have length between 32 and 64")
	}
	return nil
}

func validSecretName(name string) bool {
	if name == "" || len(name) > 512 {
		return false
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("/_+=.@-", c)) {
			return false
		}
	}
	return true
}

type smCreateSecretOutput struct {
	ARN       string
	Name      string
	VersionId string `json:",omitempty"`
}

func (f *SecretsManager) createSecret(body []byte) (any, *Fault) {
	var in struct {
		Name, Description, ClientRequestToken string
		SecretString                          *string
		SecretBinary                          json.RawMessage
	}
	if flt := decode(body, &in); flt != nil {
		return nil, flt
	}
	if !validSecretName(in.Name) {
		return nil, smError(400, "InvalidParameterException", "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	if in.SecretString != nil || len(in.SecretBinary) > 0 {
		if flt := checkValue(in.SecretString, in.SecretBinary, in.ClientRequestToken); flt != nil {
			return nil, flt
		}
	}
	if s := f.secrets[in.Name]; s != nil {
		if !s.deleted.IsZero() {
			return nil, smError(400, "InvalidRequestException", "You can't create this secret because a secret with this name is already scheduled for deletion.")
		}
		// A retry of a create that went through: same token, same value.
		if v := s.byID(in.ClientRequestToken); v != nil && in.SecretString != nil && v.value == *in.SecretString {
			return smCreateSecretOutput{ARN: s.arn, Name: s.name, VersionId: v.id}, nil
		}
		return nil, smError(400, "ResourceExistsException", "The operation failed because the secret %s already exists.", in.Name)
	}
	s := f.newSecret(in.Name, in.Description)
	out := smCreateSecretOutput{ARN: s.arn, Name: s.name}
	if in.SecretString != nil {
		out.VersionId = f.addVersion(s, orDefault(in.ClientRequestToken, newUUID()), *in.SecretString, nil).id
	}
	return out, nil
}

type smPutSecretValueOutput struct {
	ARN, Name, VersionId string
	VersionStages        []string
}

func (f *SecretsManager) putSecretValue(body []byte) (any, *Fault) {
	var in struct {
		SecretId, ClientRequestToken string
		SecretString                 *string
		SecretBinary                 json.RawMessage
		VersionStages                []string
	}
	if flt := decode(body, &in); flt != nil {
		return nil, flt
	}
	if flt := checkValue(in.SecretString, in.SecretBinary, in.ClientRequestToken); flt != nil {
		return nil, flt
	}
	s, flt := f.liveSecret(in.SecretId)
	if flt != nil {
		return nil, flt
	}
	if v := s.byID(in.ClientRequestToken); v != nil {
		if v.value != *in.SecretString {
			return nil, smError(400, "ResourceExistsException", "You can't modify an existing version, you can only create new versions.")
		}
		// An idempotent retry: answered with the version already written.
		return smPutSecretValueOutput{ARN: s.arn, Name: s.name, VersionId: v.id, VersionStages: slices.Clone(v.stages)}, nil
	}
	v := f.addVersion(s, orDefault(in.ClientRequestToken, newUUID()), *in.SecretString, in.VersionStages)
	return smPutSecretValueOutput{ARN: s.arn, Name: s.name, VersionId: v.id, VersionStages: slices.Clone(v.stages)}, nil
}

type smGetSecretValueOutput struct {
	ARN, Name, VersionId, SecretString string
	VersionStages                      []string
	CreatedDate                        float64
}

func (f *SecretsManager) getSecretValue(body []byte) (any, *Fault) {
	var in struct{ SecretId, VersionId, VersionStage string }
	if flt := decode(body, &in); flt != nil {
		return nil, flt
	}
	s, flt := f.liveSecret(in.SecretId)
	if flt != nil {
		return nil, flt
	}
	var v *smVersion
	if in.VersionId != "" {
		if v = s.byID(in.VersionId); v == nil {
			return nil, smError(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s", in.VersionId)
		}
		if in.VersionStage != "" && !slices.Contains(v.stages, in.VersionStage) {
			return nil, smError(400, "InvalidRequestException", "You provided a VersionStage that is not associated to the provided VersionId.")
		}
	} else {
		stage := orDefault(in.VersionStage, StageCurrent)
		if v = s.byStage(stage); v == nil {
			return nil, smError(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: %s", stage)
		}
	}
	return smGetSecretValueOutput{ARN: s.arn, Name: s.name, VersionId: v.id, SecretString: v.value,
		VersionStages: slices.Clone(v.stages), CreatedDate: epoch(v.created)}, nil
}

type smDescribeSecretOutput struct {
	ARN, Name          string
	Description        string   `json:",omitempty"`
	CreatedDate        float64  `json:",omitempty"`
	LastChangedDate    float64  `json:",omitempty"`
	DeletedDate        *float64 `json:",omitempty"`
	VersionIdsToStages map[string][]string
}

func (f *SecretsManager) describeSecret(body []byte) (any, *Fault) {
	var in struct{ SecretId string }
	if flt := decode(body, &in); flt != nil {
		return nil, flt
	}
	s := f.lookup(in.SecretId)
	if s == nil {
		return nil, errNoSecret
	}
	out := smDescribeSecretOutput{ARN: s.arn, Name: s.name, Description: s.description,
		CreatedDate: epoch(s.created), LastChangedDate: epoch(s.changed), VersionIdsToStages: map[string][]string{}}
	if !s.deleted.IsZero() {
		d := epoch(s.deleted) // when DeleteSecret was called
		out.DeletedDate = &d
	}
	for _, v := range s.versions {
		if len(v.stages) > 0 {
			out.VersionIdsToStages[v.id] = slices.Clone(v.stages)
		}
	}
	return out, nil
}

type smDeleteSecretOutput struct {
	ARN          string `json:",omitempty"`
	Name         string `json:",omitempty"`
	DeletionDate float64
}

// deleteSecret schedules the secret's deletion after the recovery window
// (7 to 30 days, 30 by default), or, with ForceDeleteWithoutRecovery,
// deletes it at once; a forced delete of a secret that is not there
// succeeds, so that retries do.
func (f *SecretsManager) deleteSecret(body []byte) (any, *Fault) {
	var in struct {
		SecretId                   string
		RecoveryWindowInDays       *int64
		ForceDeleteWithoutRecovery bool
	}
	if flt := decode(body, &in); flt != nil {
		return nil, flt
	}
	days := int64(30)
	switch {
	case in.ForceDeleteWithoutRecovery && in.RecoveryWindowInDays != nil:
		return nil, smError(400, "InvalidParameterException", "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
	case in.RecoveryWindowInDays != nil:
		if days = *in.RecoveryWindowInDays; days < 7 || days > 30 {
			return nil, smError(400, "InvalidParameterException", "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
		}
	}
	now := time.Now()
	s := f.lookup(in.SecretId)
	if in.ForceDeleteWithoutRecovery {
		out := smDeleteSecretOutput{DeletionDate: epoch(now)}
		if s == nil {
			if strings.HasPrefix(in.SecretId, "arn:") {
				out.ARN = in.SecretId
			} else {
				out.Name = in.SecretId
			}
			return out, nil
		}
		delete(f.secrets, s.name)
		out.ARN, out.Name = s.arn, s.name
		return out, nil
	}
	if s == nil {
		return nil, errNoSecret
	}
	if !s.deleted.IsZero() {
		return nil, errMarkedDeleted
	}
	s.deleted, s.deletion = now, now.Add(time.Duration(days)*24*time.Hour)
	return smDeleteSecretOutput{ARN: s.arn, Name: s.name, DeletionDate: epoch(s.deletion)}, nil
}

type smVersionEntry struct {
	VersionId     string
	VersionStages []string
	CreatedDate   float64
}

type smListSecretVersionIdsOutput struct {
	ARN, Name string
	Versions  []smVersionEntry
	NextToken string `json:",omitempty"`
}

// listSecretVersionIds lists the versions oldest first, MaxResults (1 to
// 100) a page; versions without a staging label (deprecated) only with
// IncludeDeprecated.
func (f *SecretsManager) listSecretVersionIds(body []byte) (any, *Fault) {
	var in struct {
		SecretId, NextToken string
		MaxResults          int
		IncludeDeprecated   bool
	}
	if flt := decode(body, &in); flt != nil {
		return nil, flt
	}
	s := f.lookup(in.SecretId)
	if s == nil {
		return nil, errNoSecret
	}
	var all []smVersionEntry
	for _, v := range s.versions {
		if len(v.stages) > 0 || in.IncludeDeprecated {
			all = append(all, smVersionEntry{VersionId: v.id, VersionStages: slices.Clone(v.stages), CreatedDate: epoch(v.created)})
		}
	}
	start := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(in.NextToken)
		if err != nil || n < 0 || n > len(all) {
			return nil, smError(400, "InvalidNextTokenException", "You provided an invalid NextToken value.")
		}
		start = n
	}
	size := in.MaxResults
	if size == 0 {
		size = 100
	} else if size < 1 || size > 100 {
		return nil, smError(400, "InvalidParameterException", "MaxResults must be between 1 and 100.")
	}
	end := min(start+size, len(all))
	out := smListSecretVersionIdsOutput{ARN: s.arn, Name: s.name, Versions: all[start:end]}
	if end < len(all) {
		out.NextToken = strconv.Itoa(end)
	}
	return out, nil
}
