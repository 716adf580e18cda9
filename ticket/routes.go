package ticket

import "net/http"

// routes adds the routes of the later parts (lottery, codes, resale, webhooks, reports).
func (s *Service) routes(mux *http.ServeMux) {}
