# The README's two quick-start commands: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test install lint bench clean

$(BIN)/loadtest: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/loadtest

install: $(BIN)/loadtest

## run the gate with every default: reference target + local Prometheus (or embedded source)
run: install
	$(BIN)/loadtest run

## run the test suite (real target, real Prometheus and PostgreSQL where installed)
test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/target_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info
