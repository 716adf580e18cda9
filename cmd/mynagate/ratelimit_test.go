package main

import (
	"testing"

	"github.com/mynagate/mynagate/web"
)

func TestLimitFlag(t *testing.T) {
	for in, want := range map[string]web.Limit{"20/s:100": {Rate: 20, Burst: 100}, "60/m:5": {Rate: 1, Burst: 5}, "0.5/s:1": {Rate: 0.5, Burst: 1}, "0": {}, "off": {}} {
		var l web.Limit
		if err := (limitValue{&l}).Set(in); err != nil || l != want {
			t.Errorf("Set(%q) = %+v, %v; want %+v", in, l, err, want)
		}
	}
	for _, in := range []string{"", "20", "20/s", "20/h:1", "-1/s:5", "20/s:0", "x/s:1", "20/s:1.5", "NaN/s:1", "Inf/s:1"} {
		l := web.Limit{Rate: 7, Burst: 7}
		if err := (limitValue{&l}).Set(in); err == nil || l.Rate != 7 {
			t.Errorf("Set(%q) accepted: %+v", in, l)
		}
	}
}
