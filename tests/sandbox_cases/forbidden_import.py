import sklearn  # noqa: F401  (forbidden in every assignment)


def f():
    return 1
