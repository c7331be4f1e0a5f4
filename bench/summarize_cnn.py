#!/usr/bin/env python3
"""Summarise compare_cnn.sh results (JSON lines): per (bench, threads) the median,
min and max ms per step of vlbert and PyTorch, CPU ms per step, GFLOP/s (vlbert's
flop count, which both run), the share of the FMA peak (PEAK_GFLOPS per core times
threads, when set), peak RSS, and per-round ratios torch_ms / vlbert_ms (>1: vlbert
faster) for wall and CPU time, min / median / max."""
import json
import os
import statistics
import sys
from collections import defaultdict


def mmm(xs, f="{:.2f}"):
    return " / ".join(f.format(v) for v in (min(xs), statistics.median(xs), max(xs))) if xs else "-"


def main(paths):
    peak = float(os.environ.get("PEAK_GFLOPS", "0") or 0)
    runs = [json.loads(line) for p in paths for line in open(p) if line.strip()]
    groups = defaultdict(list)
    for r in runs:
        groups[(r["bench"], r["threads"], r.get("int8", False))].append(r)
    for (bench, threads, int8), rs in sorted(groups.items()):
        loads = [r.get("load1_before", 0) for r in rs]
        by = defaultdict(dict)
        for r in rs:
            by[r["impl"]][r["round"]] = r
        vl, th = by.get("vlbert", {}), by.get("torch", {})
        flops = next((r["flops_per_step"] for r in vl.values()), None)
        r0 = rs[0]
        print(f"\n== {bench}{' int8' if int8 else ''}, threads {threads}, {r0['images']} image(s) "
              f"{r0['height']}x{r0['width']}, {r0['boxes']} boxes/image; {len(rs)} runs, load1 before "
              f"{min(loads):.1f}..{max(loads):.1f} (median {statistics.median(loads):.1f})")
        print(f"{'impl':8s} {'ms/step min / med / max':>28s} {'cpu ms med':>10s} {'GFLOP/s':>8s} {'% peak':>7s} {'RSS MB':>7s}  stages ms (median)")
        for impl, rr in (("vlbert", vl), ("torch", th)):
            if not rr:
                continue
            ms = [r["ms_per_step"] for r in rr.values()]
            cpu = [r["cpu_ms_per_step"] for r in rr.values()]
            med = statistics.median(ms)
            gf = flops / med / 1e6 if flops else float("nan")
            pk = f"{100 * gf / (peak * threads):6.0f}%" if peak else "      -"
            st = defaultdict(list)
            for r in rr.values():
                for k, v in r.get("stage_ms", {}).items():
                    st[k].append(v)
                if "backward_ms" in r:
                    st["backward"].append(r["backward_ms"])
            stages = " ".join(f"{k}={statistics.median(v):.0f}" for k, v in st.items())
            print(f"{impl:8s} {mmm(ms, '{:.0f}'):>28s} {statistics.median(cpu):10.0f} {gf:8.1f} {pk} "
                  f"{max(r['peak_rss_mb'] for r in rr.values()):7.0f}  {stages}")
        ratios = [th[k]["ms_per_step"] / vl[k]["ms_per_step"] for k in th if k in vl]
        cratios = [th[k]["cpu_ms_per_step"] / vl[k]["cpu_ms_per_step"] for k in th if k in vl]
        print(f"torch/vlbert per round (>1: vlbert faster): wall {mmm(ratios)}, CPU {mmm(cratios)}")
        # Forward stages from the same runs (wall time): the backbone alone and the head.
        for name, keys in (("backbone (stem..layer3)", ("stem", "layer1", "layer2", "layer3")),
                           ("head (roialign+res5+pool)", ("roialign", "head", "pool")),
                           ("backward", ("backward_ms",))):
            def part(r):
                if keys == ("backward_ms",):
                    return r.get("backward_ms")
                st = r.get("stage_ms", {})
                return sum(st[k] for k in keys) if all(k in st for k in keys) else None
            rs_ = [part(th[k]) / part(vl[k]) for k in th if k in vl and part(th[k]) and part(vl[k])]
            if rs_:
                print(f"  {name}: torch/vlbert wall ratio {mmm(rs_)}")


if __name__ == "__main__":
    main(sys.argv[1:])
