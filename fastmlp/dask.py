"""fastmlp on Dask distributed: local clusters that never oversubscribe the cores, and
out-of-core training block by block through ``partial_fit``.

Needs the ``distributed`` extra (``pip install "fastmlp[distributed]"``); ``import
fastmlp`` never imports Dask, only ``import fastmlp.dask`` (and ``fastmlp sweep``) does.

Design
------
* Threads. A worker runs ``threads_per_worker`` tasks at once, and each task's BLAS
  and OpenMP calls may start threads of their own: a worker's BLAS/OpenMP gets its
  share of the host's cores, ``max(1, cores // (worker processes * threads))``.
  ``local_cluster`` sets ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and
  ``MKL_NUM_THREADS`` before each worker process starts (Dask's
  ``distributed.nanny.pre-spawn-environ``, read before NumPy loads its BLAS), so a
  worker restarted after a crash is pinned too. :class:`PinThreads` does the same in
  workers already running (a cluster someone else started), through threadpoolctl.
* Out of core. :func:`fit_blocks` sends one step a block: the step computes its
  block of X and y on a worker and calls ``partial_fit`` on it; the model is the
  only thing passed from step to step. The client keeps at most two steps
  submitted, so a worker holds at most two blocks, whatever the array's size.
"""
import os

try:
    import dask
    import distributed
except ImportError as exc:  # the optional extra is missing
    raise ImportError(
        f'fastmlp.dask needs Dask distributed: pip install "fastmlp[distributed]" '
        f"(original error: {exc})") from exc

from ._validation import check_int

__all__ = ["local_cluster", "blas_share", "PinThreads", "fit_blocks", "BLAS_VARIABLES"]

# The variables that size the BLAS and OpenMP thread pools when the libraries load.
BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def usable_cores():
    """The cores this process may run on (its CPU affinity where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def blas_share(n_workers, threads_per_worker=1, cores=None):
    """BLAS/OpenMP threads for each task: ``max(1, cores // (n_workers *
    threads_per_worker))``, so that the workers' threads never exceed the cores."""
    cores = usable_cores() if cores is None else cores
    return max(1, cores // (n_workers * threads_per_worker))


def local_cluster(n_workers=None, threads_per_worker=1, memory_limit="auto", **kwargs):
    """A ``distributed.LocalCluster`` of worker processes whose BLAS and OpenMP are
    pinned to their share of the cores (:func:`blas_share`).

    Parameters
    ----------
    n_workers : int, optional
        Worker processes; default one per usable core.
    threads_per_worker : int
        Tasks a worker runs at once (default 1: a process per task).
    memory_limit : str or int
        Each worker's memory limit (Dask's: its nanny restarts a worker above 95%).
    **kwargs
        Passed to ``LocalCluster`` (default ``dashboard_address=":0"``, a free port).
    """
    n_workers = usable_cores() if n_workers is None else check_int(n_workers, "n_workers", 1)
    threads_per_worker = check_int(threads_per_worker, "threads_per_worker", 1)
    share = str(blas_share(n_workers, threads_per_worker))
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.update({name: share for name in BLAS_VARIABLES})
    # Any free port: the usual 8787 may be taken by another cluster on the machine.
    kwargs.setdefault("dashboard_address", ":0")
    # The nannies read the setting when they are made: it stays with them for restarts.
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        return distributed.LocalCluster(n_workers=n_workers,
                                        threads_per_worker=threads_per_worker,
                                        processes=True, memory_limit=memory_limit, **kwargs)


class PinThreads(distributed.WorkerPlugin):
    """Limit each worker's BLAS and OpenMP threads to its share of its host's cores,
    counting the threads of every worker on that host when the plugin is set up
    (``client.register_plugin(PinThreads())``). Uses threadpoolctl (installed with
    scikit-learn); without it, a note is logged and the workers keep their settings
    (Dask's nannies start workers with one BLAS thread by default)."""

    name = "fastmlp-pin-threads"

    async def setup(self, worker):
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            worker.log_event("fastmlp", "threadpoolctl is not installed: BLAS threads "
                                        "left as the worker started them")
            return
        info = await worker.scheduler.identity()
        host = distributed.comm.get_address_host(worker.address)
        threads = sum(w["nthreads"] for w in info["workers"].values()
                      if w["host"] == host) or worker.state.nthreads
        # Kept: the limits hold until the object is garbage-collected or restored.
        self._limits = threadpool_limits(max(1, usable_cores() // threads))

    def teardown(self, worker):
        limits = getattr(self, "_limits", None)
        if limits is not None:
            limits.restore_original_limits()


def _partial_fit(estimator, X, y, params):
    estimator.partial_fit(X, y, **params)
    return estimator


def _row_blocks(array, name):
    """The delayed row blocks of a 1-D or 2-D dask array, each holding whole rows."""
    import dask.array as da
    if not isinstance(array, da.Array):
        raise TypeError(f"{name} must be a dask.array.Array; got {type(array).__name__}")
    if array.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D; got shape {array.shape}")
    if array.ndim == 2 and len(array.chunks[1]) > 1:
        array = array.rechunk({1: -1})
    blocks = array.to_delayed()
    return list(blocks[:, 0] if array.ndim == 2 else blocks)


def fit_blocks(estimator, X, y, *, epochs=1, client=None, **partial_fit_params):
    """Train ``estimator`` on dask arrays block by block, out of core: each epoch
    calls ``estimator.partial_fit(X_block, y_block, **partial_fit_params)`` on the
    row blocks in order, each on a worker that computes just that block.

    A worker holds one or two blocks at a time (plus the model), never the whole
    array, so X may be many times larger than a worker's memory: choose the row
    chunks so that two blocks fit in a worker's memory limit with room to spare.

    Parameters
    ----------
    estimator : object with ``partial_fit``
        e.g. ``fastmlp.MLPClassifier`` (pass ``classes=``) or ``MLPRegressor``.
    X : dask.array.Array, shape (n_samples, n_features)
    y : dask.array.Array, shape (n_samples,) or (n_samples, n_outputs)
        Row chunks equal to X's.
    epochs : int
        Passes over the blocks.
    client : distributed.Client, optional
        Default: the current client (``distributed.get_client()``).
    **partial_fit_params
        Passed to every ``partial_fit`` call (``classes``, ``batch_size``, ...).

    Returns
    -------
    The trained estimator (a new object: the one passed in is not changed).
    """
    epochs = check_int(epochs, "epochs", 1)
    if not hasattr(estimator, "partial_fit"):
        raise TypeError(f"estimator must have a partial_fit method; "
                        f"{type(estimator).__name__} has none")
    X_blocks, y_blocks = _row_blocks(X, "X"), _row_blocks(y, "y")
    if X.chunks[0] != y.chunks[0]:
        raise ValueError(f"X and y must have the same row chunks; got {X.chunks[0]} and "
                         f"{y.chunks[0]}")
    client = distributed.get_client() if client is None else client
    model = client.scatter(estimator)
    previous = None
    for _ in range(epochs):
        for Xb, yb in zip(X_blocks, y_blocks):
            # One graph per step, so that a y computed from X shares X's block task.
            step = dask.delayed(_partial_fit)(model, Xb, yb, partial_fit_params)
            if previous is not None:
                distributed.wait(previous)  # at most two steps (two blocks) in flight
            previous, model = model, client.compute(step)
    return model.result()
