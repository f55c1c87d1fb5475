"""scikit-learn's MLPs against fastmlp's drop-in estimators: fit time, predict time, score.

``sklearn.neural_network.MLPClassifier``/``MLPRegressor`` and
``fastmlp.MLPClassifier``/``MLPRegressor`` with identical parameters, each in a
process of its own (see ``_common``), with each library's default threads:

* data: MNIST-8k (the first 8,000 images of the MNIST test set in
  ../shared/data/mnist to train, the last 2,000 to test, pixels in [0, 1]),
  scikit-learn's ``load_digits`` (pixels / 16) and ``load_diabetes`` (regression),
  the latter two split 75/25 by ``train_test_split(random_state=0)``;
* settings: ``defaults`` (the estimators' own: adam, (100,), relu, batch 200,
  max_iter 200 and the tol rule) and ``mnist`` (``bench_fit.py``'s MNIST settings:
  one hidden layer of 300 tanh units, SGD lr 0.1 without momentum, batch 32, 5
  epochs, no L2), the latter for the classifiers only;
* float64 and float32 input (both estimators keep float32 as float32).

A round fits each peer once per case from ``random_state=round`` (the same initial
weights for both; the row orders differ with shuffling), then times ``predict`` on
the test rows (median of 5 calls) and records the score (accuracy or R²). The
table shows medians over rounds, the paired ratio of the fit times (median over
rounds of sklearn / fastmlp) and the score's range over rounds (its seed-to-seed
spread), with the epochs run.

The floor: a third process times, with NumPy's BLAS and the same threads, the
matrix products one epoch of the case needs and nothing else (per batch, each
layer's forward product and weight-gradient product, and every layer's but the
first input-gradient product). No implementation of these steps on this BLAS can
train an epoch in less time, so ``sklearn epoch / floor`` bounds how many times
faster any of them can be than scikit-learn.

Writes benchmarks/results/bench_sklearn.{csv,json}.

Run:  python benchmarks/bench_sklearn.py [--threads N] [--rounds 3] [--quick]
          [--only mnist8k|digits|diabetes] [--data-dir DIR]
"""
import time
import warnings
from statistics import median

from _common import (MNIST_DIR, SETTLE, Skip, optional, paired_ratio, parse_or_serve,
                     print_skipped, start_run, start_workers, write_results)

PEERS = ["sklearn", "fastmlp", "floor"]
SETTINGS = {
    "defaults": {},
    "mnist": dict(hidden_layer_sizes=(300,), activation="tanh", solver="sgd",
                  learning_rate_init=0.1, momentum=0.0, batch_size=32, max_iter=5, alpha=0.0),
}
DATASETS = {"mnist8k": ("classifier", ["defaults", "mnist"]),
            "digits": ("classifier", ["defaults", "mnist"]),
            "diabetes": ("regressor", ["defaults"])}
PREDICT_CALLS = 5


def load(name, data_dir, dtype):
    """(X_train, y_train, X_test, y_test) of one data set, X in ``dtype``."""
    import numpy as np
    if name == "mnist8k":
        from fastmlp import datasets
        X, y = datasets.load_mnist(data_dir, split="test")
        X = X.reshape(len(X), -1).astype(dtype)
        return X[:8000], y[:8000], X[8000:], y[8000:]
    from sklearn.datasets import load_diabetes, load_digits
    from sklearn.model_selection import train_test_split
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        X = X / 16.0
    else:
        X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X.astype(dtype), y, random_state=0)
    return (np.ascontiguousarray(X_train), y_train, np.ascontiguousarray(X_test), y_test)


def build(peer, case):
    """The peer's run: a function of ``seed`` that fits once and returns the fit and
    predict seconds, the test score and the epochs."""
    if optional("sklearn") is None:
        raise Skip("scikit-learn is not installed")
    kind = DATASETS[case["data"]][0]
    if peer == "floor":
        return build_floor(case, kind)
    if peer == "sklearn":
        import sklearn
        from sklearn import neural_network as lib
        version = sklearn.__version__
    else:
        import fastmlp as lib
        version = lib.__version__
    Est = lib.MLPClassifier if kind == "classifier" else lib.MLPRegressor
    params = SETTINGS[case["setting"]]
    data = load(case["data"], case["data_dir"], case["dtype"])

    def run(seed=0, warm=False):
        from sklearn.exceptions import ConvergenceWarning
        X, y, Xt, yt = data
        est = Est(random_state=seed, **dict(params, **({"max_iter": 2} if warm else {})))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            t = time.perf_counter()
            est.fit(X, y)
            fit_s = time.perf_counter() - t
        predict = []
        for _ in range(PREDICT_CALLS):
            t = time.perf_counter()
            est.predict(Xt)
            predict.append(time.perf_counter() - t)
        return {"fit_s": fit_s, "predict_s": median(predict), "score": est.score(Xt, yt),
                "n_iter": est.n_iter_, "coef_dtype": str(est.coefs_[0].dtype)}

    return run, {"estimator": f"{Est.__module__}.{Est.__name__}", "version": version,
                 "params": params}


def build_floor(case, kind):
    """The run of the floor peer: one epoch of the case's matrix products (fit_s is
    that epoch's seconds, n_iter 1)."""
    import numpy as np
    params = SETTINGS[case["setting"]]
    X, y, _, _ = load(case["data"], case["data_dir"], case["dtype"])
    n_out = 1 if kind == "regressor" else (len(np.unique(y)) if len(np.unique(y)) > 2 else 1)
    sizes = [X.shape[1], *params.get("hidden_layer_sizes", (100,)), n_out]
    batch = params.get("batch_size", min(200, len(X)))
    dtype = np.dtype(case["dtype"])
    rng = np.random.default_rng(0)
    W = [rng.standard_normal((o, i)).astype(dtype) for i, o in zip(sizes[:-1], sizes[1:])]
    gW = [np.empty_like(w) for w in W]
    rows = [min(batch, len(X) - s) for s in range(0, len(X), batch)]

    def buffers(n):
        acts = [np.ascontiguousarray(X[:n])] + [np.empty((n, o), dtype) for o in sizes[1:]]
        return acts, [np.empty((n, k), dtype) for k in sizes]

    shapes = {n: buffers(n) for n in set(rows)}

    def run(seed=0, warm=False):
        t = time.perf_counter()
        for n in rows:
            acts, deltas = shapes[n]
            for l, w in enumerate(W):
                np.matmul(acts[l], w.T, out=acts[l + 1])
            for l in range(len(W) - 1, -1, -1):
                np.matmul(deltas[l + 1].T, acts[l], out=gW[l])
                if l > 0:
                    np.matmul(deltas[l + 1], W[l], out=deltas[l])
        return {"fit_s": time.perf_counter() - t, "predict_s": float("nan"),
                "score": float("nan"), "n_iter": 1, "coef_dtype": dtype.name}

    return run, {"sizes": sizes, "batch": batch, "products": "numpy.matmul"}


def cases(args):
    for data, (kind, settings) in DATASETS.items():
        if args.only and data != args.only:
            continue
        for setting in settings:
            for dtype in ("float64", "float32"):
                yield {"data": data, "kind": kind, "setting": setting, "dtype": dtype,
                       "data_dir": args.data_dir}


def bench_case(case, rounds, env, info):
    workers, skipped = start_workers(__file__, PEERS, case, env, warm_calls=0)
    label = f"{case['data']}/{case['setting']}/{case['dtype']}"
    for peer, why in skipped.items():
        info["skipped"].append({"peer": peer, "case": label, "reason": why})
    if "sklearn" not in workers or "fastmlp" not in workers:
        for w in workers.values():
            w.close()
        return None
    try:
        for peer, w in workers.items():
            info["peers"].setdefault(peer, w.info)
            w.ask("run", args={"seed": 0, "warm": True})  # pages, workspaces, first calls
        runs = {peer: [] for peer in workers}
        for r in range(rounds):
            for peer, w in workers.items():
                time.sleep(SETTLE)
                runs[peer].append(w.ask("run", args={"seed": r}))
    finally:
        for w in workers.values():
            w.close()
    sk, fm = runs["sklearn"], runs["fastmlp"]
    row = {"data": case["data"], "setting": case["setting"], "dtype": case["dtype"],
           "rounds": rounds}
    for name, rs in (("sklearn", sk), ("fastmlp", fm)):
        row[f"{name}_fit_s"] = median(r["fit_s"] for r in rs)
        row[f"{name}_predict_ms"] = 1e3 * median(r["predict_s"] for r in rs)
        row[f"{name}_score"] = median(r["score"] for r in rs)
        row[f"{name}_score_min"] = min(r["score"] for r in rs)
        row[f"{name}_score_max"] = max(r["score"] for r in rs)
        row[f"{name}_n_iter"] = median(r["n_iter"] for r in rs)
        row[f"{name}_coef_dtype"] = rs[0]["coef_dtype"]
    row["fit_speedup"] = paired_ratio([r["fit_s"] for r in sk], [r["fit_s"] for r in fm])
    # Per epoch, so that runs stopping at different epochs compare like with like.
    row["epoch_speedup"] = paired_ratio([r["fit_s"] / r["n_iter"] for r in sk],
                                        [r["fit_s"] / r["n_iter"] for r in fm])
    row["predict_speedup"] = paired_ratio([r["predict_s"] for r in sk],
                                          [r["predict_s"] for r in fm])
    if "floor" in runs:
        floor = [r["fit_s"] for r in runs["floor"]]
        row["floor_epoch_s"] = median(floor)
        row["sklearn_over_floor"] = paired_ratio([r["fit_s"] / r["n_iter"] for r in sk], floor)
        row["fastmlp_over_floor"] = paired_ratio([r["fit_s"] / r["n_iter"] for r in fm], floor)
    return row


def print_row(row):
    print(f"{row['data']:>9} {row['setting']:>9} {row['dtype']:>8} "
          f"{row['sklearn_fit_s']:9.3f} {row['fastmlp_fit_s']:9.3f} {row['fit_speedup']:6.2f}x "
          f"{row['epoch_speedup']:6.2f}x "
          f"{row['sklearn_n_iter']:5.0f} {row['fastmlp_n_iter']:5.0f} "
          f"{row['sklearn_predict_ms']:8.2f} {row['fastmlp_predict_ms']:8.2f} "
          f"{row['sklearn_score']:.3f} [{row['sklearn_score_min']:.3f}, "
          f"{row['sklearn_score_max']:.3f}] {row['fastmlp_score']:.3f} "
          f"[{row['fastmlp_score_min']:.3f}, {row['fastmlp_score_max']:.3f}]"
          + (f" {row['sklearn_over_floor']:6.2f} {row['fastmlp_over_floor']:6.2f}"
             if "floor_epoch_s" in row else ""), flush=True)


def options(parser):
    parser.add_argument("--data-dir", default=str(MNIST_DIR),
                        help="folder with the MNIST IDX files")
    parser.add_argument("--only", choices=list(DATASETS), default=None,
                        help="one data set")


def main():
    started = parse_or_serve(__doc__, build, rounds=3, add_options=options)
    if started is None:
        return
    _, args = started
    rounds = args.rounds or 3
    env, info = start_run(args)
    print(f"{'data':>9} {'setting':>9} {'dtype':>8} {'sk fit s':>9} {'fm fit s':>9} "
          f"{'fit x':>7} {'epoch x':>7} {'sk it':>5} {'fm it':>5} {'sk pr ms':>8} "
          f"{'fm pr ms':>8} score sklearn [range], fastmlp [range]; epoch / floor: "
          f"sklearn, fastmlp")
    rows = []
    for case in cases(args):
        row = bench_case(case, 1 if args.quick and not args.rounds else rounds, env, info)
        if row is not None:
            print_row(row)
            rows.append(row)
    if rows:
        out = write_results("bench_sklearn", info, rows)
        print(f"wrote {out} and {out.with_suffix('.csv')}")
    print_skipped(info["skipped"])


if __name__ == "__main__":
    main()
