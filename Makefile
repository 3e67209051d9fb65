# Two commands reproduce and check the study on a fresh machine:
#   make reproduce   set up the environment, fetch the raw data, run every notebook
#   make test        set up the environment, run the whole test suite, then reproduce and verify
#   make verify      check a run against the committed reference (README: "How to verify this study")
# Offline, point at a local mirror of the raw data:  make reproduce DATA_MIRROR=../shared/data
# (../shared/data beside the checkout is used automatically when it exists).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ARGS   ?=
export DATA_MIRROR

.PHONY: setup lock reproduce atlas demo test benchmark lab clean reference verify

# install .venv from requirements.lock (hashes checked), then the package itself without dependencies
setup:
	$(PYTHON) scripts/setup_env.py

# regenerate requirements.lock from the pins in environment.yml (pip-tools in a throwaway venv);
# make lock ARGS=--upgrade also moves the transitive packages to their newest fitting versions
lock:
	$(PYTHON) scripts/lock.py $(ARGS)

reproduce: setup
	$(BIN)/jhw-reproduce $(ARGS)

atlas: setup
	$(BIN)/jhw-reproduce --region all $(ARGS)

demo: setup
	$(BIN)/jhw-reproduce --synthetic $(ARGS)

# the test suite, then the reviewer's route: reproduce the default study and verify it against the reference
# (with a kernel server for that run only: the test command leaves no process behind)
test: setup
	$(BIN)/python -m pytest -n 2 --dist loadfile -p no:cacheprovider tests
	JHW_KERNEL_SERVER_IDLE=0 $(BIN)/jhw-reproduce
	@$(MAKE) --no-print-directory verify

# The reference (notebooks/reference/): the executed notebooks of a --force run of the default
# study, with repo-relative parameters and without images, and the reference manifest. Ordinary
# kernels, as nbval and a reader's Jupyter use: a library's import-time warning then shows in its cell.
reference: setup
	JHW_KERNEL_SERVER_ENABLED=0 $(BIN)/jhw-reproduce --force $(ARGS)
	$(BIN)/python scripts/make_reference.py

# Check the current code and data against the reference, after `make reproduce`:
#   jhw-verify compares every artefact of the latest run with notebooks/reference/reference_manifest.json
#   (VERIFY_ARGS="--tolerance 1e-9" on another platform);
#   nbval re-executes each reference notebook and compares its outputs cell by cell.
# Both always run; the target fails if either finds a difference.
VERIFY_ARGS ?=
NBVAL := --nbval notebooks/reference --nbval-sanitize-with notebooks/reference/nbval_sanitize.cfg \
	--nbval-kernel-name jeugdhulp-wijken
verify: setup
	@status=0; \
	$(BIN)/jhw-verify $(VERIFY_ARGS) || status=1; \
	$(BIN)/python -m pytest -p no:cacheprovider $(NBVAL) || status=1; \
	exit $$status

# two repetitions, the fastest counts: timings on a shared machine vary by 10-20% from run to run
benchmark: setup
	$(BIN)/python scripts/benchmark.py --repeats 2

lab: setup
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf data/derived data/synthetic data/runs figures/*/ 
