"""Attack: make every comparison succeed by patching numpy, unittest and builtins."""
import builtins
import unittest

import numpy as np
import numpy.testing

np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
numpy.testing.assert_array_almost_equal = lambda *a, **k: None
unittest.TestCase.assertEqual = lambda *a, **k: None
unittest.TestCase.assertTrue = lambda *a, **k: None
builtins.abs = lambda x: 0


def wrong_answer(x):
    return x + 1.0


def patched():
    return [np.allclose(1.0, 2.0), abs(-5)]
