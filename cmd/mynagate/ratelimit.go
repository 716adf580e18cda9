package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/mynagate/mynagate/web"
)

// limitValue is a rate limit flag: RATE/s:BURST (or RATE/m:BURST), or 0 for none.
type limitValue struct{ l *web.Limit }

func (v limitValue) String() string {
	if v.l == nil || v.l.Rate <= 0 {
		return "0"
	}
	return fmt.Sprintf("%s/s:%d", strconv.FormatFloat(v.l.Rate, 'f', -1, 64), v.l.Burst)
}

func (v limitValue) Type() string { return "RATE/s:BURST" }

func (v limitValue) Set(s string) error {
	if s == "0" || s == "off" {
		*v.l = web.Limit{}
		return nil
	}
	rs, bs, ok := strings.Cut(s, ":")
	num, unit, ok2 := strings.Cut(rs, "/")
	rate, err := strconv.ParseFloat(num, 64)
	burst, err2 := strconv.Atoi(bs)
	if !ok || !ok2 || err != nil || err2 != nil || !(rate > 0) || math.IsInf(rate, 0) || burst < 1 || (unit != "s" && unit != "m") {
		return fmt.Errorf("%q is not RATE/s:BURST or RATE/m:BURST with a positive rate and burst (e.g. 20/s:100), or 0 for none", s)
	}
	if unit == "m" {
		rate /= 60
	}
	*v.l = web.Limit{Rate: rate, Burst: burst}
	return nil
}

// addRateLimitFlags adds serve's rate limit flags, with web.DefaultRateLimits as defaults.
func addRateLimitFlags(fl *pflag.FlagSet, l *web.RateLimits) {
	*l = web.DefaultRateLimits
	fl.Var(limitValue{&l.TenantSessions}, "rate-limit-tenant-sessions", "session creations per tenant (429 with Retry-After beyond it; 0: none)")
	fl.Var(limitValue{&l.IPSessions}, "rate-limit-ip-sessions", "session creations per client address (0: none; behind a reverse proxy every client has its address)")
	fl.Var(limitValue{&l.IPHolder}, "rate-limit-ip-holder", "holder requests (challenges, answers, consents) per client address (0: none)")
}
