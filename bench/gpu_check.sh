#!/usr/bin/env bash
# One GPU check, at most 8 minutes on one GPU: the CUDA tests, then bench/gpu_bench.py (paper preset: train
# steps/s, peak memory, MFU in bf16 with SDPA, torch.compile on/off, masked vs unmasked step, embedding latency at
# batch 1 and 256, local loss vs the per-report loop on CUDA). One results file: $OUT/gpu_results.json (or
# bench/_work/gpu_results.json) plus the pytest log beside it. Record the numbers in bench/RESULTS.md.
#
#   bash bench/gpu_check.sh            # from the repository root, on the GPU machine (torch, timm, transformers,
#                                      # peft installed; the kit itself is imported from the working tree)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench/_work}"
mkdir -p "$out"
export HF_HUB_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
py="${PYTHON:-python}"
python_has_gpu=$($py -c "import torch; print(int(torch.cuda.is_available()))")
[ "$python_has_gpu" = 1 ] || echo "gpu_check: no CUDA device; the numbers below are CPU numbers" >&2
timeout 180 $py -m pytest tests -m gpu -q -p no:cacheprovider -o addopts="" > "$out/gpu_pytest.log" 2>&1
echo "pytest -m gpu: exit $? (log: $out/gpu_pytest.log)"; tail -n 3 "$out/gpu_pytest.log"
timeout 300 $py bench/gpu_bench.py --out "$out/gpu_results.json" "$@"
echo "gpu_bench: exit $? -> $out/gpu_results.json"
