#!/usr/bin/env bash
# compare_cnn.sh: vlbert vs PyTorch on the convolutional path, same shapes and threads.
#
# Alternates `vlbert bench features|e2e --json` and `bench/resnet_torch.py --bench
# features|e2e` (odd rounds start with vlbert, even rounds with PyTorch), appends one
# JSON line per run to $RESULTS with the 1-minute load before and after, then prints
# summarize_cnn.py's table: per (bench, threads) median/min/max ms per step, CPU ms,
# GFLOP/s, the share of the FMA peak, peak RSS and per-round ratios torch/vlbert.
#
# Environment (defaults in brackets):
#   BENCHES ["features e2e"] THREADS ["1 2"] ROUNDS [3] STEPS [2] WARMUP [1]
#   IMAGES [1] HEIGHT [600] WIDTH [1000]
#   FEATURE_BOXES [36] E2E_BOXES [10]   RoIs per image
#   PEAK_GFLOPS [0]  FP32 FMA peak per core, for the "% peak" column (0: left out)
#   VLBERT_FLAGS [""]  extra flags for vlbert (e.g. --int8 with BENCHES=features)
#   RESULTS [bench/results/cnn-<UTC time>.jsonl]  PYTHON [/usr/bin/python3]
#   VLBERT [build ./cmd/vlbert into a temp dir]
# PyTorch runs with OMP_WAIT_POLICY=PASSIVE and, when installed (libopenblas0-openmp),
# Debian's OpenMP OpenBLAS, the fastest configuration in bench/README.md (its
# convolutions are oneDNN's either way).
set -euo pipefail
cd "$(dirname "$0")/.."

BENCHES=${BENCHES:-"features e2e"} THREADS=${THREADS:-"1 2"}
ROUNDS=${ROUNDS:-3} STEPS=${STEPS:-2} WARMUP=${WARMUP:-1}
IMAGES=${IMAGES:-1} HEIGHT=${HEIGHT:-600} WIDTH=${WIDTH:-1000}
FEATURE_BOXES=${FEATURE_BOXES:-36} E2E_BOXES=${E2E_BOXES:-10}
PEAK_GFLOPS=${PEAK_GFLOPS:-0} VLBERT_FLAGS=${VLBERT_FLAGS:-}
PYTHON=${PYTHON:-/usr/bin/python3}
mkdir -p bench/results
RESULTS=${RESULTS:-bench/results/cnn-$(date -u +%Y%m%dT%H%M%S).jsonl}

if [ -z "${VLBERT:-}" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  go build -o "$tmp/vlbert" ./cmd/vlbert
  VLBERT=$tmp/vlbert
fi
echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cpus; results -> $RESULTS" >&2

record() { # ROUND JSON
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  sed -e "s/}[[:space:]]*\$/, \"round\": $1, \"load1_after\": $load, \"utc\": \"$(date -u +%FT%TZ)\"}/" <<<"$2" >>"$RESULTS"
}

boxes() { [ "$1" = e2e ] && echo "$E2E_BOXES" || echo "$FEATURE_BOXES"; }

run_vlbert() { # BENCH THREADS ROUND
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  echo "# round $3 $1 threads $2: vlbert (load $load)" >&2
  # shellcheck disable=SC2086
  record "$3" "$(GOMAXPROCS=$2 "$VLBERT" bench "$1" --json --threads "$2" --images "$IMAGES" --height "$HEIGHT" \
    --width "$WIDTH" --boxes "$(boxes "$1")" --steps "$STEPS" --warmup "$WARMUP" $VLBERT_FLAGS |
    sed "s/^{/{\"impl\": \"vlbert\", \"load1_before\": $load, /")"
}

run_torch() { # BENCH THREADS ROUND
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  echo "# round $3 $1 threads $2: torch (load $load)" >&2
  local lib=${LD_LIBRARY_PATH:-}
  [ -d /usr/lib/x86_64-linux-gnu/openblas-openmp ] && lib=/usr/lib/x86_64-linux-gnu/openblas-openmp${lib:+:$lib}
  record "$3" "$(OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS="$2" OPENBLAS_NUM_THREADS="$2" MKL_NUM_THREADS="$2" \
    LD_LIBRARY_PATH="$lib" "$PYTHON" bench/resnet_torch.py --bench "$1" --threads "$2" --images "$IMAGES" --height "$HEIGHT" \
    --width "$WIDTH" --boxes "$(boxes "$1")" --steps "$STEPS" --warmup "$WARMUP" |
    sed "s/^{/{\"load1_before\": $load, /")"
}

for b in $BENCHES; do
  for t in $THREADS; do
    for r in $(seq 1 "$ROUNDS"); do
      if [ $((r % 2)) = 1 ]; then
        run_vlbert "$b" "$t" "$r"; run_torch "$b" "$t" "$r"
      else
        run_torch "$b" "$t" "$r"; run_vlbert "$b" "$t" "$r"
      fi
    done
  done
done
PEAK_GFLOPS=$PEAK_GFLOPS "$PYTHON" bench/summarize_cnn.py "$RESULTS"
