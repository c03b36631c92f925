#!/usr/bin/env bash
# The GPU check (docs/gpu.md): a 720p episode, then four at once, on CUDA when this machine has it,
# else on the CPU (it says which); decode vs detector vs the whole; GPU memory; and whether the
# CUDA path's detections equal the CPU path's. Installs nothing: run `make install` first.
# Options: bench/gpu_check.sh --help (e.g. --device cpu, --seconds 600, --episodes 8, --no-write).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
if [ ! -x "$BIN/python" ]; then
  echo "gpu_check: $BIN/python is missing; run make install first" >&2
  exit 2
fi
export YOLO_CONFIG_DIR=${YOLO_CONFIG_DIR:-$PWD/.yolo_config}  # as the Makefile sets it
exec "$BIN/python" bench/gpu_check.py "$@"
