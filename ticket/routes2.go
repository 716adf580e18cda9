package ticket

import "net/http"

func (s *Service) moreRoutes(mux *http.ServeMux) {}
