package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/weights"
)

const convertGolden = "../../testdata/golden/"

func TestConvertVQA(t *testing.T) {
	out := filepath.Join(t.TempDir(), "vqa.safetensors")
	var stdout bytes.Buffer
	if err := runConvert(context.Background(), convertOptions{ckpt: convertGolden + "vqa_ckpt_legacy.model", out: out, optimizer: true}, &stdout); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"legacy format", "model kind:  vqa", "51 tensors", "prefixes:    module. ×51", "step 1", "best_val 0.125", "51 model tensors, 102 optimizer tensors"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout.String())
		}
	}
	tensors, meta, err := weights.ReadSafetensors(out)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := weights.ReadTorch(convertGolden + "vqa_ckpt_zip.model")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ck.Keys {
		got := tensors[strings.TrimPrefix(k, "module.")]
		if got == nil || !got.Equal(ck.StateDict[k]) {
			t.Errorf("%s not converted faithfully", k)
		}
	}
	names, _ := ck.ParamNames()
	for i, n := range names {
		st := ck.Optimizer.State[i]
		k := strings.TrimPrefix(n, "module.")
		if !tensors["optimizer.exp_avg."+k].Equal(st.ExpAvg) || !tensors["optimizer.exp_avg_sq."+k].Equal(st.ExpAvgSq) {
			t.Errorf("moments of %s wrong", k)
		}
	}
	for k, v := range map[string]string{"model_kind": "vqa", "optimizer.step": "1", "optimizer.naming": "key",
		"validation_monitor.best_val": "0.125", "validation_monitor.best_epoch": "0", "source": "vqa_ckpt_legacy.model"} {
		if meta[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, meta[k], v)
		}
	}
	if !strings.Contains(meta["optimizer.param_groups"], `"initial_lr":0.0005`) || !strings.Contains(meta["optimizer.param_groups"], `"final_mlp.2.bias"`) {
		t.Errorf("param groups %s", meta["optimizer.param_groups"])
	}
}

func TestConvertPretrainTied(t *testing.T) {
	out := filepath.Join(t.TempDir(), "pt.safetensors")
	var stdout bytes.Buffer
	if err := runConvert(context.Background(), convertOptions{ckpt: convertGolden + "pretrain_ckpt_zip.model", out: out, optimizer: true}, &stdout); err != nil {
		t.Fatal(err)
	}
	tensors, meta, err := weights.ReadSafetensors(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tensors["vlbert.mlm_head.predictions.decoder.weight"]; ok || tensors["vlbert.word_embeddings.weight"] == nil || len(tensors) != 60 {
		t.Errorf("tied decoder should be written once; %d tensors", len(tensors))
	}
	if meta["tied.vlbert.mlm_head.predictions.decoder.weight"] != "vlbert.word_embeddings.weight" || meta["model_kind"] != "pretrain" {
		t.Errorf("metadata %v", meta)
	}
	if !strings.Contains(stdout.String(), "tied:") || !strings.Contains(stdout.String(), "validation monitor: none") {
		t.Errorf("summary:\n%s", stdout.String())
	}
}

func TestConvertErrors(t *testing.T) {
	dir := t.TempDir()
	html := filepath.Join(dir, "vl-bert-base-prec.model")
	os.WriteFile(html, []byte("<!DOCTYPE html><html>Quota exceeded</html>"), 0o644)
	out := filepath.Join(dir, "out.safetensors")
	err := runConvert(context.Background(), convertOptions{ckpt: html, out: out}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "HTML") || !strings.Contains(err.Error(), "vl-bert-base-prec.model") {
		t.Errorf("err = %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("output written for a failed conversion")
	}
	err = commands["convert"].run(context.Background(), []string{"-ckpt", html}, &bytes.Buffer{}, &bytes.Buffer{})
	if _, ok := err.(usageError); !ok {
		t.Errorf("missing -out: %v, want a usage error", err)
	}
}

// The optimizer state read back from the converted file equals the original's.
func TestConvertOptimizerRoundTrip(t *testing.T) {
	out := filepath.Join(t.TempDir(), "vqa.safetensors")
	if err := runConvert(context.Background(), convertOptions{ckpt: convertGolden + "vqa_ckpt_zip.model", out: out, optimizer: true}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	tensors, meta, err := weights.ReadSafetensors(out)
	if err != nil {
		t.Fatal(err)
	}
	opt, names, err := weights.OptimizerFromSafetensors(tensors, meta)
	if err != nil {
		t.Fatal(err)
	}
	ck, _ := weights.ReadTorch(convertGolden + "vqa_ckpt_zip.model")
	want, _ := ck.ParamNames()
	if len(names) != len(want) || len(opt.State) != 51 {
		t.Fatalf("%d names, %d states", len(names), len(opt.State))
	}
	for i := range want {
		a, b := opt.State[i], ck.Optimizer.State[i]
		if names[i] != strings.TrimPrefix(want[i], "module.") || a.Step != b.Step || !a.ExpAvg.Equal(b.ExpAvg) || !a.ExpAvgSq.Equal(b.ExpAvgSq) {
			t.Errorf("param %d (%s) differs", i, names[i])
		}
	}
	if g, w := opt.ParamGroups[0], ck.Optimizer.ParamGroups[0]; g.LR != w.LR || g.InitialLR != w.InitialLR || g.Betas != w.Betas || g.Eps != w.Eps || g.WeightDecay != w.WeightDecay || g.CorrectBias != w.CorrectBias {
		t.Errorf("group %+v, want %+v", g, w)
	}
}

// convert --verify checks a file with its format's checksums (finding 9: a
// flipped byte in a converted file loaded silently before).
func TestConvertVerify(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "vqa.safetensors")
	var buf bytes.Buffer
	if err := runConvert(context.Background(), convertOptions{ckpt: convertGolden + "vqa_ckpt_zip.model", out: out, optimizer: true}, &buf); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{out, convertGolden + "vqa_ckpt_zip.model"} {
		buf.Reset()
		if err := runVerify(f, &buf); err != nil || !strings.HasPrefix(buf.String(), "ok: ") {
			t.Fatalf("verify %s: %v %s", f, err, buf.String())
		}
	}
	if !strings.Contains(buf.String(), "CRC-32 verified") {
		t.Errorf("zip verify output %q", buf.String())
	}
	b, _ := os.ReadFile(out)
	b[len(b)-5] ^= 0x08
	bad := filepath.Join(dir, "bad.safetensors")
	os.WriteFile(bad, b, 0o644)
	if err := runVerify(bad, &buf); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("a flipped byte passed: %v", err)
	}
}
