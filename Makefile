# clinvla-kit: the two set-up commands are `make tutorial` and `make test`; each creates .venv when missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CLI := $(VENV)/bin/clinvla-kit
# Constraints pin torch/torchvision to one matching pair (the registry's CUDA build also runs on CPU).
PIP_INSTALL := $(PIP) install --disable-pip-version-check -q -c constraints.txt

.PHONY: tutorial test install install-dev smoke demo browser-test clean help

help:
	@echo "make tutorial  - install, generate SynthCXR, run every notebook headlessly -> runs/"
	@echo "make test      - install with dev extras, run the whole test suite (notebooks included)"
	@echo "make demo      - serve the widget retrieval demo with Voila on localhost"
	@echo "make browser-test - end-to-end browser test of the demo (Debian chromium + Playwright)"

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e ".[dev]"
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

tutorial: $(VENV)/.installed
	$(CLI) notebooks --params tutorial --out runs

smoke: $(VENV)/.installed
	$(CLI) notebooks --params smoke --out runs/smoke

# pytest exit code 5 means "no tests collected": that is a broken suite, not a pass, so it fails loudly.
# The browser test needs Debian's chromium and the demo extras: it runs in `make browser-test`, not here.
test: $(VENV)/.installed-dev
	OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 $(PY) -m pytest tests -m "not browser" --durations=15; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5) - failing"; exit 1; fi; exit $$rc

$(VENV)/.installed-demo: $(VENV)/.installed pyproject.toml
	$(PIP_INSTALL) -e ".[dev,demo]"
	touch $@

# The app alone (notebooks/demo_app.ipynb, its parameters name the shipped aligned model synthcxr-clinvla-tiny and
# runs/data/synthcxr) on localhost only: the data are made when missing (as the tutorial makes them), the archive
# embeddings are precomputed into the user cache. Closing the page shuts its kernel down (Voila's page asks on
# unload, and the app's page script, `demo.app.shutdown_on_close`, sets the _xsrf cookie that request needs and asks
# on pagehide too); culling is the backstop for a vanished page, with a timeout long enough for a kernel that is still
# starting on a loaded machine (jupyter_server culls a "starting" kernel with no page yet like an idle one).
demo: $(VENV)/.installed-demo
	test -f runs/data/synthcxr/mimic-cxr-2.0.0-metadata.csv || HF_HUB_OFFLINE=1 $(PY) -c "from clinvla_kit.nbrun \
	import make_context, ensure_data; ensure_data(make_context('runs', 'tutorial'))"
	HF_HUB_OFFLINE=1 $(PY) -m clinvla_kit.demo.app --precompute --run synthcxr-clinvla-tiny --data runs/data/synthcxr
	HF_HUB_OFFLINE=1 $(VENV)/bin/voila notebooks/demo_app.ipynb --no-browser --port 8866 --Voila.ip=127.0.0.1 \
	  --MappingKernelManager.cull_idle_timeout=900 --MappingKernelManager.cull_interval=60

# The app in Debian's chromium (tests/demo/test_browser.py): the shipped model on a small SynthCXR archive made in
# the test's folder; it waits for what the page shows (budget CLINVLA_BROWSER_TIMEOUT s, default 600), prints Voila's
# log on failure and the measured times on success (-rP). CLINVLA_DEMO_DATA=runs/data/synthcxr
# CLINVLA_DEMO_STUDIES=400 tests what `make demo` serves.
browser-test: $(VENV)/.installed-demo
	test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)
	HF_HUB_OFFLINE=1 $(PY) -m pytest tests/demo -m browser -rsP

clean:
	rm -rf runs .pytest_cache
