# Two entry points for a newcomer (see README.md):
#   make lab    set up .venv with the tested pins and open the course in JupyterLab
#   make test   set up .venv the same way and run every test (unit, doctests, notebooks)
# and a headless one for teachers:
#   make course execute every chapter into build/course/ (quick profile; PROFILE=full for
#               the real recipe on a GPU)
#
# test, test-fast and course run the quick profile even on a CUDA machine: the full profile
# trains for hours, far beyond the notebooks' cell timeout. Only `make course PROFILE=full`
# asks for it.

PYTHON ?= python3
# The profile of `make course` (quick or full); the tests always run quick.
PROFILE ?= quick
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

# Real photos for the chapters and tests: MATTINGLIB_DATA if set, else a
# ../shared/data folder next to the checkout when there is one.
ifeq ($(origin MATTINGLIB_DATA), undefined)
  ifneq ($(wildcard ../shared/data),)
    export MATTINGLIB_DATA := $(abspath ../shared/data)
  endif
endif

.PHONY: setup lab test test-fast course notebooks gpu-check clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -c constraints.txt -e ".[course,test]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (mattinglib)" >/dev/null
	touch $(STAMP)

setup: $(STAMP)

lab: setup
	$(VENV)/bin/jupyter lab course/

test: setup
	$(VENV)/bin/ruff check .
	MATTINGLIB_PROFILE=quick $(PY) -m pytest tests mattinglib data_scripts --doctest-modules
	MATTINGLIB_PROFILE=quick $(PY) -m pytest --nbval course/ solutions/ -p no:cacheprovider --nbval-cell-timeout=900

# Unit tests only, for quick iteration.
test-fast: setup
	$(VENV)/bin/ruff check .
	MATTINGLIB_PROFILE=quick $(PY) -m pytest tests mattinglib data_scripts --doctest-modules -m "not slow" -x -q

# Regenerate the student copies in course/ from solutions/.
notebooks: setup
	$(PY) tools/make_course.py

course: setup
	MATTINGLIB_PROFILE=$(PROFILE) $(PY) tools/run_course.py --out build/course

# Every training stage's full-profile step on the GPU, timed and sized (a few minutes);
# writes benchmarks/results/gpu_check_<device>.json and .txt.
gpu-check: setup
	$(PY) benchmarks/gpu_check.py --device cuda

clean:
	rm -rf build .pytest_cache
