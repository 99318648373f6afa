# gradekit entry points. Every target sets up .venv itself on first use (only Python 3 needed).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-staff

# One BLAS thread in every grading/benchmark process: on 2 cores a second thread costs 10-100x
# as soon as anything else runs. The variables are grader/environment.py's ONE_BLAS_THREAD
# (tests/test_environment.py keeps this list equal to it).
export OPENBLAS_NUM_THREADS := 1
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export VECLIB_MAXIMUM_THREADS := 1
export NUMEXPR_NUM_THREADS := 1
export PYTHONPATH := $(CURDIR)
export PYTHONDONTWRITEBYTECODE := 1

ASSIGNMENT ?=
SUBMISSIONS ?=
EXPORT ?=
OUT ?= out/grade
JOBS ?=
SCHEDULER ?=
SEED ?=
CIFAR10 ?=

.PHONY: help venv test grade regrade-preview new-term datasets stubs expected calibrate release autograder bench demo clean mutants similarity

help:
	@echo "make grade      grade the demo class (or ASSIGNMENT= EXPORT=<gradescope export> SUBMISSIONS= OUT= JOBS=)"
	@echo "                SCHEDULER=tcp://HOST:8786 or local:N grades on a Dask cluster (docs/staff/cluster.md)"
	@echo "make regrade-preview  whose score would move, before OUT changes (same arguments as grade)"
	@echo "make new-term SEED=<n>  new data variant, calibration, release + autograder with one build id"
	@echo "make test       run the project's tests"
	@echo "make datasets   rebuild datasets/ (SEED=<n> for a new-term variant, CIFAR10=<dir>)"
	@echo "make stubs      regenerate assignments/ from reference/"
	@echo "make expected   regenerate the expected values from reference/"
	@echo "make calibrate  retrain the reference and record accuracy thresholds"
	@echo "make release    student releases in dist/student/ (ASSIGNMENT= for one)"
	@echo "make autograder Gradescope autograder zips in dist/autograder/"
	@echo "make bench      benchmarks (conv speed, grading throughput, conv/pool vs PyTorch)"
	@echo "make mutants ASSIGNMENT=<name>   mutation analysis: what the suite catches (staff)"
	@echo "make similarity ASSIGNMENT=<name> SUBMISSIONS=<dir>   similarity report (staff)"

venv: $(STAMP)
$(STAMP): requirements/core.txt requirements/dev.txt requirements/staff.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/staff.txt
	@touch $@

# Optional: Dask (grade SCHEDULER=..., and the tests of tests/test_cluster.py).
CLUSTER_STAMP := $(VENV)/.installed-cluster
$(CLUSTER_STAMP): $(STAMP) requirements/cluster.txt
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/cluster.txt
	@touch $@

test: $(STAMP) $(CLUSTER_STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile

# Without SUBMISSIONS/EXPORT: the demo class (only ASSIGNMENT's when given).
DEMO = $(PY) -m examples.demo --class-dir examples/class --out $(OUT) $(if $(ASSIGNMENT),--assignment $(ASSIGNMENT)) $(if $(JOBS),--jobs $(JOBS))
GRADE = $(PY) -m grader grade $(ASSIGNMENT) $(SUBMISSIONS) $(if $(EXPORT),--export $(EXPORT)) --out $(OUT) $(if $(JOBS),--jobs $(JOBS)) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

grade: $(STAMP) $(if $(SCHEDULER),$(CLUSTER_STAMP))
ifeq ($(SUBMISSIONS)$(EXPORT),)
	$(DEMO) $(if $(SCHEDULER),--scheduler $(SCHEDULER))
else
	$(GRADE)
endif

# Grades into a scratch folder and lists whose score would move; OUT is not changed.
regrade-preview: $(STAMP) $(if $(SCHEDULER),$(CLUSTER_STAMP))
ifeq ($(SUBMISSIONS)$(EXPORT),)
	$(DEMO) --dry-run
else
	$(GRADE) --dry-run
endif

# A new term in one go: data variant seed-SEED, calibration on it, then release and autograder
# (same variant, so one build id; the last step fails if dist/ disagrees). docs/staff/new-term-data.md
new-term: $(STAMP)
	@test -n "$(SEED)" || { echo "usage: make new-term SEED=<n> [ASSIGNMENT=<name>]" >&2; exit 2; }
	$(PY) -m hwdata.build --seed $(SEED) $(if $(CIFAR10),--cifar10 $(CIFAR10))
	GRADEKIT_DATA_VARIANT=seed-$(SEED) $(PY) -m grader.calibration $(ASSIGNMENT)
	GRADEKIT_DATA_VARIANT=seed-$(SEED) $(PY) -m publish.release $(ASSIGNMENT)
	GRADEKIT_DATA_VARIANT=seed-$(SEED) $(PY) -m publish.autograder $(ASSIGNMENT)
	$(PY) -m publish.release --check-dist $(ASSIGNMENT)

datasets: $(STAMP)
	$(PY) -m hwdata.build $(if $(SEED),--seed $(SEED)) $(if $(CIFAR10),--cifar10 $(CIFAR10))

stubs: $(STAMP)
	$(PY) -m publish.stubs

expected: $(STAMP)
	$(PY) -m grader.expected_values build $(ASSIGNMENT)

calibrate: $(STAMP)
	$(PY) -m grader.calibration $(ASSIGNMENT)

release: $(STAMP)
	$(PY) -m publish.release $(ASSIGNMENT)

autograder: $(STAMP)
	$(PY) -m publish.autograder $(ASSIGNMENT)

# PyTorch only in the bench's own venv (never a kit dependency): conv and pool against it
BENCH_VENV  := .venv-bench
BENCH_PY    := $(BENCH_VENV)/bin/python
BENCH_STAMP := $(BENCH_VENV)/.installed-bench
$(BENCH_STAMP): requirements/core.txt requirements/bench.txt
	@test -x $(BENCH_PY) || $(PYTHON) -m venv $(BENCH_VENV)
	@$(BENCH_PY) -m pip install --quiet --disable-pip-version-check -r requirements/bench.txt
	@touch $@

bench: $(STAMP) $(BENCH_STAMP)
	$(PY) -m benchmarks.conv
	$(PY) -m benchmarks.throughput
	$(PY) -m benchmarks.cost $(if $(N),--n $(N))
	$(BENCH_PY) -m benchmarks.torch_compare

mutants: $(STAMP)
	$(PY) -m grader mutants $(ASSIGNMENT) $(if $(JOBS),--jobs $(JOBS))

similarity: $(STAMP)
	$(PY) -m grader similarity $(ASSIGNMENT) $(SUBMISSIONS) --out $(OUT)

clean:
	rm -rf dist out examples/class .pytest_cache

# The kit's own byte-code, compiled ahead (issue #13): PYTHONDONTWRITEBYTECODE (above) keeps
# processes from writing it, so without this every grading process (the grader, each batch
# child) compiles grader/ from source, ~0.13 s of CPU each. Written only here, by the staff
# user with umask 022 (nothing a sandbox uid may replace); a source edited since is compiled
# in memory as before, until the next make.
PYC_STAMP := $(VENV)/.compiled-kit
$(PYC_STAMP): $(STAMP) $(wildcard grader/*.py grader/*/*.py grader/*/*/*.py hwdata/*.py)
	@umask 022 && $(PY) -m compileall -q -j 0 grader hwdata >/dev/null
	@touch $@
test grade regrade-preview new-term calibrate expected mutants similarity bench: $(PYC_STAMP)
