#!/usr/bin/env python3
"""Summarise compare.sh results (JSON lines): per (threads, mode) the median ms/step of
every configuration, and per-round ratios config_ms / vlbert_ms (>1: vlbert faster), for
wall time and, where both runs report it, process CPU time per step; for int8 runs
also PyTorch's float32 inference of the same round against vlbert's int8."""
import json
import statistics
import sys
from collections import defaultdict


def mmm(xs):
    return f"{min(xs):.2f} / {statistics.median(xs):.2f} / {max(xs):.2f}" if xs else "-"


def main(paths):
    runs = [json.loads(line) for p in paths for line in open(p) if line.strip()]
    groups = defaultdict(list)
    for r in runs:
        # Runs recorded before the mode key ran the full last layer.
        mode = r.get("mode") or ("train" if r["train"] else "infer-all")
        groups[(r["threads"], mode)].append(r)
    names = {"train": "train step", "infer": "inference (vlbert: answers-only last layer)",
             "infer-all": "inference (vlbert --all-rows: the full last layer, same work as PyTorch)",
             "infer-int8": "int8 inference (vlbert --int8, answers-only last layer; PyTorch quantize_dynamic)"}
    for (threads, mode), rs in sorted(groups.items()):
        mode = names.get(mode, mode)
        engines = sorted({r["quant_engine"] for r in rs if r.get("quant_engine")})
        if engines:
            mode += f" [PyTorch quantized engine {', '.join(engines)}]"
        loads = [r.get("load1_before", 0) for r in rs]
        print(f"\n== threads {threads}, {mode}, size {rs[0]['size']} batch {rs[0]['batch']} "
              f"text {rs[0]['text_len']} regions {rs[0]['regions']}; {len(rs)} runs, "
              f"load1 {min(loads):.1f}..{max(loads):.1f} (median {statistics.median(loads):.1f})")
        by = defaultdict(dict)
        for r in rs:
            by[r["config"]][r["round"]] = r
        vl = by.get("vlbert", {})
        print(f"{'config':28s} {'ms/step med':>11s} {'min':>8s} {'max':>8s} {'cpu ms':>8s} {'seq/s':>6s} "
              f"{'GFLOP/s':>7s} {'RSS MB':>6s}  {'wall ratio cfg/vlbert':>22s}  {'cpu ratio':>22s}")
        best = None
        for cfg in sorted(by, key=lambda c: (c != "vlbert", c)):
            rr = by[cfg]
            ms = [r["ms_per_step"] for r in rr.values()]
            cpu = [r["cpu_ms_per_step"] for r in rr.values() if "cpu_ms_per_step" in r]
            med = statistics.median(ms)
            ratios = [rr[k]["ms_per_step"] / vl[k]["ms_per_step"] for k in rr if k in vl]
            cratios = [rr[k]["cpu_ms_per_step"] / vl[k]["cpu_ms_per_step"] for k in rr
                       if k in vl and "cpu_ms_per_step" in rr[k] and "cpu_ms_per_step" in vl[k]]
            if cfg != "vlbert" and ratios and (best is None or med < best[1]):
                best = (cfg, med, ratios, cratios)
            b = rs[0]["batch"]
            print(f"{cfg:28s} {med:11.1f} {min(ms):8.1f} {max(ms):8.1f} "
                  f"{(statistics.median(cpu) if cpu else float('nan')):8.1f} {b / med * 1e3:6.2f} "
                  f"{next(iter(rr.values()))['flops_per_step'] / med / 1e6:7.1f} {max(r['peak_rss_mb'] for r in rr.values()):6.0f}  "
                  f"{(mmm(ratios) if cfg != 'vlbert' else ''):>22s}  {(mmm(cratios) if cfg != 'vlbert' else ''):>22s}")
        if best:
            print(f"fastest PyTorch config: {best[0]}; torch/vlbert wall-time ratio min/med/max {mmm(best[2])}, "
                  f"CPU-time ratio {mmm(best[3])} (>1: vlbert faster)")
        # vlbert int8 against PyTorch's float32 runs of the same round (infer mode).
        if mode.startswith("int8") and (threads, "infer") in groups:
            fp = defaultdict(dict)
            for r in groups[(threads, "infer")]:
                fp[r["config"]][r["round"]] = r
            for cfg in sorted(c for c in fp if c != "vlbert"):
                ratios = [fp[cfg][k]["ms_per_step"] / vl[k]["ms_per_step"] for k in fp[cfg] if k in vl]
                if ratios:
                    print(f"PyTorch float32 {cfg} / vlbert int8, same rounds: wall-time ratio min/med/max {mmm(ratios)}")


if __name__ == "__main__":
    main(sys.argv[1:])
