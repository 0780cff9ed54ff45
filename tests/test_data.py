"""checker.data.get_data: the classic MNIST pickle when present, scikit-learn's digits otherwise."""
from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
import torch

from checker.data import DataNotFound, DataUnreadable, MNIST_FILE, get_data

N_TRAIN, N_VALID, N_TEST = 12, 5, 3


def fake_mnist(path, n_train=N_TRAIN, n_valid=N_VALID):
    """A tiny file in the exact format of mnist.pkl.gz: gzip'd latin-1 pickle of three (x, y) pairs."""
    rng = np.random.default_rng(1)

    def pair(n):
        return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)

    data = (pair(n_train), pair(n_valid), pair(N_TEST))
    with gzip.open(path, "wb") as f:
        pickle.dump(data, f, protocol=2)
    return data


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No MNIST anywhere: an empty working folder, an empty home, no $MNIST_PATH."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("MNIST_PATH", raising=False)
    monkeypatch.chdir(work)
    return work


def check_mnist(result, data):
    x_train, y_train, x_valid, y_valid = result
    assert x_train.shape == (N_TRAIN, 784) and x_valid.shape == (N_VALID, 784)
    assert y_train.shape == (N_TRAIN,) and y_valid.shape == (N_VALID,)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert x_valid.dtype == torch.float32 and y_valid.dtype == torch.int64
    assert torch.equal(x_train, torch.from_numpy(data[0][0]))
    assert torch.equal(y_valid, torch.from_numpy(data[1][1]))


def test_loads_the_mnist_pickle_from_a_path(nowhere, tmp_path, capsys):
    path = tmp_path / MNIST_FILE
    data = fake_mnist(path)
    check_mnist(get_data(path), data)
    out = capsys.readouterr().out
    assert "MNIST" in out and str(path) in out and "12 training and 5 validation" in out


def test_a_folder_holding_the_pickle_works_too(nowhere, tmp_path, capsys):
    data = fake_mnist(tmp_path / MNIST_FILE)
    check_mnist(get_data(tmp_path), data)


def test_finds_it_through_the_environment_variable(nowhere, tmp_path, monkeypatch, capsys):
    path = tmp_path / "elsewhere.pkl.gz"
    data = fake_mnist(path)
    monkeypatch.setenv("MNIST_PATH", str(path))
    check_mnist(get_data(), data)
    assert str(path) in capsys.readouterr().out


def test_finds_it_in_the_working_folder_and_in_the_fastai_folder(nowhere, tmp_path, capsys):
    data = fake_mnist(nowhere / MNIST_FILE)
    check_mnist(get_data(), data)
    (nowhere / MNIST_FILE).unlink()
    fastai = tmp_path / "home" / ".fastai" / "data"
    fastai.mkdir(parents=True)
    data = fake_mnist(fastai / MNIST_FILE)
    check_mnist(get_data(), data)
    assert str(fastai / MNIST_FILE) in capsys.readouterr().out


def test_falls_back_on_the_scikit_learn_digits(nowhere, capsys):
    pytest.importorskip("sklearn")
    x_train, y_train, x_valid, y_valid = get_data()
    assert x_train.shape == (1500, 64) and x_valid.shape == (297, 64)
    assert y_train.shape == (1500,) and y_valid.shape == (297,)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert float(x_train.min()) >= 0.0 and float(x_train.max()) <= 1.0 and float(x_train.max()) > 0.9
    assert set(y_valid.tolist()) == set(range(10))  # shuffled: every digit in both sets
    out = capsys.readouterr().out
    assert "digits" in out and "MNIST not found" in out and "8x8" in out
    again = get_data()
    assert torch.equal(again[0], x_train)  # the same split every time


def test_a_corrupt_file_gives_a_clear_error(nowhere, tmp_path):
    path = tmp_path / MNIST_FILE
    path.write_bytes(b"this is not gzip data")
    with pytest.raises(DataUnreadable) as info:
        get_data(path)
    assert isinstance(info.value, ValueError)
    assert str(path) in str(info.value) and "gzip'd pickle" in str(info.value)


def test_a_truncated_file_gives_a_clear_error(nowhere, tmp_path):
    path = tmp_path / MNIST_FILE
    fake_mnist(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataUnreadable, match="cannot read"):
        get_data(path)


@pytest.mark.parametrize("content", [{"x": 1}, ((np.zeros((3, 784), np.float32), np.zeros(4, np.int64)),) * 3,
                                     ((np.zeros(5, np.float32), np.zeros(5, np.int64)),) * 3,
                                     ((np.zeros((2, 784), np.float32), np.zeros(2, np.float32)),) * 3])
def test_a_pickle_of_the_wrong_arrays_gives_a_clear_error(nowhere, tmp_path, content):
    path = tmp_path / MNIST_FILE
    with gzip.open(path, "wb") as f:
        pickle.dump(content, f)
    with pytest.raises(DataUnreadable):
        get_data(path)


def test_an_explicit_path_that_does_not_exist_is_an_error(nowhere, tmp_path, monkeypatch):
    with pytest.raises(DataNotFound) as info:
        get_data(tmp_path / "missing.pkl.gz")
    assert isinstance(info.value, FileNotFoundError) and "missing.pkl.gz" in str(info.value)
    monkeypatch.setenv("MNIST_PATH", str(tmp_path / "gone.pkl.gz"))
    with pytest.raises(DataNotFound, match=r"\$MNIST_PATH"):
        get_data()


def test_errors_cross_a_process_boundary(tmp_path):
    error = DataUnreadable(path=str(tmp_path), reason="broken")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is DataUnreadable and str(again) == str(error)


def test_the_digits_are_read_without_importing_scikit_learn_and_equal_its_loader_s(monkeypatch):
    """get_data() reads the file scikit-learn ships (importing scikit-learn cost every kernel and checker process
    about 1 s of CPU); the arrays are its loader's, and where the file is not there its loader is used."""
    import subprocess
    import sys

    import numpy as np
    from sklearn.datasets import load_digits as sklearn_digits

    from checker import data

    code = "import sys; from checker.data import load_digits; load_digits([]); print('sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    x, y = data._digits_arrays()
    want = sklearn_digits()
    assert np.array_equal(x, want.data) and np.array_equal(y, want.target)
    monkeypatch.setattr(data, "DIGITS_CSV", ("datasets", "data", "no-such-file.csv.gz"))
    x, y = data._digits_arrays()
    assert np.array_equal(x, want.data) and np.array_equal(y, want.target)
