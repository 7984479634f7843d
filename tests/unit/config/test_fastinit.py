"""fast_init: the same __init__ as the dataclass's own (signature, defaults, factories, init=False), faster."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from pykeepalived.config import model_lvs
from pykeepalived.config.fastinit import fast_init


def _pair(**options: object) -> tuple[type, type]:
    def make() -> type:
        @dataclasses.dataclass(frozen=True, slots=True, **options)  # type: ignore[call-overload]
        class Thing:
            a: int
            b: str = "b"
            c: tuple[int, ...] = ()
            d: list[int] = dataclasses.field(default_factory=list)
            kind: str = dataclasses.field(default="THING", init=False)
            e: int | None = dataclasses.field(default=None, kw_only=True)

        return Thing

    return make(), fast_init(make())


@pytest.mark.parametrize("options", [{}, {"kw_only": True}])
def test_the_generated_init_takes_and_sets_what_the_dataclass_one_does(options: dict[str, object]) -> None:
    plain, fast = _pair(**options)
    def params(cls: type) -> list[tuple[str, object, object]]:
        return [(p.name, p.kind, p.default if p.name != "d" else "factory")
                for p in inspect.signature(cls.__init__).parameters.values()]

    assert params(fast) == params(plain)
    calls: list[tuple[tuple[object, ...], dict[str, object]]] = [
        ((), {"a": 1}), ((), {"a": 1, "b": "x", "d": [3], "e": 5}),
    ]
    if not options:
        calls.append(((1, "y", (2,)), {}))
    for args, kwargs in calls:
        p, f = plain(*args, **kwargs), fast(*args, **kwargs)
        assert repr(p).replace(plain.__qualname__, "T") == repr(f).replace(fast.__qualname__, "T")
    assert fast(a=1).d is not fast(a=1).d  # a fresh default per object
    with pytest.raises(TypeError):
        fast()
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast(a=1).a = 2  # type: ignore[misc]


def test_classes_it_does_not_cover_are_left_alone() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class WithPostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    for cls in (NoSlots, WithPostInit):
        init = cls.__init__
        assert fast_init(cls).__init__ is init


def test_the_model_classes_use_it() -> None:
    rs = model_lvs.RealServer.__init__
    assert rs.__module__ == "pykeepalived.config.model_lvs" and "_set_ip" in rs.__code__.co_names
