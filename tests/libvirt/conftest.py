"""One libvirt for the whole libvirt suite; a fresh domain (whose emulator is vmd) per test."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.libvirt.harness import Libvirt, LibvirtError, PeerLibvirt, domain_xml, emulator_wrapper
from tests.needs import require_libvirt
from tests.peers import short_tmpdir

_names = itertools.count(1)


@pytest.fixture(scope="session")
def libvirt() -> Iterator[Libvirt]:
    """virtlogd and libvirtd started by hand (scripts/install-deps installs libvirt); missing or
    not root, the suite fails or is skipped (tests.needs)."""
    require_libvirt()
    workdir = short_tmpdir()
    instance = Libvirt(workdir)
    try:
        try:
            instance.start()
        except LibvirtError as error:
            pytest.fail(str(error))
        yield instance
    finally:
        # Whatever failed: daemons stopped by pid, qemu.conf put back.
        instance.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def peer(libvirt: Libvirt) -> Iterator[PeerLibvirt]:
    """A second libvirtd on this host (a live migration's destination), started on first use and
    stopped before the first one."""
    workdir = libvirt.workdir / "peer"
    workdir.mkdir(exist_ok=True)
    instance = PeerLibvirt(workdir)
    try:
        try:
            instance.start()
        except (LibvirtError, TimeoutError) as error:
            pytest.fail(f"{error}\n{instance.log.read_text()[-4000:] if instance.log.exists() else ''}")
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def emulator(libvirt: Libvirt) -> Path:
    return emulator_wrapper(libvirt.workdir)


class Domain:
    """The domains one test starts, each with a fresh name; every board's XML (harness.*_xml)."""

    def __init__(self, libvirt: Libvirt, emulator: Path) -> None:
        self.libvirt = libvirt
        self.emulator = emulator
        self.names: list[str] = []

    def create(self, prefix: str, xml: Callable[[str, str], str], target: str = "x86_64") -> str:
        """`virsh create` of `xml(name, emulator)` (the emulator execs vmd as qemu-system-`target`);
        the new domain's name.  A refusal fails the test with libvirtd's log."""
        name = f"{prefix}-{os.getpid()}-{next(_names)}"
        self.names.append(name)
        emulator = self.emulator if target == "x86_64" else emulator_wrapper(self.libvirt.workdir, target)
        created = self.libvirt.create(name, xml(name, str(emulator)))
        assert created.ok, f"virsh create: {created.stderr}\n{self.libvirt.log.read_text()[-4000:]}"
        return name

    def start(
        self,
        *,
        maxvcpus: int = 4,
        current: int = 1,
        extra_args: tuple[str, ...] = (),
        devices: str = "",
        prefix: str = "vmd-e2e",
    ) -> str:
        """An x86 domain (harness.domain_xml)."""
        return self.create(
            prefix,
            lambda name, emulator: domain_xml(
                name, emulator, maxvcpus=maxvcpus, current=current, extra_args=extra_args, devices=devices
            ),
        )


@pytest.fixture
def domains(libvirt: Libvirt, emulator: Path) -> Iterator[Domain]:
    """Start domains with `domains.start()`; whatever is left is destroyed afterwards."""
    made = Domain(libvirt, emulator)
    yield made
    for name in made.names:
        libvirt.destroy_quietly(name)
