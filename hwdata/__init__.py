"""gradekit's data: `load(name)` returns a verified, processed dataset as numpy arrays.

Named `hwdata` so it can never clash with the Hugging Face `datasets` package. Importing it
needs numpy only; building the data (`python -m hwdata.build`, i.e. `make datasets`) also
needs scikit-learn, for the 8x8 digits.
"""
from hwdata.errors import DatasetError
from hwdata.loader import KEYS, NAMES, add_bias_column, dataset_files, load
from hwdata.manifest import data_root

__all__ = ["DatasetError", "KEYS", "NAMES", "add_bias_column", "data_root", "dataset_files",
           "load"]
