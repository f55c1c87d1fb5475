"""Optimizers: the settings of an update rule, as small immutable objects.

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
to the gradient of each weight matrix W (not the biases).
"""
import json

from ._kernels.network import Rule
from ._validation import (
    check_adam_settings,
    check_bool,
    check_dampening,
    check_fits_dtype,
    check_setting,
    check_sgd_settings,
)

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "to_json", "from_json"]

# The compiled core's codes for the rules, by name (kernels/network.pyx defines them).
_RULE_CODES = {code.name.lower(): code for code in Rule}

# The settings, in the order of the record that settings(dtype) returns (after "rule").
_FIELDS = ("lr", "momentum", "dampening", "nesterov", "weight_decay", "l2", "betas", "eps",
           "amsgrad", "decoupled_weight_decay", "eps_before_correction")


class Optimizer:
    """The base of SGD, Adam and AdamW: read-only attributes, equality, repr and the
    flat record."""

    __slots__ = ("_values",)
    rule = None
    _shown = ()  # the constructor's arguments, in the order repr shows them

    def _init(self, **values):
        neutral = dict(momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, l2=0.0,
                       betas=(0.0, 0.0), eps=0.0, amsgrad=False, decoupled_weight_decay=False,
                       eps_before_correction=False)
        object.__setattr__(self, "_values", {**neutral, **values})

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
        return hash((type(self), tuple(self._values[f] for f in _FIELDS)))

    def __repr__(self):
        args = ", ".join(f"{name}={self._values[name]!r}" for name in self._shown)
        return f"{type(self).__name__}({args})"

    def __reduce__(self):
        return type(self), tuple(self._values[name] for name in self._shown)

    @property
    def state_slots(self):
        """How many parameter-sized state buffers the rule keeps."""
        raise NotImplementedError

    def settings(self, dtype):
        """The flat record the compiled core reads, for parameters of ``dtype``.

        A dict with the keys rule (the core's code), lr, momentum, dampening,
        nesterov, weight_decay, l2, beta1, beta2, eps, amsgrad, decoupled and
        eps_before_correction, as Python values. ValueError if a non-zero real
        setting rounds to 0 in ``dtype`` (lr=1e-50 in float32) or overflows it.
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
                "eps_before_correction": v["eps_before_correction"]}


def _l2(l2):
    return check_setting(l2, "l2", minimum=0.0)


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD``.

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

    Settings are checked here (TypeError or ValueError naming the argument) and
    cannot be changed afterwards.
    """

    __slots__ = ()
    rule = "sgd"
    _shown = ("lr", "momentum", "dampening", "nesterov", "weight_decay", "l2")

    def __init__(self, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0,
                 l2=0.0):
        lr, momentum, nesterov, weight_decay = check_sgd_settings(lr, momentum, nesterov,
                                                                  weight_decay)
        self._init(lr=lr, momentum=momentum, dampening=check_dampening(dampening, nesterov),
                   nesterov=nesterov, weight_decay=weight_decay, l2=_l2(l2))

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
