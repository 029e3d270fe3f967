package gateway

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errNotFound answers both an unknown approval and one the caller may not
// read (access.CanRead): the same code and message, so a stranger cannot
// tell which. statusOf answers an unknown one with it too.
var errNotFound = status.Error(codes.NotFound, "approval not found")
