package jlis

// WithCRLBuildHook calls f after a new CRL file is complete and before it is published.
func WithCRLBuildHook(f func(ca string)) Option { return func(s *Simulator) { s.crlBuilt = f } }
