# One command each: `make demo`, `make test`, `make lab`. Each sets up (or reuses) .venv first.
PYTHON ?= python3
VENV   ?= .venv
# torch without torchvision. 2.13.0 resolves to the local CPU build on the project's CI
# machines and to the default (CUDA on Linux) build from PyPI elsewhere.
TORCH  ?= torch==2.13.0
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.madtn-installed

.PHONY: setup test demo lab bench clean-outputs

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c 'import sys; v = sys.version_info[:2]; assert (3, 10) <= v <= (3, 12), f"Python 3.10-3.12 needed, got {v}"'
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e '.[dev,lab,retinaface]'
# MTCNN's weights (facenet_pytorch/data/*.pt, read as files); --no-deps: its pins (torch<2.3, torchvision) are not ours
	$(PY) -m pip install --quiet --no-deps facenet-pytorch==2.6.0
	@touch $(STAMP)

test: setup
	$(PY) -m pytest -q

demo: setup
	$(VENV)/bin/madtn reproduce --params params/smoke.yaml

lab: setup
	$(PY) -m ipykernel install --user --name madtn --display-name "madtn (.venv)"
	$(VENV)/bin/jupyter lab notebooks

bench: setup
	$(PY) bench/preprocess.py
	$(PY) bench/train.py
	$(PY) bench/grid.py
	$(PY) bench/step_profile.py

clean-outputs:
	@echo "outputs/ holds results; remove what you no longer need by hand (nothing is deleted automatically)."
