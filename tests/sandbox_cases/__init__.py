"""Tiny fake student modules for the sandbox tests (never imported by the grader)."""
