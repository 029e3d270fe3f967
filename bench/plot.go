package bench

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// PlotSweep draws end-to-end latency (p50, p95) and throughput against the
// number of concurrent clients.
func PlotSweep(path string, sweep []PathResult, baseline []Throughput) error {
	p := plot.New()
	p.Title.Text = "Signoff full path: latency against load"
	p.X.Label.Text = "concurrent clients"
	p.Y.Label.Text = "end-to-end latency (ms)"
	var p50, p95, base pts
	for _, r := range sweep {
		p50 = append(p50, pt{float64(r.Concurrency), r.EndToEnd.P50})
		p95 = append(p95, pt{float64(r.Concurrency), r.EndToEnd.P95})
	}
	for _, b := range baseline {
		base = append(base, pt{float64(b.Concurrency), b.EndToEnd.P95})
	}
	if err := plotutil.AddLinePoints(p, "Signoff p50", p50.xys(), "Signoff p95", p95.xys(), "bare Temporal p95", base.xys()); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}

type pt struct{ x, y float64 }
type pts []pt

func (p pts) xys() plotter.XYs {
	out := make(plotter.XYs, len(p))
	for i, v := range p {
		out[i].X, out[i].Y = v.x, v.y
	}
	return out
}
