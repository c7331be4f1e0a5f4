package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // VCR and COCO images
	_ "image/png"  // synthetic-world images
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/data/cc"
	"github.com/vlbert/vlbert/internal/data/corpus"
	"github.com/vlbert/vlbert/internal/data/features"
	"github.com/vlbert/vlbert/internal/data/refcoco"
	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/data/vcr"
	"github.com/vlbert/vlbert/internal/data/vqa"
	"github.com/vlbert/vlbert/internal/data/zipfs"
	"github.com/vlbert/vlbert/internal/tokenizer"
	"github.com/vlbert/vlbert/internal/train"
)

// dataCheckOptions are the flags of "vlbert data check".
type dataCheckOptions struct {
	Cfg     string // YAML config in the original schema
	Mode    string // train, val or test
	N       int    // examples checked per dataset (0: all)
	Seed    uint64 // RNG seed for flips and masking
	Workers int    // decoding goroutines
}

// maxReportedErrors bounds the problems (and, separately, the warnings)
// printed; all are counted.
const maxReportedErrors = 10

func init() {
	register(&command{name: "data", summary: "check a config's datasets before a run: vlbert data check --cfg CFG.yaml",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			if len(args) == 0 || args[0] != "check" {
				return usagef("usage: vlbert data check --cfg CFG.yaml [--mode train|val|test] [--n N]")
			}
			var opts dataCheckOptions
			fs := newFlagSet("data check", stderr)
			fs.StringVar(&opts.Cfg, "cfg", "", "config `file` (original YAML schema)")
			fs.StringVar(&opts.Mode, "mode", "train", "split to check: train, val or test")
			fs.IntVar(&opts.N, "n", 64, "examples to build per dataset (0: all)")
			fs.Uint64Var(&opts.Seed, "seed", 0, "seed for flips and masking")
			fs.IntVar(&opts.Workers, "workers", 2, "decoding goroutines")
			fs.Usage = func() {
				fmt.Fprintln(stderr, "usage: vlbert data check --cfg CFG.yaml [--mode train|val|test] [--n N] [--seed S] [--workers W]")
				fmt.Fprintln(stderr, "\nValidates the datasets of a config (pretraining, VQA, VCR, RefCOCO+) against it: counts,")
				fmt.Fprintln(stderr, "boxes per image, text lengths in wordpieces, vocabulary coverage, missing or unreadable")
				fmt.Fprintln(stderr, "files; the first N examples are built as training would build them. The first problems")
				fmt.Fprintln(stderr, "are printed with their file and record. Exit status 1 if there is any problem (warnings")
				fmt.Fprintln(stderr, "alone do not fail the check).")
				fmt.Fprintln(stderr)
				fs.PrintDefaults()
			}
			if err := parseFlags(fs, args[1:]); err != nil {
				return err
			}
			if opts.Cfg == "" {
				return usagef("data check: --cfg is required")
			}
			return runDataCheck(ctx, opts, stdout)
		}})
}

// checker collects the problems (data that breaks or silently corrupts a
// run) and warnings (data that is legal but worth a look) of one check.
type checker struct {
	out                io.Writer
	problems, warnings int
}

func (c *checker) problem(format string, args ...any) {
	if c.problems < maxReportedErrors {
		fmt.Fprintf(c.out, "problem: "+format+"\n", args...)
	}
	c.problems++
}

func (c *checker) warn(format string, args ...any) {
	if c.warnings < maxReportedErrors {
		fmt.Fprintf(c.out, "warning: "+format+"\n", args...)
	}
	c.warnings++
}

// runDataCheck checks the datasets of opts.Cfg and reports on out. It
// returns an error when the config or a dataset cannot be read at all, or
// when any problem was found.
func runDataCheck(ctx context.Context, opts dataCheckOptions, out io.Writer) error {
	switch opts.Mode {
	case "train", "val", "test":
	default:
		return usagef("data check: --mode %q is not train, val or test", opts.Mode)
	}
	cfg, err := config.Load(opts.Cfg, "")
	if err != nil {
		return err
	}
	if err := train.CheckDataPaths(cfg); err != nil {
		return fmt.Errorf("data check: %w", err)
	}
	tok, err := train.Tokenizer(cfg)
	if err != nil {
		return err
	}
	fs := zipfs.New()
	defer fs.Close()
	c := &checker{out: out}
	switch cfg.Task {
	case config.TaskVQA:
		err = checkVQA(ctx, c, cfg, opts, tok, fs)
	case config.TaskPretrain:
		err = checkPretrain(ctx, c, cfg, opts, tok, fs)
	case config.TaskVCR:
		err = checkVCR(ctx, c, cfg, opts, tok, fs)
	case config.TaskRefCOCO:
		err = checkRefCOCO(ctx, c, cfg, opts, tok, fs)
	default:
		err = fmt.Errorf("data check: task %q is not supported", cfg.Task)
	}
	if err != nil {
		return err
	}
	if c.problems > 0 {
		fmt.Fprintf(out, "%s, %s\n", plural(c.problems, "problem"), plural(c.warnings, "warning"))
		if c.problems > maxReportedErrors {
			return fmt.Errorf("data check: %s (the first %d are listed above)", plural(c.problems, "problem"), maxReportedErrors)
		}
		return fmt.Errorf("data check: %s (listed above)", plural(c.problems, "problem"))
	}
	fmt.Fprintf(out, "ok (%s)\n", plural(c.warnings, "warning"))
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// isSynthWorld reports whether dir holds a synthetic world (its COMPLETE
// stat summarises integer counts.
type stat struct{ n, sum, lo, hi int }

func (s *stat) add(v int) {
	if s.n == 0 || v < s.lo {
		s.lo = v
	}
	if s.n == 0 || v > s.hi {
		s.hi = v
	}
	s.n++
	s.sum += v
}

func (s stat) String() string {
	if s.n == 0 {
		return "none"
	}
	return fmt.Sprintf("min %d, mean %.1f, max %d", s.lo, float64(s.sum)/float64(s.n), s.hi)
}

// coverage counts wordpieces the vocabulary lacks ([UNK]).
type coverage struct{ pieces, unk int }

func (v *coverage) tokens(toks []string) {
	for _, t := range toks {
		if t == "[UNK]" {
			v.unk++
		}
	}
	v.pieces += len(toks)
}

func (v coverage) String() string {
	if v.pieces == 0 {
		return "no wordpieces"
	}
	return fmt.Sprintf("%.2f%% of %d wordpieces in the vocabulary (%d [UNK])", 100*float64(v.pieces-v.unk)/float64(v.pieces), v.pieces, v.unk)
}

// limit is the number of records checked out of n.
func (o dataCheckOptions) limit(n int) int {
	if o.N > 0 {
		return min(n, o.N)
	}
	return n
}

// ---- VQA ----

func checkVQA(ctx context.Context, c *checker, cfg *config.Config, opts dataCheckOptions, tok *tokenizer.Tokenizer, fs *zipfs.FS) error {
	ds := cfg.Dataset()
	var (
		entries []vqa.Entry
		boxFile func(*vqa.Entry) string
		vocab   *vqa.AnswerVocab
		d       *vqa.Dataset
	)
	if synth.IsWorld(ds.DatasetPath) {
		// The trainer reads a world in its own layout; its loader is run below.
		sp, err := cfg.Split(ds, opts.Mode)
		if err != nil {
			return err
		}
		set := sp.ImageSet
		q := filepath.Join(ds.DatasetPath, synth.Layout.VQA, "v2_OpenEnded_mscoco_"+set+"_questions.json")
		a := filepath.Join(ds.DatasetPath, synth.Layout.VQA, "v2_mscoco_"+set+"_annotations.json")
		if opts.Mode == "test" {
			a = ""
		}
		if entries, err = vqa.LoadQuestions(q, a); err != nil {
			return err
		}
		boxFile = func(e *vqa.Entry) string { return synth.FeatureFile(ds.DatasetPath, e.ImageID) }
		vf := ds.AnswerVocabFile
		if vf == "" {
			vf = filepath.Join(ds.DatasetPath, synth.Layout.Answers)
		}
		if vocab, err = vqa.LoadAnswerVocab(vf, true); err != nil {
			return err
		}
	} else {
		var err error
		if d, err = vqa.FromConfig(cfg, opts.Mode, tok, fs); err != nil {
			return err
		}
		entries, boxFile, vocab = d.Entries, d.BoxFile, d.Vocab
	}
	n := opts.limit(len(entries))
	fmt.Fprintf(c.out, "vqa %s: %d questions, %d answers in the vocabulary; checking %d\n", opts.Mode, len(entries), vocabLen(vocab), n)
	if d != nil && vocab != nil && vocab.Len() != ds.AnswerVocabSize { // on a world, the training loader reports it
		c.problem("the answer vocabulary has %d answers, DATASET.ANSWER_VOCAB_SIZE is %d", vocab.Len(), ds.AnswerVocabSize)
	}
	var qlen, boxes stat
	var cov coverage
	images := map[int64]bool{}
	known, answered := 0, 0
	for i := 0; i < n; i++ {
		e := &entries[i]
		p := tok.Tokenize(e.Question)
		qlen.add(len(p))
		cov.tokens(p)
		if vocab != nil && e.Answers != nil {
			answered++
			if vocab.Index(e.MultipleChoiceAnswer) != vocab.UNKIndex() {
				known++
			}
		}
		if images[e.ImageID] {
			continue
		}
		images[e.ImageID] = true
		rec, err := features.LoadJSON(fs, boxFile(e), features.Options{})
		if err != nil {
			// The example check below reports it with the question.
			continue
		}
		boxes.add(rec.NumBoxes)
	}
	fmt.Fprintf(c.out, "vqa %s: %d images; detected boxes per image: %v\n", opts.Mode, len(images), boxes)
	fmt.Fprintf(c.out, "vqa %s: question wordpieces: %v; vocabulary: %v\n", opts.Mode, qlen, cov)
	if answered > 0 {
		fmt.Fprintf(c.out, "vqa %s: %d of %d questions (%.1f%%) have their multiple-choice answer in the answer vocabulary\n",
			opts.Mode, known, answered, 100*float64(known)/float64(answered))
	}
	if d == nil {
		checkLoader(ctx, c, cfg, opts, true)
		return nil
	}
	exs := checkExamples(ctx, c, n, opts, d.Example)
	for _, e := range exs {
		if e.ImagePath != "" && !cfg.Network.ImageFeatPrecomputed {
			if err := checkImage(fs, e.ImagePath); err != nil {
				c.problem("vqa: question %d: %v", e.QuestionID, err)
			}
		}
	}
	if len(exs) > 0 {
		b, err := data.CollateVQA(exs)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.out, "vqa batch of %d: boxes [%d,%d,%d], question [%d,%d], label [%d,%d]\n", b.B, b.B, b.R, b.BoxDim, b.B, b.Q, b.B, b.A)
	}
	return nil
}

func vocabLen(v *vqa.AnswerVocab) int {
	if v == nil {
		return 0
	}
	return v.Len()
}

// ---- pretraining ----

func checkPretrain(ctx context.Context, c *checker, cfg *config.Config, opts dataCheckOptions, tok *tokenizer.Tokenizer, fs *zipfs.FS) error {
	unk, _ := tok.ID("[UNK]")
	for k := range cfg.Datasets {
		ds := &cfg.Datasets[k]
		switch ds.Dataset {
		case "conceptual_captions":
			d, err := cc.FromConfig(cfg, ds, opts.Mode, tok, fs)
			if err != nil {
				return err
			}
			n := opts.limit(d.Len())
			fmt.Fprintf(c.out, "conceptual_captions %s: %d captions; checking %d\n", opts.Mode, d.Len(), n)
			var text stat
			var cov coverage
			for i := 0; i < n; i++ {
				p := tok.Tokenize(strings.Join(d.Records[i].Caption, " "))
				text.add(len(p))
				cov.tokens(p)
			}
			fmt.Fprintf(c.out, "conceptual_captions %s: caption wordpieces: %v; vocabulary: %v\n", opts.Mode, text, cov)
			exs := checkExamples(ctx, c, n, opts, d.Example)
			if len(exs) > 0 {
				var boxes stat
				for _, e := range exs {
					boxes.add(e.NumBoxes)
					if e.ImagePath != "" && !cfg.Network.ImageFeatPrecomputed {
						if err := checkImage(fs, e.ImagePath); err != nil {
							c.problem("conceptual_captions: record %d: %v", e.Index, err)
						}
					}
				}
				fmt.Fprintf(c.out, "conceptual_captions %s: boxes per image (image box included): %v\n", opts.Mode, boxes)
				b, err := data.CollatePretrain(exs)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.out, "pretrain batch of %d: boxes [%d,%d,%d], text [%d,%d], mvrc_labels [%d,%d,%d], im_info [%d,%d]\n",
					b.B, b.B, b.R, b.BoxDim, b.B, b.T, b.B, b.R, b.C, b.B, b.I)
			}
		case "general_corpus":
			d, err := corpus.FromConfig(ds, opts.Mode, tok)
			if err != nil {
				return err
			}
			n := opts.limit(d.Len())
			fmt.Fprintf(c.out, "general_corpus %s: %d lines; checking %d\n", opts.Mode, d.Len(), n)
			exs := checkExamples(ctx, c, n, opts, d.Example)
			d.Corpus.Close()
			if len(exs) > 0 {
				var text stat
				var cov coverage
				for _, e := range exs {
					text.add(len(e.Text))
					cov.pieces += len(e.Text)
					for _, id := range e.Text {
						if int(id) == unk {
							cov.unk++
						}
					}
				}
				fmt.Fprintf(c.out, "general_corpus %s: sample wordpieces ([CLS]/[SEP] included): %v; vocabulary: %v\n", opts.Mode, text, cov)
				b, err := data.CollateText(exs)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.out, "text batch of %d: text [%d,%d]\n", b.B, b.B, b.T)
			}
		default:
			return fmt.Errorf("data check: dataset %q is not supported", ds.Dataset)
		}
	}
	return nil
}

// checkExamples builds the first n examples on worker goroutines as the
// dataset's loader would, reports each failure as a problem and returns the
// good examples.
func checkExamples[E any](ctx context.Context, c *checker, n int, opts dataCheckOptions, build func(int, *rand.Rand) (E, error)) []E {
	type res struct {
		e   E
		err error
	}
	p := data.Prefetch(ctx, n, opts.Workers, 2*max(opts.Workers, 1), func(ctx context.Context, i int) (res, error) {
		e, err := build(i, data.BatchRNG(opts.Seed, 0, i))
		return res{e, err}, nil
	})
	defer p.Close()
	var good []E
	bad := 0
	for {
		r, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil { // cancelled
			c.problem("stopped: %v", err)
			break
		}
		if r.err != nil {
			c.problem("%v", r.err)
			bad++
			continue
		}
		good = append(good, r.e)
	}
	fmt.Fprintf(c.out, "built %d of %d examples, %d failed\n", len(good), n, bad)
	return good
}

// checkLoader builds the first examples of opts.Mode through the training
// task's own loader (train.NewTask), one example per batch so that each
// failure names its record; after a failure it resumes with the next example.
// When the trainer cannot build the task, that is a problem if required (the
// trainer supports this data), else a note (the checks above cover its files).
func checkLoader(ctx context.Context, c *checker, cfg *config.Config, opts dataCheckOptions, required bool) {
	t, err := train.NewTask(cfg, opts.Mode)
	if err != nil {
		if required {
			c.problem("training loader: %v", err)
		} else {
			fmt.Fprintf(c.out, "training loader: not run: %v\n", err)
		}
		return
	}
	defer t.Close()
	s, err := t.Sampler(opts.Mode)
	if err != nil {
		fmt.Fprintf(c.out, "training loader: not run: %v\n", err)
		return
	}
	n := opts.limit(s.N)
	built, failed := 0, 0
	for next := 0; next < n; {
		batches := make([][]int, n-next)
		for k := range batches {
			batches[k] = []int{next + k}
		}
		p := t.Load(ctx, opts.Mode, batches, 0, 0, 0)
		k := 0
		for ; k < len(batches); k++ {
			_, err := p.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if ctx.Err() != nil {
					p.Close()
					c.problem("training loader stopped: %v", ctx.Err())
					return
				}
				c.problem("training loader: example %d: %v", next+k, err)
				failed++
				break
			}
			built++
		}
		p.Close()
		next += k + 1
	}
	fmt.Fprintf(c.out, "training loader: built %d of %d examples, %d failed\n", built, n, failed)
}

// ---- VCR ----

// vcrLine is one parsed annotation with its line number.
type vcrLine struct {
	a    vcr.Annotation
	line int
}

// vcrResult is what checking one annotation found.
type vcrResult struct {
	problems, warnings []string
	boxes              int
	question           int
	answers            [vcr.NumChoices]int
	rationales         [vcr.NumChoices]int
	cov                coverage
	built              bool
}

func checkVCR(ctx context.Context, c *checker, cfg *config.Config, opts dataCheckOptions, tok *tokenizer.Tokenizer, fs *zipfs.FS) error {
	ds := cfg.Dataset()
	// The original vcr.py: annotations at DATASET_PATH/<ANNOTATION_FILE>,
	// images and metadata at DATASET_PATH/<IMAGE_SET>/<img_fn>
	// (DATASET_PATH/<IMAGE_SET>.zip@/<IMAGE_SET>/<img_fn> in zip mode).
	sp, err := cfg.Split(ds, opts.Mode)
	if err != nil {
		return err
	}
	set, ann := sp.ImageSet, sp.AnnotationFile
	if ann == "" {
		ann = opts.Mode + ".jsonl"
	}
	annPath := filepath.Join(ds.DatasetPath, ann)
	imgRoot := filepath.Join(ds.DatasetPath, set)
	if ds.ZipMode {
		imgRoot = filepath.Join(ds.DatasetPath, set+".zip@") + "/" + set
	}
	testMode := opts.Mode == "test"
	var tasks []vcr.Task
	switch ds.TaskName {
	case "Q2A":
		tasks = []vcr.Task{vcr.Q2A}
	case "QA2R":
		tasks = []vcr.Task{vcr.QA2R}
	case "Q2AR":
		tasks = []vcr.Task{vcr.Q2A, vcr.QA2R}
	default:
		return fmt.Errorf("data check: DATASET.TASK %q is not Q2A, QA2R or Q2AR", ds.TaskName)
	}

	if ds.OnlyUseRelevantDets {
		fmt.Fprintf(c.out, "vcr %s: note: ONLY_USE_RELEVANT_DETS is true; the counts below use every detection (the shipped configs set it false)\n", opts.Mode)
	}
	lines, nlines, err := readVCRLines(c, annPath, testMode)
	if err != nil {
		return err
	}
	n := opts.limit(len(lines))
	fmt.Fprintf(c.out, "vcr %s: %s: %d questions on %d lines (%d unreadable); checking %d\n", opts.Mode, annPath, len(lines), nlines, nlines-len(lines), n)

	cats, err := train.VCRCategories(ds.DatasetPath)
	if err != nil {
		return fmt.Errorf("data check: %w", err)
	}
	if cats != nil {
		fmt.Fprintf(c.out, "vcr %s: %d object classes from %s\n", opts.Mode, len(cats), filepath.Join(ds.DatasetPath, vcr.CategoriesFile))
	}
	problemsBefore := c.problems

	// Untruncated texts: the real builder with an unbounded budget; test mode
	// so that QA2R yields question+answer k for every k (labels were checked
	// by the parser).
	full := func(t vcr.Task) (*vcr.Builder, error) {
		o := vcr.DefaultOptions(t)
		o.SeqLen, o.TestMode, o.Names = math.MaxInt32, true, vcr.NamesPerSample
		o.AddImageAsBox, o.MaskSize, o.Categories = ds.AddImageAsABox, ds.MaskSize, cats
		return vcr.NewBuilder(tok, o)
	}
	qb, err := full(vcr.Q2A)
	if err != nil {
		return err
	}
	rb, err := full(vcr.QA2R)
	if err != nil {
		return err
	}
	check := func(l *vcrLine) vcrResult {
		return checkVCRAnnotation(fs, qb, rb, l, annPath, imgRoot, ds.AddImageAsABox)
	}
	p := data.Prefetch(ctx, n, opts.Workers, 2*max(opts.Workers, 1), func(ctx context.Context, i int) (vcrResult, error) {
		return check(&lines[i]), nil
	})
	defer p.Close()
	var boxes, qlen, alen, rlen stat
	var cov coverage
	seqLen := vcr.DefaultOptions(vcr.Q2A).SeqLen
	truncQ2A, truncQA2R, built := 0, 0, 0
	images := map[string]bool{}
	for i := 0; ; i++ {
		r, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err // cancelled
		}
		images[lines[i].a.ImgFn] = true
		for _, s := range r.problems {
			c.problem("%s", s)
		}
		for _, s := range r.warnings {
			c.warn("%s", s)
		}
		if !r.built {
			continue
		}
		built++
		boxes.add(r.boxes)
		qlen.add(r.question)
		cov.pieces += r.cov.pieces
		cov.unk += r.cov.unk
		tq, tr := false, false
		label := lines[i].a.AnswerLabel
		for k := range vcr.NumChoices {
			alen.add(r.answers[k])
			rlen.add(r.rationales[k])
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
	fmt.Fprintf(c.out, "vcr %s: built %d of %d questions on %d images\n", opts.Mode, built, n, len(images))
	fmt.Fprintf(c.out, "vcr %s: boxes per question (image box included): %v\n", opts.Mode, boxes)
	fmt.Fprintf(c.out, "vcr %s: wordpieces: question %v; answer %v; rationale %v\n", opts.Mode, qlen, alen, rlen)
	var tr []string
	for _, t := range tasks {
		switch {
		case t == vcr.Q2A:
			tr = append(tr, fmt.Sprintf("Q2A %d of %d questions", truncQ2A, built))
		case testMode:
			tr = append(tr, "QA2R not truncated in test mode")
		default:
			tr = append(tr, fmt.Sprintf("QA2R %d of %d questions", truncQA2R, built))
		}
	}
	fmt.Fprintf(c.out, "vcr %s: truncated to %d wordpieces: %s\n", opts.Mode, seqLen, strings.Join(tr, ", "))
	fmt.Fprintf(c.out, "vcr %s: vocabulary: %v\n", opts.Mode, cov)
	// The trainer reads VCR with precomputed features (a synthetic world's
	// frcnn/ next to DATASET_PATH) and one task per model: Q2AR runs its
	// loader once per task. After problems above it would only repeat them.
	if c.problems > problemsBefore {
		fmt.Fprintf(c.out, "training loader: not run: fix the problems above first\n")
		return nil
	}
	world := synth.IsWorld(filepath.Dir(filepath.Clean(ds.DatasetPath))) && !ds.ZipMode
	for _, t := range tasks {
		tc := *cfg
		tc.Datasets = append([]config.Dataset(nil), cfg.Datasets...)
		tc.Dataset().TaskName = t.String()
		if len(tasks) > 1 {
			fmt.Fprintf(c.out, "vcr %s: %s:\n", opts.Mode, t)
		}
		checkLoader(ctx, c, &tc, opts, world)
	}
	return nil
}

// readVCRLines parses every line of a VCR .jsonl on its own, so that one bad
// line is a problem naming the file and line instead of the end of the check.
func readVCRLines(c *checker, path string, testMode bool) ([]vcrLine, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("data check: vcr annotations: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), vcr.MaxLineBytes+2)
	var out []vcrLine
	lineNo, nonBlank := 0, 0
	for sc.Scan() {
		lineNo++
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		nonBlank++
		as, err := vcr.ParseAnnotations(bytes.NewReader(line), path, testMode)
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), "vcr: "+path+" line 1: ")
			c.problem("%s line %d: %s", path, lineNo, msg)
			continue
		}
		for _, a := range as {
			out = append(out, vcrLine{a: a, line: lineNo})
		}
	}
	if err := sc.Err(); err != nil {
		c.problem("%s line %d: %v", path, lineNo+1, err)
	}
	return out, nonBlank, nil
}

// checkVCRAnnotation reads one question's image header and metadata, checks
// the polygons and builds it with qb (question, answers) and rb (question
// and answer k, rationales).
func checkVCRAnnotation(fs *zipfs.FS, qb, rb *vcr.Builder, l *vcrLine, annPath, imgRoot string, imageBox bool) vcrResult {
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
	m, err := vcr.ParseMetadata(bytes.NewReader(b), metaPath)
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
	r.cov.tokens(q.Queries[0].Tokens)
	for k := range vcr.NumChoices {
		r.answers[k] = q.Choices[k].Len()
		r.rationales[k] = qr.Choices[k].Len()
		r.cov.tokens(q.Choices[k].Tokens)
		r.cov.tokens(qr.Choices[k].Tokens)
	}
	return r
}

// ---- RefCOCO+ ----

func checkRefCOCO(ctx context.Context, c *checker, cfg *config.Config, opts dataCheckOptions, tok *tokenizer.Tokenizer, fs *zipfs.FS) error {
	ds := cfg.Dataset()
	world := synth.IsWorld(ds.DatasetPath)
	sp, err := cfg.Split(ds, opts.Mode)
	if err != nil {
		return err
	}
	set := sp.ImageSet
	boxSrc, err := refcoco.ParseBoxSource(sp.Boxes)
	if err != nil {
		return err
	}
	testMode := opts.Mode == "test"
	// refer.py: DATASET_PATH/refcoco+/refs(unc).p and instances.json; the
	// COCO train2014 instances give image sizes and GT candidates (a world
	// has one instances file for both).
	dir := filepath.Join(ds.DatasetPath, synth.Layout.RefCOCO)
	refsPath, referPath := filepath.Join(dir, "refs(unc).p"), filepath.Join(dir, "instances.json")
	refs, err := refcoco.ReadRefs(refsPath)
	if err != nil {
		return err
	}
	refer, err := refcoco.ReadInstances(referPath)
	if err != nil {
		return err
	}
	coco, cocoPath := refer, referPath
	if !world {
		cocoPath = filepath.Join(ds.DatasetPath, "annotations", "instances_train2014.json")
		if coco, err = refcoco.ReadInstances(cocoPath); err != nil {
			return err
		}
	}
	var props refcoco.Proposals
	if !world && boxSrc != refcoco.BoxesGT {
		if props, err = refcoco.ReadProposals(filepath.Join(dir, "proposal", "res101_coco_minus_refer_notime_dets.json")); err != nil {
			return err
		}
	}

	// Refs and sentences per split, in order of appearance.
	var splits []string
	perSplit := map[string][2]int{}
	for _, r := range refs {
		if _, ok := perSplit[r.Split]; !ok {
			splits = append(splits, r.Split)
		}
		v := perSplit[r.Split]
		perSplit[r.Split] = [2]int{v[0] + 1, v[1] + len(r.Sentences)}
	}
	var parts []string
	for _, s := range splits {
		parts = append(parts, fmt.Sprintf("%s %d refs (%d sentences)", s, perSplit[s][0], perSplit[s][1]))
	}
	fmt.Fprintf(c.out, "refcoco+ %s: %d refs: %s\n", refsPath, len(refs), strings.Join(parts, ", "))

	// Refs whose image or object is missing are problems; the rest make the
	// database, exactly as the trainer builds it.
	byID := make(map[int64]*refcoco.Ref, len(refs))
	for i := range refs {
		byID[refs[i].RefID] = &refs[i] // the last of a duplicated id, as refer.py's dict
	}
	var good []refcoco.Ref
	nrefs := 0
	seen := map[int64]bool{}
	for _, s := range strings.Split(set, "+") {
		ids, err := refcoco.RefIDsForSplit(refs, strings.TrimSpace(s))
		if err != nil {
			return err
		}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			nrefs++
			r := byID[id]
			ok := true
			if _, in := coco.Images[r.ImageID]; !in {
				c.problem("%s: ref_id %d: image %d is not in %s", refsPath, r.RefID, r.ImageID, cocoPath)
				ok = false
			}
			if _, in := refer.Annotation(r.AnnID); !in && !testMode {
				c.problem("%s: ref_id %d: ann_id %d is not in %s", refsPath, r.RefID, r.AnnID, referPath)
				ok = false
			}
			if len(r.Sentences) == 0 {
				c.warn("%s: ref_id %d has no sentences", refsPath, r.RefID)
			}
			if ok {
				good = append(good, *r)
			}
		}
	}
	samples, err := refcoco.Database(good, set, refer, coco, testMode)
	if err != nil {
		return err
	}
	n := opts.limit(len(samples))
	fmt.Fprintf(c.out, "refcoco+ %s (%s): %d expressions of %d refs; checking %d\n", opts.Mode, set, len(samples), nrefs, n)

	var exprLen, cands, gtPerImage, propPerImage, pos stat
	var cov coverage
	noPos := 0
	type cand struct {
		boxes []float32 // [k, 4]
		err   error
	}
	perImage := map[int64]cand{}
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		s := &samples[i]
		rec := fmt.Sprintf("%s: ref_id %d sent_id %d", refsPath, s.RefID, s.SentID)
		pieces, _, err := refcoco.Expression(tok, s.Tokens, false)
		if err != nil {
			c.problem("%s: %v", rec, err)
		} else {
			exprLen.add(len(pieces))
			cov.tokens(pieces)
			if len(pieces) == 0 {
				c.warn("%s: empty expression", rec)
			}
		}
		cd, done := perImage[s.ImageID]
		if !done {
			var nprop int
			cd.boxes, nprop, cd.err = refCandidates(fs, cfg, world, s, boxSrc, coco, props)
			perImage[s.ImageID] = cd
			if cd.err == nil {
				cands.add(len(cd.boxes) / 4)
				gtPerImage.add(len(coco.ImageAnnotations(s.ImageID)))
				if nprop >= 0 {
					propPerImage.add(nprop)
				}
			}
		}
		if cd.err != nil {
			c.problem("%s (image %d): %v", rec, s.ImageID, cd.err)
			continue
		}
		if testMode && s.GTBox == ([4]float64{}) {
			continue
		}
		gt := [4]float32{float32(s.GTBox[0]), float32(s.GTBox[1]), float32(s.GTBox[2]), float32(s.GTBox[3])}
		k := 0
		for j := 0; j+4 <= len(cd.boxes); j += 4 {
			if refcoco.IoU([4]float32(cd.boxes[j:j+4]), gt) > 0.5 {
				k++
			}
		}
		pos.add(k)
		if k == 0 {
			noPos++
		}
	}
	imgBox := ""
	if ds.AddImageAsABox {
		imgBox = ", image box included"
	}
	fmt.Fprintf(c.out, "refcoco+ %s: candidate boxes per image (%s%s): %v over %d images\n", opts.Mode, sp.Boxes, imgBox, cands, len(perImage))
	prop := "not used"
	if propPerImage.n > 0 {
		prop = propPerImage.String()
	}
	fmt.Fprintf(c.out, "refcoco+ %s: gt boxes per image: %v; proposals per image: %s\n", opts.Mode, gtPerImage, prop)
	fmt.Fprintf(c.out, "refcoco+ %s: expression wordpieces: %v; vocabulary: %v\n", opts.Mode, exprLen, cov)
	fmt.Fprintf(c.out, "refcoco+ %s: positive candidates (IoU > 0.5 with the referred box) per expression: %v; %d expressions have none\n", opts.Mode, pos, noPos)
	if noPos > 0 {
		c.warn("%d of %d expressions have no candidate with IoU > 0.5 (all-zero labels; they cap the accuracy)", noPos, pos.n)
	}
	// The trainer reads RefCOCO+ only from a synthetic world (precomputed
	// features); with the e2e image path it refuses, which is no data problem.
	checkLoader(ctx, c, cfg, opts, world && len(good) == nrefs)
	return nil
}

// refCandidates returns the candidate boxes of s as [k, 4] x1, y1, x2, y2 in
// original pixels (image box first when configured) and the number of
// proposals of its image (-1 when src does not use them), and checks the files
// training reads for its image: a world's precomputed feature file (its
// detections are the proposals), else the COCO image.
func refCandidates(fs *zipfs.FS, cfg *config.Config, world bool, s *refcoco.Sample, src refcoco.BoxSource, coco *refcoco.Instances, props refcoco.Proposals) ([]float32, int, error) {
	ds := cfg.Dataset()
	nprop := -1
	if world {
		path := synth.FeatureFile(ds.DatasetPath, s.ImageID)
		rec, err := features.LoadJSON(fs, path, features.Options{Features: cfg.Network.ImageFeatPrecomputed})
		if err != nil {
			return nil, 0, err
		}
		if !cfg.Network.ImageFeatPrecomputed {
			if err := checkImage(fs, filepath.Join(ds.DatasetPath, synth.Layout.Images, fmt.Sprintf("%d.png", s.ImageID))); err != nil {
				return nil, 0, err
			}
		}
		var boxes []float32
		if ds.AddImageAsABox {
			boxes = append(boxes, 0, 0, float32(s.Width-1), float32(s.Height-1))
		}
		if src != refcoco.BoxesGT {
			boxes = append(boxes, rec.Boxes...)
			nprop = rec.NumBoxes
		}
		if src != refcoco.BoxesProposal {
			gt, err := refcoco.Candidates(s, refcoco.BoxesGT, coco, nil, false)
			if err != nil {
				return nil, 0, err
			}
			boxes = append(boxes, gt...)
		}
		return boxes, nprop, nil
	}
	// refcoco.py: every image is DATASET_PATH/train2014/COCO_train2014_{id:012d}.jpg.
	path, err := vqa.Catalog{DataPath: ds.DatasetPath, ZipMode: ds.ZipMode}.ImageFile("train2014", s.ImageID)
	if err != nil {
		return nil, 0, err
	}
	if err := checkImage(fs, path); err != nil {
		return nil, 0, err
	}
	boxes, err := refcoco.Candidates(s, src, coco, props, ds.AddImageAsABox)
	if src != refcoco.BoxesGT {
		nprop = len(props[s.ImageID])
	}
	return boxes, nprop, err
}

// checkImage decodes an image's header.
func checkImage(fs *zipfs.FS, path string) error {
	rc, err := fs.Open(path)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	defer rc.Close()
	if _, _, err := image.DecodeConfig(rc); err != nil {
		return fmt.Errorf("image %s: unreadable: %w", path, err)
	}
	return nil
}
