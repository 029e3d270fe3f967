// Package awsfault tells AWS errors that retrying cannot fix (access
// denied, bad credentials, invalid requests, no such entity) from those a
// later attempt may pass (throttling, server faults, transport errors).
package awsfault

import (
	"errors"
	"slices"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// throttlingCodes are client-fault codes that a later attempt can pass.
var throttlingCodes = []string{"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "RequestThrottled"}

// Permanent reports whether err is an AWS client fault. Errors a service
// does not model (AccessDenied) carry no fault, so the HTTP status decides
// for them; 408, 429 and 5xx are never permanent.
func Permanent(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) || slices.Contains(throttlingCodes, api.ErrorCode()) {
		return false
	}
	client := api.ErrorFault() == smithy.FaultClient
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) {
		code := resp.HTTPStatusCode()
		if code >= 500 || code == 408 || code == 429 {
			return false
		}
		client = client || code >= 400
	}
	return client
}
