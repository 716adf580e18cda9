package ticket

// WithWebhookSecret sets the secret (whsec_…) of the platform's webhook endpoint that sends
// this service certificate.revoked events.
func WithWebhookSecret(secret string) Option { return func(s *Service) { s.webhookSecret = secret } }
