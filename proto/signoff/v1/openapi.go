package signoffv1

import _ "embed"

// OpenAPI is the REST API's OpenAPI (Swagger 2.0) document, as generated
// and merged by `make proto`; the gateway serves it at /openapi.json.
//
//go:embed signoff.swagger.json
var OpenAPI []byte
