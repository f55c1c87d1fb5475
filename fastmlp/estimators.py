"""scikit-learn estimators: ``MLPClassifier`` and ``MLPRegressor`` over :class:`fastmlp.MLP`.

Drop-in replacements for ``sklearn.neural_network.MLPClassifier`` and
``MLPRegressor``: the same parameters, defaults, fitted attributes and
convergence rules, trained by ``MLP.fit``'s compiled epoch. This module is a
thin layer, not a second engine:

* labels are encoded with scikit-learn's ``LabelBinarizer`` (any labels; two
  classes and multilabel problems get logistic outputs and
  ``binary_cross_entropy``, more classes a softmax and ``cross_entropy``);
* the initial weights are scikit-learn's draws (Glorot uniform, bound
  ``sqrt(factor / (fan_in + fan_out))``, factor 2 for ``logistic`` else 6, from
  ``check_random_state(random_state)``), so the same ``random_state`` starts
  from the same weights as scikit-learn;
* one ``MLP.fit(epochs=max_iter)`` trains; a callback applies scikit-learn's
  convergence rule after each epoch (``_Convergence``), and a schedule
  (``_SklearnRate``) gives each epoch the rate that rule and ``learning_rate``
  set. No Python runs inside an epoch;
* ``lbfgs`` is ``scipy.optimize.minimize(method="L-BFGS-B")`` driven by the
  network's fused loss-and-gradient pass.

How scikit-learn's losses map onto fastmlp's (each fact in ``_Mapping``):
scikit-learn's squared loss is ``sum((yhat - y)**2) / (2 n k)`` with the gradient
of ``sum((yhat - y)**2) / (2 n)``; fastmlp's ``mse`` is ``sum((yhat - y)**2) / n``,
twice that gradient. So the regressor trains SGD with half the rate, Adam with
twice the epsilon (Adam is otherwise invariant to a gradient's scale), and
``l2 = 2 * alpha``; ``loss_curve_`` is the history's loss divided by ``2 k``.

Where the estimators differ from scikit-learn's (documented on the classes):
the shuffling order (fastmlp's compiled permutation, seeded from the
estimator's RandomState: same distribution, not the same sequence), zero
sample weights (the rows are dropped before training, since ``MLP.fit``
refuses them), no sparse input.
"""
import warnings

import numpy as np

try:
    import sklearn  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        'fastmlp.MLPClassifier and fastmlp.MLPRegressor need scikit-learn: '
        'pip install "fastmlp[sklearn]"') from exc

import scipy.optimize
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as _SkClassifier
from sklearn.neural_network import MLPRegressor as _SkRegressor
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.fixes import _get_additional_lbfgs_options_dict
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, unique_labels
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import (_check_sample_weight, check_is_fitted, column_or_1d,
                                      validate_data)

from . import optim as _optim
from .model import MLP, TrainingDivergedError

__all__ = ["MLPClassifier", "MLPRegressor"]

# scikit-learn's hidden activations by fastmlp's names for them.
_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
# Adaptive stops instead of dividing once the rate is at or below this (scikit-learn's).
_MIN_ADAPTIVE_LR = 1e-6

# fastmlp's extensions: checked by MLP.fit, which names the argument.
_EXTENSIONS = {"dtype": "no_validation", "class_weight": "no_validation",
               "dropout": "no_validation", "clip_grad_norm": "no_validation",
               "label_smoothing": "no_validation", "callbacks": "no_validation"}


class _Mapping:
    """scikit-learn's loss scale against fastmlp's, for one output layer."""

    def __init__(self, loss, n_outputs):
        # Squared loss: fastmlp's gradient is twice scikit-learn's (see the module's text).
        self.grad_scale = 2.0 if loss == "mse" else 1.0
        self.loss_divisor = 2.0 * n_outputs if loss == "mse" else 1.0

    def sklearn_loss(self, history):
        """scikit-learn's loss of the last epoch of a fit's History (which holds the L2
        penalty in ``loss``, and alone in ``penalty``, when ``l2 > 0``)."""
        loss = history.loss[-1]
        if self.loss_divisor == 1.0:
            return loss
        penalty = history.penalty[-1] if getattr(history, "penalty", None) else 0.0
        return (loss - penalty) / self.loss_divisor + penalty / self.grad_scale

    def optimizer(self, est, lr):
        alpha = est.alpha * self.grad_scale
        if est.solver == "adam":
            return _optim.Adam(lr, betas=(est.beta_1, est.beta_2),
                               eps=est.epsilon * self.grad_scale, l2=alpha,
                               eps_before_correction=True)
        # scikit-learn's Nesterov with momentum 0 is plain SGD (fastmlp refuses the pair),
        # and its velocity holds the rate (v = momentum*v - lr*g).
        nesterov = bool(est.nesterovs_momentum) and est.momentum > 0
        return _optim.SGD(lr / self.grad_scale, momentum=est.momentum, nesterov=nesterov,
                          l2=alpha, lr_in_velocity=True)


class _RateState:
    """The rate scikit-learn's optimizer holds (its ``learning_rate``), shared by the
    convergence callback (which changes it) and the schedule (which trains with it)."""

    def __init__(self, lr, factor):
        self.lr, self.factor = lr, factor


class _SklearnRate(_optim.Schedule):
    """Each epoch's rate: ``_RateState.lr`` (scikit-learn's) times the loss mapping's
    factor. Monitors the loss only so that fit does not precompute the rates."""

    __slots__ = ()
    _shown = ()

    def __init__(self, state):
        self._set(dict(state=state, monitor="loss"))

    def _lr(self, run):
        state = self._values["state"]
        return state.lr * state.factor


class _Convergence:
    """The callback that keeps scikit-learn's per-epoch bookkeeping and rule:
    ``loss_curve_``, ``n_iter_``, ``t_``, the no-improvement count (on the training
    loss, or on the validation score with early stopping, keeping the best
    parameters), the rate of ``invscaling`` and ``adaptive``, stopping, and
    ``verbose``'s lines."""

    def __init__(self, est, mapping, rate, n_train, val, incremental):
        self.est, self.mapping, self.rate = est, mapping, rate
        self.n_train, self.val, self.incremental = n_train, val, incremental
        self.best_params = None

    def on_epoch_end(self, model, history):
        est = self.est
        loss = self.mapping.sklearn_loss(history)
        est.n_iter_ += 1
        est.loss_ = loss
        est.t_ += self.n_train
        est.loss_curve_.append(loss)
        if est.verbose:
            print("Iteration %d, loss = %.8f" % (est.n_iter_, loss))
        if self.val is not None:
            X_val, y_val, w_val = self.val
            score = est._score_of(model, X_val, y_val, w_val)
            est.validation_scores_.append(score)
            if est.verbose:
                print("Validation score: %f" % score)
            if score < est.best_validation_score_ + est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                self.best_params = model._params.copy()
        else:
            if loss > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if loss < est.best_loss_:
                est.best_loss_ = loss
        if est.solver == "sgd" and est.learning_rate == "invscaling":
            self.rate.lr = est.learning_rate_init / (est.t_ + 1) ** est.power_t
        stop = False
        if est._no_improvement_count > est.n_iter_no_change:
            what = ("Validation score" if self.val is not None else "Training loss")
            msg = ("%s did not improve more than tol=%f for %d consecutive epochs."
                   % (what, est.tol, est.n_iter_no_change))
            if est.solver == "sgd" and est.learning_rate == "adaptive" \
                    and self.rate.lr > _MIN_ADAPTIVE_LR:
                self.rate.lr /= 5.0
                est._no_improvement_count = 0
                if est.verbose:
                    print(msg + " Setting learning rate to %f" % self.rate.lr)
            else:
                stop = True
                if est.verbose:
                    print(msg + (" Learning rate too small. Stopping."
                                 if est.solver == "sgd" and est.learning_rate == "adaptive"
                                 else " Stopping."))
                if self.incremental:  # scikit-learn's partial_fit resets instead
                    est._no_improvement_count = 0
                    stop = False
        if not stop and not self.incremental and est.n_iter_ == est.max_iter:
            warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and the "
                          "optimization hasn't converged yet." % est.max_iter,
                          ConvergenceWarning)
        return stop


class _BaseMLP(BaseEstimator):
    """What both estimators share: parameters, training and the fitted attributes."""

    _loss_kind = None  # "classifier" or "regressor"

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype=None, class_weight=None, dropout=None, clip_grad_norm=None,
                 label_smoothing=0.0, callbacks=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.class_weight = class_weight
        self.dropout = dropout
        self.clip_grad_norm = clip_grad_norm
        self.label_smoothing = label_smoothing
        self.callbacks = callbacks

    # --- fitting --------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X (n_samples, n_features) and y; returns ``self``.

        ``sample_weight`` (n_samples,) weights each row's loss (the batch's loss is
        divided by its summed weights, as scikit-learn 1.9 does); rows of weight 0
        are dropped before training (``MLP.fit`` refuses zero weights).
        """
        self._validate_params()
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        hidden = self.hidden_layer_sizes
        hidden = list(hidden) if hasattr(hidden, "__iter__") else [hidden]
        if any(h <= 0 for h in hidden):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden}.")
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, Y, y_orig = self._validate_input(X, y, incremental, first_pass, classes)
        if not first_pass:  # training goes on in the network's dtype
            dtype = self._model.dtype
        else:
            dtype = np.dtype(self.dtype) if self.dtype is not None else X.dtype
        X = np.ascontiguousarray(X, dtype=dtype)
        Y = np.ascontiguousarray(Y, dtype=dtype)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if self.class_weight is not None and self._loss_kind == "classifier":
            cw = compute_sample_weight(self.class_weight, y_orig)
            sample_weight = cw if sample_weight is None else sample_weight * cw
        if sample_weight is not None:
            kept = sample_weight != 0  # MLP.fit refuses zero weights: those rows do nothing
            if not kept.any():
                raise ValueError("sample_weight is zero for every row: nothing to fit")
            if not kept.all():
                X, Y, y_orig, sample_weight = X[kept], Y[kept], y_orig[kept], sample_weight[kept]
                if self._loss_kind == "classifier" and y_orig.ndim == 1 \
                        and len(np.unique(y_orig)) == 1 < len(self.classes_):
                    raise ValueError(f"the rows of non-zero sample_weight hold a single class "
                                     f"({y_orig[0]!r}): a classifier needs two or more")
        n_features = X.shape[1]
        layer_units = [n_features] + hidden + [Y.shape[1]]
        rs = check_random_state(self.random_state)
        if first_pass:
            self._initialize(Y, layer_units, dtype, rs)
        elif self._model.layer_sizes != tuple(layer_units):
            raise ValueError(f"warm_start/partial_fit: the network {self._model.layer_sizes} "
                             f"cannot take data for {tuple(layer_units)}; fit afresh")
        self._put_coefs()
        self.n_outputs_ = Y.shape[1]
        try:
            if self.solver == "lbfgs":
                self._fit_lbfgs(X, Y, sample_weight)
            else:
                self._fit_stochastic(X, Y, y_orig, sample_weight, rs, incremental)
        finally:
            self._take_coefs()
        return self

    def _initialize(self, Y, layer_units, dtype, rs):
        """scikit-learn's first pass: attributes and its Glorot-uniform draws."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._out_activation()
        self._loss_name = {"identity": "mse", "softmax": "cross_entropy",
                           "logistic": "binary_cross_entropy"}[self.out_activation_]
        factor = 2.0 if self.activation == "logistic" else 6.0
        coefs, intercepts = [], []
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))
            coefs.append(rs.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype, copy=False))
            intercepts.append(rs.uniform(-bound, bound, fan_out).astype(dtype, copy=False))
        self._model = MLP(layer_units, activation=_ACTIVATIONS[self.activation],
                          loss=self._loss_name, dtype=dtype, seed=0, init="xavier")
        self.coefs_, self.intercepts_ = coefs, intercepts
        self._views = None
        self._lr = self.learning_rate_init
        if self.solver != "lbfgs":
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _put_coefs(self):
        """Copy ``coefs_``/``intercepts_`` into the network unless they are its own views
        (the user may have replaced them, as scikit-learn's warm start allows)."""
        model = self._model
        views = self._views
        if views is not None and all(a is b for a, b in zip(
                list(self.coefs_) + list(self.intercepts_), views[0] + views[1])):
            return
        for l in range(model.n_layers):
            model.weights[l] = np.asarray(self.coefs_[l], dtype=model.dtype).T
            model.biases[l] = np.asarray(self.intercepts_[l], dtype=model.dtype)
        self._take_coefs()

    def _take_coefs(self):
        """``coefs_`` (n_in, n_out) and ``intercepts_`` as views of the network's buffer."""
        model = self._model
        coefs = [model.weights[l].T for l in range(model.n_layers)]
        intercepts = [model.biases[l] for l in range(model.n_layers)]
        self.coefs_, self.intercepts_ = coefs, intercepts
        self._views = (tuple(coefs), tuple(intercepts))  # the lists may be edited in place

    def _batch_rows(self, n):
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n or self.batch_size < 1:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                          "going to be clipped")
        return int(np.clip(self.batch_size, 1, n))

    def _fit_stochastic(self, X, Y, y_orig, sample_weight, rs, incremental):
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        mapping = _Mapping(self._loss_name, Y.shape[1])
        model = self._model
        self.n_iter_ = 0  # scikit-learn counts the epochs of this call (t_ goes on)
        if not incremental or not hasattr(self, "_rate"):
            self._rate = _RateState(self.learning_rate_init, 1.0 / mapping.grad_scale
                                    if self.solver == "sgd" else 1.0)
            model.reset_optimizer()
        val = None
        w_train = sample_weight
        if self.early_stopping:
            # scikit-learn stratifies binary problems only (one output column).
            stratify = Y if self._loss_kind == "classifier" and self.n_outputs_ == 1 else None
            parts = train_test_split(X, Y, y_orig, *([] if sample_weight is None
                                                      else [sample_weight]),
                                     random_state=rs, test_size=self.validation_fraction,
                                     stratify=stratify)
            X, X_val, Y, _, _, y_val = parts[:6]
            w_train, w_val = (parts[6], parts[7]) if sample_weight is not None else (None, None)
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
            val = (X_val, y_val, w_val)
        n = X.shape[0]
        callback = _Convergence(self, mapping, self._rate, n, val, incremental)
        if val is not None:  # never improved: scikit-learn keeps the weights it started from
            callback.best_params = model._params.copy()
        extra = {}
        if w_train is not None:
            extra["sample_weight"] = w_train
        if self.dropout:
            extra["dropout"] = self.dropout
        if self.clip_grad_norm is not None:
            extra["clip_grad_norm"] = self.clip_grad_norm
        if self.label_smoothing:
            extra["label_smoothing"] = self.label_smoothing
        y_fit = Y.argmax(axis=1) if self._loss_name == "cross_entropy" else Y
        epochs = 1 if incremental else self.max_iter
        seed = int(rs.randint(np.iinfo(np.int32).max)) if self.shuffle else None
        user_callbacks = list(self.callbacks) if self.callbacks else []
        try:
            model.fit(X, y_fit, epochs=epochs, batch_size=self._batch_rows(n),
                      optimizer=mapping.optimizer(self, self._rate.lr),
                      schedule=_SklearnRate(self._rate), callbacks=[callback] + user_callbacks,
                      shuffle=bool(self.shuffle), seed=seed, progress=False, **extra)
        except TrainingDivergedError as exc:
            raise ValueError("Solver produced non-finite parameter weights. The input data "
                             "may contain large values and need to be preprocessed.") from exc
        if callback.best_params is not None:  # scikit-learn restores the best epoch's weights
            model._params[...] = callback.best_params

    def _fit_lbfgs(self, X, Y, sample_weight):
        model = self._model
        mapping = _Mapping(self._loss_name, Y.shape[1])
        y_fit = Y.argmax(axis=1) if self._loss_name == "cross_entropy" else Y
        X, y_fit = model._xy(X, y_fit)
        row_weights = model._row_weights(sample_weight, None, y_fit)
        # scikit-learn divides the L2 term by the summed weights (the rows without).
        n = X.shape[0] if row_weights is None else float(np.sum(row_weights, dtype=np.float64))
        params = model._params
        weights = model._split(params)[0]

        def loss_and_grad(x):
            params[...] = x
            with model._training():
                loss = model._net.backprop(X, y_fit, None, row_weights)
                grad = np.array(model._net.grads, dtype=np.float64)
            penalty = sum(float(np.dot(W.ravel(), W.ravel())) for W in weights)
            loss = loss / mapping.loss_divisor + 0.5 * self.alpha * penalty / n
            grad /= mapping.grad_scale
            for W, G in zip(weights, model._split(grad)[0]):
                G += (self.alpha / n) * W
            return loss, grad

        iprint = 1 if self.verbose is True or self.verbose >= 1 else -1
        res = scipy.optimize.minimize(
            loss_and_grad, params.astype(np.float64), method="L-BFGS-B", jac=True,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol,
                     **_get_additional_lbfgs_options_dict("iprint", iprint)})
        self.n_iter_ = _check_optimize_result("lbfgs", res, self.max_iter)
        self.loss_ = float(res.fun)
        params[...] = res.x
        if not np.isfinite(params).all():
            raise ValueError("Solver produced non-finite parameter weights. The input data "
                             "may contain large values and need to be preprocessed.")

    def __getstate__(self):
        # coefs_ are views of the network's buffer; a copy re-links them on first use.
        state = dict(super().__getstate__())  # object's is the live __dict__
        state["_views"] = None
        return state

    # --- prediction -----------------------------------------------------------------

    def _outputs(self, X):
        """The network's outputs (probabilities for a classifier) for checked X."""
        check_is_fitted(self, "coefs_")
        self._put_coefs()
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self._model.forward(np.ascontiguousarray(X, dtype=self._model.dtype))

    def _check_solver(self):
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """scikit-learn's ``MLPClassifier``, trained by fastmlp's compiled kernels.

    Parameters as ``sklearn.neural_network.MLPClassifier`` (same names, defaults and
    meaning); see its documentation. fastmlp's extensions:

    dtype : {None, "float32", "float64"}, default None
        The dtype of the parameters and of the computation; None: float32 for
        float32 input, float64 for any other (scikit-learn's rule).
    class_weight : dict, "balanced" or None
        Weights of the classes, multiplied into ``sample_weight`` (as
        ``sklearn.utils.class_weight.compute_sample_weight`` computes them).
    dropout : float or None
        Dropout of the hidden units while training (``MLP.fit``'s ``dropout``).
    clip_grad_norm : float or None
        Clip each step's gradient to this global norm (``MLP.fit``'s).
    label_smoothing : float, default 0
        Cross-entropy targets ``(1 - eps) * onehot + eps / n_classes``
        (three or more classes).
    callbacks : list or None
        ``fastmlp.callbacks`` objects run after every epoch, after the estimator's
        own convergence rule.

    Differences from scikit-learn: with ``shuffle=True`` the row order is drawn by
    fastmlp's compiled permutation, seeded from the estimator's RandomState (the
    same distribution, not the same orders), so results match scikit-learn's
    exactly only with ``shuffle=False``; rows of weight 0 are dropped; sparse input
    is refused.
    """

    _loss_kind = "classifier"
    _parameter_constraints = {**_SkClassifier._parameter_constraints, **_EXTENSIONS}

    def _out_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _validate_input(self, X, y, incremental, reset, classes=None):
        X, y = validate_data(self, X, y, multi_output=True, dtype=(np.float64, np.float32),
                             reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if classes is not None or not hasattr(self, "classes_") or (
                not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if classes is None else classes)
            self.classes_ = self._label_binarizer.classes_
        else:
            seen = unique_labels(y)
            if self.warm_start:
                if set(seen) != set(self.classes_):
                    raise ValueError(f"warm_start can only be used where `y` has the same "
                                     f"classes as in the previous call to fit. Previously got "
                                     f"{self.classes_}, `y` has {seen}")
            elif len(np.setdiff1d(seen, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{self.classes_}. 'y' has {seen}.")
        Y = self._label_binarizer.transform(y)
        if Y.ndim == 1:
            Y = Y.reshape(-1, 1)
        return X, Y, y

    def _score_of(self, model, X, y, sample_weight):
        """Accuracy of the network ``model`` on checked X (the early-stopping score)."""
        return accuracy_score(y, self._labels(model.forward(X)), sample_weight=sample_weight)

    def _labels(self, proba):
        if self.n_outputs_ == 1:
            proba = proba.ravel()
        return self._label_binarizer.inverse_transform(proba)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y); ``classes`` (all the labels) is required on the first
        call. Returns ``self``."""
        self._validate_params()
        if _check_partial_fit_first_call(self, classes):
            self.__dict__.pop("coefs_", None)
            return self._fit(X, y, sample_weight, incremental=True, classes=self.classes_)
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """The predicted labels (n_samples,), or an indicator matrix for multilabel."""
        return self._labels(self._outputs(X))

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), columns in ``classes_``'s order."""
        proba = self._outputs(X)
        if self.n_outputs_ == 1:
            p = proba.ravel()
            return np.vstack([1 - p, p]).T
        return proba

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``, as scikit-learn computes it."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """scikit-learn's ``MLPRegressor``, trained by fastmlp's compiled kernels.

    Parameters as ``sklearn.neural_network.MLPRegressor`` (squared error only; no
    ``loss`` parameter: scikit-learn's "poisson" is not available), plus the
    extensions of :class:`MLPClassifier` (``dtype``, ``dropout``,
    ``clip_grad_norm``, ``callbacks``; ``class_weight`` and ``label_smoothing``
    do not apply and must stay at their defaults). The same differences from
    scikit-learn as listed there.
    """

    _loss_kind = "regressor"
    _parameter_constraints = {name: rule for name, rule in
                              {**_SkRegressor._parameter_constraints, **_EXTENSIONS}.items()
                              if name != "loss"}

    def _out_activation(self):
        return "identity"

    def _validate_input(self, X, y, incremental, reset, classes=None):
        if self.class_weight is not None or self.label_smoothing:
            raise ValueError("class_weight and label_smoothing apply to MLPClassifier only")
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        return X, Y, y

    def _score_of(self, model, X, y, sample_weight):
        pred = model.forward(X)
        if not np.isfinite(pred).all():
            return np.nan
        return r2_score(y, pred.ravel() if pred.shape[1] == 1 else pred,
                        sample_weight=sample_weight)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y); returns ``self``."""
        self._validate_params()
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """The predictions (n_samples,), or (n_samples, n_outputs) for several outputs."""
        out = self._outputs(X)
        return out.ravel() if out.shape[1] == 1 else out
