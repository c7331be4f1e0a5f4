#!/usr/bin/env bash
# compare.sh: vlbert vs PyTorch on the same VL-BERT VQA model, shapes and thread counts.
#
# Runs `vlbert bench model` and bench/vlbert_torch.py alternately (round r runs every
# configuration once; odd rounds start with vlbert, even rounds with PyTorch), appends
# one JSON line per run to $RESULTS, then prints per (threads, mode) the median ms/step
# of every configuration and the per-round ratios torch_ms / vlbert_ms (>1: vlbert is
# faster) with min/median/max, and the peak RSS. The machine load (1-minute load
# average before each run) is recorded with every line.
#
# Environment (defaults in brackets):
#   SIZE [base] BATCH [8] TEXT_LEN [64] REGIONS [36]
#   THREADS ["1 2"]        thread counts (vlbert --threads; torch.set_num_threads,
#                           OMP/OPENBLAS/MKL_NUM_THREADS)
#   MODES ["infer train"]  infer: no_grad forward (vlbert: its default answers-only last
#                           layer, what predict/serve run; PyTorch: the full last layer as
#                           the original, or answers-only with the ":answers" flag);
#                           infer-all: vlbert --all-rows, the same work as PyTorch's full
#                           forward; infer-int8: as infer with the encoder Linears dynamic
#                           int8 on both sides (vlbert --int8; PyTorch --int8:
#                           quantize_dynamic of the same Linears, engine picked by
#                           vlbert_torch.py, onednn with Debian's torch); train:
#                           forward+backward+clip+AdamW
#   ROUNDS [3] STEPS [3] WARMUP [2]
#   TORCH_CONFIGS ["default Haswell"]  OpenBLAS core types for PyTorch: "default" leaves
#                           OPENBLAS_CORETYPE unset, anything else sets it (Zen, Haswell,
#                           ...); append ":foreach" for AdamW(foreach=True) and/or
#                           ":passive" for OMP_WAIT_POLICY=PASSIVE (no OpenMP spin-waiting,
#                           which matters on a loaded machine), ":openmp" for Debian's
#                           OpenMP build of OpenBLAS (its threads then obey the OpenMP wait
#                           policy; the default pthread build spins), ":answers" for the
#                           answers-only last layer in infer and infer-int8 modes,
#                           e.g. "default:openmp:passive"
#   RESULTS [bench/results/compare-<UTC time>.jsonl]  PYTHON [/usr/bin/python3]
#   VLBERT [build ./cmd/vlbert into a temp dir]
#
# Example: THREADS=1 MODES=infer ROUNDS=2 TORCH_CONFIGS="default Zen Haswell" bench/compare.sh
#          MODES="infer infer-int8" TORCH_CONFIGS="default:openmp:passive:answers" bench/compare.sh
# Needs PyTorch for $PYTHON (Debian: apt-get install -y python3-torch).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=${SIZE:-base} BATCH=${BATCH:-8} TEXT_LEN=${TEXT_LEN:-64} REGIONS=${REGIONS:-36}
THREADS=${THREADS:-"1 2"} MODES=${MODES:-"infer train"}
ROUNDS=${ROUNDS:-3} STEPS=${STEPS:-3} WARMUP=${WARMUP:-2}
TORCH_CONFIGS=${TORCH_CONFIGS:-"default Haswell"}
PYTHON=${PYTHON:-/usr/bin/python3}
[ -x "$PYTHON" ] || PYTHON=python3
mkdir -p bench/results
RESULTS=${RESULTS:-bench/results/compare-$(date -u +%Y%m%dT%H%M%S).jsonl}

if [ -z "${VLBERT:-}" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  go build -o "$tmp/vlbert" ./cmd/vlbert
  VLBERT=$tmp/vlbert
fi
"$PYTHON" -c 'import torch' || { echo "compare.sh: $PYTHON cannot import torch (apt-get install -y python3-torch)" >&2; exit 1; }
core=$(OPENBLAS_VERBOSE=2 "$PYTHON" -c 'import torch; torch.ones(64, 64) @ torch.ones(64, 64)' 2>&1 | sed -n 's/^Core: //p' | head -1)
echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cpus; OpenBLAS default core: ${core:-unknown}; results -> $RESULTS" >&2

# record CONFIG ROUND MODE JSON: append the run's JSON with config, round, mode, load and time.
record() {
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  sed -e "s/}[[:space:]]*\$/, \"config\": \"$1\", \"round\": $2, \"mode\": \"$3\", \"load1_after\": $load, \"utc\": \"$(date -u +%FT%TZ)\"}/" <<<"$4" >>"$RESULTS"
}

run_vlbert() { # THREADS MODE ROUND
  local train=() load
  [ "$2" = train ] && train=(--train)
  [ "$2" = infer-all ] && train=(--all-rows)
  [ "$2" = infer-int8 ] && train=(--int8)
  load=$(cut -d' ' -f1 /proc/loadavg)
  echo "# round $3 threads $1 $2: vlbert (load $load)" >&2
  record vlbert "$3" "$2" "$(GOMAXPROCS=$1 "$VLBERT" bench model --json --size "$SIZE" --batch "$BATCH" --text-len "$TEXT_LEN" \
    --regions "$REGIONS" --threads "$1" --steps "$STEPS" --warmup "$WARMUP" "${train[@]}" | sed "s/^{/{\"load1_before\": $load, /")"
}

run_torch() { # THREADS MODE ROUND CONFIG
  local args=() env=() load ct=${4%%:*}
  [ "$2" = train ] && args+=(--train)
  [[ "$4" == *:foreach* ]] && args+=(--foreach)
  [ "$2" = infer-int8 ] && args+=(--int8)
  [[ "$4" == *:answers* && ( "$2" == infer || "$2" == infer-int8 ) ]] && args+=(--answers-only)
  [[ "$4" == *:passive* ]] && env+=("OMP_WAIT_POLICY=PASSIVE")
  [[ "$4" == *:openmp* ]] && env+=("LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
  [ "$ct" != default ] && env+=("OPENBLAS_CORETYPE=$ct")
  load=$(cut -d' ' -f1 /proc/loadavg)
  echo "# round $3 threads $1 $2: torch $4 (load $load)" >&2
  record "torch:$4" "$3" "$2" "$(env "${env[@]}" OMP_NUM_THREADS="$1" OPENBLAS_NUM_THREADS="$1" MKL_NUM_THREADS="$1" \
    "$PYTHON" bench/vlbert_torch.py --json --size "$SIZE" --batch "$BATCH" --text-len "$TEXT_LEN" \
    --regions "$REGIONS" --threads "$1" --steps "$STEPS" --warmup "$WARMUP" "${args[@]}" | sed "s/^{/{\"load1_before\": $load, /")"
}

for t in $THREADS; do
  for mode in $MODES; do
    for r in $(seq 1 "$ROUNDS"); do
      if [ $((r % 2)) = 1 ]; then
        run_vlbert "$t" "$mode" "$r"
        for c in $TORCH_CONFIGS; do run_torch "$t" "$mode" "$r" "$c"; done
      else
        for c in $TORCH_CONFIGS; do run_torch "$t" "$mode" "$r" "$c"; done
        run_vlbert "$t" "$mode" "$r"
      fi
    done
  done
done
"$PYTHON" bench/summarize.py "$RESULTS"
