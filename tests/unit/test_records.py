"""vmd.records: a class made from the cache is the class dataclasses makes of the same declaration,
and the cache (vmd/records_cache.py) is what `python -m vmd.records` writes from vmd's classes."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vmd import records, records_cache
from vmd.records import DECORATED, cache_source, class_spec, maker_source, standard_twin

CACHE = Path(records.__file__).with_name("records_cache.py")


def test_the_cache_is_what_the_classes_declare() -> None:
    assert CACHE.read_text() == cache_source(), "stale: run python -m vmd.records"


def _cached() -> Iterator[type]:
    cache_source()  # imports every module that makes records
    for cls in DECORATED:
        if "__record_declared__" in cls.__dict__:
            yield cls


def _shape(cls: type) -> dict[str, Any]:
    """Everything about a dataclass that does not need an instance."""
    methods = ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__")
    return {
        "signature": str(inspect.signature(cls)),
        "init annotations": cls.__init__.__annotations__,  # type: ignore[misc]
        "doc": cls.__doc__,
        "match_args": cls.__dict__.get("__match_args__"),
        "slots": cls.__dict__.get("__slots__"),
        "own methods": {name for name in methods if name in cls.__dict__},
        "hash is None": cls.__hash__ is None,
        "qualnames": {
            name: getattr(cls.__dict__[name], "__qualname__", None)
            for name in methods
            if name in cls.__dict__
        },
        "fields": [
            (f.name, f.type, f.default, f.default_factory, f.repr, f.compare) for f in dataclasses.fields(cls)
        ],
        "params": repr(cls.__dataclass_params__),  # type: ignore[attr-defined]
        "class attributes": {
            name: value
            for name, value in cls.__dict__.items()
            if not name.startswith("__")
            and name != "_abc_impl"  # ABCMeta's per-class cache
            and not callable(value)
            and not isinstance(value, types.MemberDescriptorType)
        },
    }


def test_every_vmd_class_made_from_the_cache_has_the_shape_dataclasses_gives_it() -> None:
    checked = 0
    for cls in _cached():
        twin = standard_twin(cls, slots="__slots__" in cls.__dict__)
        assert _shape(cls) == _shape(twin), f"{cls.__module__}.{cls.__qualname__}"
        checked += 1
    assert checked > 80  # the start-up path's classes


# --- behaviour, class by class: each declaration made through the cache and by dataclasses -------


def _make_both(
    monkeypatch: pytest.MonkeyPatch, build: Callable[[Callable[..., Any]], type]
) -> tuple[Any, Any]:
    """(made through the cache, made by dataclasses) from one declaration; `build(decorator)`
    declares the class with that decorator.  Typed Any: the classes' fields and methods exist
    only at run time, which is what the tests look at."""
    probe = build(lambda **kw: lambda cls: cls)  # the bare declaration: what its entry must say
    module = sys.modules[__name__]
    frozen = getattr(probe, "_frozen", False)
    eq = getattr(probe, "_eq", True)
    spec = class_spec(probe, frozen, eq)
    assert spec is not None
    namespace: dict[str, Any] = {}
    exec(compile("from dataclasses import FrozenInstanceError\n_object_setattr = object.__setattr__\n"
                 + maker_source("_maker", spec), "<records test>", "exec"), namespace)  # fmt: skip
    monkeypatch.setitem(
        records_cache.CLASSES, f"{module.__name__}.{probe.__qualname__}", (spec, namespace["_maker"])
    )
    cached = build(records.dataclass)
    standard = build(dataclasses.dataclass)
    assert "__record_declared__" in cached.__dict__, "not made from the entry"
    return cached, standard


def _point(decorator: Callable[..., Any], **params: Any) -> type:
    @decorator(**params)
    class Point:
        __qualname__ = "TestPoint"  # a module-level key: the cache covers no local class
        _frozen = params.get("frozen", False)
        _eq = params.get("eq", True)
        x: int
        y: int = 2
        tags: list[str] = dataclasses.field(default_factory=list)
        note: str = dataclasses.field(default="", compare=False, repr=False)

    return Point


@pytest.mark.parametrize(
    "params",
    [{}, {"frozen": True}, {"slots": True}, {"frozen": True, "slots": True}, {"eq": False}],
    ids=["plain", "frozen", "slots", "frozen-slots", "eq-false"],
)
def test_a_record_behaves_as_the_dataclass(monkeypatch: pytest.MonkeyPatch, params: dict[str, Any]) -> None:
    cached, standard = _make_both(monkeypatch, lambda decorator: _point(decorator, **params))
    a, b = cached(1), standard(1)
    assert repr(a).split("(", 1)[1] == repr(b).split("(", 1)[1] == "x=1, y=2, tags=[])"
    assert a.tags is not cached(1).tags  # a fresh list each time, as with dataclasses
    assert (a == cached(1, note="other")) == (b == standard(1, note="other"))
    assert (a == cached(2)) is (b == standard(2)) is False
    assert a.__eq__(object()) is b.__eq__(object())
    assert (cached.__hash__ is None) == (standard.__hash__ is None)
    if params.get("frozen"):
        assert hash(cached(1, tags=())) == hash(standard(1, tags=()))
        for obj in (a, b):
            with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'x'"):
                obj.x = 5
            with pytest.raises(dataclasses.FrozenInstanceError, match="cannot delete field 'y'"):
                del obj.y
    else:
        a.x = b.x = 5
        assert a.x == b.x == 5
    if params.get("slots"):
        assert cached.__slots__ == standard.__slots__ == ("x", "y", "tags", "note")
        assert not hasattr(a, "__dict__")
    replaced = dataclasses.replace(a, y=7)
    assert type(replaced) is cached
    assert replaced.y == 7
    assert replaced.x == a.x
    assert dataclasses.asdict(a) == dataclasses.asdict(b)
    assert [f.name for f in dataclasses.fields(a)] == [f.name for f in dataclasses.fields(b)]
    assert dataclasses.is_dataclass(a)
    assert dataclasses.is_dataclass(cached)
    assert copy.deepcopy(a) == a or not params.get("eq", True)


def test_a_frozen_slotted_record_pickles(monkeypatch: pytest.MonkeyPatch) -> None:
    cached, _ = _make_both(monkeypatch, lambda decorator: _point(decorator, frozen=True, slots=True))
    obj = cached(3, tags=("a",))
    assert obj.__getstate__() == [3, 2, ("a",), ""]
    clone = cached.__new__(cached)
    clone.__setstate__(obj.__getstate__())
    assert clone == obj


def _with_post_init(decorator: Callable[..., Any]) -> type:
    @decorator(frozen=True)
    class Checked:
        __qualname__ = "TestChecked"  # a module-level key: the cache covers no local class
        _frozen = True
        low: int
        high: int

        def __post_init__(self) -> None:
            if self.low > self.high:
                raise ValueError("low > high")

    return Checked


def test_post_init_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    cached, standard = _make_both(monkeypatch, _with_post_init)
    for cls in (cached, standard):
        assert cls(1, 2).high == 2
        with pytest.raises(ValueError, match="low > high"):
            cls(3, 2)


def _own_methods(decorator: Callable[..., Any]) -> type:
    @decorator(frozen=True)
    class Named:
        __qualname__ = "TestNamed"  # a module-level key: the cache covers no local class
        _frozen = True
        name: str

        def __repr__(self) -> str:
            return f"<{self.name}>"

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Named) and other.name.lower() == self.name.lower()

        def __hash__(self) -> int:
            return hash(self.name.lower())

    return Named


def test_methods_the_class_defines_stay(monkeypatch: pytest.MonkeyPatch) -> None:
    cached, _ = _make_both(monkeypatch, _own_methods)
    assert repr(cached("a")) == "<a>"
    assert cached("A") == cached("a")
    assert hash(cached("A")) == hash(cached("a"))


def test_a_record_base_gives_its_fields_to_a_record_subclass(monkeypatch: pytest.MonkeyPatch) -> None:
    holder: dict[str, type] = {}

    def base(decorator: Callable[..., Any]) -> type:
        @decorator(frozen=True, slots=True)
        class Base:
            __qualname__ = "TestBase"  # a module-level key: the cache covers no local class
            _frozen = True
            kind: str
            items: tuple[int, ...] = dataclasses.field(default_factory=tuple)
            size: int = 4

        holder["base"] = Base
        return Base

    cached_base, standard_base = _make_both(monkeypatch, base)

    def sub(decorator: Callable[..., Any]) -> type:
        parent = cached_base if decorator is records.dataclass else standard_base
        if decorator.__module__ == __name__:  # the bare declaration
            parent = cached_base

        @decorator(frozen=True, slots=True)
        class Sub(parent):  # type: ignore[valid-type, misc]
            __qualname__ = "TestSub"
            _frozen = True
            extra: bool = False

        return Sub

    cached, standard = _make_both(monkeypatch, sub)
    assert str(inspect.signature(cached)) == str(inspect.signature(standard))
    obj = cached("x", extra=True)
    assert (obj.kind, obj.items, obj.size, obj.extra) == ("x", (), 4, True)
    assert repr(obj).endswith("(kind='x', items=(), size=4, extra=True)")
    assert dataclasses.replace(obj, size=8).size == 8
    # a dataclass made by dataclasses itself on a record base (a module not converted) works too
    plain: Any = dataclasses.dataclass(frozen=True)(
        type("Plain", (cached_base,), {"__annotations__": {"z": "int"}, "z": 0})
    )
    assert [f.name for f in dataclasses.fields(plain)] == ["kind", "items", "size", "z"]


def test_a_declaration_the_cache_does_not_know_is_made_by_dataclasses() -> None:
    @records.dataclass(frozen=True)
    class Unknown:
        value: int

    assert "__record_declared__" not in Unknown.__dict__
    assert isinstance(Unknown.__dict__["__dataclass_fields__"], dict)
    assert Unknown(1) == Unknown(1)
    assert repr(Unknown(1)).endswith("Unknown(value=1)")
