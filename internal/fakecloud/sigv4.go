package fakecloud

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// errUnknownAccessKey is checkSigV4's error for a request signed with an
// access key other than the fake's.
var errUnknownAccessKey = errors.New("unknown access key")

// checkSigV4 recomputes the request's AWS Signature Version 4 with the
// given credentials: a caller that signed with other credentials fails as
// it would against AWS. service, when not empty, must be the service named
// in the credential scope (iam, secretsmanager, ...).
func checkSigV4(r *http.Request, body []byte, accessKeyID, secretKey, service string) error {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return fmt.Errorf("not signed with AWS4-HMAC-SHA256")
	}
	parts := map[string]string{}
	for _, p := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		parts[k] = v
	}
	scope := strings.SplitN(parts["Credential"], "/", 2)
	if len(scope) != 2 || scope[0] != accessKeyID {
		return errUnknownAccessKey
	}
	// The scope is date/region/service/aws4_request.
	if s := strings.Split(scope[1], "/"); service != "" && (len(s) != 4 || s[2] != service) {
		return fmt.Errorf("credential scope %q is not for service %s", scope[1], service)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signed := strings.Split(parts["SignedHeaders"], ";")
	var canon strings.Builder
	fmt.Fprintf(&canon, "%s\n%s\n%s\n", r.Method, orDefault(r.URL.EscapedPath(), "/"), r.URL.RawQuery)
	for _, h := range signed {
		v := strings.Join(r.Header.Values(h), ",")
		switch h {
		case "host":
			v = r.Host
		case "content-length":
			v = strconv.FormatInt(r.ContentLength, 10)
		}
		fmt.Fprintf(&canon, "%s:%s\n", h, strings.TrimSpace(v))
	}
	bodySum := sha256.Sum256(body)
	fmt.Fprintf(&canon, "\n%s\n%s", parts["SignedHeaders"], hex.EncodeToString(bodySum[:]))
	canonSum := sha256.Sum256([]byte(canon.String()))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope[1] + "\n" + hex.EncodeToString(canonSum[:])

	key := []byte("AWS4" + secretKey)
	for _, s := range strings.Split(scope[1], "/") {
		key = hmacSum(key, s)
	}
	if want := hex.EncodeToString(hmacSum(key, toSign)); !hmac.Equal([]byte(want), []byte(parts["Signature"])) {
		return fmt.Errorf("the request signature does not match")
	}
	return nil
}

func hmacSum(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
