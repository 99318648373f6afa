"""gradekit's autograder."""
__version__ = "0.1.0"     # the kit version; pyproject.toml's must match (tests/test_build_id.py)
