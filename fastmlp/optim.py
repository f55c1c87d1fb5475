"""Optimizers and learning-rate schedules: settings, as small immutable objects.

An optimizer object holds no state and touches no array: it names the rule
(``"sgd"`` or ``"adam"``) and its settings, checked when it is made, and
``settings(dtype)`` hands them to compiled code as one flat record. The state
buffers (``state_slots`` of them, each the size of the parameters) and the
update itself live elsewhere: ``fastmlp.kernels.sgd_update`` and
``adam_update`` apply the rules to arrays.

Every class has every attribute the compiled core reads, those of the other
rule at their neutral values (``SGD().betas == (0.0, 0.0)``, ``Adam().momentum
== 0.0``), so that the core reads one record whatever the rule.

``l2`` is scikit-learn's ``alpha``: the training loop adds ``l2 / batch_rows * W``
to the gradient of each weight matrix W (not the biases), and ``fit``'s loss
the penalty ``0.5 * l2 * sum ||W||^2 / batch_rows`` (``History.penalty``).

A schedule (``StepLR``, ..., ``Adaptive``) is likewise an immutable description;
``schedule.start(lr)`` makes a :class:`ScheduleRun`, the one object that changes:
it holds the learning rate of the coming epoch and is told each epoch's results
(``step``). ``MLP.fit(schedule=...)`` starts a new run in every call, from the
optimizer's lr, and trains each epoch with the run's lr.
"""
import bisect
import json
import math

from ._kernels.network import Rule
from ._validation import (
    check_adam_settings,
    check_bool,
    check_choice,
    check_dampening,
    check_fits_dtype,
    check_int,
    check_real,
    check_setting,
    check_sgd_settings,
)

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "to_json", "from_json", "Schedule",
           "ScheduleRun", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
           "ReduceLROnPlateau", "InvScaling", "Adaptive"]

# The compiled core's codes for the rules, by name (kernels/network.pyx defines them).
_RULE_CODES = {code.name.lower(): code for code in Rule}

class _Frozen:
    """Read-only attributes kept in one dict, equality by class and values, a repr
    that is the call making the object, and pickling through that call."""

    __slots__ = ("_values",)
    _shown = ()  # the constructor's arguments, in the order repr shows them

    def _set(self, values):
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name):
        try:
            return object.__getattribute__(self, "_values")[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}") from None

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable: make a new one, "
                             f"e.g. {type(self).__name__}({name}=...)")

    def __delattr__(self, name):
        self.__setattr__(name, None)

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self._values == other._values

    def __hash__(self):
        return hash((type(self), tuple(self._values[name] for name in self._shown)))

    def __repr__(self):
        args = ", ".join(f"{name}={self._values[name]!r}" for name in self._shown)
        return f"{type(self).__name__}({args})"

    def __reduce__(self):
        return type(self), tuple(self._values[name] for name in self._shown)


class Optimizer(_Frozen):
    """The base of SGD, Adam and AdamW: read-only attributes, equality, repr and the
    flat record."""

    __slots__ = ()
    rule = None

    def _init(self, **values):
        neutral = dict(momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, l2=0.0,
                       betas=(0.0, 0.0), eps=0.0, amsgrad=False, decoupled_weight_decay=False,
                       eps_before_correction=False, lr_in_velocity=False)
        self._set({**neutral, **values})

    @property
    def state_slots(self):
        """How many parameter-sized state buffers the rule keeps."""
        raise NotImplementedError

    def settings(self, dtype):
        """The flat record the compiled core reads, for parameters of ``dtype``.

        A dict with the keys rule (the core's code), lr, momentum, dampening,
        nesterov, weight_decay, l2, beta1, beta2, eps, amsgrad, decoupled,
        eps_before_correction and lr_in_velocity, as Python values. ValueError if a
        non-zero real setting rounds to 0 in ``dtype`` (lr=1e-50 in float32) or
        overflows it.
        """
        v = self._values
        for name in ("lr", "momentum", "dampening", "weight_decay", "l2", "eps"):
            check_fits_dtype(v[name], name, dtype)
        for i, beta in enumerate(v["betas"]):
            check_fits_dtype(beta, f"betas[{i}]", dtype)
        return {"rule": _RULE_CODES[self.rule], "lr": v["lr"], "momentum": v["momentum"],
                "dampening": v["dampening"], "nesterov": v["nesterov"],
                "weight_decay": v["weight_decay"], "l2": v["l2"], "beta1": v["betas"][0],
                "beta2": v["betas"][1], "eps": v["eps"], "amsgrad": v["amsgrad"],
                "decoupled": v["decoupled_weight_decay"],
                "eps_before_correction": v["eps_before_correction"],
                "lr_in_velocity": v["lr_in_velocity"]}


def _l2(l2):
    return check_setting(l2, "l2", minimum=0.0)


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD`` (or, with
    ``lr_in_velocity``, as scikit-learn's MLP ``solver="sgd"``).

    Parameters
    ----------
    lr : float
        Learning rate, > 0 (required).
    momentum : float, default 0
        >= 0; the rule keeps one velocity buffer when it is non-zero.
    dampening : float, default 0
        In [0, 1]: the new gradient enters the velocity with weight 1 - dampening.
    nesterov : bool, default False
        Nesterov momentum (needs momentum > 0 and dampening 0, as in torch).
    weight_decay : float, default 0
        >= 0: torch's L2 term, ``weight_decay * param`` added to every gradient.
    l2 : float, default 0
        >= 0: scikit-learn's ``alpha`` (weights only, divided by the batch rows).
    lr_in_velocity : bool, default False
        scikit-learn's momentum rule instead of torch's: the velocity holds steps,
        ``v = momentum * v - lr * g`` from zeros, and ``param += v`` (Nesterov:
        ``param += momentum * v - lr * g``). Needs dampening 0. Both rules take the
        same steps while lr stays the same; they differ when a schedule changes it
        (``fastmlp.kernels.sgd_update``). A velocity kept under one rule is never
        continued under the other: changing the rule starts it from zero.

    Settings are checked here (TypeError or ValueError naming the argument) and
    cannot be changed afterwards.
    """

    __slots__ = ()
    rule = "sgd"
    _shown = ("lr", "momentum", "dampening", "nesterov", "weight_decay", "l2", "lr_in_velocity")

    def __init__(self, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0,
                 l2=0.0, lr_in_velocity=False):
        lr, momentum, nesterov, weight_decay = check_sgd_settings(lr, momentum, nesterov,
                                                                  weight_decay)
        lr_in_velocity = check_bool(lr_in_velocity, "lr_in_velocity")
        self._init(lr=lr, momentum=momentum,
                   dampening=check_dampening(dampening, nesterov, None, lr_in_velocity),
                   nesterov=nesterov, weight_decay=weight_decay, l2=_l2(l2),
                   lr_in_velocity=lr_in_velocity)

    @property
    def state_slots(self):
        """1 (the velocity) with momentum, else 0."""
        return 1 if self.momentum != 0 else 0


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam``.

    Parameters
    ----------
    lr : float, default 1e-3
        Learning rate, > 0.
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the first and second moments, each in [0, 1).
    eps : float, default 1e-8
        >= 0, added to the denominator.
    weight_decay : float, default 0
        >= 0: torch's L2 term added to every gradient.
    amsgrad : bool, default False
        Divide by the largest second moment so far (a third state buffer).
    l2 : float, default 0
        >= 0: scikit-learn's ``alpha`` (weights only, divided by the batch rows).
    eps_before_correction : bool, default False
        scikit-learn's Adam: eps is added to sqrt(v) before the bias correction,
        which goes into the step size (``fastmlp.kernels.adam_update``).

    The rule keeps the state buffers exp_avg, exp_avg_sq and, with amsgrad,
    max_exp_avg_sq, in that order, and a step count.
    """

    __slots__ = ()
    rule = "adam"
    _shown = ("lr", "betas", "eps", "weight_decay", "amsgrad", "l2", "eps_before_correction")

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 l2=0.0, eps_before_correction=False):
        self._init_adam(lr, betas, eps, weight_decay, amsgrad, l2=_l2(l2),
                        eps_before_correction=check_bool(eps_before_correction,
                                                         "eps_before_correction"))

    def _init_adam(self, lr, betas, eps, weight_decay, amsgrad, **rest):
        lr, betas, eps, weight_decay, amsgrad = check_adam_settings(lr, betas, eps,
                                                                    weight_decay, amsgrad)
        self._init(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                   **rest)

    @property
    def state_slots(self):
        """2 (exp_avg, exp_avg_sq), 3 with amsgrad (and max_exp_avg_sq)."""
        return 3 if self.amsgrad else 2


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: Adam with decoupled weight decay, each step
    multiplying the parameters by ``1 - lr * weight_decay`` before Adam's update.

    Parameters as :class:`Adam` (without l2 and eps_before_correction), but
    ``weight_decay`` defaults to 1e-2. ``decoupled_weight_decay`` is True.
    """

    __slots__ = ()
    _shown = ("lr", "betas", "eps", "weight_decay", "amsgrad")

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        self._init_adam(lr, betas, eps, weight_decay, amsgrad, decoupled_weight_decay=True)


def to_json(optimizer):
    """The optimizer as JSON text: its class name and the arguments that make it again
    (what ``MLP.save(include_optimizer=True)`` stores; no pickle)."""
    if type(optimizer) not in _CLASSES.values():
        raise TypeError(f"optimizer must be a fastmlp.optim optimizer; got "
                        f"{type(optimizer).__name__}")
    return json.dumps({"class": type(optimizer).__name__,
                       "args": {name: getattr(optimizer, name) for name in optimizer._shown}})


def from_json(text):
    """The optimizer that :func:`to_json` wrote, checked as its constructor checks it;
    ValueError for anything else."""
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not an optimizer's JSON text ({exc})") from None
    if not (isinstance(record, dict) and set(record) == {"class", "args"}
            and record["class"] in _CLASSES and isinstance(record["args"], dict)):
        raise ValueError(f"expected {{'class': one of {sorted(_CLASSES)}, 'args': {{...}}}}; "
                         f"got {text[:200]!r}")
    cls = _CLASSES[record["class"]]
    unknown = set(record["args"]) - set(cls._shown)
    if unknown:
        raise ValueError(f"{cls.__name__} takes no argument(s) {', '.join(sorted(unknown))}")
    return cls(**record["args"])


_CLASSES = {cls.__name__: cls for cls in (SGD, Adam, AdamW)}


# --- learning-rate schedules -----------------------------------------------------------

class Schedule(_Frozen):
    """The base of the learning-rate schedules: immutable settings, checked when the
    schedule is made; :meth:`start` makes the running state.

    ``monitor`` names the epoch result the schedule follows (``"loss"`` or
    ``"val_loss"``), or is None for a schedule that depends on the epoch count
    (and the samples seen) alone.
    """

    __slots__ = ()

    @property
    def monitor(self):
        """The epoch result the schedule follows: "loss", "val_loss" or None."""
        return self._values.get("monitor")

    def start(self, lr):
        """A new :class:`ScheduleRun` of this schedule from the base learning rate ``lr``
        (> 0): its ``lr`` is the first epoch's."""
        return ScheduleRun(self, lr)

    def lrs(self, lr, epochs, samples_per_epoch=0):
        """The learning rates of epochs 1 to ``epochs`` from the base ``lr``, each epoch
        seeing ``samples_per_epoch`` samples; only for a schedule with no ``monitor``
        (TypeError otherwise: its rates depend on the results)."""
        if self.monitor is not None:
            raise TypeError(f"{self!r} follows {self.monitor}: its learning rates are known "
                            f"only epoch by epoch (start(lr), then step({self.monitor}=...))")
        epochs = check_int(epochs, "epochs", 0)
        run = self.start(lr)
        rates = []
        for _ in range(epochs):
            rates.append(run.lr)
            run.step(samples=samples_per_epoch)
        return rates

    def _initial_state(self):
        """The mutable state a run starts with (None: the schedule keeps none)."""
        return None

    def _lr(self, run):
        """The learning rate of the epoch after ``run.epoch`` completed ones, with
        ``run.samples`` samples seen; a monitoring schedule reads ``run.metric``
        (the last epoch's) and its state ``run.state``, and may set
        ``run.stop_reason``."""
        raise NotImplementedError


class ScheduleRun:
    """A schedule in use: the one part of a schedule that changes.

    ``lr`` is the learning rate of the coming epoch; after each epoch, ``step`` tells
    the run its results and moves ``lr`` to the next epoch's. ``epoch`` counts the
    epochs completed and ``samples`` the samples seen. ``stop_reason`` is None
    while training may go on; :class:`Adaptive` sets it (``"lr_too_small"``) when it
    ends training, as scikit-learn does.
    """

    __slots__ = ("schedule", "base_lr", "lr", "epoch", "samples", "metric", "state",
                 "stop_reason")

    def __init__(self, schedule, lr):
        self.schedule = schedule
        self.base_lr = check_setting(lr, "lr", minimum=0.0, exclusive=True)
        self.epoch = self.samples = 0
        self.metric = self.stop_reason = None
        self.state = schedule._initial_state()
        self.lr = schedule._lr(self)

    def step(self, loss=None, val_loss=None, samples=0):
        """End an epoch that saw ``samples`` samples and ended with the mean training
        ``loss`` and validation ``val_loss`` (the one ``schedule.monitor`` names is
        required; the others may be None). Returns ``stop_reason``."""
        if self.stop_reason is not None:
            raise RuntimeError(f"{self.schedule!r} has ended training ({self.stop_reason}); "
                               f"start a new run")
        samples = check_int(samples, "samples", 0)
        monitor = self.schedule.monitor
        if monitor is not None:
            metric = loss if monitor == "loss" else val_loss
            if metric is None:
                raise ValueError(f"{self.schedule!r} follows {monitor}: pass "
                                 f"step({monitor}=...)")
            self.metric = check_real(metric, monitor, finite=False)
        self.epoch += 1
        self.samples += samples
        self.lr = self.schedule._lr(self)
        return self.stop_reason

    def __repr__(self):
        return (f"<ScheduleRun of {self.schedule!r}: epoch {self.epoch}, next lr "
                f"{self.lr!r}>")


def _positive(value, name):
    return check_real(value, name, minimum=0.0, exclusive=True)


def _nonnegative(value, name):
    return check_real(value, name, minimum=0.0)


class _Constant(Schedule):
    """No schedule: every epoch trains with the base learning rate."""

    __slots__ = ()

    def __init__(self):
        self._set({})

    def _lr(self, run):
        return run.base_lr


class StepLR(Schedule):
    """``torch.optim.lr_scheduler.StepLR``: the learning rate times ``gamma`` every
    ``step_size`` epochs, ``lr * gamma ** ((epoch - 1) // step_size)`` for epoch 1, 2, ...

    Parameters
    ----------
    step_size : int
        Epochs between decays, >= 1.
    gamma : float, default 0.1
        The factor, > 0.
    """

    __slots__ = ()
    _shown = ("step_size", "gamma")

    def __init__(self, step_size, gamma=0.1):
        self._set(dict(step_size=check_int(step_size, "step_size", 1),
                       gamma=_positive(gamma, "gamma")))

    def _lr(self, run):
        return run.base_lr * self.gamma ** (run.epoch // self.step_size)


class MultiStepLR(Schedule):
    """``torch.optim.lr_scheduler.MultiStepLR``: the learning rate times ``gamma`` once
    each milestone is reached; epoch ``m + 1`` is the first to train with a
    milestone ``m``'s decay.

    Parameters
    ----------
    milestones : sequence of int
        Epoch counts, >= 1 and increasing (kept as a tuple).
    gamma : float, default 0.1
        The factor, > 0.
    """

    __slots__ = ()
    _shown = ("milestones", "gamma")

    def __init__(self, milestones, gamma=0.1):
        if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__") \
                or isinstance(milestones, (set, frozenset, dict)):
            raise TypeError(f"milestones must be a sequence of increasing integers like "
                            f"[30, 80]; got {type(milestones).__name__} {milestones!r}")
        milestones = tuple(check_int(m, f"milestones[{i}]", 1) for i, m in enumerate(milestones))
        for i in range(1, len(milestones)):
            if milestones[i] <= milestones[i - 1]:
                raise ValueError(f"milestones must be increasing; got milestones[{i - 1}]="
                                 f"{milestones[i - 1]} and milestones[{i}]={milestones[i]}")
        self._set(dict(milestones=milestones, gamma=_positive(gamma, "gamma")))

    def _lr(self, run):
        return run.base_lr * self.gamma ** bisect.bisect_right(self.milestones, run.epoch)


class ExponentialLR(Schedule):
    """``torch.optim.lr_scheduler.ExponentialLR``: the learning rate times ``gamma``
    every epoch, ``lr * gamma ** (epoch - 1)`` for epoch 1, 2, ...

    Parameters
    ----------
    gamma : float
        The factor, > 0.
    """

    __slots__ = ()
    _shown = ("gamma",)

    def __init__(self, gamma):
        self._set(dict(gamma=_positive(gamma, "gamma")))

    def _lr(self, run):
        return run.base_lr * self.gamma ** run.epoch


class CosineAnnealingLR(Schedule):
    """``torch.optim.lr_scheduler.CosineAnnealingLR``, after an optional linear warm-up.

    Epoch ``e + 1`` (e = 0, 1, ...) trains with, for the base rate ``lr`` and
    ``w = warmup_epochs``::

        lr * (s + (1 - s) * e / w)                                  if e < w
        eta_min + (lr - eta_min) * (1 + cos(pi * (e - w) / T_max)) / 2   otherwise

    with ``s = warmup_start_factor``. That is exactly
    ``SequentialLR(opt, [LinearLR(opt, start_factor=s, end_factor=1.0,
    total_iters=w), CosineAnnealingLR(opt, T_max, eta_min)], milestones=[w])``
    (and, with ``w = 0``, ``CosineAnnealingLR(opt, T_max, eta_min)`` alone): the
    warm-up rises from ``s * lr`` to just below ``lr``, epoch ``w + 1`` trains with
    ``lr``, and ``T_max`` counts the epochs after the warm-up. Past ``T_max`` the
    rate rises again along the cosine, as torch's does. torch updates the rate
    recursively; the closed form here agrees with it to rounding (1e-12).

    Parameters
    ----------
    T_max : int
        Epochs from ``lr`` down to ``eta_min``, >= 1.
    eta_min : float, default 0
        The lowest rate, >= 0. With 0, epoch ``w + T_max + 1`` would train with a
        rate of 0: ``fit`` refuses such an epoch (no optimizer takes lr 0).
    warmup_epochs : int, default 0
        Epochs of linear warm-up, >= 0.
    warmup_start_factor : float, default 1/3
        The first epoch's fraction of ``lr``, in (0, 1] (torch's ``LinearLR`` default
        and bounds).
    """

    __slots__ = ()
    _shown = ("T_max", "eta_min", "warmup_epochs", "warmup_start_factor")

    def __init__(self, T_max, eta_min=0.0, warmup_epochs=0, warmup_start_factor=1.0 / 3):
        self._set(dict(T_max=check_int(T_max, "T_max", 1),
                       eta_min=_nonnegative(eta_min, "eta_min"),
                       warmup_epochs=check_int(warmup_epochs, "warmup_epochs", 0),
                       warmup_start_factor=check_real(warmup_start_factor,
                                                      "warmup_start_factor", minimum=0.0,
                                                      exclusive=True, maximum=1.0)))

    def _lr(self, run):
        e, w, lr = run.epoch, self.warmup_epochs, run.base_lr
        if e < w:
            s = self.warmup_start_factor
            return lr * (s + (1 - s) * e / w)
        cosine = 1 + math.cos(math.pi * (e - w) / self.T_max)
        return self.eta_min + (lr - self.eta_min) * cosine / 2


class ReduceLROnPlateau(Schedule):
    """``torch.optim.lr_scheduler.ReduceLROnPlateau``, stepped after every epoch with
    the result ``monitor`` names.

    A result is an improvement when it is below ``best * (1 - threshold)`` (mode
    "min", threshold_mode "rel"), below ``best - threshold`` ("min", "abs"), above
    ``best * (1 + threshold)`` ("max", "rel") or above ``best + threshold`` ("max",
    "abs"). After more than ``patience`` epochs in a row without one, the rate
    becomes ``max(lr * factor, min_lr)`` (unless that lowers it by ``eps`` or less),
    and the next ``cooldown`` epochs count no bad epochs.

    Parameters
    ----------
    mode : {"min", "max"}, default "min"
    factor : float, default 0.1
        In (0, 1).
    patience : int, default 10
        >= 0.
    threshold : float, default 1e-4
        >= 0.
    threshold_mode : {"rel", "abs"}, default "rel"
    cooldown : int, default 0
        >= 0.
    min_lr : float, default 0
        >= 0.
    eps : float, default 1e-8
        >= 0.
    monitor : {"loss", "val_loss"}, default "loss"
        The epoch's mean training loss, or the loss on ``fit``'s validation data.
    """

    __slots__ = ()
    _shown = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown",
              "min_lr", "eps", "monitor")

    def __init__(self, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8, monitor="loss"):
        self._set(dict(mode=check_choice(mode, "mode", ("min", "max")),
                       factor=check_real(factor, "factor", minimum=0.0, exclusive=True,
                                         below=1.0),
                       patience=check_int(patience, "patience", 0),
                       threshold=_nonnegative(threshold, "threshold"),
                       threshold_mode=check_choice(threshold_mode, "threshold_mode",
                                                   ("rel", "abs")),
                       cooldown=check_int(cooldown, "cooldown", 0),
                       min_lr=_nonnegative(min_lr, "min_lr"), eps=_nonnegative(eps, "eps"),
                       monitor=check_choice(monitor, "monitor", ("loss", "val_loss"))))

    def _initial_state(self):
        return {"best": math.inf if self.mode == "min" else -math.inf, "bad_epochs": 0,
                "cooldown": 0}

    def _improves(self, value, best):
        if self.mode == "min":
            return value < (best * (1.0 - self.threshold) if self.threshold_mode == "rel"
                            else best - self.threshold)
        return value > (best * (self.threshold + 1.0) if self.threshold_mode == "rel"
                        else best + self.threshold)

    def _lr(self, run):
        if run.epoch == 0:
            return run.base_lr
        state, lr = run.state, run.lr
        if self._improves(run.metric, state["best"]):
            state["best"], state["bad_epochs"] = run.metric, 0
        else:
            state["bad_epochs"] += 1
        if state["cooldown"] > 0:
            state["cooldown"] -= 1
            state["bad_epochs"] = 0
        if state["bad_epochs"] > self.patience:
            reduced = max(lr * self.factor, self.min_lr)
            if lr - reduced > self.eps:
                lr = reduced
            state["cooldown"], state["bad_epochs"] = self.cooldown, 0
        return lr


class InvScaling(Schedule):
    """scikit-learn's MLP ``learning_rate="invscaling"``: after the first epoch,
    ``lr / (t + 1) ** power_t`` with ``t`` the samples seen so far, updated once per
    epoch as scikit-learn does: the first epoch trains with ``lr``, the k-th with
    ``lr / (s + (k - 1) * n + 1) ** power_t`` for n rows and ``s = samples_before``.

    Parameters
    ----------
    power_t : float, default 0.5
        >= 0.
    samples_before : int, default 0
        >= 0: samples seen before this run. scikit-learn's ``t_`` keeps counting
        over the ``fit`` calls of a ``warm_start`` estimator, while its first epoch
        of each call trains with ``lr``: pass the ``t_`` the call starts from.
    """

    __slots__ = ()
    _shown = ("power_t", "samples_before")

    def __init__(self, power_t=0.5, samples_before=0):
        self._set(dict(power_t=_nonnegative(power_t, "power_t"),
                       samples_before=check_int(samples_before, "samples_before", 0)))

    def _lr(self, run):
        if run.epoch == 0:
            return run.base_lr
        return run.base_lr / (self.samples_before + run.samples + 1) ** self.power_t


# Adaptive ends training when it would lower a rate at or below this, as scikit-learn does.
_ADAPTIVE_MIN_LR = 1e-6


class Adaptive(Schedule):
    """scikit-learn's MLP ``learning_rate="adaptive"`` (without early stopping): the
    rate divided by 5 when the training loss has not improved on the best so far by
    ``tol`` for more than ``n_iter_no_change`` epochs in a row; training stops instead
    when the rate is then already at or below 1e-6.

    An epoch counts as no improvement when its loss is above ``best - tol``; the
    count restarts after each division. When the count exceeds
    ``n_iter_no_change`` and the current rate is <= 1e-6, the run's
    ``stop_reason`` becomes ``"lr_too_small"`` and ``fit`` stops after that epoch
    (scikit-learn: "Learning rate too small. Stopping."), so the last rate used may
    be below 1e-6 (it was divided while still above).

    Parameters
    ----------
    tol : float, default 1e-4
        >= 0.
    n_iter_no_change : int, default 10
        >= 1.
    """

    __slots__ = ()
    _shown = ("tol", "n_iter_no_change")

    def __init__(self, tol=1e-4, n_iter_no_change=10):
        self._set(dict(tol=_nonnegative(tol, "tol"),
                       n_iter_no_change=check_int(n_iter_no_change, "n_iter_no_change", 1),
                       monitor="loss"))

    def _initial_state(self):
        return {"best": math.inf, "no_improvement": 0}

    def _lr(self, run):
        if run.epoch == 0:
            return run.base_lr
        state, lr = run.state, run.lr
        if run.metric > state["best"] - self.tol:
            state["no_improvement"] += 1
        else:
            state["no_improvement"] = 0
        state["best"] = min(state["best"], run.metric)
        if state["no_improvement"] > self.n_iter_no_change:
            if lr <= _ADAPTIVE_MIN_LR:
                run.stop_reason = "lr_too_small"
                return lr
            lr /= 5.0
            state["no_improvement"] = 0
        return lr
