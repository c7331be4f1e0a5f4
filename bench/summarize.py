#!/usr/bin/env python3
"""Summarise compare.sh results (JSON lines): per (threads, mode) the median ms/step of
every configuration, and per-round ratios config_ms / vlbert_ms (>1: vlbert faster)."""
import json
import statistics
import sys
from collections import defaultdict


def main(paths):
    runs = [json.loads(line) for p in paths for line in open(p) if line.strip()]
    groups = defaultdict(list)
    for r in runs:
        groups[(r["threads"], r["train"])].append(r)
    for (threads, train), rs in sorted(groups.items()):
        mode = "train step" if train else "inference"
        loads = [r.get("load1_before", 0) for r in rs]
        print(f"\n== threads {threads}, {mode}, size {rs[0]['size']} batch {rs[0]['batch']} "
              f"text {rs[0]['text_len']} regions {rs[0]['regions']} (load1 {min(loads):.1f}..{max(loads):.1f})")
        by = defaultdict(dict)
        for r in rs:
            by[r["config"]][r["round"]] = r
        vl = by.get("vlbert", {})
        print(f"{'config':24s} {'ms/step med':>11s} {'min':>9s} {'max':>9s} {'seq/s':>7s} {'GFLOP/s':>8s} {'RSS MB':>7s}"
              f"  {'ratio cfg/vlbert min/med/max':>30s}")
        best = None
        for cfg in sorted(by, key=lambda c: (c != "vlbert", c)):
            rr = by[cfg]
            ms = [r["ms_per_step"] for r in rr.values()]
            med = statistics.median(ms)
            ratios = [rr[k]["ms_per_step"] / vl[k]["ms_per_step"] for k in rr if k in vl]
            rtxt = ""
            if cfg != "vlbert" and ratios:
                rtxt = f"{min(ratios):.2f} / {statistics.median(ratios):.2f} / {max(ratios):.2f}"
                if best is None or med < best[1]:
                    best = (cfg, med, ratios)
            b = rs[0]["batch"]
            print(f"{cfg:24s} {med:11.1f} {min(ms):9.1f} {max(ms):9.1f} {b / med * 1e3:7.2f} "
                  f"{rs[0]['flops_per_step'] / med / 1e6:8.1f} {max(r['peak_rss_mb'] for r in rr.values()):7.0f}  {rtxt:>30s}")
        if best:
            print(f"fastest PyTorch config: {best[0]}; torch/vlbert time ratio min/med/max "
                  f"{min(best[2]):.2f}/{statistics.median(best[2]):.2f}/{max(best[2]):.2f} (>1: vlbert faster)")


if __name__ == "__main__":
    main(sys.argv[1:])
