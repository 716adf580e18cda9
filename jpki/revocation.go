package jpki

// RevocationMethod says how the revocation status of a certificate was established. It is the
// one type for the idea: package revocation answers with it, the platform records it on a
// verification, and the evidence log encodes it (one byte in the leaf).
type RevocationMethod string

// Revocation methods.
const (
	RevocationNone RevocationMethod = "none" // rejected before revocation was checked
	RevocationCRL  RevocationMethod = "crl"  // a CRL, identified by its number and thisUpdate
	RevocationOCSP RevocationMethod = "ocsp" // an OCSP response
)
