"""The fastmlp command line, run in-process through fastmlp.cli.main (and once as
``python -m fastmlp``): train, sweep, evaluate, and the errors a user can make."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from helpers import mnist_dir_or_skip, run_with_memory_limit
from fastmlp import MLP, History
from fastmlp.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """Every command runs in an empty folder, where default output files land."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys, *argv):
    """main(argv) -> (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def scores(out):
    """{'train': (loss, accuracy), 'test': (loss, accuracy)} from the printed table."""
    found = {}
    for split, loss, acc in re.findall(r"^(train|test)\s+(\S+)\s+(\S+)$", out, re.M):
        found[split] = (float(loss), float(acc))
    return found


def assert_png(path):
    path = Path(path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4) and min(image.shape[:2]) > 100


def assert_one_line_error(err, *words):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("fastmlp: error: ")
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0]


# --- train --------------------------------------------------------------------------------

def test_train_with_no_arguments_learns_circles(capsys, in_tmp_path):
    code, out, err = run(capsys, "train")
    assert code == 0, err
    result = scores(out)
    assert set(result) == {"train", "test"}
    assert result["train"][1] >= 0.95
    assert result["test"][1] >= 0.95
    assert "circles: 1500 training and 500 test samples" in out
    assert "50/50" in err  # the progress bar reached the last epoch
    assert_png(in_tmp_path / "fastmlp-train.png")


def test_train_mse_on_one_hot_targets_then_evaluate(capsys, in_tmp_path):
    code, out, err = run(capsys, "train", "--loss", "mse", "--epochs", "30", "--hidden", "8",
                         "--seed", "3", "--no-progress", "--plot", "mse.png",
                         "--save", "mse.npz")
    assert code == 0, err
    assert err == ""  # no progress bar
    trained = scores(out)
    assert trained["test"][1] > 0.9  # accuracy from argmax of the outputs
    model = MLP.load(in_tmp_path / "mse.npz")
    assert model.loss_name == "mse" and model.layer_sizes == (2, 8, 2)
    assert_png(in_tmp_path / "mse.png")
    assert not (in_tmp_path / "fastmlp-train.png").exists()

    # evaluate sees the same test set as train for the same seed...
    code, out, err = run(capsys, "evaluate", "mse.npz", "--seed", "3")
    assert code == 0, err
    assert scores(out)["test"] == trained["test"]
    # ... and another one for another seed.
    code, out, err = run(capsys, "evaluate", "mse.npz", "--seed", "4")
    assert code == 0, err
    assert scores(out)["test"] != trained["test"]


def test_train_options_reach_the_model(capsys, in_tmp_path):
    code, out, err = run(capsys, "train", "--hidden", "--batch-size", "full", "--epochs", "2",
                         "--dtype", "float64", "--activation", "relu", "--init", "he",
                         "--momentum", "0.5", "--no-progress", "--save", "lin.npz")
    assert code == 0, err
    assert "batch size full" in out and "momentum 0.5" in out
    model = MLP.load(in_tmp_path / "lin.npz")
    assert model.layer_sizes == (2, 2)  # --hidden with no sizes: no hidden layer
    assert model.dtype == np.float64 and model.activation == "relu" and model.init == "he"


def test_train_regularisation_options_reach_fit(capsys, in_tmp_path, monkeypatch):
    calls, fit = [], MLP.fit

    def spy(self, *args, **kwargs):
        calls.append(kwargs)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(MLP, "fit", spy)
    code, out, err = run(capsys, "train", "--epochs", "2", "--dropout", "0.25",
                         "--clip-grad-norm", "0.5", "--no-progress", "--plot", "f.png")
    assert code == 0, err
    assert "dropout 0.25" in out and "clipped to norm 0.5" in out
    assert calls[0]["dropout"] == 0.25 and calls[0]["clip_grad_norm"] == 0.5


def test_train_divergence_exits_1(capsys, in_tmp_path):
    code, out, err = run(capsys, "train", "--loss", "mse", "--lr", "1e8", "--epochs", "3",
                         "--no-progress", "--save", "m.npz")
    assert code == 1
    assert_one_line_error(err, "diverged", "learning rate")
    assert not (in_tmp_path / "m.npz").exists()


def test_train_interrupted_in_its_first_epoch_says_there_is_no_figure(capsys, in_tmp_path,
                                                                      monkeypatch):
    monkeypatch.setattr(MLP, "fit", lambda *args, **kwargs: History(interrupted=True))
    code, out, err = run(capsys, "train", "--no-progress", "--plot", "f.png", "--save", "m.npz")
    assert code == 0, err
    assert "training interrupted after 0 epoch(s)" in err
    assert "no figure written to f.png: no epoch was completed" in err
    assert sorted(p.name for p in in_tmp_path.iterdir()) == ["m.npz"]  # the model is kept


# --- mnist --------------------------------------------------------------------------------

def test_train_and_evaluate_mnist(capsys, in_tmp_path):
    data_dir = str(mnist_dir_or_skip())
    code, out, err = run(capsys, "train", "--data", "mnist", "--data-dir", data_dir,
                         "--epochs", "1", "--hidden", "32", "--plot", "f.png", "--save", "m.npz",
                         "--no-progress")
    assert code == 0, err
    trained = scores(out)
    assert trained["train"][1] > 0.8 and trained["test"][1] > 0.8
    if not (Path(data_dir) / "train-images-idx3-ubyte.gz").exists():
        assert "8,000" in err and "2,000" in err  # the note on using the test split
        assert "8000 training and 2000 test samples" in out
    assert_png(in_tmp_path / "f.png")
    assert MLP.load(in_tmp_path / "m.npz").layer_sizes == (784, 32, 10)

    code, out, err = run(capsys, "evaluate", "m.npz", "--data", "mnist", "--data-dir", data_dir)
    assert code == 0, err
    assert scores(out)["test"] == trained["test"]  # the same held-out images

    # A 784-input model does not fit the circles.
    code, out, err = run(capsys, "evaluate", "m.npz")
    assert code == 2
    assert_one_line_error(err, "784 inputs")


def test_missing_mnist_folder(capsys, in_tmp_path):
    missing = in_tmp_path / "no-mnist-here"
    for command in (["train"], ["sweep", "--lr", "0.1", "--batch-size", "32"]):
        code, out, err = run(capsys, *command, "--data", "mnist", "--data-dir", str(missing))
        assert code == 2
        assert_one_line_error(err, str(missing))
    assert list(in_tmp_path.iterdir()) == []


# --- sweep --------------------------------------------------------------------------------

def test_sweep_prints_a_row_per_setting_and_plots(capsys, in_tmp_path):
    # --workers 0: in this process, one progress bar a run (on Dask: one for the sweep).
    code, out, err = run(capsys, "sweep", "--lr", "0.1", "1", "--batch-size", "32", "full",
                         "--epochs", "3", "--hidden", "6", "--workers", "0")
    assert code == 0, err
    rows = re.findall(r"^(\S+)\s+(32|full)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", out, re.M)
    assert sorted((lr, bs) for lr, bs, *_ in rows) == sorted(
        [("0.1", "32"), ("1", "32"), ("0.1", "full"), ("1", "full")])
    by_setting = {(lr, bs): (float(a), float(b), float(c)) for lr, bs, a, b, c in rows}
    # Three epochs of 47 steps at lr 1 get further than three full-batch steps at lr 0.1.
    assert by_setting[("1", "32")][0] < by_setting[("0.1", "full")][0]
    assert err.count("3/3") == 4  # a progress bar per run
    assert_png(in_tmp_path / "fastmlp-sweep.png")


def test_sweep_reports_diverged_runs(capsys, in_tmp_path):
    code, out, err = run(capsys, "sweep", "--loss", "mse", "--lr", "0.1", "1e8",
                         "--batch-size", "32", "--epochs", "2", "--no-progress",
                         "--plot", "s.png")
    assert code == 0, err
    assert re.search(r"^1e\+08\s+32\s+diverged in epoch 1$", out, re.M)
    assert re.search(r"^0\.1\s+32\s+[\d.]+\s+[\d.]+\s+[\d.]+$", out, re.M)
    assert_png(in_tmp_path / "s.png")


# --- errors ---------------------------------------------------------------------------------

def test_invalid_learning_rate(capsys, in_tmp_path):
    code, out, err = run(capsys, "train", "--lr", "0", "--no-progress")
    assert code == 2
    assert_one_line_error(err, "lr")
    code, out, err = run(capsys, "sweep", "--lr", "0.1", "-1", "--batch-size", "32",
                         "--epochs", "1", "--no-progress")
    assert code == 2
    assert_one_line_error(err, "lr")
    assert list(in_tmp_path.iterdir()) == []  # no figure for a failed command


@pytest.mark.parametrize("argv, words", [
    (["train", "--batch-size", "0"], ["batch_size"]),
    (["train", "--epochs", "0"], ["epochs"]),
    (["train", "--hidden", "10", "0"], ["layer_sizes"]),
    (["train", "--momentum", "-1"], ["momentum"]),
    (["train", "--plot", "curves.pdf"], ["--plot", ".png"]),
    (["train", "--save", "no/such/folder/m.npz"], ["--save", "does not exist"]),
], ids=["batch-size-0", "epochs-0", "hidden-0", "momentum", "plot-not-png", "save-folder"])
def test_bad_option_values(capsys, in_tmp_path, argv, words):
    code, out, err = run(capsys, *argv, "--no-progress")
    assert code == 2
    assert_one_line_error(err, *words)
    assert "trained" not in out
    assert list(in_tmp_path.iterdir()) == []


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if the command trains a model."""
    def fit(*args, **kwargs):
        pytest.fail("MLP.fit was called: training started before the error")
    monkeypatch.setattr(MLP, "fit", fit)


@pytest.fixture
def obstacles(in_tmp_path):
    """A folder ``adir``, a folder named like a figure ``adir.png``, a regular file
    ``afile`` and ``same.png`` with a symbolic link to it, ``link.npz``."""
    (in_tmp_path / "adir").mkdir()
    (in_tmp_path / "adir.png").mkdir()
    (in_tmp_path / "afile").write_text("a file")
    (in_tmp_path / "same.png").write_bytes(b"old")
    (in_tmp_path / "link.npz").symlink_to("same.png")
    return in_tmp_path


def tree(folder):
    """Every path under ``folder`` and its content (None for folders and links)."""
    return {str(p.relative_to(folder)): None if p.is_dir() or p.is_symlink() else p.read_bytes()
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("argv, words", [
    (["train", "--save", "adir"], ["--save adir is a folder, not a file"]),
    (["train", "--save", "afile/m.npz"], ["--save afile/m.npz:", "afile is a file, not a folder"]),
    (["train", "--save", "afile/sub/m.npz"], ["afile is a file, not a folder"]),
    (["train", "--save", "no/such/m.npz"], ["--save no/such/m.npz:", "does not exist"]),
    (["train", "--save", "/dev/null"], ["--save /dev/null", "not a regular file"]),
    (["train", "--save", ""], ["--save must be a file path; got ''"]),
    (["train", "--save", "m\0.npz"],
     ["--save must be a file path without NUL bytes; got 'm\\x00.npz'"]),
    (["train", "--plot", "adir.png"], ["--plot adir.png is a folder, not a file"]),
    (["train", "--plot", "afile/f.png"], ["--plot afile/f.png:", "is a file, not a folder"]),
    (["train", "--plot", "no/such/f.png"], ["--plot no/such/f.png:", "does not exist"]),
    (["train", "--save", "same.png", "--plot", "same.png"],
     ["--save same.png and --plot same.png are the same file"]),
    (["train", "--save", "link.npz", "--plot", "same.png"], ["are the same file"]),
    (["sweep", "--plot", "adir.png"], ["--plot adir.png is a folder"]),
    (["sweep", "--plot", "afile/s.png"], ["--plot afile/s.png:", "is a file, not a folder"]),
    (["sweep", "--plot", "s.pdf"], ["--plot", ".png"]),
    (["sweep", "--lr", "0.1", "0"], ["--lr: lr must be > 0.0; got 0.0"]),
    (["sweep", "--lr", "0.1", "1", "nan"], ["--lr: lr must be finite; got nan"]),
    (["sweep", "--lr", "0.1", "inf"], ["--lr: lr must be finite; got inf"]),
    (["sweep", "--batch-size", "32", "0"], ["--batch-size: batch_size must be >= 1; got 0"]),
    (["sweep", "--batch-size", "full", "-5"], ["--batch-size", "got -5"]),
    (["sweep", "--epochs", "0"], ["--epochs: epochs must be >= 1; got 0"]),
    (["sweep", "--hidden", "4", "0"], ["--hidden: layer_sizes[2] must be >= 1; got 0"]),
    (["sweep", "--momentum", "nan"], ["--momentum: momentum must be finite; got nan"]),
    (["train", "--momentum", "-0.5"], ["--momentum: momentum must be >= 0.0; got -0.5"]),
    (["train", "--seed", "-1"], ["--seed: seed must be None or an integer >= 0; got -1"]),
    (["sweep", "--seed", "-1"], ["--seed"]),
    (["evaluate", "m.npz", "--seed", "-1"], ["--seed"]),
    (["train", "--hidden", "1000000000000000000"],
     ["--hidden 1000000000000000000: cannot build a model with layer sizes "
      "[2, 1000000000000000000, 2]"]),
    (["train", "--hidden", "8", str(10**20)], ["--hidden 8 100000000000000000000: cannot build"]),
    (["train", "--dropout", "1"], ["--dropout: dropout must be < 1.0; got 1.0"]),
    (["train", "--hidden", "--dropout", "0.5"], ["--dropout", "has none"]),
    (["train", "--clip-grad-norm", "0"], ["--clip-grad-norm: clip_grad_norm must be > 0.0"]),
    (["train", "--distributed", "--dropout", "0.1"], ["not available with --distributed"]),
], ids=["save-folder", "save-under-file", "save-deep-under-file", "save-missing-folder",
        "save-device", "save-empty", "save-nul", "plot-folder", "plot-under-file", "plot-missing-folder",
        "save-is-plot", "save-links-to-plot", "sweep-plot-folder", "sweep-plot-under-file",
        "sweep-plot-pdf", "sweep-second-lr-0", "sweep-third-lr-nan", "sweep-lr-inf",
        "sweep-second-batch-0", "sweep-batch-negative", "sweep-epochs-0", "sweep-hidden-0",
        "sweep-momentum-nan", "train-momentum-negative", "train-seed", "sweep-seed",
        "evaluate-seed", "hidden-overflows", "hidden-overflows-int64", "dropout-1",
        "dropout-without-hidden", "clip-0", "dropout-distributed"])
def test_bad_options_and_outputs_fail_before_training(capsys, obstacles, no_training,
                                                       argv, words):
    before = tree(obstacles)
    quiet = [] if argv[0] == "evaluate" else ["--no-progress"]
    code, out, err = run(capsys, *argv, *quiet)
    assert code == 2
    assert_one_line_error(err, *words)
    assert tree(obstacles) == before  # no figure, no model, nothing replaced
    assert os.path.samefile(obstacles / "link.npz", obstacles / "same.png")


def test_unwritable_output_folder_fails_before_training(capsys, obstacles, no_training,
                                                         monkeypatch):
    # Permission bits do not stop root, so the folder is made unwritable in os.access.
    access = os.access
    folder = str(obstacles / "adir")
    monkeypatch.setattr(os, "access", lambda path, mode, **kwargs: False
                        if os.fspath(path) == folder else access(path, mode, **kwargs))
    for option, name in (("--save", "adir/m.npz"), ("--plot", "adir/f.png")):
        code, out, err = run(capsys, "train", option, name, "--no-progress")
        assert code == 2
        assert_one_line_error(err, f"{option} {name}:", f"the folder {folder} is not writable")
    assert list((obstacles / "adir").iterdir()) == []


def test_model_too_large_for_memory_is_an_error_naming_hidden(tmp_path):
    # 10**10 hidden units are 186 GiB of weights; the child may grow by 512 MiB only.
    proc = run_with_memory_limit("""
        import sys
        sys.exit(main(["train", "--hidden", "10000000000", "--no-progress"]))
        """, setup="from fastmlp.cli import main\nimport fastmlp.plotting", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert_one_line_error(proc.stderr, "--hidden 10000000000: cannot build a model with "
                                       "layer sizes [2, 10000000000, 2]")
    assert "training" not in proc.stdout
    assert list(tmp_path.iterdir()) == []


def test_batch_too_large_for_memory_is_an_error_naming_the_options(tmp_path):
    # The weights (20 MB) fit, but a full batch of 1500 rows through a million units
    # (about 6 GB of activations) does not.
    proc = run_with_memory_limit("""
        import sys
        sys.exit(main(["train", "--hidden", "1000000", "--batch-size", "full",
                       "--no-progress"]))
        """, setup="from fastmlp.cli import main\nimport fastmlp.plotting", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert_one_line_error(proc.stderr, "--batch-size full with layer sizes [2, 1000000, 2] "
                                       "(--hidden): training needs more memory")
    assert "trained" not in proc.stdout
    assert list(tmp_path.iterdir()) == []


def test_decision_boundary_of_a_wide_model_fits_in_memory(tmp_path):
    # The 40,000 grid points of the figure through 5,000 units are 800 MB of
    # activations at once; the child may grow by 512 MiB only.
    proc = run_with_memory_limit("""
        import sys
        sys.exit(main(["train", "--hidden", "5000", "--epochs", "1", "--batch-size", "full",
                       "--no-progress"]))
        """, setup="from fastmlp.cli import main\nimport fastmlp.plotting", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_png(tmp_path / "fastmlp-train.png")


def test_outputs_through_symbolic_links_replace_their_targets(capsys, in_tmp_path):
    (in_tmp_path / "out").mkdir()
    (in_tmp_path / "out" / "model.npz").write_bytes(b"old model")
    (in_tmp_path / "out" / "figure.png").write_bytes(b"old figure")
    (in_tmp_path / "m.npz").symlink_to("out/model.npz")
    (in_tmp_path / "f.png").symlink_to(in_tmp_path / "out" / "figure.png")
    code, out, err = run(capsys, "train", "--epochs", "2", "--hidden", "4", "--no-progress",
                         "--save", "m.npz", "--plot", "f.png")
    assert code == 0, err
    assert (in_tmp_path / "m.npz").is_symlink() and (in_tmp_path / "f.png").is_symlink()
    assert MLP.load(in_tmp_path / "out" / "model.npz").layer_sizes == (2, 4, 2)
    assert_png(in_tmp_path / "out" / "figure.png")
    assert sorted(p.name for p in (in_tmp_path / "out").iterdir()) == ["figure.png",
                                                                      "model.npz"]


def test_evaluate_rejects_bad_model_files(capsys, in_tmp_path):
    (in_tmp_path / "notes.npz").write_text("not a model\n")
    code, out, err = run(capsys, "evaluate", "notes.npz")
    assert code == 2
    assert_one_line_error(err, "notes.npz")

    code, out, err = run(capsys, "evaluate", "missing.npz")
    assert code == 2
    assert_one_line_error(err, "missing.npz")

    MLP([3, 4, 2], seed=0).save(in_tmp_path / "three.npz")
    code, out, err = run(capsys, "evaluate", "three.npz")
    assert code == 2
    assert_one_line_error(err, "3 inputs", "2 features")

    MLP([2, 4, 5], seed=0).save(in_tmp_path / "five.npz")
    code, out, err = run(capsys, "evaluate", "five.npz")
    assert code == 2
    assert_one_line_error(err, "5 outputs", "2 classes")


@pytest.mark.parametrize("argv", [
    [], ["fit"], ["train", "--batch-size", "some"], ["train", "--activation", "swish"],
    ["train", "--lr", "fast"], ["sweep", "--lr"], ["evaluate"],
], ids=["no-command", "unknown-command", "batch-size-word", "activation", "lr-word",
        "sweep-lr-empty", "evaluate-no-model"])
def test_usage_errors_exit_2(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert "usage: fastmlp" in err and "error:" in err


def test_help_exits_0(capsys):
    code, out, err = run(capsys, "train", "--help")
    assert code == 0
    assert "--batch-size" in out and "--data-dir" in out


def test_python_m_fastmlp_help(tmp_path):
    # cwd=tmp_path: the source folder is not on sys.path; the installed package runs.
    proc = subprocess.run([sys.executable, "-m", "fastmlp", "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: fastmlp")
    for command in ("train", "sweep", "evaluate"):
        assert command in proc.stdout
