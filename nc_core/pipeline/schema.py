"""The pipeline schema, declared as data, and the mapping from constructor annotations to it.

Schema nodes only describe; :mod:`nc_core.pipeline.validate` interprets them. Component
arguments are described by the same nodes, derived from ``inspect.signature(cls.__init__)``
and ``typing.get_type_hints``, so the YAML keys of a component are exactly its keyword
arguments.
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import types
import typing
from typing import Any, Literal, Union

import attrs

from nc_core.contracts import KINDS, Component

# ---------------------------------------------------------------------------- node types


@attrs.frozen
class AnyValue:
    def describe(self) -> str:
        return "any value"


@attrs.frozen
class Null:
    def describe(self) -> str:
        return "null"


@attrs.frozen
class Scalar:
    type: type  # int, float, bool or str
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    pattern: str | None = None  # full match, for str

    def describe(self) -> str:
        return self.type.__name__


def Int(**kw: Any) -> Scalar:
    return Scalar(int, **kw)


def Float(**kw: Any) -> Scalar:
    return Scalar(float, **kw)


def Str(**kw: Any) -> Scalar:
    return Scalar(str, **kw)


@attrs.frozen
class Choice:
    values: tuple

    def describe(self) -> str:
        return "one of " + ", ".join(map(str, self.values))


@attrs.frozen
class ListOf:
    item: Any
    min_len: int = 0
    as_tuple: bool = False  # built as a tuple (YAML has only lists)

    def describe(self) -> str:
        return f"list of {self.item.describe()}"


@attrs.frozen
class TupleOf:  # fixed length, tuple[A, B]
    items: tuple

    def describe(self) -> str:
        return f"list of {len(self.items)} items ({', '.join(i.describe() for i in self.items)})"


@attrs.frozen
class OneOf:  # typing.Union
    options: tuple

    def describe(self) -> str:
        return " or ".join(o.describe() for o in self.options)


REQUIRED = object()  # Field default: the key must be given
OPTIONAL = object()  # Field default: the key may be absent and stays absent


@attrs.frozen
class ClassDefault:
    """A default read from the chosen component class (e.g. a baseline's ``qualities``)."""

    attr: str


@attrs.frozen
class Field:
    node: Any
    default: Any = REQUIRED


@attrs.frozen
class Map:
    fields: dict  # key -> Field, in output order

    def describe(self) -> str:
        return "mapping"


@attrs.frozen
class ComponentSpec:
    """A ``{use: NAME, **constructor kwargs}`` mapping, or just ``NAME``."""

    kind: str
    # the chosen class must subclass this: a sub-contract of the kind (e.g. Prior, LearnedCodec)
    base: type | None = None
    extra: dict = attrs.field(factory=dict)  # schema-only keys, not constructor arguments

    def describe(self) -> str:
        return f"a {self.kind} name or a mapping with 'use'"


@attrs.frozen
class Sweep:
    """Dotted key path -> non-empty list of values, all lists of one length."""

    def describe(self) -> str:
        return "mapping of key path -> list of values"


# ------------------------------------------------------------------- the pipeline schema

#: keys of a component spec that the runner strips before calling the constructor
SPEC_ONLY_KEYS: dict[str, tuple[str, ...]] = {"baseline": ("qualities",)}
#: constructor arguments the runner supplies (``build(..., quality=q)``), not the YAML
RUNTIME_ARGS: dict[str, tuple[str, ...]] = {"baseline": ("quality",)}

DATASET, CODEC, LOSS, METRIC = (ComponentSpec(k) for k in ("dataset", "codec", "loss", "metric"))
BASELINE = ComponentSpec(
    "baseline", extra={"qualities": Field(ListOf(Int(), min_len=1), ClassDefault("qualities"))}
)

OPTIMIZER = Field(Map({"lr": Field(Float(gt=0), 1e-4), "grad_clip": Field(Float(ge=0), 1.0)}), {})
# lr *= factor once at*steps steps are done
LR_DROP = Field(Map({"at": Field(Float(gt=0, le=1), 0.8), "factor": Field(Float(gt=0, le=1), 0.1)}), {})

PIPELINE = Map(
    {
        "name": Field(Str(pattern=r"[A-Za-z0-9._-]+")),
        "seed": Field(Int(), 0),
        "device": Field(Choice(("cpu", "cuda", "auto")), "auto"),
        "data": Field(Map({"train": Field(DATASET, OPTIONAL), "test": Field(DATASET)})),
        "codec": Field(CODEC),
        # the codec's weights to start from: a run directory (its model.pt) or a weights file;
        # without `train` they are evaluated as they are
        "init": Field(Str(), OPTIONAL),
        # load only these parts of init (state-dict key prefixes: transform, entropy.h_s, ...),
        # the rest starts fresh: a new entropy model warm-started on trained transforms
        "init_only": Field(ListOf(Str(), min_len=1), OPTIONAL),
        "train": Field(
            Map(
                {
                    "loss": Field(LOSS),
                    "steps": Field(Int(ge=1)),
                    "optimizer": OPTIMIZER,
                    "lr_drop": LR_DROP,
                    "checkpoint_every": Field(Int(ge=1), 500),
                    "log_every": Field(Int(ge=1), 50),
                    # bf16: the codec's forward pass under autocast (likelihoods stay float32;
                    # coding never uses autocast, so files are unchanged in kind)
                    "precision": Field(Choice(("fp32", "bf16")), "fp32"),
                    "init": Field(Str(), OPTIONAL),  # warm-start weights file
                    # sweep points after the first start from the previous point's weights
                    "warm_start": Field(Scalar(bool), False),
                    # further training stages, each starting from the weights the one before
                    # left (e.g. a GAN fine-tuning of a rate-distortion model); every finished
                    # stage but the last is kept in stage<k>/ and evaluated beside the last
                    "then": Field(
                        ListOf(
                            Map(
                                {
                                    "name": Field(Str(pattern=r"[A-Za-z0-9._-]+")),
                                    "loss": Field(LOSS),
                                    "steps": Field(Int(ge=1)),
                                    "optimizer": OPTIMIZER,
                                    "lr_drop": LR_DROP,
                                    "precision": Field(Choice(("fp32", "bf16")), OPTIONAL),
                                }
                            ),
                            min_len=1,
                        ),
                        OPTIONAL,
                    ),
                }
            ),
            OPTIONAL,
        ),
        "evaluate": Field(
            Map(
                {
                    "metrics": Field(ListOf(METRIC), ["bpp", "psnr", "ms-ssim"]),
                    "baselines": Field(ListOf(BASELINE), []),
                    "max_images": Field(Int(ge=1), OPTIONAL),
                    # other codings of the trained model (e.g. {codec.scheme: bit-swap}), evaluated
                    # beside it on the same items; the weights are shared
                    "variants": Field(ListOf(AnyValue()), OPTIONAL),
                    # test-time latent refinement (e.g. SGA), evaluated beside the plain codec
                    "refine": Field(
                        Map(
                            {
                                "steps": Field(Int(ge=1)),
                                "lr": Field(Float(gt=0), 5e-3),
                                "max_images": Field(Int(ge=1), OPTIONAL),
                            }
                        ),
                        OPTIONAL,
                    ),
                }
            ),
            {},
        ),
        "sweep": Field(Sweep(), OPTIONAL),
    }
)

# ------------------------------------------------------------ constructor annotations

_KIND_OF = {base: kind for kind, base in KINDS.items()}


def node_for(ann: Any) -> Any:
    """The schema node for a constructor annotation; unsupported ones are not checked."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if ann is type(None) or ann is None:
        return Null()
    if origin in (Union, types.UnionType):
        return OneOf(tuple(node_for(a) for a in args))
    if origin is Literal:
        return Choice(args)
    if origin in (list, collections.abc.Sequence):
        return ListOf(node_for(args[0]) if args else AnyValue())
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return ListOf(node_for(args[0]), as_tuple=True)
        return (
            TupleOf(tuple(node_for(a) for a in args)) if args else ListOf(AnyValue(), as_tuple=True)
        )
    if ann in (int, float, bool, str):
        return Scalar(ann)
    if isinstance(ann, type) and issubclass(ann, Component):
        kind = next((_KIND_OF[b] for b in ann.__mro__ if b in _KIND_OF), None)
        if kind is not None:
            return ComponentSpec(kind, base=None if ann is KINDS[kind] else ann)
    return AnyValue()


def contract_of(cls: type) -> str:
    """What a component deriving from ``cls`` is, for messages (``"plain prior"``): the
    ``contract`` of the nearest class that declares one, else the kind."""
    for c in cls.__mro__:
        if "contract" in vars(c):
            return vars(c)["contract"]
    return getattr(cls, "kind", cls.__name__).replace("-", " ")


def slot_contract(base: type) -> str:
    """What a slot annotated with ``base`` takes, for messages: ``base``'s own contract, or
    the inherited one narrowed to ``base`` (a plugin's base class that declares none)."""
    if "contract" in vars(base):
        return base.contract
    return f"{contract_of(base)} deriving from {base.__module__}.{base.__qualname__}"


@attrs.frozen
class Param:
    node: Any
    required: bool


@functools.cache
def params_of(cls: type) -> dict[str, Param]:
    """Keyword arguments of ``cls.__init__`` (``*args``/``**kwargs`` accept nothing)."""
    init = cls.__init__
    try:
        hints = typing.get_type_hints(init)
    except (NameError, TypeError, AttributeError, SyntaxError):  # fall back per parameter
        hints = {}
    out: dict[str, Param] = {}
    for i, p in enumerate(inspect.signature(init).parameters.values()):
        if i == 0 or p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            continue
        ann = hints.get(p.name, p.annotation)
        if isinstance(ann, str):
            try:
                ann = eval(ann, getattr(init, "__globals__", {}))  # the class's own annotation
            except (NameError, TypeError, AttributeError, SyntaxError):
                ann = inspect.Parameter.empty
        node = AnyValue() if ann is inspect.Parameter.empty else node_for(ann)
        if p.default is None and not isinstance(node, (AnyValue, Null, OneOf)):
            node = OneOf((node, Null()))  # `x: T = None` means Optional[T]
        out[p.name] = Param(node, p.default is inspect.Parameter.empty)
    return out
