"""Building frozen dataclass values fast, for the hot paths of `dunning plan` (a million claims).

A frozen dataclass's generated `__init__` sets every field through `object.__setattr__` (the class
forbids ordinary assignment): for `rules.Decision` and its 36 fields that is most of what a decision
costs. `builder(cls)` returns a keyword-only constructor that makes the same frozen value by filling
its `__dict__` in one step. It is generated like the dataclass's own `__init__` (same field names,
same defaults, default factories called when the field is not given), so Python itself refuses an
unknown or missing field with TypeError. It runs no `__post_init__`: only for plain value classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, fields, is_dataclass
from typing import TypeVar

T = TypeVar("T")
_FACTORY = object()  # the default of a field with a default factory: call the factory


def builder(cls: type[T]) -> Callable[..., T]:
    if not is_dataclass(cls) or hasattr(cls, "__post_init__") or "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__name__}: only plain dataclasses without __post_init__ or slots")
    names = [f.name for f in fields(cls)]
    for name in names:
        if not name.isidentifier():
            raise TypeError(f"{cls.__name__}.{name}: not an identifier")
    scope: dict = {"_new": object.__new__, "_cls": cls, "_FACTORY": _FACTORY}
    params, factories = [], []
    for f in fields(cls):
        if f.default is not MISSING:
            scope[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not MISSING:
            scope[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_FACTORY")
            factories.append(f"    if {f.name} is _FACTORY: {f.name} = _factory_{f.name}()")
        else:
            params.append(f.name)
    # required fields first is not needed: every parameter is keyword-only
    source = "\n".join([
        f"def build_{cls.__name__}(*, {', '.join(params)}):",
        *factories,
        "    value = _new(_cls)",
        f"    value.__dict__.update({{{', '.join(f'{n!r}: {n}' for n in names)}}})",
        "    return value",
    ])
    exec(source, scope)  # noqa: S102 - generated from the dataclass's own field names, as dataclasses does
    return scope[f"build_{cls.__name__}"]
