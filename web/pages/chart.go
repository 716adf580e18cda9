package pages

import (
	"fmt"

	"github.com/mynagate/mynagate/platform"
)

// The usage chart is an SVG drawn on the server (no script): one stacked bar per month, one
// colour per purpose and revocation method, with the same numbers in a table beside it for
// screen readers and for copying.

// series is one stack layer: a purpose and method, its catalog key and colour.
type series struct {
	Purpose platform.Purpose
	Method  platform.RevocationMethod
	Key     string // catalog key of its label
	Color   string // fill; each has at least 3:1 contrast against white (WCAG 1.4.11)
}

var chartSeries = []series{
	{platform.PurposeIdentity, platform.MethodCRL, "usage.identity.crl", "#0b4fa8"},
	{platform.PurposeIdentity, platform.MethodOCSP, "usage.identity.ocsp", "#5b2a86"},
	{platform.PurposeLogin, platform.MethodCRL, "usage.login.crl", "#00703c"},
	{platform.PurposeLogin, platform.MethodOCSP, "usage.login.ocsp", "#8a4b00"},
	{platform.PurposeIdentity, platform.MethodNone, "usage.identity.none", "#6b6b6b"},
	{platform.PurposeLogin, platform.MethodNone, "usage.login.none", "#2b2b2b"},
	{platform.PurposeChipReading, platform.MethodNone, "usage.chip.none", "#a4243b"},
}

// Bar is one rectangle of the chart.
type Bar struct {
	X, Y, W, H int
	Color      string
	Title      string // "2026-12: 3"
}

// ChartRow is one month of the table.
type ChartRow struct {
	Month  string
	Counts []int64
	Total  int64
}

// Chart is what the usage page draws.
type Chart struct {
	Width, Height int
	Bars          []Bar
	Labels        []struct {
		X, Y int
		Text string
	}
	Ticks []struct {
		Y    int
		Text string
	}
	Series []series
	Rows   []ChartRow
	Total  int64
	Max    int64
}

func buildChart(months []string, us []platform.Usage) Chart {
	const (
		width, height     = 640, 300
		left, bottom, top = 48, 40, 16
		slot              = (width - left - 16) / 6
		barW              = slot * 3 / 5
	)
	c := Chart{Width: width, Height: height, Series: chartSeries}
	counts := map[string][]int64{}
	for _, m := range months {
		counts[m] = make([]int64, len(chartSeries))
	}
	for _, u := range us {
		row, ok := counts[u.Month]
		if !ok {
			continue
		}
		for i, s := range chartSeries {
			if s.Purpose == u.Purpose && s.Method == u.Method {
				row[i] += u.Count
			}
		}
	}
	for _, m := range months {
		r := ChartRow{Month: m, Counts: counts[m]}
		for _, n := range r.Counts {
			r.Total += n
		}
		c.Total += r.Total
		c.Max = max(c.Max, r.Total)
		c.Rows = append(c.Rows, r)
	}
	scale := max(c.Max, 1)
	// A round top for the axis: 1, 2, 5 × 10^k.
	top10 := int64(1)
	for top10*10 < scale {
		top10 *= 10
	}
	axis := top10
	for _, f := range []int64{1, 2, 5, 10} {
		if f*top10 >= scale {
			axis = f * top10
			break
		}
	}
	plot := height - bottom - top
	step := max(axis/4, 1) // whole numbers only, none repeated
	for v := int64(0); v <= axis; v += step {
		y := height - bottom - int(int64(plot)*v/axis)
		c.Ticks = append(c.Ticks, struct {
			Y    int
			Text string
		}{y, fmt.Sprint(v)})
	}
	for i, r := range c.Rows {
		x := left + i*slot + (slot-barW)/2
		y := height - bottom
		for j, n := range r.Counts {
			if n == 0 {
				continue
			}
			h := int(int64(plot) * n / axis)
			if h < 1 {
				h = 1
			}
			y -= h
			c.Bars = append(c.Bars, Bar{X: x, Y: y, W: barW, H: h, Color: chartSeries[j].Color, Title: fmt.Sprintf("%s: %d", r.Month, n)})
		}
		c.Labels = append(c.Labels, struct {
			X, Y int
			Text string
		}{x + barW/2, height - bottom + 20, r.Month})
	}
	return c
}
