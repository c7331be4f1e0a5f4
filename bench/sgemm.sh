#!/usr/bin/env bash
# sgemm.sh: vlbert's SGEMM against the system OpenBLAS at the model's M = 800 shapes
# (C = A·Bᵀ, the nn.Linear product: Q/K/V/output 768×768, FFN up N = 3072, FFN down
# K = 3072), alternating the two backends in each round, 1 and 2 threads. Appends one
# JSON line per invocation to $RESULTS and prints min / median / max of the GFLOP/s and
# of the per-round ratio vlbert / OpenBLAS.
#
# Environment: THREADS ["1 2"] ROUNDS [3] M [800] RESULTS [bench/results/sgemm-<UTC>.jsonl]
#   VLBERT [build ./cmd/vlbert into a temp dir]
# The openblas backend loads libopenblas at run time (Debian: libopenblas0-pthread,
# pulled in by python3-torch). OPENBLAS_CORETYPE is left at its default (Zen here: its
# Haswell kernels; the SkylakeX kernels need AVX-512).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-"1 2"} ROUNDS=${ROUNDS:-3} M=${M:-800}
mkdir -p bench/results
RESULTS=${RESULTS:-bench/results/sgemm-$(date -u +%Y%m%dT%H%M%S).jsonl}
if [ -z "${VLBERT:-}" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  go build -o "$tmp/vlbert" ./cmd/vlbert
  VLBERT=$tmp/vlbert
fi
for t in $THREADS; do
  for shape in "768 768" "768 3072" "3072 768"; do
    read -r k n <<<"$shape"
    for r in $(seq 1 "$ROUNDS"); do
      order="go openblas"
      [ $((r % 2)) = 0 ] && order="openblas go"
      for be in $order; do
        load=$(cut -d' ' -f1 /proc/loadavg)
        GOMAXPROCS=$t OPENBLAS_NUM_THREADS=$t "$VLBERT" bench gemm --json --m "$M" --k "$k" --n "$n" --tb \
          --threads "$t" --backend "$be" |
          sed -e "s/}[[:space:]]*\$/, \"round\": $r, \"load1_before\": $load}/" >>"$RESULTS"
      done
    done
  done
done
python3 - "$RESULTS" <<'PY'
import json, statistics, sys
from collections import defaultdict
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
g = defaultdict(dict)
for r in runs:
    g[(r["threads"], r["k"], r["n"])].setdefault(r["backend"], {})[r["round"]] = r["gflops"]
def mmm(xs): return f"{min(xs):6.1f} / {statistics.median(xs):6.1f} / {max(xs):6.1f}"
print(f"{'threads':>7s} {'k':>5s} {'n':>5s}  {'vlbert GFLOP/s min/med/max':>26s}  {'OpenBLAS GFLOP/s':>24s}  {'ratio vlbert/OpenBLAS':>24s}")
for (t, k, n), b in sorted(g.items()):
    go, ob = b.get("go", {}), b.get("openblas", {})
    rat = [go[i] / ob[i] for i in go if i in ob]
    print(f"{t:7d} {k:5d} {n:5d}  {mmm(list(go.values())):>26s}  {mmm(list(ob.values())):>24s}  "
          f"{(f'{min(rat):.2f} / {statistics.median(rat):.2f} / {max(rat):.2f}' if rat else '-'):>24s}")
PY
