# Two commands reproduce and check the study on a fresh machine:
#   make reproduce   set up the environment, fetch the raw data, run every notebook
#   make test        set up the environment, run the whole test suite
# Offline, point at a local mirror of the raw data:  make reproduce DATA_MIRROR=../shared/data
# (../shared/data beside the checkout is used automatically when it exists).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ARGS   ?=
export DATA_MIRROR

.PHONY: setup reproduce atlas demo test benchmark lab clean

setup:
	$(PYTHON) scripts/setup_env.py

reproduce: setup
	$(BIN)/jhw-reproduce $(ARGS)

atlas: setup
	$(BIN)/jhw-reproduce --region all $(ARGS)

demo: setup
	$(BIN)/jhw-reproduce --synthetic $(ARGS)

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadfile -p no:cacheprovider tests

benchmark: setup
	$(BIN)/python scripts/benchmark.py

lab: setup
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf data/derived data/synthetic data/runs figures/*/ 
