# Every target works on a fresh machine: the venv and the peers are made on demand.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Inside the venv, so deleting .venv also forgets the install.
STAMP := $(VENV)/.installed

# Real SMTP peers the test suite starts itself (PEERS.md); a missing peer in CI is a failure.
# libnet-ssleay-perl is only a Recommends of swaks, and without it `swaks --tls` cannot work.
# chromium: the inbox's browser tests drive it through Playwright (never a download).
PEER_PACKAGES := postfix swaks msmtp curl libnet-ssleay-perl chromium

.PHONY: venv peers lint test serve bench format

venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstalled whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

peers:
	@if [ -x /usr/sbin/smtp-sink ] && command -v swaks >/dev/null && command -v msmtp >/dev/null \
	    && command -v curl >/dev/null && perl -MNet::SSLeay -e 1 2>/dev/null \
	    && [ -x /usr/bin/chromium ]; then \
	  exit 0; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "note: not root, so not installing $(PEER_PACKAGES); tests that need a missing peer will fail"; \
	else \
	  echo "installing SMTP peers: $(PEER_PACKAGES)"; \
	  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
	  apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(PEER_PACKAGES); \
	fi

lint: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy --strict src tests bench

test: venv peers lint
	$(BIN)/pytest --cov=smtpx --cov-branch --cov-report=term-missing
	if [ -d src/smtpx/protocol ]; then \
	  $(BIN)/coverage report --include='src/smtpx/protocol/*' --fail-under=100; \
	fi

# The receiver on 127.0.0.1:2525, keeping mail in ./smtpx-data (SQLite), and its inbox
# on http://127.0.0.1:8025/ (both addresses are printed); Ctrl-C stops it.
serve: venv
	$(BIN)/smtpx serve

bench: venv
	@if [ ! -f bench/engine.py ]; then echo "bench/engine.py does not exist yet" >&2; exit 1; fi
	$(BIN)/python bench/engine.py

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
