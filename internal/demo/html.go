package demo

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vlbert/vlbert/internal/atomicfile"
	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/report"
)

// writeHTML writes the self-contained report page: nothing is fetched, images
// are data URIs and plots inline SVG.
func writeHTML(path string, rp *Report) error {
	page := htmlPage{R: rp, Samples: rp.samples, Att: rp.attention, Dir: filepath.Dir(path), Features: filepath.ToSlash(synth.Layout.Features),
		DetSamples: rp.detSamples}
	page.Metrics = metricRows(rp)
	page.Detector = detectorRows(rp)
	vqaTitle := "VQA loss: pre-trained vs from scratch"
	if _, ok := rp.PhaseSeconds[PhaseVQAOracle]; ok {
		vqaTitle += " (and on the oracle boxes)"
	}
	page.Curves = []template.HTML{
		curveSVG("Detector loss (RPN + Fast R-CNN + attributes)", rp, []string{PhaseDetector}),
		curveSVG("Pre-training loss (MLM + MVRC)", rp, []string{PhasePretrain}),
		curveSVG(vqaTitle, rp, []string{PhaseVQA, PhaseVQAScratch, PhaseVQAOracle}),
		curveSVG("Grounding loss: pre-trained vs from scratch", rp, []string{PhaseGround, PhaseGroundScratch}),
		curveSVG("VCR-style Q→A loss: pre-trained vs from scratch", rp, []string{PhaseVCR, PhaseVCRScratch}),
	}
	var names []string
	for n := range rp.PhaseSeconds {
		names = append(names, n)
	}
	order := map[string]int{PhaseData: 0, PhaseDetector: 1, PhaseDetect: 2, PhasePretrain: 3, PhaseVQA: 4, PhaseVQAScratch: 5, PhaseGround: 6, PhaseGroundScratch: 7,
		PhaseVCR: 8, PhaseVCRScratch: 9, PhaseVQAOracle: 10, PhaseReport: 11}
	sort.Slice(names, func(i, j int) bool { return order[names[i]] < order[names[j]] })
	for _, n := range names {
		page.Phases = append(page.Phases, phaseRow{n, rp.PhaseSeconds[n]})
	}
	if page.Att != nil {
		page.BlockNames = report.BlockNames[:]
	}
	return atomicfile.WriteFile(path, func(w io.Writer) error { return pageTmpl.Execute(w, page) })
}

type htmlPage struct {
	R          *Report
	Detector   []detectorRow
	DetSamples []DetectorSample
	Metrics    []metricRow
	Curves     []template.HTML
	Samples    []Sample
	Att        *attentionView
	BlockNames []string
	Phases     []phaseRow
	Dir        string
	Features   string // the feature files' directory under data/
}

type phaseRow struct {
	Name    string
	Seconds float64
}

type metricRow struct {
	Task, Metric       string
	Pre, Scratch, Base string
	Good               bool // pre-trained beats the baseline
}

func fmtAcc(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", 100**v)
}

// detectorRow is one line of the detector table: a class's AP, or a total.
type detectorRow struct {
	Name, Value string
	Total       bool
}

func detectorRows(rp *Report) []detectorRow {
	if rp.DetectorMAP50 == nil {
		return nil
	}
	rows := []detectorRow{}
	for _, c := range synth.Shapes {
		if ap, ok := rp.DetectorAP50[c]; ok {
			rows = append(rows, detectorRow{"AP@0.5 " + c, fmt.Sprintf("%.3f", ap), false})
		}
	}
	f := func(v *float64) string {
		if v == nil {
			return "—"
		}
		return fmt.Sprintf("%.3f", *v)
	}
	rows = append(rows, detectorRow{"mAP@0.5", f(rp.DetectorMAP50), true}, detectorRow{"recall@0.5", f(rp.DetectorRecall50), true},
		detectorRow{"attributes exactly right (matched detections)", f(rp.DetectorAttrExact), false},
		detectorRow{"boxes per image kept for VL-BERT (generate_tsv)", f(rp.DetectedBoxesPerImage), false},
		detectorRow{"objects with a kept box at IoU ≥ 0.5", f(rp.DetectedObjectRecall), false})
	return rows
}

func metricRows(rp *Report) []metricRow {
	beats := func(v *float64, base float64) bool { return v != nil && *v > base }
	b := func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }
	return []metricRow{
		{"VQA", "soft accuracy (val)", fmtAcc(rp.VQAAccuracy), fmtAcc(rp.VQAAccuracyFromScratch),
			b(rp.VQAMajorityBaseline) + " (always “" + rp.VQAMajorityAnswer + "”)", beats(rp.VQAAccuracy, rp.VQAMajorityBaseline)},
		{"VQA, oracle boxes", "soft accuracy (val) on the detector's features at the true boxes; " + rp.OracleMode, fmtAcc(rp.VQAAccuracyOracle), "", "", rp.VQAAccuracyOracle != nil},
		{"VQA, encoder in int8 (--int8)", "soft accuracy (val) through the inference pipeline; float32 there: " + fmtAcc(rp.VQAAccuracyPipeline),
			fmtAcc(rp.VQAAccuracyInt8), "", b(rp.VQAMajorityBaseline), beats(rp.VQAAccuracyInt8, rp.VQAMajorityBaseline)},
		{"Grounding (RefCOCO+ style)", "box accuracy @ IoU ≥ 0.5 (val)", fmtAcc(rp.GroundingAccuracy), fmtAcc(rp.GroundingFromScratch),
			b(rp.GroundingRandomBaseline) + " (random box)", beats(rp.GroundingAccuracy, rp.GroundingRandomBaseline)},
		{"VCR style (Q→A)", "4-choice accuracy (val)", fmtAcc(rp.VCRAccuracy), fmtAcc(rp.VCRFromScratch), b(rp.VCRRandomBaseline) + " (random choice)", beats(rp.VCRAccuracy, rp.VCRRandomBaseline)},
		{"Pre-training", "masked word accuracy, captions (val)", fmtAcc(rp.MLMAccuracy), "", "", rp.MLMAccuracy != nil},
		{"Pre-training", "masked word accuracy, text-only (val)", fmtAcc(rp.MLMAccuracyTextOnly), "", "", rp.MLMAccuracyTextOnly != nil},
		{"Pre-training", "masked region class accuracy (val)", fmtAcc(rp.MVRCAccuracy), "", fmt.Sprintf("%.1f%% (random class)", 100*rp.MVRCRandomBaseline), beats(rp.MVRCAccuracy, rp.MVRCRandomBaseline)},
	}
}

// curveSVG plots the training loss of runs (smoothed over a few logged
// batches) on shared axes.
func curveSVG(title string, rp *Report, runs []string) template.HTML {
	const W, H, padL, padR, padT, padB = 440.0, 230.0, 48.0, 12.0, 28.0, 34.0
	colors := []string{"#1f6feb", "#d1242f", "#8250df"}
	var xmax int64 = 1
	ymin, ymax := math.Inf(1), math.Inf(-1)
	series := make([][]Point, len(runs))
	for i, name := range runs {
		series[i] = smooth(rp.Runs[name].Curve, 5)
		for k, p := range series[i] {
			xmax = max(xmax, p.Step)
			ymin = math.Min(ymin, p.Loss)
			// The first batches' loss (BCE over untrained answers) would
			// flatten the rest of the curve: the axis starts after them and
			// the line is clipped at the top.
			if k >= len(series[i])/20 {
				ymax = math.Max(ymax, p.Loss)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="plot" viewBox="0 0 %g %g" width="%g" height="%g" xmlns="http://www.w3.org/2000/svg">`, W, H, W, H)
	fmt.Fprintf(&b, `<text x="%g" y="17" class="ptitle">%s</text>`, padL, template.HTMLEscapeString(title))
	if math.IsInf(ymin, 0) {
		b.WriteString(`<text x="60" y="120">no data</text></svg>`)
		return template.HTML(b.String())
	}
	if ymax-ymin < 1e-6 {
		ymax = ymin + 1
	}
	ymin = math.Max(0, ymin-0.05*(ymax-ymin))
	x := func(s int64) float64 { return padL + (W-padL-padR)*float64(s)/float64(xmax) }
	y := func(v float64) float64 { return padT + (H-padT-padB)*(1-(math.Min(v, ymax)-ymin)/(ymax-ymin)) }
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" class="frame"/>`, padL, padT, W-padL-padR, H-padT-padB)
	for k := 0; k <= 4; k++ {
		v := ymin + (ymax-ymin)*float64(k)/4
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" class="grid"/><text x="%g" y="%.1f" class="tick" text-anchor="end">%.2f</text>`,
			padL, W-padR, y(v), y(v), padL-4, y(v)+4, v)
		s := xmax * int64(k) / 4
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" class="tick" text-anchor="middle">%d</text>`, x(s), H-padB+14, s)
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" class="tick" text-anchor="middle">training batch</text>`, padL+(W-padL-padR)/2, H-4)
	for i, pts := range series {
		if len(pts) == 0 {
			continue
		}
		var d strings.Builder
		for j, p := range pts {
			op := "L"
			if j == 0 {
				op = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f ", op, x(p.Step), y(p.Loss))
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.8"/>`, d.String(), colors[i%len(colors)])
		label := map[string]string{PhaseDetector: "detector", PhasePretrain: "pre-training", PhaseVQA: "from pre-trained", PhaseGround: "from pre-trained",
			PhaseVQAScratch: "from scratch", PhaseGroundScratch: "from scratch", PhaseVCR: "from pre-trained", PhaseVCRScratch: "from scratch", PhaseVQAOracle: "oracle boxes"}[runs[i]]
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%d" y2="%d" stroke="%s" stroke-width="3"/><text x="%g" y="%d" class="tick">%s</text>`,
			W-padR-130, W-padR-112, 42+16*i, 42+16*i, colors[i%len(colors)], W-padR-106, 46+16*i, label)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// smooth averages each point with the previous k-1 (the logged losses are
// per-batch averages of the epoch so far, already fairly smooth).
func smooth(pts []Point, k int) []Point {
	out := make([]Point, len(pts))
	for i := range pts {
		lo := max(0, i-k+1)
		s := 0.0
		for _, p := range pts[lo : i+1] {
			s += p.Loss
		}
		out[i] = Point{Step: pts[i].Step, Loss: s / float64(i+1-lo)}
	}
	return out
}

var pageTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct":   func(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) },
	"f1":    func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"scale": func(v float32, s int) float64 { return float64(v) * float64(s) },
	"bw":    func(b [4]float32, s int) float64 { return float64(b[2]-b[0]+1) * float64(s) },
	"bh":    func(b [4]float32, s int) float64 { return float64(b[3]-b[1]+1) * float64(s) },
	"mul":   func(a, b int) int { return a * b },
	"add":   func(a, b int) int { return a + b },
	"url":   func(s string) template.URL { return template.URL(s) },
	"acc":   fmtAcc,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>vlbert demo report</title>
<style>
body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1f2328;margin:24px auto;max-width:1320px;padding:0 20px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 10px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.sub{color:#59636e}
table{border-collapse:collapse}td,th{padding:5px 12px;border-bottom:1px solid #e6e8eb;text-align:left}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.good{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:14px}
.plot{border:1px solid #d0d7de;border-radius:6px;background:#fff}
.ptitle{font-size:13px;font-weight:600}.tick{font-size:10.5px;fill:#59636e}.frame{fill:none;stroke:#d0d7de}.grid{stroke:#eef0f2}
.cards{display:flex;flex-wrap:wrap;gap:14px}
.card{border:1px solid #d0d7de;border-radius:6px;padding:10px;width:300px}
.card svg{display:block;image-rendering:pixelated;margin-bottom:8px}
.q{font-weight:600}.k{color:#59636e}
.tokens span{display:inline-block;font:11px monospace;background:#f6f8fa;border:1px solid #d0d7de;border-radius:3px;padding:0 3px;margin:1px}
.att{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
.blocks{display:grid;grid-template-columns:auto auto;gap:10px 18px}
.blocks img{image-rendering:pixelated;border:1px solid #d0d7de}
code{background:#f6f8fa;padding:1px 4px;border-radius:3px}
</style></head><body>
<h1>VL-BERT on a synthetic visual world</h1>
<div class="sub">{{.R.Counts.TrainScenes}} training and {{.R.Counts.ValScenes}} held-out scenes ({{.R.World.ImageSize}}×{{.R.World.ImageSize}} px, {{.R.World.MinObjects}}–{{.R.World.MaxObjects}} coloured shapes each);
a bottom-up-attention detector trained on their pixels finds the regions;
a {{.R.Plan.Model.Layers}}-layer VL-BERT (hidden {{.R.Plan.Model.Hidden}}, {{.R.Plan.Model.Heads}} heads) pre-trained from scratch with masked language modelling on captions and a text-only corpus plus masked region classification,
then fine-tuned. All numbers are on the held-out val scenes. Whole run: {{f1 .R.Seconds}} s wall, {{f1 .R.CPUSeconds}} s CPU on {{.R.Threads}} threads{{if .R.Quick}} (--quick){{end}}.</div>

<h2>Results</h2>
<table><tr><th>task</th><th>metric</th><th>pre-trained + fine-tuned</th><th>from scratch (same steps, lr)</th><th>baseline</th></tr>
{{range .Metrics}}<tr><td>{{.Task}}</td><td>{{.Metric}}</td><td class="num {{if .Good}}good{{end}}">{{.Pre}}</td><td class="num">{{.Scratch}}</td><td class="num">{{.Base}}</td></tr>
{{end}}</table>
{{if .R.VQAByType}}<h3 style="font-size:15px;margin:18px 0 6px">VQA accuracy by question type</h3>
<table><tr><th>question type</th><th>val questions</th><th>pre-trained + fine-tuned</th><th>from scratch</th></tr>
{{range .R.VQAByType}}<tr><td>{{.Type}}</td><td class="num">{{.Questions}}</td><td class="num">{{acc .PreTrained}}</td><td class="num">{{acc .Scratch}}</td></tr>
{{end}}</table>{{end}}
<p class="sub">Val set: {{.R.Counts.ValQuestions}} VQA questions, {{.R.Counts.ValReferences}} referring expressions, {{.R.Counts.ValVCR}} VCR-style questions.
VCR-style text replaces an object reference by its detection's class name, as the original does; in this world that name is the shape, so its shape questions can be read off the text, its colour questions cannot.
{{range .R.Missing}}<br>Not in this run: {{.}}{{end}}</p>

{{if .Detector}}<h2>Detector: regions from pixels</h2>
<p class="sub">The bottom-up-attention Faster R-CNN (shrunk ResNet C4, trained from scratch on the {{.R.Counts.TrainScenes}} training images: <code>configs/detector.yaml</code>) finds the regions; VL-BERT reads their pool5 features, boxes and class probabilities (pre-training's MVRC targets). VCR's boxes come with its data set: their features are taken with the same network at those boxes. Held-out scenes, VOC-style AP at IoU 0.5 over {{.R.DetectorValObjects}} objects.</p>
<table><tr><th>detector (val)</th><th>value</th></tr>
{{range .Detector}}<tr><td>{{if .Total}}<b>{{.Name}}</b>{{else}}{{.Name}}{{end}}</td><td class="num">{{if .Total}}<b>{{.Value}}</b>{{else}}{{.Value}}{{end}}</td></tr>
{{end}}</table>
{{if .DetSamples}}<p class="sub">Held-out scenes: <span style="color:#c2185b;font-weight:600">solid boxes</span> = the regions VL-BERT reads (labelled with the detector's class, attributes above 0.1 and class probability), <b>dashed</b> = the true objects.</p>
<div class="cards">{{range .DetSamples}}{{$d := .}}
<div class="card detcard">
<svg width="{{mul .W .Scale}}" height="{{mul .H .Scale}}" viewBox="0 0 {{mul .W .Scale}} {{mul .H .Scale}}" xmlns="http://www.w3.org/2000/svg">
<image href="{{url .ImageURI}}" x="0" y="0" width="{{mul .W .Scale}}" height="{{mul .H .Scale}}" style="image-rendering:pixelated"/>
{{range .TrueBoxes}}<rect x="{{scale (index . 0) $d.Scale}}" y="{{scale (index . 1) $d.Scale}}" width="{{bw . $d.Scale}}" height="{{bh . $d.Scale}}" fill="none" stroke="#1f2328" stroke-width="1.5" stroke-dasharray="5 3"/>{{end}}
{{range $i, $b := .Boxes}}<rect x="{{scale (index $b 0) $d.Scale}}" y="{{scale (index $b 1) $d.Scale}}" width="{{bw $b $d.Scale}}" height="{{bh $b $d.Scale}}" fill="none" stroke="#c2185b" stroke-width="2"/>
{{with index $d.LabelPos $i}}<text x="{{.X}}" y="{{.Y}}" text-anchor="{{.Anchor}}" font-size="11" font-weight="600" fill="#c2185b" stroke="#fff" stroke-width="3" paint-order="stroke">{{index $d.Labels $i}}</text>{{end}}{{end}}
</svg>
<div class="k">scene {{.SceneID}}: {{len .Boxes}} regions; truth: {{range $i, $l := .TrueLabels}}{{if $i}}, {{end}}{{$l}}{{end}}</div>
</div>{{end}}</div>{{end}}
{{end}}

<h2>Training curves</h2>
<div class="plots">{{range .Curves}}{{.}}{{end}}</div>

<h2>Held-out scenes: answers and grounding</h2>
<p class="sub">Boxes: grey = candidate detections, <span style="color:#1a7f37">green</span> = predicted box for the expression when it is right (IoU ≥ 0.5), <span style="color:#cf222e">red</span> when wrong, dashed = ground truth.</p>
<div class="cards">{{range .Samples}}{{$s := .}}
<div class="card">
<svg width="{{mul .W 3}}" height="{{mul .H 3}}" viewBox="0 0 {{mul .W 3}} {{mul .H 3}}" xmlns="http://www.w3.org/2000/svg">
<image href="{{url .ImageURI}}" x="0" y="0" width="{{mul .W 3}}" height="{{mul .H 3}}" style="image-rendering:pixelated"/>
{{range $i, $b := .Boxes}}<rect x="{{scale (index $b 0) 3}}" y="{{scale (index $b 1) 3}}" width="{{bw $b 3}}" height="{{bh $b 3}}" fill="none" stroke="#6e7781" stroke-width="1"/>
<text x="{{scale (index $b 0) 3}}" y="{{scale (index $b 1) 3}}" dy="11" dx="2" font-size="11" fill="#57606a">{{add $i 1}}</text>{{end}}
{{if ge .PredBox 0}}{{with index .Boxes .PredBox}}<rect x="{{scale (index . 0) 3}}" y="{{scale (index . 1) 3}}" width="{{bw . 3}}" height="{{bh . 3}}" fill="none" stroke="{{if $s.GroundHit}}#1a7f37{{else}}#cf222e{{end}}" stroke-width="3"/>{{end}}
<rect x="{{scale (index .GTBox 0) 3}}" y="{{scale (index .GTBox 1) 3}}" width="{{bw .GTBox 3}}" height="{{bh .GTBox 3}}" fill="none" stroke="#1f2328" stroke-width="1.5" stroke-dasharray="5 3"/>{{end}}
</svg>
<div class="q">Q: {{.Question}}</div>
<div>predicted: <b class="{{if ge .Accuracy 0.99}}good{{else}}bad{{end}}">{{.Predicted}}</b> <span class="k">({{pct .Score}})</span> · truth: {{.Answer}}</div>
{{if .Expression}}<div style="margin-top:6px"><span class="q">“{{.Expression}}”</span> → box {{add .PredBox 1}} <span class="{{if .GroundHit}}good{{else}}bad{{end}}">{{if .GroundHit}}✓{{else}}✗{{end}}</span></div>{{end}}
<div class="k">scene {{.SceneID}}</div>
</div>{{end}}</div>

{{with .Att}}
<h2>Attention (VQA model, last layer, mean over heads)</h2>
<p>Input: <span class="q">{{.Question}}</span> with the regions of the first scene above. Rows attend to columns; each block is min-max scaled per layer as in the original attention notebook. <code>vlbert visualize</code> gives the interactive per-layer, per-head viewer.</p>
<div class="tokens">{{range $i, $t := .Tokens}}<span>{{$i}} {{$t}}</span>{{end}}</div>
<div class="att" style="margin-top:10px">
<figure style="margin:0"><img src="{{url .HeatURI}}" alt="attention" style="image-rendering:pixelated;border:1px solid #d0d7de"><figcaption class="sub">full sequence ({{.L}}×{{.L}} tokens, in the order listed above)</figcaption></figure>
<div class="blocks">{{range $i, $u := .Blocks}}{{if $u}}<figure style="margin:0"><img src="{{url $u}}" alt="block"><figcaption class="sub">{{index $.BlockNames $i}}</figcaption></figure>{{end}}{{end}}</div>
</div>
{{end}}

<h2>Timings</h2>
<table><tr><th>phase</th><th>seconds</th></tr>{{range .Phases}}<tr><td>{{.Name}}</td><td class="num">{{f1 .Seconds}}</td></tr>{{end}}</table>

<h2>Use the models</h2>
<p>Checkpoints are in <code>checkpoints/</code> (vlbert's safetensors format, config embedded). For example:</p>
{{if .Samples}}<pre><code>vlbert vqa --ckpt {{.Dir}}/checkpoints/vqa.safetensors --features {{.Dir}}/data/{{.Features}}/{{with index .Samples 0}}{{.SceneID}}{{end}}.json --question "how many shapes are there?"
vlbert eval --cfg {{.Dir}}/configs/vqa.yaml --ckpt {{.Dir}}/checkpoints/vqa.safetensors
vlbert ground --ckpt {{.Dir}}/checkpoints/ground.safetensors --features {{.Dir}}/data/{{.Features}}/{{with index .Samples 0}}{{.SceneID}}{{end}}.json --expression "the red circle"
vlbert serve --ckpt {{.Dir}}/checkpoints/vqa.safetensors</code></pre>{{end}}
</body></html>
`))
