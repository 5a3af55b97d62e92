# neuroedge: two commands on a fresh machine -- `make demo` and `make test`. Each installs what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
LAVA_VENV := .venv-lava
SINABS_VENV := .venv-sinabs
PY        := $(VENV)/bin/python
# The main venv is Python 3.11; torch 2.13.0 (CPU, from local disk) goes in first so that no
# dependency pulls a multi-GB CUDA build.
PYTHON311 ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
TORCH_PIN := torch==2.13.0
# Lava needs pyenv's 3.10.13 by its full path; the bare pyenv shim fails on these machines.
PYENV_ROOT_DIR := $(shell pyenv root 2>/dev/null)
PYTHON310 ?= $(firstword $(wildcard $(PYENV_ROOT_DIR)/versions/3.10.13/bin/python3.10 \
                                    $(HOME)/.pyenv/versions/3.10.13/bin/python3.10))
LAVA_PKGS := lava-nc==0.10.0 "numpy<2" "scipy<1.16" h5py
# Debian packages: QEMU + the Cortex-M toolchain for the firmware, sshd for the Jetson target's tests.
APT_PKGS  := qemu-system-arm gcc-arm-none-eabi libnewlib-arm-none-eabi openssh-server openssh-client
APT_BINS  := qemu-system-arm arm-none-eabi-gcc /usr/sbin/sshd ssh ssh-keygen
PIP_QUIET := --quiet --disable-pip-version-check

.PHONY: help setup setup-main setup-lava setup-sinabs setup-apt test test-fast demo bench lint clean

help:
	@echo "make demo   - set up (first time) and run the end-to-end demo"
	@echo "make test   - set up (first time) and run the test suite"
	@echo "make bench  - run the benchmarks, writing benchmarks/results/*.json and *.png"
	@echo "make setup  - both venvs and the apt packages; make setup-lava: the Lava venv alone"
	@echo "make lint   - ruff"

setup: setup-main setup-lava setup-sinabs setup-apt

setup-main: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@v=$$($(PYTHON311) -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	  if [ "$$v" != "3.11" ]; then echo "neuroedge needs Python 3.11 for .venv (found $$v at $(PYTHON311)); set PYTHON311=/path/to/python3.11"; exit 1; fi
	@echo "==> creating $(VENV) (Python 3.11, $(TORCH_PIN) CPU first)"
	@test -x $(PY) || $(PYTHON311) -m venv $(VENV)
	@$(PY) -m pip install $(PIP_QUIET) --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -m pip install $(PIP_QUIET) $(TORCH_PIN) 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -m pip install $(PIP_QUIET) -e '.[dev,ray]' 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -c "import neuroedge, torch, onnxruntime, brevitas" || { echo "setup of $(VENV) failed"; exit 1; }
	@touch $@

setup-lava: $(LAVA_VENV)/.installed
$(LAVA_VENV)/.installed:
	@if [ -z "$(PYTHON310)" ]; then echo "Lava needs Python 3.10.13: install it with 'pyenv install 3.10.13'"; exit 1; fi
	@echo "==> creating $(LAVA_VENV) (Python 3.10 for lava-nc 0.10, numpy<2)"
	@test -x $(LAVA_VENV)/bin/python || $(PYTHON310) -m venv $(LAVA_VENV)
	@$(LAVA_VENV)/bin/python -m pip install $(PIP_QUIET) --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	@$(LAVA_VENV)/bin/python -m pip install $(PIP_QUIET) $(LAVA_PKGS) 2>&1 | grep -v "^WARNING: Location" || true
	@$(LAVA_VENV)/bin/python -c "import lava.magma.core.run_configs" || { echo "setup of $(LAVA_VENV) failed"; exit 1; }
	@touch $@

# sinabs 3.1.3 (a NIR consumer; pins nir<=1.0.4, so not in .venv): the NIR test runs our file in it.
setup-sinabs: $(SINABS_VENV)/.installed
$(SINABS_VENV)/.installed:
	@echo "==> creating $(SINABS_VENV) (sinabs 3.1.3, $(TORCH_PIN) CPU first)"
	@test -x $(SINABS_VENV)/bin/python || $(PYTHON311) -m venv $(SINABS_VENV)
	@$(SINABS_VENV)/bin/python -m pip install $(PIP_QUIET) $(TORCH_PIN) 2>&1 | grep -v "^WARNING: Location" || true
	@$(SINABS_VENV)/bin/python -m pip install $(PIP_QUIET) sinabs==3.1.3 2>&1 | grep -v "^WARNING: Location" || true
	@$(SINABS_VENV)/bin/python -c "import sinabs, nir" || { echo "setup of $(SINABS_VENV) failed"; exit 1; }
	@touch $@

# apt needs root (or sudo); without either, say what is missing and go on: the tests that need
# these packages skip with the reason.
setup-apt:
	@missing=""; for b in $(APT_BINS); do command -v $$b >/dev/null 2>&1 || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; else SUDO=none; fi; \
	  if [ "$$SUDO" = none ]; then echo "missing$$missing: run 'sudo apt-get install $(APT_PKGS)' (tests that need them will skip)"; \
	  else echo "==> apt-get install $(APT_PKGS)"; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(APT_PKGS) >/dev/null; fi; \
	fi

test: setup
	$(VENV)/bin/pytest -q

# Unit tests only, no Lava/QEMU/sshd.
test-fast: setup-main
	$(VENV)/bin/pytest -q tests/unit

demo: setup
	$(PY) examples/demo.py

bench: setup
	$(PY) benchmarks/run_all.py

lint: setup-main
	$(VENV)/bin/ruff check .

clean:
	rm -rf .pytest_cache .ruff_cache build dist *.egg-info
