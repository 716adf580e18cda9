package platform

import "github.com/mynagate/mynagate/egress"

// WithPrivateWebhookTargets lets tenants register webhook endpoints on loopback, private and
// other non-public addresses, and over http, and the deliverer connect to them (the egress
// policy of package egress).
func WithPrivateWebhookTargets() Option { return func(p *Platform) { p.privateTargets = true } }

// PrivateWebhookTargets reports whether the egress policy is lifted (WithPrivateWebhookTargets).
func (p *Platform) PrivateWebhookTargets() bool { return p.privateTargets }

// checkEndpointURL refuses, under the default policy, an endpoint that is plainly not a public
// https one (egress.CheckURL).
func (p *Platform) checkEndpointURL(scheme, host string) error {
	if p.privateTargets {
		return nil
	}
	if err := egress.CheckURL(scheme, host); err != nil {
		return newError(KindInvalid, "invalid-request", "%s", err.Error())
	}
	return nil
}
