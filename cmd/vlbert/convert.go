package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/vlbert/vlbert/internal/weights"
)

// convertOptions are the flags of `vlbert convert`.
type convertOptions struct {
	ckpt      string // original torch.save checkpoint (legacy or zip)
	out       string // safetensors file to write
	optimizer bool   // also store the AdamW moments
	verify    string // check this file's integrity instead of converting
}

func init() {
	register(&command{name: "convert", summary: "convert an original PyTorch checkpoint (.model / .bin) or detector weights (.caffemodel, HF frcnn .bin, MILVLG .pth) to safetensors",
		run: func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			fs := newFlagSet("convert", stderr)
			var o convertOptions
			fs.StringVar(&o.ckpt, "ckpt", "", "original checkpoint written by torch.save (legacy or zip format)")
			fs.StringVar(&o.out, "out", "", "safetensors file to write")
			fs.BoolVar(&o.optimizer, "optimizer", true, "store the optimizer moments (exp_avg, exp_avg_sq) too")
			fs.StringVar(&o.verify, "verify", "", "only check FILE (safetensors: the data's SHA-256; torch zip: every record's CRC-32; both: finite values) and exit 1 if it fails")
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			if o.verify != "" {
				return runVerify(o.verify, stdout)
			}
			if o.ckpt == "" || o.out == "" {
				return usagef("convert: -ckpt and -out are required")
			}
			return runConvert(ctx, o, stdout)
		}})
}

// runVerify reads a checkpoint completely with every check its format has.
func runVerify(path string, stdout io.Writer) error {
	if weights.IsSafetensors(path) {
		ts, meta, err := weights.ReadSafetensors(path)
		if err != nil {
			return err
		}
		how := "no checksum stored (not written by vlbert): structure and values checked"
		if meta[weights.MetaDataSHA256] != "" {
			how = "SHA-256 of the data verified"
		}
		fmt.Fprintf(stdout, "ok: %s: safetensors, %d tensors, all finite; %s\n", path, len(ts), how)
		return nil
	}
	ck, err := weights.ReadTorch(path)
	if err != nil {
		return err
	}
	how := "legacy format (no checksums): structure and values checked"
	if ck.Format == "zip" {
		how = "every zip record's CRC-32 verified"
	}
	fmt.Fprintf(stdout, "ok: %s: torch %s, %d state_dict tensors, all finite; %s\n", path, ck.Format, len(ck.Keys), how)
	return nil
}

// runConvert reads an original checkpoint and writes its tensors as
// safetensors:
//   - state_dict tensors under their canonical names (weights.CanonicalKey:
//     no "module.", "vlbert._module." -> "vlbert.", and
//     "image_feature_extractor.head.0.*" folded into the equal
//     "roi_head_feature_extractor.*");
//   - a tensor that is the same storage view as an earlier one (the tied MLM
//     decoder) is written once, under the earlier name; metadata
//     "tied.<dropped key>" names the key it equals;
//   - AdamW moments as "optimizer.exp_avg.<key>" / "optimizer.exp_avg_sq.<key>"
//     when parameter indices can be mapped to keys (weights.ParamNames),
//     otherwise "optimizer.exp_avg.<index>"; metadata "optimizer.naming" says
//     which ("key" or "index");
//   - metadata: format, source, model_kind, optimizer.step (or
//     optimizer.steps as JSON when they differ), optimizer.param_groups
//     (JSON), validation_monitor.best_epoch / best_val.
func runConvert(ctx context.Context, o convertOptions, stdout io.Writer) error {
	if handled, err := convertDetector(ctx, o, stdout); handled { // detector releases: convert_detector.go
		return err
	}
	ck, err := weights.ReadTorch(o.ckpt)
	if err != nil {
		return err
	}
	canon, order, err := weights.Canonicalize(ck.Keys, ck.StateDict)
	if err != nil {
		return fmt.Errorf("convert: %s: %w", o.ckpt, err)
	}
	meta := map[string]string{
		"format":     "vlbert-weights",
		"version":    "1",
		"source":     filepath.Base(o.ckpt),
		"model_kind": weights.DetectModelKind(ck.StateDict),
	}
	out := make(map[string]*weights.Tensor, len(canon))
	for _, k := range order {
		out[k] = canon[k]
	}
	var tied []string
	for _, k := range ck.Keys {
		first, ok := ck.Aliases[k]
		if !ok {
			continue
		}
		dropped, kept := weights.CanonicalKey(k), weights.CanonicalKey(first)
		if dropped == kept {
			continue // head.0.* folded by Canonicalize
		}
		delete(out, dropped)
		meta["tied."+dropped] = kept
		tied = append(tied, dropped+" = "+kept)
	}
	nModel := len(out)

	var optLine string
	if ck.Optimizer != nil && o.optimizer {
		optLine, err = addOptimizer(ck, out, meta)
		if err != nil {
			return fmt.Errorf("convert: %s: %w", o.ckpt, err)
		}
	} else if ck.Optimizer != nil {
		optLine = "present, not converted (-optimizer=false)"
	} else {
		optLine = "none"
	}
	if vm := ck.ValidationMonitor; vm != nil {
		for k, v := range vm {
			meta["validation_monitor."+k] = strconv.FormatFloat(v, 'g', -1, 64)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := weights.WriteSafetensors(o.out, out, meta); err != nil {
		return err
	}
	return printConvertSummary(stdout, o, ck, canon, order, tied, optLine, meta, nModel, len(out)-nModel)
}

// addOptimizer stores the AdamW moments in out and the scalars in meta, and
// returns a one-line description.
func addOptimizer(ck *weights.TorchCheckpoint, out map[string]*weights.Tensor, meta map[string]string) (string, error) {
	opt := ck.Optimizer
	names, mapErr := ck.ParamNames()
	name := func(i int) string {
		if mapErr == nil {
			return weights.CanonicalKey(names[i])
		}
		return strconv.Itoa(i)
	}
	meta["optimizer.naming"] = "key"
	if mapErr != nil {
		meta["optimizer.naming"] = "index"
	}
	idx := make([]int, 0, len(opt.State))
	for i := range opt.State {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	steps := map[string]int{}
	stepSet := map[int]bool{}
	for _, i := range idx {
		st := opt.State[i]
		n := name(i)
		if st.ExpAvg != nil {
			out["optimizer.exp_avg."+n] = st.ExpAvg
		}
		if st.ExpAvgSq != nil {
			out["optimizer.exp_avg_sq."+n] = st.ExpAvgSq
		}
		for k, t := range st.Extra {
			out["optimizer."+k+"."+n] = t
		}
		steps[n] = st.Step
		stepSet[st.Step] = true
	}
	switch len(stepSet) {
	case 0:
	case 1:
		meta["optimizer.step"] = strconv.Itoa(opt.State[idx[0]].Step)
	default:
		b, _ := json.Marshal(steps)
		meta["optimizer.steps"] = string(b)
	}
	type group struct {
		LR          float64    `json:"lr"`
		Betas       [2]float64 `json:"betas"`
		Eps         float64    `json:"eps"`
		WeightDecay float64    `json:"weight_decay"`
		CorrectBias bool       `json:"correct_bias"`
		InitialLR   float64    `json:"initial_lr"`
		Params      []string   `json:"params"`
	}
	var groups []group
	for _, g := range opt.ParamGroups {
		gg := group{g.LR, g.Betas, g.Eps, g.WeightDecay, g.CorrectBias, g.InitialLR, []string{}}
		for _, p := range g.Params {
			gg.Params = append(gg.Params, name(p))
		}
		groups = append(groups, gg)
	}
	b, err := json.Marshal(groups)
	if err != nil {
		return "", err
	}
	meta["optimizer.param_groups"] = string(b)

	nParams := 0
	for _, g := range opt.ParamGroups {
		nParams += len(g.Params)
	}
	line := fmt.Sprintf("state for %d of %d parameters, %d param group(s)", len(opt.State), nParams, len(opt.ParamGroups))
	if s, ok := meta["optimizer.step"]; ok {
		line += ", step " + s
	}
	if len(opt.ParamGroups) > 0 {
		g := opt.ParamGroups[0]
		line += fmt.Sprintf("; group 0: lr %g, initial_lr %g, betas (%g, %g), eps %g, weight_decay %g, correct_bias %v",
			g.LR, g.InitialLR, g.Betas[0], g.Betas[1], g.Eps, g.WeightDecay, g.CorrectBias)
	}
	if mapErr != nil && len(opt.State) > 0 {
		line += "; moments named by index (" + mapErr.Error() + ")"
	}
	return line, nil
}

func printConvertSummary(w io.Writer, o convertOptions, ck *weights.TorchCheckpoint, canon map[string]*weights.Tensor, order, tied []string,
	optLine string, meta map[string]string, nModel, nOpt int) error {
	var params int64
	dtypes := map[string]int{}
	for _, k := range ck.Keys {
		t := ck.StateDict[k]
		params += int64(t.Numel())
		dtypes[t.DType]++
	}
	prefixes := map[string]int{}
	for _, k := range ck.Keys {
		switch {
		case strings.HasPrefix(k, "module.vlbert._module."), strings.HasPrefix(k, "vlbert._module."):
			prefixes["vlbert._module."]++
		}
		if strings.HasPrefix(k, "module.") {
			prefixes["module."]++
		}
		if strings.Contains(k, "image_feature_extractor.head.0.") {
			prefixes["image_feature_extractor.head.0."]++
		}
	}
	groups := map[string]int{}
	for _, k := range order {
		groups[strings.SplitN(k, ".", 2)[0]]++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "checkpoint:  %s (%s format)\n", o.ckpt, ck.Format)
	fmt.Fprintf(&b, "model kind:  %s\n", meta["model_kind"])
	kind := "state_dict"
	if ck.Raw {
		kind = "state_dict (bare, no wrapper dict)"
	}
	var unique int64 // trainable-parameter count: no buffers, no second names
	for _, k := range order {
		if _, isTied := meta["tied."+k]; !isTied && !strings.HasSuffix(k, ".running_mean") &&
			!strings.HasSuffix(k, ".running_var") && !strings.HasSuffix(k, ".num_batches_tracked") {
			unique += int64(canon[k].Numel())
		}
	}
	fmt.Fprintf(&b, "%s: %d tensors, %d elements; %d parameters (without buffers, duplicates and tied copies); dtypes %s\n",
		kind, len(ck.Keys), params, unique, countList(dtypes))
	if len(prefixes) > 0 {
		fmt.Fprintf(&b, "prefixes:    %s\n", countList(prefixes))
	} else {
		fmt.Fprintf(&b, "prefixes:    none\n")
	}
	fmt.Fprintf(&b, "modules:     %s\n", countList(groups))
	if d := len(ck.Keys) - len(order); d > 0 {
		fmt.Fprintf(&b, "duplicates:  %d image_feature_extractor.head.0.* keys folded into roi_head_feature_extractor.*\n", d)
	}
	for _, t := range tied {
		fmt.Fprintf(&b, "tied:        %s (written once)\n", t)
	}
	fmt.Fprintf(&b, "optimizer:   %s\n", optLine)
	if vm := ck.ValidationMonitor; vm != nil {
		fmt.Fprintf(&b, "validation monitor: best_epoch %g, best_val %g\n", vm["best_epoch"], vm["best_val"])
	} else {
		fmt.Fprintf(&b, "validation monitor: none\n")
	}
	fmt.Fprintf(&b, "wrote %s: %d model tensors, %d optimizer tensors\n", o.out, nModel, nOpt)
	_, err := io.WriteString(w, b.String())
	return err
}

// countList formats a histogram as "a ×3, b ×1" in key order.
func countList(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
