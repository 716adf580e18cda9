// Package api holds mynagate's HTTP API contract: the OpenAPI 3.1 document openapi.yaml,
// embedded so that tests, documentation tools and the server can read the very file that is
// reviewed.
//
// It owns the contract only. The handlers are package web's, and a test in internal/e2e checks
// every route web registers against this document and validates real requests and responses
// against it, so the two cannot drift apart silently.
//
// [OpenAPI 3.1]: https://spec.openapis.org/oas/v3.1.1.html
// [RFC 9457]: https://www.rfc-editor.org/rfc/rfc9457
package api

import _ "embed"

// Spec is the OpenAPI 3.1 document of the platform API (YAML).
//
//go:embed openapi.yaml
var Spec []byte
