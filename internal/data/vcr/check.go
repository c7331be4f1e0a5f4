package vcr

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/data/zipfs"
)

// vcrLine is one parsed annotation with its line number.
type vcrLine struct {
	a    Annotation
	line int
}

// vcrResult is what checking one annotation found.
type vcrResult struct {
	problems, warnings []string
	boxes              int
	question           int
	answers            [NumChoices]int
	rationales         [NumChoices]int
	cov                data.Coverage
	built              bool
}

// Check checks the annotations, images and metadata of cfg's split c.Mode:
// every question is built with unbounded text as training builds it, and the
// counts and truncation at SEQ_LEN are reported ("vlbert data check"). It
// returns the tasks the trainer's loader should be run for (DATASET.TASK
// Q2AR: both), none when it found problems.
func Check(ctx context.Context, c *data.Check, cfg *config.Config) ([]Task, error) {
	tok, fs := c.Tok, c.FS
	ds := cfg.Dataset()
	// The original vcr.py: annotations at DATASET_PATH/<ANNOTATION_FILE>,
	// images and metadata at DATASET_PATH/<IMAGE_SET>/<img_fn>
	// (DATASET_PATH/<IMAGE_SET>.zip@/<IMAGE_SET>/<img_fn> in zip mode).
	sp, err := cfg.Split(ds, c.Mode)
	if err != nil {
		return nil, err
	}
	set, ann := sp.ImageSet, sp.AnnotationFile
	if ann == "" {
		ann = c.Mode + ".jsonl"
	}
	annPath := filepath.Join(ds.DatasetPath, ann)
	imgRoot := filepath.Join(ds.DatasetPath, set)
	if ds.ZipMode {
		imgRoot = filepath.Join(ds.DatasetPath, set+".zip@") + "/" + set
	}
	testMode := c.Mode == "test"
	var tasks []Task
	switch ds.TaskName {
	case "Q2A":
		tasks = []Task{Q2A}
	case "QA2R":
		tasks = []Task{QA2R}
	case "Q2AR":
		tasks = []Task{Q2A, QA2R}
	default:
		return nil, fmt.Errorf("data check: DATASET.TASK %q is not Q2A, QA2R or Q2AR", ds.TaskName)
	}

	if ds.OnlyUseRelevantDets {
		fmt.Fprintf(c.Out, "vcr %s: note: ONLY_USE_RELEVANT_DETS is true; the counts below use every detection (the shipped configs set it false)\n", c.Mode)
	}
	lines, nlines, err := readVCRLines(c, annPath, testMode)
	if err != nil {
		return nil, err
	}
	n := c.Limit(len(lines))
	fmt.Fprintf(c.Out, "vcr %s: %s: %d questions on %d lines (%d unreadable); checking %d\n", c.Mode, annPath, len(lines), nlines, nlines-len(lines), n)

	cats, err := DataCategories(ds.DatasetPath)
	if err != nil {
		return nil, fmt.Errorf("data check: %w", err)
	}
	if cats != nil {
		fmt.Fprintf(c.Out, "vcr %s: %d object classes from %s\n", c.Mode, len(cats), filepath.Join(ds.DatasetPath, CategoriesFile))
	}
	problemsBefore := c.Problems

	// Untruncated texts: the real builder with an unbounded budget; test mode
	// so that QA2R yields question+answer k for every k (labels were checked
	// by the parser).
	full := func(t Task) (*Builder, error) {
		o := DefaultOptions(t)
		o.SeqLen, o.TestMode, o.Names = math.MaxInt32, true, NamesPerSample
		o.AddImageAsBox, o.MaskSize, o.Categories = ds.AddImageAsABox, ds.MaskSize, cats
		return NewBuilder(tok, o)
	}
	qb, err := full(Q2A)
	if err != nil {
		return nil, err
	}
	rb, err := full(QA2R)
	if err != nil {
		return nil, err
	}
	check := func(l *vcrLine) vcrResult {
		return checkVCRAnnotation(fs, qb, rb, l, annPath, imgRoot, ds.AddImageAsABox)
	}
	p := data.Prefetch(ctx, n, c.Workers, 2*max(c.Workers, 1), func(ctx context.Context, i int) (vcrResult, error) {
		return check(&lines[i]), nil
	})
	defer p.Close()
	var boxes, qlen, alen, rlen data.Stat
	var cov data.Coverage
	seqLen := DefaultOptions(Q2A).SeqLen
	truncQ2A, truncQA2R, built := 0, 0, 0
	images := map[string]bool{}
	for i := 0; ; i++ {
		r, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err // cancelled
		}
		images[lines[i].a.ImgFn] = true
		for _, s := range r.problems {
			c.Problem("%s", s)
		}
		for _, s := range r.warnings {
			c.Warn("%s", s)
		}
		if !r.built {
			continue
		}
		built++
		boxes.Add(r.boxes)
		qlen.Add(r.question)
		cov.Pieces += r.cov.Pieces
		cov.UNK += r.cov.UNK
		tq, tr := false, false
		label := lines[i].a.AnswerLabel
		for k := range NumChoices {
			alen.Add(r.answers[k])
			rlen.Add(r.rationales[k])
			tq = tq || r.question+r.answers[k] > seqLen
			if label >= 0 {
				tr = tr || r.question+r.answers[label]+r.rationales[k] > seqLen
			}
		}
		if tq {
			truncQ2A++
		}
		if tr {
			truncQA2R++
		}
	}
	fmt.Fprintf(c.Out, "vcr %s: built %d of %d questions on %d images\n", c.Mode, built, n, len(images))
	fmt.Fprintf(c.Out, "vcr %s: boxes per question (image box included): %v\n", c.Mode, boxes)
	fmt.Fprintf(c.Out, "vcr %s: wordpieces: question %v; answer %v; rationale %v\n", c.Mode, qlen, alen, rlen)
	var tr []string
	for _, t := range tasks {
		switch {
		case t == Q2A:
			tr = append(tr, fmt.Sprintf("Q2A %d of %d questions", truncQ2A, built))
		case testMode:
			tr = append(tr, "QA2R not truncated in test mode")
		default:
			tr = append(tr, fmt.Sprintf("QA2R %d of %d questions", truncQA2R, built))
		}
	}
	fmt.Fprintf(c.Out, "vcr %s: truncated to %d wordpieces: %s\n", c.Mode, seqLen, strings.Join(tr, ", "))
	fmt.Fprintf(c.Out, "vcr %s: vocabulary: %v\n", c.Mode, cov)
	// The trainer reads VCR end to end or with precomputed features
	// (FeatureDir) and one task per model: Q2AR runs its loader once per
	// task. After problems above it would only repeat them.
	if c.Problems > problemsBefore {
		fmt.Fprintf(c.Out, "training loader: not run: fix the problems above first\n")
		return nil, nil
	}
	return tasks, nil
}

// readVCRLines parses every line of a VCR .jsonl on its own, so that one bad
// line is a problem naming the file and line instead of the end of the check.
func readVCRLines(c *data.Check, path string, testMode bool) ([]vcrLine, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("data check: vcr annotations: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), MaxLineBytes+2)
	var out []vcrLine
	lineNo, nonBlank := 0, 0
	for sc.Scan() {
		lineNo++
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		nonBlank++
		as, err := ParseAnnotations(bytes.NewReader(line), path, testMode)
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), "vcr: "+path+" line 1: ")
			c.Problem("%s line %d: %s", path, lineNo, msg)
			continue
		}
		for _, a := range as {
			out = append(out, vcrLine{a: a, line: lineNo})
		}
	}
	if err := sc.Err(); err != nil {
		c.Problem("%s line %d: %v", path, lineNo+1, err)
	}
	return out, nonBlank, nil
}

// checkVCRAnnotation reads one question's image header and metadata, checks
// the polygons and builds it with qb (question, answers) and rb (question
// and answer k, rationales).
func checkVCRAnnotation(fs *zipfs.FS, qb, rb *Builder, l *vcrLine, annPath, imgRoot string, imageBox bool) vcrResult {
	var r vcrResult
	a := &l.a
	rec := fmt.Sprintf("%s line %d (annot_id %s)", annPath, l.line, a.AnnotID)
	fail := func(format string, args ...any) {
		r.problems = append(r.problems, rec+": "+fmt.Sprintf(format, args...))
	}
	imgPath := imgRoot + "/" + a.ImgFn
	w, h := 0, 0
	if rc, err := fs.Open(imgPath); err != nil {
		fail("image: %v", err)
	} else {
		ic, _, err := image.DecodeConfig(rc)
		rc.Close()
		if err != nil {
			fail("image %s: unreadable: %v", imgPath, err)
		} else {
			w, h = ic.Width, ic.Height
		}
	}
	metaPath := imgRoot + "/" + a.MetadataFn
	b, err := fs.ReadFile(metaPath)
	if err != nil {
		fail("metadata: %v", err)
		return r
	}
	m, err := ParseMetadata(bytes.NewReader(b), metaPath)
	if err != nil {
		fail("%v", err)
		return r
	}
	if w > 0 && m.Width > 0 && (m.Width != w || m.Height != h) {
		r.warnings = append(r.warnings, fmt.Sprintf("%s: metadata %s says %dx%d, the image is %dx%d (the image's size is used)", rec, metaPath, m.Width, m.Height, w, h))
	}
	for i, polys := range m.Segms {
		if len(polys) == 0 {
			r.warnings = append(r.warnings, fmt.Sprintf("%s: %s: object %d has no polygon (empty mask)", rec, metaPath, i))
		}
		for j, poly := range polys {
			if len(poly) < 3 {
				r.warnings = append(r.warnings, fmt.Sprintf("%s: %s: object %d polygon %d has %d vertices", rec, metaPath, i, j, len(poly)))
			}
			for _, pt := range poly {
				if math.IsNaN(pt[0]) || math.IsNaN(pt[1]) || math.IsInf(pt[0], 0) || math.IsInf(pt[1], 0) {
					fail("%s: object %d polygon %d has a non-finite vertex %v", metaPath, i, j, pt)
					break
				}
			}
		}
	}
	if len(r.problems) > 0 {
		return r
	}
	q, err := qb.Build(a, m, w, h)
	if err != nil {
		fail("%s: %v", metaPath, err)
		return r
	}
	qr, err := rb.Build(a, m, w, h)
	if err != nil {
		fail("%s: %v", metaPath, err)
		return r
	}
	r.built = true
	r.boxes = q.NumBoxes
	ms := q.MaskSize * q.MaskSize
	first := 0
	if imageBox {
		first = 1
	}
	for k := first; k < q.NumBoxes; k++ {
		empty := true
		for _, v := range q.Masks[k*ms : (k+1)*ms] {
			if v != 0 {
				empty = false
				break
			}
		}
		if empty && len(m.Segms[k-first]) > 0 {
			r.warnings = append(r.warnings, fmt.Sprintf("%s: %s: object %d: its polygons rasterise to an empty %dx%d mask", rec, metaPath, k-first, q.MaskSize, q.MaskSize))
		}
	}
	r.question = q.Queries[0].Len()
	r.cov.Tokens(q.Queries[0].Tokens)
	for k := range NumChoices {
		r.answers[k] = q.Choices[k].Len()
		r.rationales[k] = qr.Choices[k].Len()
		r.cov.Tokens(q.Choices[k].Tokens)
		r.cov.Tokens(qr.Choices[k].Tokens)
	}
	return r
}
