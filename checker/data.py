"""The lesson's data: MNIST when its classic pickle is on this machine, else scikit-learn's digits.

``get_data()`` never downloads anything. It looks for ``mnist.pkl.gz`` (a gzip'd pickle of
``((x_train, y_train), (x_valid, y_valid), (x_test, y_test))`` numpy arrays, x float32 in
[0, 1] of shape (N, 784)) at the ``path`` given, at ``$MNIST_PATH``, in the current folder
and in ``~/.fastai/data``. Without it, it falls back on the 8x8 handwritten digits bundled
with scikit-learn (1797 images), so every notebook runs offline. Only load pickles you trust.
"""
from __future__ import annotations

import functools
import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import torch

from checker.errors import CheckerError

MNIST_FILE = "mnist.pkl.gz"
ENV_VAR = "MNIST_PATH"
DIGITS_TRAIN = 1500  # of the 1797 digits; the other 297 are the validation set

NOT_FOUND = "no MNIST pickle at {path} ({given}); put {file} there or leave it out to use the built-in digits"
UNREADABLE = ("cannot read {path} as the MNIST pickle: {reason}. Expected a gzip'd pickle of "
              "((x_train, y_train), (x_valid, y_valid), (x_test, y_test)); delete the file or download it again")
NO_FALLBACK = ("MNIST is not on this machine (looked for {looked}) and scikit-learn, whose digits are the "
               "fallback, is not installed: pip install scikit-learn, or put {file} in one of those places")


class DataNotFound(CheckerError, FileNotFoundError):
    """A path given explicitly (argument or $MNIST_PATH) holds no file."""

    template = NOT_FOUND
    fields = ("path", "given", "file")


class DataUnreadable(CheckerError, ValueError):
    """The MNIST file exists but is not a gzip'd pickle of the expected arrays."""

    template = UNREADABLE
    fields = ("path", "reason")


class DataUnavailable(CheckerError, RuntimeError):
    """Neither MNIST nor the scikit-learn fallback is available."""

    template = NO_FALLBACK
    fields = ("looked", "file")


def _explicit(path, given: str) -> Path:
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / MNIST_FILE
    if not path.is_file():
        raise DataNotFound(path=str(path), given=given, file=MNIST_FILE)
    return path


def find_mnist(path=None) -> tuple[Path | None, list[str]]:
    """The MNIST file to use (or None) and the places looked at."""
    if path is not None:
        return _explicit(path, "the path given to get_data"), [str(path)]
    if os.environ.get(ENV_VAR):
        return _explicit(os.environ[ENV_VAR], f"${ENV_VAR}"), [os.environ[ENV_VAR]]
    places = [Path.cwd() / MNIST_FILE, Path.home() / ".fastai" / "data" / MNIST_FILE]
    found = next((p for p in places if p.is_file()), None)
    return found, [str(p) for p in places]


def _arrays(pair, what: str, path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        x, y = pair
        x, y = np.asarray(x, dtype=np.float32), np.asarray(y)
    except (TypeError, ValueError) as exc:
        raise DataUnreadable(path=str(path), reason=f"the {what} pair is not two arrays ({exc})") from None
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
        raise DataUnreadable(path=str(path), reason=f"the {what} arrays have shapes {x.shape} and {y.shape}, "
                                                    "expected (N, 784) and (N,)")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataUnreadable(path=str(path), reason=f"the {what} labels are {y.dtype}, expected integers")
    return torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.int64))


def load_mnist(path: Path):
    """(x_train, y_train, x_valid, y_valid) from the classic pickle; DataUnreadable if it is not one."""
    try:
        with gzip.open(path, "rb") as f:
            data = pickle.load(f, encoding="latin-1")
    except Exception as exc:  # noqa: BLE001 - gzip, pickle and EOF errors all mean "not that file"
        raise DataUnreadable(path=str(path), reason=f"{type(exc).__name__}: {exc}") from None
    if not isinstance(data, (tuple, list)) or len(data) < 2:
        raise DataUnreadable(path=str(path), reason=f"it holds a {type(data).__name__}, not the three pairs")
    x_train, y_train = _arrays(data[0], "training", path)
    x_valid, y_valid = _arrays(data[1], "validation", path)
    return x_train, y_train, x_valid, y_valid


DIGITS_CSV = ("datasets", "data", "digits.csv.gz")  # in scikit-learn's package: 64 pixels and the label per row


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The digits' pixels (0 to 16) and labels, read from the file scikit-learn ships without importing
    scikit-learn (about 1 s of CPU in every kernel and checker process that runs the notebook's get_data()), else
    through its loader."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise ImportError("scikit-learn is not installed")
    csv = Path(spec.origin).parent.joinpath(*DIGITS_CSV)
    if csv.is_file():
        with gzip.open(csv, "rt") as f:
            table = np.loadtxt(f, delimiter=",")
        return table[:, :-1], table[:, -1].astype(int)
    from sklearn.datasets import load_digits as sklearn_digits
    digits = sklearn_digits()
    return digits.data, digits.target


def load_digits(looked: list[str]):
    """scikit-learn's 8x8 digits scaled to [0, 1], shuffled once (seed 0), split 1500/297."""
    try:
        data, target = _digits_arrays()
    except ImportError:
        raise DataUnavailable(looked=", ".join(looked), file=MNIST_FILE) from None
    order = np.random.default_rng(0).permutation(len(target))
    x = torch.from_numpy((data[order] / 16.0).astype(np.float32))
    y = torch.from_numpy(target[order].astype(np.int64))
    return x[:DIGITS_TRAIN], y[:DIGITS_TRAIN], x[DIGITS_TRAIN:], y[DIGITS_TRAIN:]


@functools.lru_cache(maxsize=1)
def digits_split():
    """The digits' split (load_digits), loaded once per process: the grader's training check reads it for every
    student, and a grading host loads it before it forks them (instructor.grading.nbgrader_host)."""
    return load_digits([])


def _side(n_pixels: int) -> str:
    side = int(round(n_pixels ** 0.5))
    return f"{side}x{side}" if side * side == n_pixels else f"{n_pixels} values"


def get_data(path=None):
    """(x_train, y_train, x_valid, y_valid): float32 images of shape (N, pixels), int64 labels.

    MNIST from ``path``, ``$MNIST_PATH``, ``./mnist.pkl.gz`` or ``~/.fastai/data/mnist.pkl.gz``;
    scikit-learn's digits when none is there. Prints which one it used.
    """
    found, looked = find_mnist(path)
    if found is not None:
        data = load_mnist(found)
        source = f"MNIST from {found}"
    else:
        data = load_digits(looked)
        source = (f"scikit-learn's handwritten digits (MNIST not found; put {MNIST_FILE} in this folder "
                  f"or set ${ENV_VAR} to use it)")
    x_train, _, x_valid, _ = data
    print(f"Data: {source}: {len(x_train):,} training and {len(x_valid):,} validation images "
          f"of {_side(x_train.shape[1])} pixels")
    return data
