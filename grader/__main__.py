import sys

try:
    import numpy  # noqa: F401  (the grader and every check need it)
except ImportError:
    sys.exit(f"gradekit needs numpy, which {sys.executable} cannot import. Use the kit's own "
             "environment: run `make check` (students) or `make grade` (staff), which create "
             "it, or install the packages in requirements/core.txt.")

from grader.cli import main  # noqa: E402

sys.exit(main())
