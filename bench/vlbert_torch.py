#!/usr/bin/env python3
"""PyTorch reference of the model `vlbert bench model` times, for speed comparisons.

VL-BERT VQA on precomputed features (vqa/modules/resnet_vlbert_for_vqa.py), written
from the architecture, with random weights:

  obj_reps = ReLU(Linear(4096->H)(Dropout(0.1)([geometry sin/cos (2048) ; feature (2048)])))
  text     = word_emb(ids) + visual_ln_text(obj_reps[:, 0])        (every text token)
  objects  = object_linguistic_emb + visual_ln_object(obj_reps)
  x        = LN([text | objects | END] + pos_emb + type_emb), Dropout
  x        = 12 x post-LN BERT layer (explicit attention as in the original BertSelfAttention)
  logits   = Linear(H->A)(Dropout(LN(GELU(Dense(x[MASK position])))))
  loss     = BCEWithLogits(logits, soft target).mean() * A

Inference: eval(), no_grad; with --answers-only the last layer computes its queries,
attention output and FFN for the [MASK] row only (what `vlbert bench model` does by
default; --all-rows there is the full last layer, as this script without the flag).
Training: train(), forward, backward,
clip_grad_norm_(1.0), AdamW step, zero_grad. Prints one JSON object with the same
keys as `vlbert bench model --json`.

--int8 (inference only; `vlbert bench model --int8`): torch.ao.quantization.quantize_dynamic
(qint8) converts the encoder layers' six Linears per layer (attention q, k, v, attention
output dense, FFN intermediate and output dense) and nothing else: the visual projection
(obj_downsample), the answer head (head_dense, cls), embeddings, LayerNorms, softmax and
the attention matmuls stay FP32. Weights: per-output-channel symmetric int8
(per_channel_dynamic_qconfig); activations: quantized at run time by the engine, one
asymmetric scale per tensor (vlbert: per row), int32 accumulation, FP32 bias and output.
onednn quantizes activations to 7 bits (reduce_range, as vlbert); qnnpack ignores
reduce_range and uses 8 bits. --quant-engine auto picks the first supported of fbgemm,
x86, onednn, qnnpack; on this machine's Debian torch 1.13 (engines qnnpack, onednn; AMD
EPYC, AVX2) onednn was the fastest at 1 and 2 threads (base, batch 8, text 64, regions
36: int8 forward onednn 1.2 s, qnnpack 4.7 s at 1 thread; 1.1 s vs 2.9 s at 2), so
auto picks it.
--check-int8: one forward of the FP32 model on the benchmark's input, then the same
forward of a quantized deep copy; reports the relative L2 error ||q-f||/||f|| of the
answer logits, their max abs difference and the top-1 agreement over the batch
(JSON int8_rel_l2, int8_max_abs_diff, int8_top1_agree), then benchmarks as usual.
"""
import argparse
import copy
import json
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SIZES = {
    # hidden, layers, heads, intermediate, vocab, answers
    "base": (768, 12, 12, 3072, 30522, 3129),
    "large": (1024, 24, 16, 4096, 30522, 3129),
    "small": (64, 2, 4, 128, 1000, 100),
}
FEAT, GEOM = 2048, 2048
CLS, SEP, MASK = 101, 102, 103


class Layer(nn.Module):
    def __init__(self, H, NH, I, p):
        super().__init__()
        self.NH, self.hs = NH, H // NH
        self.q, self.k, self.v = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, H)
        self.attn_drop = nn.Dropout(p)
        self.o = nn.Linear(H, H)
        self.o_drop = nn.Dropout(p)
        self.ln1 = nn.LayerNorm(H, eps=1e-12)
        self.inter = nn.Linear(H, I)
        self.out = nn.Linear(I, H)
        self.out_drop = nn.Dropout(p)
        self.ln2 = nn.LayerNorm(H, eps=1e-12)

    def heads(self, x):
        B, L, _ = x.shape
        return x.view(B, L, self.NH, self.hs).permute(0, 2, 1, 3)

    def forward(self, x, mask_add):
        B, L, H = x.shape
        q, k, v = self.heads(self.q(x)), self.heads(self.k(x)), self.heads(self.v(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.hs) + mask_add
        p = self.attn_drop(F.softmax(s, dim=-1))
        ctx = torch.matmul(p, v).permute(0, 2, 1, 3).reshape(B, L, H)
        h1 = self.ln1(self.o_drop(self.o(ctx)) + x)
        return self.ln2(self.out_drop(self.out(F.gelu(self.inter(h1)))) + h1)

    def forward_rows(self, x, mask_add, rows):
        """The layer's output at one position per sequence (rows [B]) -> [B, H]."""
        B, L, H = x.shape
        k, v = self.heads(self.k(x)), self.heads(self.v(x))
        xr = x[torch.arange(B), rows]  # [B, H]
        q = self.q(xr).view(B, self.NH, 1, self.hs)
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.hs) + mask_add
        ctx = torch.matmul(F.softmax(s, dim=-1), v).reshape(B, H)
        h1 = self.ln1(self.o(ctx) + xr)
        return self.ln2(self.out(F.gelu(self.inter(h1))) + h1)


class VLBertVQA(nn.Module):
    def __init__(self, H, NL, NH, I, V, A, p=0.1):
        super().__init__()
        self.obj_drop = nn.Dropout(0.1)
        self.obj_downsample = nn.Linear(GEOM + FEAT, H)
        self.object_linguistic_embeddings = nn.Embedding(1, H)
        self.word = nn.Embedding(V, H)
        self.end = nn.Embedding(1, H)
        self.pos = nn.Embedding(512, H)
        self.typ = nn.Embedding(3, H)
        self.emb_ln = nn.LayerNorm(H, eps=1e-12)
        self.vis_ln_text = nn.LayerNorm(H, eps=1e-12)
        self.vis_ln_obj = nn.LayerNorm(H, eps=1e-12)
        self.emb_drop = nn.Dropout(p)
        self.layers = nn.ModuleList([Layer(H, NH, I, p) for _ in range(NL)])
        self.head_dense = nn.Linear(H, H)
        self.head_ln = nn.LayerNorm(H, eps=1e-12)
        self.head_drop = nn.Dropout(0.1)
        self.cls = nn.Linear(H, A)
        freq = torch.pow(torch.tensor(1000.0), torch.arange(256, dtype=torch.float32) / 256)
        self.register_buffer("freq", freq, persistent=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def geometry(self, boxes, im_info):
        # boxes [B, Lo, 4], im_info [B, 2] -> [B, Lo, 2048] sin/cos embedding
        w, h = im_info[:, 0:1], im_info[:, 1:2]
        x1, y1, x2, y2 = boxes.unbind(-1)
        p = torch.stack([(x1 + x2) / 2 / w * 100, (y1 + y2) / 2 / h * 100,
                         (x2 - x1) / w * 100, (y2 - y1) / h * 100], -1)  # [B, Lo, 4]
        a = p.unsqueeze(-1) / self.freq  # [B, Lo, 4, 256]
        return torch.cat([torch.sin(a), torch.cos(a)], -1).flatten(2)

    def forward(self, text_ids, text_types, mask_pos, boxes, im_info, feats, answers_only=False):
        B, Lt = text_ids.shape
        Lo = boxes.shape[1]
        x = torch.cat([self.geometry(boxes, im_info), feats], -1)
        obj = F.relu(self.obj_downsample(self.obj_drop(x)))  # [B, Lo, H]
        text = self.word(text_ids) + self.vis_ln_text(obj[:, 0:1]).expand(-1, Lt, -1)
        objs = self.object_linguistic_embeddings.weight + self.vis_ln_obj(obj)
        end = self.end.weight.expand(B, 1, -1)
        vl = torch.cat([text, objs, end], 1)
        L = Lt + Lo + 1
        pos = torch.cat([torch.arange(Lt), torch.full((Lo,), Lt), torch.tensor([Lt + 1])])
        typ = torch.cat([text_types, torch.full((B, Lo + 1), 2, dtype=torch.long)], 1)
        x = self.emb_drop(self.emb_ln(vl + self.pos(pos) + self.typ(typ)))
        mask_add = torch.zeros(B, 1, 1, L)  # every token valid in this benchmark
        if answers_only:
            for layer in self.layers[:-1]:
                x = layer(x, mask_add)
            hm = self.layers[-1].forward_rows(x, mask_add, mask_pos)
        else:
            for layer in self.layers:
                x = layer(x, mask_add)
            hm = x[torch.arange(B), mask_pos]
        t = self.head_drop(self.head_ln(F.gelu(self.head_dense(hm))))
        return self.cls(t)


def make_batch(B, Lt, Lo, V, A, gen):
    lq = Lt - 4
    q = torch.randint(MASK + 1, V, (B, lq), generator=gen)
    ids = torch.cat([torch.full((B, 1), CLS), q, torch.tensor([[SEP, MASK, SEP]]).expand(B, -1)], 1)
    types = torch.zeros(B, Lt, dtype=torch.long)
    types[:, lq + 2:] = 1
    mask_pos = torch.full((B,), lq + 2)
    wh = torch.stack([400 + torch.randint(0, 200, (B,), generator=gen), 300 + torch.randint(0, 200, (B,), generator=gen)], 1).float()
    x1 = torch.rand(B, Lo, generator=gen) * wh[:, 0:1] / 2
    y1 = torch.rand(B, Lo, generator=gen) * wh[:, 1:2] / 2
    x2 = x1 + 1 + torch.rand(B, Lo, generator=gen) * wh[:, 0:1] / 2
    y2 = y1 + 1 + torch.rand(B, Lo, generator=gen) * wh[:, 1:2] / 2
    boxes = torch.stack([x1, y1, x2, y2], -1)
    boxes[:, 0] = torch.stack([torch.zeros(B), torch.zeros(B), wh[:, 0] - 1, wh[:, 1] - 1], -1)
    feats = torch.empty(B, Lo, FEAT).exponential_(generator=gen) * (torch.rand(B, Lo, FEAT, generator=gen) < 0.25)
    label = torch.zeros(B, A)
    for b in range(B):
        for k, val in enumerate((1.0, 0.6, 0.3)):
            label[b, torch.randint(0, A, (1,), generator=gen)] = val
    return ids, types, mask_pos, boxes, wh, feats, label


# Engines in order of preference (fbgemm is x86's best in builds that have it; "x86"
# is 2.0's fbgemm/onednn dispatcher); measured: onednn beats qnnpack here, see above.
ENGINE_ORDER = ("fbgemm", "x86", "onednn", "qnnpack")
INT8_LINEARS = ("q", "k", "v", "o", "inter", "out")


def pick_engine(want):
    """Sets torch.backends.quantized.engine to want ("auto": the first supported of
    ENGINE_ORDER) and returns its name; exits with a message when unsupported."""
    supported = torch.backends.quantized.supported_engines
    if want == "auto":
        ok = [e for e in ENGINE_ORDER if e in supported]
        if not ok:
            sys.exit("vlbert_torch.py: no quantized engine among %s (supported: %s)" % (ENGINE_ORDER, supported))
        want = ok[0]
    if want not in supported:
        sys.exit("vlbert_torch.py: quantized engine %r not supported by this torch (supported: %s)" % (want, supported))
    torch.backends.quantized.engine = want
    return want


def quantize_int8(m):
    """A copy of m whose encoder Linears (every layer's q, k, v, o, inter, out) are dynamic
    int8 with per-output-channel weights; every other module stays FP32."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    from torch.ao.nn.quantized.dynamic import Linear as QLinear
    names = {"layers.%d.%s" % (i, n) for i in range(len(m.layers)) for n in INT8_LINEARS}
    q = quantize_dynamic(copy.deepcopy(m), {n: per_channel_dynamic_qconfig for n in names},
                         dtype=torch.qint8)
    # Exactly the named modules were converted, nothing else.
    got = {n for n, mod in q.named_modules() if isinstance(mod, QLinear)}
    fp32 = {n for n, mod in q.named_modules() if type(mod) is nn.Linear}
    assert got == names, sorted(got ^ names)
    assert fp32 == {"obj_downsample", "head_dense", "cls"}, sorted(fp32)
    return q


def check_int8(m, batch, answers_only):
    """Answer logits of m (FP32) and of its int8 copy on batch -> (int8 model, metrics)."""
    ids, types, mask_pos, boxes, wh, feats = batch
    q = quantize_int8(m)
    with torch.no_grad():
        f = m(ids, types, mask_pos, boxes, wh, feats, answers_only)
        g = q(ids, types, mask_pos, boxes, wh, feats, answers_only)
    d = (g - f).double()
    return q, {
        "int8_rel_l2": float(d.norm() / f.double().norm()),
        "int8_max_abs_diff": float(d.abs().max()),
        "int8_max_abs_logit": float(f.abs().max()),
        "int8_top1_agree": float((g.argmax(-1) == f.argmax(-1)).double().mean()),
    }


def flops(H, NL, I, A, B, Lt, Lo, train, answers_only=False):
    """Matmul FLOPs, the formula of `vlbert bench model` (cmd/vlbert/bench_model.go)."""
    L = Lt + Lo + 1
    N, R = B * L, B * Lo
    obj = 2 * R * (GEOM + FEAT) * H
    layer = 8 * N * H * H + 4 * N * H * I + 4 * B * L * L * H
    fwd = obj + NL * layer + 2 * B * H * H + 2 * B * H * A
    if train:
        return fwd + 2 * fwd - obj
    if answers_only:
        fwd += 4 * N * H * H + 4 * B * H * H + 4 * B * H * I + 4 * B * L * H - layer
    return fwd


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="base", choices=SIZES)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--text-len", type=int, default=64)
    ap.add_argument("--regions", type=int, default=36)
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--foreach", action="store_true", help="AdamW(foreach=True) (multi-tensor update)")
    ap.add_argument("--answers-only", action="store_true",
                    help="inference: last layer for the [MASK] row only (vlbert's default)")
    ap.add_argument("--int8", action="store_true",
                    help="inference with the encoder Linears dynamic int8 (quantize_dynamic, "
                         "per-channel weights), as `vlbert bench model --int8`")
    ap.add_argument("--check-int8", action="store_true",
                    help="before timing, compare the int8 model's answer logits with FP32's on the "
                         "benchmark input (relative L2, max abs diff, top-1 agreement)")
    ap.add_argument("--quant-engine", default="auto", choices=("auto",) + ENGINE_ORDER,
                    help="torch.backends.quantized.engine for --int8/--check-int8; auto: first "
                         "supported of fbgemm, x86, onednn, qnnpack (onednn with Debian's torch "
                         "1.13, measured fastest there at 1 and 2 threads)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.train and (a.int8 or a.check_int8):
        ap.error("--int8 and --check-int8 are inference only; drop --train")

    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(1)
    H, NL, NH, I, V, A = SIZES[a.size]
    B, Lt, Lo = a.batch, a.text_len, a.regions
    t0 = time.perf_counter()
    m = VLBertVQA(H, NL, NH, I, V, A)
    gen = torch.Generator().manual_seed(7)
    ids, types, mask_pos, boxes, wh, feats, label = make_batch(B, Lt, Lo, V, A, gen)
    n_params = sum(p.numel() for p in m.parameters())  # before quantization hides weights
    opt = None
    engine, check = "", {}
    if a.train:
        m.train()
        opt = torch.optim.AdamW(m.parameters(), lr=1e-5, eps=1e-6, weight_decay=1e-4, foreach=a.foreach)
    else:
        m.eval()
        if a.int8 or a.check_int8:
            engine = pick_engine(a.quant_engine)
        if a.check_int8:
            q, check = check_int8(m, (ids, types, mask_pos, boxes, wh, feats), a.answers_only)
            if a.int8:
                m = q
        elif a.int8:
            m = quantize_int8(m)
    setup_ms = (time.perf_counter() - t0) * 1e3
    loss_val = 0.0

    def step():
        nonlocal loss_val
        if a.train:
            logits = m(ids, types, mask_pos, boxes, wh, feats)
            loss = F.binary_cross_entropy_with_logits(logits, label) * A
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
            opt.zero_grad()
            loss_val = float(loss)
        else:
            with torch.no_grad():
                m(ids, types, mask_pos, boxes, wh, feats, a.answers_only)

    for _ in range(a.warmup):
        step()
    times = []
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(a.steps):
        t = time.perf_counter()
        step()
        times.append((time.perf_counter() - t) * 1e3)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu_ms = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) * 1e3 / a.steps
    med = statistics.median(times)
    fl = flops(H, NL, I, A, B, Lt, Lo, a.train, a.answers_only and not a.train)
    res = {
        "seq_per_s": B / (med / 1e3), "gflops": fl / (med / 1e3) / 1e9, "ms_per_step": med,
        "min_ms": min(times), "max_ms": max(times),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "cpu_ms_per_step": cpu_ms,
        "threads": a.threads, "train": a.train, "size": a.size, "batch": B, "text_len": Lt,
        "regions": Lo, "seq_len": Lt + Lo + 1, "steps": a.steps, "warmup": a.warmup,
        "flops_per_step": fl, "params": n_params,
        "loss": loss_val, "setup_ms": setup_ms, "impl": "torch", "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "foreach": a.foreach,
        "all_rows": not a.answers_only and not a.train,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""), "times_ms": times,
        "int8": a.int8, "quant_engine": engine if a.int8 else "",
    }
    if check:
        res.update(check, check_quant_engine=engine)
    if a.json:
        print(json.dumps(res))
    else:
        if check:
            print("int8 check (%s engine, %s, batch %d): answer logits relative L2 error %.3g, max abs diff %.3g "
                  "(max |logit| %.3g), top-1 agreement %.3f"
                  % (engine, "answers-only" if a.answers_only else "all rows", B, check["int8_rel_l2"],
                     check["int8_max_abs_diff"], check["int8_max_abs_logit"], check["int8_top1_agree"]))
        what = "train step" if a.train else ("int8 inference (%s)" % engine if a.int8 else "inference")
        print("torch %s %s: %.1f ms/step (min %.1f, max %.1f), %.2f seq/s, %.1f GFLOP/s, peak RSS %.0f MB"
              % (a.size, what, med, min(times), max(times),
                 res["seq_per_s"], res["gflops"], res["peak_rss_mb"]))


if __name__ == "__main__":
    sys.exit(main())
