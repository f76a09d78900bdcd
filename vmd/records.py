"""`dataclass` for vmd's own classes, the standard one's twin without its start-up cost.

`dataclasses.dataclass` writes each class's `__init__`, `__repr__`, `__eq__`, `__hash__` and frozen
`__setattr__`/`__delattr__` as source text and compiles it, at every start: about a millisecond a
class, and a vmd start makes a hundred of them.  Here those methods come compiled from
`vmd/records_cache.py`, which `python -m vmd.records` writes from the classes themselves (a unit test
keeps it in step).  A class whose declaration no longer matches its cached entry (or that uses what
the cache does not cover: `InitVar`, `KW_ONLY`, `field(init=False)`, ...) simply goes through
`dataclasses.dataclass`, so the cache only ever changes how fast a class is made, never what it is.

What a class gets is what `dataclasses.dataclass(frozen=..., eq=..., slots=...)` gives it, method by
method (the same generated code), with the same rules about methods the class defines itself.
Two things are made on first use instead of at once, since nothing reads them at start-up:
`__dataclass_fields__`/`__dataclass_params__` (so `dataclasses.fields`, `replace`, `asdict` and
`is_dataclass` work; they are the standard module's own, made by running it on a copy of the
declaration) and the signature `__doc__` of a class without a docstring.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from _thread import get_ident as _get_ident
from collections.abc import Callable
from dataclasses import MISSING, Field
from typing import Any, TypeVar, dataclass_transform, overload

_T = TypeVar("_T", bound=type)

# One field as the cache knows it: (name, annotation text, kind, in repr, compared), kind being
# "" (required), "=" (a default value) or "()" (a default_factory).
FieldSpec = tuple[str, str, str, bool, bool]
# A class as the cache knows it: (frozen, eq, calls __post_init__, every field in __init__ order).
ClassSpec = tuple[bool, bool, bool, tuple[FieldSpec, ...]]

_CLASSVAR = ("ClassVar", "typing.ClassVar")
_UNCOVERED = ("InitVar", "dataclasses.InitVar", "KW_ONLY", "dataclasses.KW_ONLY")


class _Factory:
    """The default shown for a field with a default_factory (dataclasses shows `<factory>` too)."""

    def __repr__(self) -> str:
        return "<factory>"


HAS_DEFAULT_FACTORY: Any = _Factory()

# Every class made here, in the order made: what `python -m vmd.records` writes the cache from.
DECORATED: list[type] = []


def _own_fields(cls: type) -> list[FieldSpec] | None:
    """The fields `cls` declares, or None when the cache cannot cover its declaration."""
    out: list[FieldSpec] = []
    namespace = cls.__dict__
    for name, annotation in namespace.get("__annotations__", {}).items():
        if type(annotation) is not str:  # a module without `from __future__ import annotations`
            return None
        if annotation.startswith(_CLASSVAR) and (
            annotation in _CLASSVAR or annotation[annotation.index("ClassVar") + 8] == "["
        ):
            continue
        if annotation.startswith(_UNCOVERED):
            return None
        default = namespace.get(name, MISSING)
        if type(default) is Field:
            if not default.init or default.hash is not None or default.kw_only is not MISSING:
                return None
            if default.metadata:
                return None
            kind = (
                "()" if default.default_factory is not MISSING else "" if default.default is MISSING else "="
            )
            out.append((name, annotation, kind, default.repr, default.compare))
        elif isinstance(default, Field):
            return None
        else:
            out.append((name, annotation, "" if default is MISSING else "=", True, True))
    return out


def class_spec(cls: type, frozen: bool, eq: bool) -> ClassSpec | None:
    """What the cache entry of `cls` must say for its methods to be the ones dataclasses makes."""
    fields: dict[str, FieldSpec] = {}
    for base in cls.__mro__[-1:0:-1]:
        base_spec: ClassSpec | None = base.__dict__.get("__record_spec__")
        if base_spec is not None:
            for spec in base_spec[3]:
                fields[spec[0]] = spec
        elif "__dataclass_fields__" in base.__dict__:  # a dataclass made elsewhere
            return None
    own = _own_fields(cls)
    if own is None:
        return None
    for spec in own:
        fields[spec[0]] = spec
    return (frozen, eq, hasattr(cls, "__post_init__"), tuple(fields.values()))


class _Lazy:
    """`__dataclass_fields__` or `__dataclass_params__` of a class made from the cache, made when
    first read: dataclasses run on a copy of the declaration, both of its answers then stored on
    the class in place of these."""

    def __init__(self, name: str, declared: dict[str, Any], frozen: bool, eq: bool) -> None:
        self.name = name
        self.declared = declared
        self.frozen = frozen
        self.eq = eq
        self.owner: type | None = None

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        cls = self.owner
        assert cls is not None
        if type(cls.__dict__[self.name]) is _Lazy:
            copy = type(cls)(cls.__name__, cls.__bases__, dict(self.declared))
            made: type = dataclasses.dataclass(copy, frozen=self.frozen, eq=self.eq)
            for name in ("__dataclass_fields__", "__dataclass_params__"):
                type.__setattr__(cls, name, made.__dict__[name])
        return cls.__dict__[self.name]


class _SignatureDoc:
    """The `__doc__` dataclasses gives a class without a docstring (its name and signature)."""

    def __get__(self, instance: object, owner: type | None = None) -> str:
        import inspect

        assert owner is not None
        try:
            signature = str(inspect.signature(owner)).replace(" -> None", "")
        except (TypeError, ValueError):
            signature = ""
        return owner.__name__ + signature


def _recursive_repr(function: Callable[[Any], str]) -> Callable[[Any], str]:
    """dataclasses' guard: a repr that reaches its own object again says `...`."""
    running: set[tuple[int, int]] = set()
    get_ident = _get_ident

    @functools.wraps(function)
    def wrapper(self: Any) -> str:
        key = id(self), get_ident()
        if key in running:
            return "..."
        running.add(key)
        try:
            result = function(self)
        finally:
            running.discard(key)
        return result

    return wrapper


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, f.name) for f in dataclasses.fields(self)]


def _setstate(self: Any, state: list[Any]) -> None:
    for f, value in zip(dataclasses.fields(self), state, strict=False):
        object.__setattr__(self, f.name, value)


def _set_new(cls: type, name: str, value: Any) -> bool:
    """dataclasses' rule: a method the class defines itself stays (True when it did)."""
    if name in cls.__dict__:
        return True
    if callable(value) and hasattr(value, "__qualname__"):
        value.__qualname__ = f"{cls.__qualname__}.{value.__name__}"
    setattr(cls, name, value)
    return False


def _slotted(cls: type, frozen: bool, names: tuple[str, ...]) -> type:
    """dataclasses' slots=True: the class made again with `__slots__` for its fields."""
    if "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__name__} already specifies __slots__")
    namespace = dict(cls.__dict__)
    inherited: set[str] = set()
    for base in cls.__mro__[1:-1]:
        slots = base.__dict__.get("__slots__")
        if slots is not None:
            inherited.update((slots,) if isinstance(slots, str) else slots)
    namespace["__slots__"] = tuple(name for name in names if name not in inherited)
    for name in names:
        namespace.pop(name, None)
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    qualname = cls.__qualname__
    made = type(cls)(cls.__name__, cls.__bases__, namespace)
    made.__qualname__ = qualname
    if frozen:
        if "__getstate__" not in namespace:
            type.__setattr__(made, "__getstate__", _getstate)
        if "__setstate__" not in namespace:
            type.__setattr__(made, "__setstate__", _setstate)
    return made


def _defaults(cls: type, spec: ClassSpec) -> dict[str, Any]:
    """Each defaulted field's default value or factory: its own declaration's, else a base's."""
    out: dict[str, Any] = {}
    for base in cls.__mro__[-1:0:-1]:
        out.update(base.__dict__.get("__record_defaults__", ()))
    namespace = cls.__dict__
    for name in namespace.get("__annotations__", ()):
        value = namespace.get(name, MISSING)
        if type(value) is Field:
            out[name] = value.default_factory if value.default_factory is not MISSING else value.default
        elif value is not MISSING:
            out[name] = value
    return {name: out[name] for name, _, kind, _, _ in spec[3] if kind}


def _from_cache(cls: type, spec: ClassSpec, make: Callable[..., Any], slots: bool) -> type:
    frozen, eq, _, fields = spec
    namespace = cls.__dict__
    declared = {key: value for key, value in namespace.items() if key not in ("__dict__", "__weakref__")}
    defaults = _defaults(cls, spec)
    init_defaults = tuple(
        HAS_DEFAULT_FACTORY if kind == "()" else defaults[name] for name, _, kind, _, _ in fields if kind
    )
    factories = [defaults[name] for name, _, kind, _, _ in fields if kind == "()"]
    for name, value in tuple(namespace.items()):  # as dataclasses: a field() leaves its default
        if type(value) is Field:
            if value.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, value.default)
    init, repr_fn, eq_fn, hash_fn, setattr_fn, delattr_fn = make(cls, HAS_DEFAULT_FACTORY, *factories)
    init.__defaults__ = init_defaults or None
    init.__annotations__ = {name: annotation for name, annotation, *_ in fields} | {"return": None}
    lazy = [_Lazy(name, declared, frozen, eq) for name in ("__dataclass_params__", "__dataclass_fields__")]
    for view in lazy:
        type.__setattr__(cls, view.name, view)
    class_hash = namespace.get("__hash__", MISSING)
    explicit_hash = not (class_hash is MISSING or (class_hash is None and "__eq__" in namespace))
    _set_new(cls, "__init__", init)
    _set_new(cls, "__repr__", _recursive_repr(repr_fn))
    if eq:
        _set_new(cls, "__eq__", eq_fn)
    if frozen:
        for method in (setattr_fn, delattr_fn):
            if _set_new(cls, method.__name__, method):
                raise TypeError(f"Cannot overwrite attribute {method.__name__} in class {cls.__name__}")
    if eq and not explicit_hash:
        if frozen:
            hash_fn.__qualname__ = f"{cls.__qualname__}.__hash__"
            type.__setattr__(cls, "__hash__", hash_fn)
        else:
            type.__setattr__(cls, "__hash__", None)
    if not cls.__doc__:
        type.__setattr__(cls, "__doc__", _SignatureDoc())
    _set_new(cls, "__match_args__", tuple(name for name, *_ in fields))
    if slots:
        cls = _slotted(cls, frozen, tuple(name for name, *_ in fields))
    for view in lazy:
        view.owner = cls
    type.__setattr__(cls, "__record_defaults__", defaults)
    type.__setattr__(cls, "__record_declared__", declared)
    return cls


def standard_twin(cls: type, *, slots: bool) -> type:
    """What dataclasses makes of the declaration a class made from the cache came from (tests compare)."""
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    copy = type(cls)(cls.__name__, cls.__bases__, dict(cls.__dict__["__record_declared__"]))
    made: type = dataclasses.dataclass(copy, frozen=params.frozen, eq=params.eq, slots=slots)
    return made


def _make(cls: _T, frozen: bool, eq: bool, slots: bool) -> _T:
    spec = class_spec(cls, frozen, eq)
    entry = None
    if spec is not None and "<locals>" not in cls.__qualname__:
        from vmd.records_cache import CLASSES

        entry = CLASSES.get(f"{cls.__module__}.{cls.__qualname__}")
    if spec is not None and entry is not None and entry[0] == spec:
        made: type = _from_cache(cls, spec, entry[1], slots)
    else:
        made = dataclasses.dataclass(cls, frozen=frozen, eq=eq, slots=slots)
        if spec is not None:
            defaults = {
                f.name: f.default_factory if f.default_factory is not MISSING else f.default
                for f in dataclasses.fields(made)
                if f.default is not MISSING or f.default_factory is not MISSING
            }
            type.__setattr__(made, "__record_defaults__", defaults)
    if spec is not None:
        type.__setattr__(made, "__record_spec__", spec)
    DECORATED.append(made)
    return made  # type: ignore[return-value]


@overload
def dataclass(cls: _T, /) -> _T: ...


@overload
def dataclass(*, frozen: bool = False, eq: bool = True, slots: bool = False) -> Callable[[_T], _T]: ...


@dataclass_transform(field_specifiers=(dataclasses.field, Field))
def dataclass(
    cls: _T | None = None, /, *, frozen: bool = False, eq: bool = True, slots: bool = False
) -> _T | Callable[[_T], _T]:
    """`dataclasses.dataclass` with these keywords (the ones vmd uses), its methods from the cache."""

    def wrap(cls: _T) -> _T:
        return _make(cls, frozen, eq, slots)

    return wrap if cls is None else wrap(cls)


# --- the cache's source (python -m vmd.records) -------------------------------------------------

CACHE_HEADER = '''"""The methods of vmd's record classes, compiled once.  GENERATED by
`python -m vmd.records` from the classes `vmd.records.dataclass` makes: do not edit; regenerate.
Each entry is the class's declaration as vmd.records reads it, and a function that makes the
methods dataclasses would write for it (a class that no longer matches its entry is made by
dataclasses itself)."""

# mypy: ignore-errors
from __future__ import annotations

from dataclasses import FrozenInstanceError
from typing import Any

_object_setattr = object.__setattr__
'''


def _tuple_text(owner: str, names: list[str]) -> str:
    return "(" + ",".join(f"{owner}.{name}" for name in names) + ",)" if names else "()"


def maker_source(function: str, spec: ClassSpec) -> str:
    """The function that makes one class's methods, as dataclasses 3.11 writes them."""
    frozen, eq, post_init, fields = spec
    names = [name for name, *_ in fields]
    self_name = "__dataclass_self__" if "self" in names else "self"
    factories = [f"_dflt_{name}" for name, _, kind, _, _ in fields if kind == "()"]
    lines = [f"def {function}(cls, _HAS_DEFAULT_FACTORY{''.join(', ' + f for f in factories)}):"]
    params = "".join(
        f", {name}" + ("=_HAS_DEFAULT_FACTORY" if kind else "") for name, _, kind, _, _ in fields
    )
    lines.append(f"    def __init__({self_name}{params}):")
    body = []
    for name, _, kind, _, _ in fields:
        value = f"_dflt_{name}() if {name} is _HAS_DEFAULT_FACTORY else {name}" if kind == "()" else name
        body.append(
            f"_object_setattr({self_name},{name!r},{value})" if frozen else f"{self_name}.{name}={value}"
        )
    if post_init:
        body.append(f"{self_name}.__post_init__()")
    lines += [f"        {line}" for line in body or ["pass"]]
    shown = ", ".join(f"{name}={{self.{name}!r}}" for name, _, _, in_repr, _ in fields if in_repr)
    lines += ["    def __repr__(self):", f'        return self.__class__.__qualname__ + f"({shown})"']
    compared = [name for name, _, _, _, compare in fields if compare]
    if eq:
        lines += [
            "    def __eq__(self, other):",
            "        if other.__class__ is self.__class__:",
            f"            return {_tuple_text('self', compared)}=={_tuple_text('other', compared)}",
            "        return NotImplemented",
        ]
    made = ["__init__", "__repr__", "__eq__" if eq else "None"]
    if frozen and eq:
        lines += ["    def __hash__(self):", f"        return hash({_tuple_text('self', compared)})"]
    made.append("__hash__" if frozen and eq else "None")
    if frozen:
        listed = "(" + ",".join(repr(name) for name in names) + ",)" if names else "()"
        for method, verb, params_text, call in (
            ("__setattr__", "assign to", "self, name, value", "name, value"),
            ("__delattr__", "delete", "self, name", "name"),
        ):
            lines += [
                f"    def {method}({params_text}):",
                f"        if type(self) is cls or name in {listed}:",
                f'            raise FrozenInstanceError(f"cannot {verb} field {{name!r}}")',
                f"        super(cls, self).{method}({call})",
            ]
        made += ["__setattr__", "__delattr__"]
    else:
        made += ["None", "None"]
    lines.append(f"    return {', '.join(made)}")
    return "\n".join(lines) + "\n"


def _import_record_modules() -> None:
    """Import every vmd module that makes records (what the cache covers)."""
    import importlib
    from pathlib import Path

    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        if "from vmd.records import" not in path.read_text():
            continue
        parts = path.relative_to(root.parent).with_suffix("").parts
        importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))


def cache_source() -> str:
    _import_record_modules()
    entries: dict[str, ClassSpec] = {}
    for cls in DECORATED:
        spec = cls.__dict__.get("__record_spec__")
        if spec is not None and "<locals>" not in cls.__qualname__:
            entries[f"{cls.__module__}.{cls.__qualname__}"] = spec
    out = [CACHE_HEADER]
    table = []
    for number, (key, spec) in enumerate(sorted(entries.items())):
        out.append("\n" + maker_source(f"_m{number}", spec))
        table.append(f"    {key!r}: ({spec!r}, _m{number}),")
    out.append("\nCLASSES: dict[str, Any] = {\n" + "\n".join(table) + "\n}\n")
    return "".join(out)


def main(argv: list[str]) -> int | str:
    from pathlib import Path

    cache = Path(__file__).with_name("records_cache.py")
    source = cache_source()
    if argv == ["--check"]:
        return 0 if cache.read_text() == source else f"{cache} is stale: run python -m vmd.records"
    cache.write_text(source)
    return 0


if __name__ == "__main__":
    from vmd import records

    sys.exit(records.main(sys.argv[1:]))
