"""A small QOM tree: named objects, their children and properties, resolved by path as QEMU does.

Only what vmd models lives here (containers now, CPUs and devices as they come);
each property has a QOM type string (`string`, `bool`, `int`, `child<T>`,
`link<T>`) and optional getter/setter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from vmd.errors import DeviceNotFound, GenericError
from vmd.records import dataclass

Getter = Callable[[], Any]
Setter = Callable[[Any], None]


def constant(value: Any) -> Getter:
    """A getter for a property whose value never changes."""
    return lambda: value


@dataclass(slots=True)
class QomProperty:
    name: str
    type: str
    get: Getter | None = None
    set: Setter | None = None
    description: str | None = None


class ChildTable(Protocol):
    """Children an object holds as data rather than as objects (pseries' thousands of DR
    connectors): looked up by name in constant time, listed only when asked, each object made
    when it is reached.  `objects` is what a partial path may match (nothing for links)."""

    def child(self, name: str) -> QomObject | None: ...

    def entry(self, name: str) -> QomProperty | None: ...

    def entries(self) -> Iterator[QomProperty]: ...

    def objects(self) -> Iterator[QomObject]: ...


class QomObject:
    # Children held as data (see ChildTable); most objects have none.
    tables: tuple[ChildTable, ...] = ()

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name
        self.parent: QomObject | None = None
        self.name = ""
        self.children: dict[str, QomObject] = {}
        self.properties: dict[str, QomProperty] = {}
        self.add_property(QomProperty("type", "string", get=lambda: self.type_name))

    def add_table(self, table: ChildTable) -> None:
        self.tables = (*self.tables, table)

    def get_child(self, name: str) -> QomObject | None:
        """The child (or link target) `name`, whether an object or a table entry."""
        child = self.children.get(name)
        if child is None:
            for table in self.tables:
                child = table.child(name)
                if child is not None:
                    break
        return child

    def get_property(self, name: str) -> QomProperty | None:
        prop = self.properties.get(name)
        if prop is None:
            for table in self.tables:
                prop = table.entry(name)
                if prop is not None:
                    break
        return prop

    def list_properties(self) -> Iterator[QomProperty]:
        """Every property, qom-list's order: the object's own, then its tables' entries."""
        yield from self.properties.values()
        for table in self.tables:
            yield from table.entries()

    def add_property(self, prop: QomProperty) -> None:
        self.properties[prop.name] = prop

    def add_child(self, name: str, child: QomObject) -> QomObject:
        if name in self.properties:
            raise GenericError(
                f"attempt to add duplicate property '{name}' to object (type '{self.type_name}')"
            )
        child.parent = self
        child.name = name
        self.children[name] = child
        self.add_property(QomProperty(name, f"child<{child.type_name}>", get=child.path))
        return child

    def remove_child(self, name: str) -> None:
        child = self.children.pop(name)
        del self.properties[name]
        child.parent = None

    def path(self) -> str:
        if self.parent is None:
            return "/"
        parent = self.parent.path()
        return f"{parent.rstrip('/')}/{self.name}"

    def walk(self) -> Iterator[QomObject]:
        yield self
        for child in self.children.values():
            yield from child.walk()
        for table in self.tables:
            for obj in table.objects():
                yield from obj.walk()


class DeviceObject(QomObject):
    """A realized device: the properties every QEMU device has (read-only here).  `bus` is the
    name of the qdev bus it sits on when that bus refuses hotplug (device_del: "Bus 'X' does not
    support hotplugging"); None for a device on no bus."""

    def __init__(
        self, type_name: str, *, hotplugged: bool = False, hotpluggable: bool = False, bus: str | None = None
    ) -> None:
        super().__init__(type_name)
        self.bus = bus
        # QEMU's order, as qom-list shows it.
        self.add_property(QomProperty("parent_bus", "link<bus>", get=constant("")))
        self.add_property(QomProperty("realized", "bool", get=constant(True)))
        self.add_property(QomProperty("hotplugged", "bool", get=constant(hotplugged)))
        self.add_property(QomProperty("hotpluggable", "bool", get=constant(hotpluggable)))


class BusObject(QomObject):
    """A qdev bus in the QOM tree: an object, not a device (device_del: "... is not a hotpluggable
    device")."""


class QomTree:
    def __init__(self, machine_type: str) -> None:
        self.root = QomObject("container")
        self.machine = self.root.add_child("machine", QomObject(machine_type))
        for name in ("peripheral", "peripheral-anon", "unattached"):
            self.machine.add_child(name, QomObject("container"))
        self.root.add_child("objects", QomObject("container"))
        self.root.add_child("chardevs", QomObject("container"))

    def resolve(self, path: str) -> QomObject:
        """An absolute path, or a partial one that names exactly one object (QEMU's rules)."""
        if path.startswith("/"):
            obj: QomObject | None = self.root
            for part in path.split("/")[1:]:
                if part == "":
                    continue
                obj = obj.get_child(part) if obj is not None else None
            if obj is None:
                raise DeviceNotFound(f"Device '{path}' not found")
            return obj
        parts = [part for part in path.split("/") if part]
        matches = [obj for obj in self.root.walk() if parts and _ends_with(obj, parts)]
        if len(matches) > 1:
            raise GenericError(f"Path '{path}' is ambiguous")
        if not matches:
            raise DeviceNotFound(f"Device '{path}' not found")
        return matches[0]


def _ends_with(obj: QomObject, parts: list[str]) -> bool:
    node: QomObject | None = obj
    for part in reversed(parts):
        if node is None or node.name != part or node.parent is None:
            return False
        node = node.parent
    return True
