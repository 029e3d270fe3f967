// Package fakecloud has fakes of the outside APIs actions call (AWS IAM's
// query API, GitHub's workflow dispatch), served on 127.0.0.1 for tests.
// They speak the real wire protocols well enough for the real clients, and
// record what they were asked.
package fakecloud

import (
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// IAM is a fake of the IAM query API (form-encoded POST, XML answers)
// covering ListAccessKeys, UpdateAccessKey, AddUserToGroup,
// RemoveUserFromGroup and ListGroupsForUser. It checks each request's SigV4
// signature against the credentials it was given, as IAM does.
type IAM struct {
	URL string
	// AccessKeyID and SecretKey are the caller's credentials.
	AccessKeyID, SecretKey string
	// PageSize splits ListAccessKeys and ListGroupsForUser answers into
	// pages (0: one page).
	PageSize int

	mu sync.Mutex
	// ignoreUpdates makes UpdateAccessKey, AddUserToGroup and
	// RemoveUserFromGroup answer success and change nothing: the
	// verify-failure path.
	ignoreUpdates bool
	keys          []iamKey
	// users are users without keys; a user with a key is known too.
	users map[string]bool
	// groups maps each group to its members.
	groups map[string]map[string]bool
	// adds and removes count the group changes the fake answered with
	// success (an injected fault is not counted).
	adds, removes int
	calls         []url.Values
	fails         map[string][]Fault
}

type iamKey struct{ user, id, status string }

// Fault is an injected error answer.
type Fault struct {
	HTTPStatus    int
	Code, Message string
}

// NewIAM serves a fake IAM until the test ends.
func NewIAM(t testing.TB, accessKeyID, secretKey string) *IAM {
	f := &IAM{AccessKeyID: accessKeyID, SecretKey: secretKey, fails: map[string][]Fault{},
		users: map[string]bool{}, groups: map[string]map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// AddKey gives user an access key with status Active or Inactive.
func (f *IAM) AddKey(user, id, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = append(f.keys, iamKey{user: user, id: id, status: status})
}

// AddUser creates a user (with no keys).
func (f *IAM) AddUser(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[name] = true
}

// AddGroup creates a group with members; each member becomes a known user.
func (f *IAM) AddGroup(name string, members ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.groups[name] == nil {
		f.groups[name] = map[string]bool{}
	}
	for _, m := range members {
		f.users[m] = true
		f.groups[name][m] = true
	}
}

// InGroup reports whether user is a member of group now.
func (f *IAM) InGroup(group, user string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.groups[group][user]
}

// GroupChanges counts the AddUserToGroup and RemoveUserFromGroup calls
// answered with success, whether they changed anything or not.
func (f *IAM) GroupChanges() (adds, removes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.adds, f.removes
}

// IgnoreUpdates makes UpdateAccessKey, AddUserToGroup and
// RemoveUserFromGroup answer success and change nothing (on): a key that
// stays active, a membership that does not change, whatever IAM says.
func (f *IAM) IgnoreUpdates(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ignoreUpdates = on
}

// Status is a key's current status ("" if unknown).
func (f *IAM) Status(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.keys {
		if k.id == id {
			return k.status
		}
	}
	return ""
}

// FailNext makes the next call of action answer with fault.
func (f *IAM) FailNext(action string, fault Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails[action] = append(f.fails[action], fault)
}

// Calls returns the form of every signed call of action ("" for all).
func (f *IAM) Calls(action string) []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []url.Values
	for _, c := range f.calls {
		if action == "" || c.Get("Action") == action {
			out = append(out, c)
		}
	}
	return out
}

const iamNS = "https://iam.amazonaws.com/doc/2010-05-08/"

func (f *IAM) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.Method != http.MethodPost {
		f.fault(w, Fault{400, "InvalidRequest", "want a form POST"})
		return
	}
	if err := f.checkSignature(r, body); err != nil {
		f.fault(w, Fault{403, "SignatureDoesNotMatch", err.Error()})
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("Version") != "2010-05-08" {
		f.fault(w, Fault{400, "InvalidRequest", "want a form body with Version=2010-05-08"})
		return
	}
	action := form.Get("Action")
	f.mu.Lock()
	f.calls = append(f.calls, form)
	var injected *Fault
	if q := f.fails[action]; len(q) > 0 {
		injected, f.fails[action] = &q[0], q[1:]
	}
	f.mu.Unlock()
	if injected != nil {
		f.fault(w, *injected)
		return
	}
	switch action {
	case "ListAccessKeys":
		f.listAccessKeys(w, form)
	case "UpdateAccessKey":
		f.updateAccessKey(w, form)
	case "AddUserToGroup", "RemoveUserFromGroup":
		f.changeGroup(w, action, form)
	case "ListGroupsForUser":
		f.listGroupsForUser(w, form)
	default:
		f.fault(w, Fault{400, "InvalidAction", "unknown action " + action})
	}
}

type accessKeyMember struct {
	UserName    string
	AccessKeyId string
	Status      string
	CreateDate  string
}

type listAccessKeysResponse struct {
	XMLName xml.Name `xml:"ListAccessKeysResponse"`
	NS      string   `xml:"xmlns,attr"`
	Result  struct {
		Members     []accessKeyMember `xml:"AccessKeyMetadata>member"`
		IsTruncated bool
		Marker      string `xml:",omitempty"`
	} `xml:"ListAccessKeysResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

func (f *IAM) listAccessKeys(w http.ResponseWriter, form url.Values) {
	user := form.Get("UserName")
	f.mu.Lock()
	var mine []accessKeyMember
	known := false
	for _, k := range f.keys {
		if k.user == user {
			known = true
			mine = append(mine, accessKeyMember{UserName: k.user, AccessKeyId: k.id, Status: k.status, CreateDate: "2026-01-02T03:04:05Z"})
		}
	}
	f.mu.Unlock()
	if !known {
		f.fault(w, Fault{404, "NoSuchEntity", "The user with name " + user + " cannot be found."})
		return
	}
	start, _ := strconv.Atoi(form.Get("Marker"))
	end := len(mine)
	if f.PageSize > 0 {
		end = min(start+f.PageSize, len(mine))
	}
	var resp listAccessKeysResponse
	resp.NS, resp.RequestID = iamNS, "req-list"
	resp.Result.Members = mine[start:end]
	if end < len(mine) {
		resp.Result.IsTruncated, resp.Result.Marker = true, strconv.Itoa(end)
	}
	writeXML(w, http.StatusOK, resp)
}

type updateAccessKeyResponse struct {
	XMLName   xml.Name `xml:"UpdateAccessKeyResponse"`
	NS        string   `xml:"xmlns,attr"`
	RequestID string   `xml:"ResponseMetadata>RequestId"`
}

func (f *IAM) updateAccessKey(w http.ResponseWriter, form url.Values) {
	user, id, status := form.Get("UserName"), form.Get("AccessKeyId"), form.Get("Status")
	if status != "Active" && status != "Inactive" {
		f.fault(w, Fault{400, "ValidationError", "bad status " + status})
		return
	}
	f.mu.Lock()
	i := slices.IndexFunc(f.keys, func(k iamKey) bool { return k.user == user && k.id == id })
	if i >= 0 && !f.ignoreUpdates {
		f.keys[i].status = status
	}
	f.mu.Unlock()
	if i < 0 {
		f.fault(w, Fault{404, "NoSuchEntity", "The Access Key with id " + id + " cannot be found."})
		return
	}
	writeXML(w, http.StatusOK, updateAccessKeyResponse{NS: iamNS, RequestID: "req-update"})
}

// knownUser reports whether user exists; f.mu is held.
func (f *IAM) knownUser(user string) bool {
	return f.users[user] || slices.ContainsFunc(f.keys, func(k iamKey) bool { return k.user == user })
}

type groupMember struct {
	Path       string
	GroupName  string
	GroupId    string
	Arn        string
	CreateDate string
}

type listGroupsForUserResponse struct {
	XMLName xml.Name `xml:"ListGroupsForUserResponse"`
	NS      string   `xml:"xmlns,attr"`
	Result  struct {
		Members     []groupMember `xml:"Groups>member"`
		IsTruncated bool
		Marker      string `xml:",omitempty"`
	} `xml:"ListGroupsForUserResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

func (f *IAM) listGroupsForUser(w http.ResponseWriter, form url.Values) {
	user := form.Get("UserName")
	f.mu.Lock()
	known := f.knownUser(user)
	var mine []groupMember
	for i, g := range slices.Sorted(maps.Keys(f.groups)) {
		if f.groups[g][user] {
			mine = append(mine, groupMember{Path: "/", GroupName: g, GroupId: fmt.Sprintf("AGPAEXAMPLE%09d", i),
				Arn: "arn:aws:iam::123456789012:group/" + g, CreateDate: "2026-01-02T03:04:05Z"})
		}
	}
	f.mu.Unlock()
	if !known {
		f.fault(w, Fault{404, "NoSuchEntity", "The user with name " + user + " cannot be found."})
		return
	}
	start, _ := strconv.Atoi(form.Get("Marker"))
	start = min(max(start, 0), len(mine))
	end := len(mine)
	if f.PageSize > 0 {
		end = min(start+f.PageSize, len(mine))
	}
	var resp listGroupsForUserResponse
	resp.NS, resp.RequestID = iamNS, "req-list-groups"
	resp.Result.Members = mine[start:end]
	if end < len(mine) {
		resp.Result.IsTruncated, resp.Result.Marker = true, strconv.Itoa(end)
	}
	writeXML(w, http.StatusOK, resp)
}

// groupChangeResponse is the empty answer of AddUserToGroup and
// RemoveUserFromGroup: <ActionResponse> with only the request ID.
type groupChangeResponse struct {
	XMLName   xml.Name
	NS        string `xml:"xmlns,attr"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

// changeGroup adds or removes a member. Both are idempotent, as in IAM:
// adding a member or removing a non-member succeeds and changes nothing.
func (f *IAM) changeGroup(w http.ResponseWriter, action string, form url.Values) {
	group, user := form.Get("GroupName"), form.Get("UserName")
	f.mu.Lock()
	members, groupOK := f.groups[group]
	userOK := f.knownUser(user)
	if groupOK && userOK {
		if action == "AddUserToGroup" {
			f.adds++
			if !f.ignoreUpdates {
				members[user] = true
			}
		} else {
			f.removes++
			if !f.ignoreUpdates {
				delete(members, user)
			}
		}
	}
	f.mu.Unlock()
	switch {
	case !groupOK:
		f.fault(w, Fault{404, "NoSuchEntity", "The group with name " + group + " cannot be found."})
	case !userOK:
		f.fault(w, Fault{404, "NoSuchEntity", "The user with name " + user + " cannot be found."})
	default:
		writeXML(w, http.StatusOK, groupChangeResponse{XMLName: xml.Name{Local: action + "Response"}, NS: iamNS, RequestID: "req-" + strings.ToLower(action)})
	}
}

type errorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	NS      string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string
		Code    string
		Message string
	}
	RequestID string `xml:"RequestId"`
}

func (f *IAM) fault(w http.ResponseWriter, flt Fault) {
	var e errorResponse
	e.NS, e.RequestID = iamNS, "req-error"
	e.Error.Type = "Sender"
	if flt.HTTPStatus >= 500 {
		e.Error.Type = "Receiver"
	}
	e.Error.Code, e.Error.Message = flt.Code, flt.Message
	writeXML(w, flt.HTTPStatus, e)
}

func writeXML(w http.ResponseWriter, status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = w.Write(append([]byte(xml.Header), b...))
}

// checkSignature checks the request's SigV4 signature against the fake's
// credentials (see checkSigV4).
func (f *IAM) checkSignature(r *http.Request, body []byte) error {
	return checkSigV4(r, body, f.AccessKeyID, f.SecretKey, "")
}
