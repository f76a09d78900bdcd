"""libvirt 9.0 live-migrates vmd domains between two libvirtds on this host (`virsh migrate
--live`, vmd the <emulator> on both sides): after `setvcpus 3 --live` the destination ends with the
same vCPUs in the same slots (libvirt plugs them into the `-incoming defer` emulator), whatever
order they were plugged in; a paused domain arrives paused with its RAM bit for bit; during a
slow migration `domjobinfo` reports the job, `setvcpus` gets libvirt's own lock timeout and
changes nothing, `domjobabort` leaves the source running as it was and tears the destination
down; libvirt refuses a migration to itself."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.busy_guests import vmd_busy_bios
from tests.libvirt.conftest import Domain
from tests.libvirt.harness import Libvirt, PeerLibvirt, wait_until

pytestmark = pytest.mark.libvirt

TIMEOUT = 20.0
# How long virsh migrate may take: the slow ones end by an abort or a raised bandwidth.
MIGRATE_TIMEOUT = 120.0
# libvirt waits this long for a domain's job lock before it gives up (`cannot acquire state
# change lock`); virsh must be given longer.
LIBVIRT_JOB_WAIT = 30.0


def _ram(libvirt: Libvirt, name: str) -> dict[str, object]:
    return libvirt.monitor(name, "__com.vmd_query-guest-ram")  # type: ignore[no-any-return]


def _plugged(libvirt: Libvirt, name: str) -> dict[int, str]:
    slots = libvirt.monitor(name, "query-hotpluggable-cpus")
    return {slot["props"]["socket-id"]: slot["qom-path"] for slot in slots if "qom-path" in slot}


def _sockets_in_order(libvirt: Libvirt, name: str) -> list[int]:
    """The vCPUs' sockets in query-cpus-fast's order (cpu-index, i.e. creation)."""
    return [cpu["props"]["socket-id"] for cpu in libvirt.monitor(name, "query-cpus-fast")]


def _state(libvirt: Libvirt, name: str) -> str:
    return libvirt.virsh("domstate", "--reason", name).stdout.strip()


def _job(libvirt: Libvirt, name: str, *options: str) -> dict[str, str]:
    out = libvirt.virsh("domjobinfo", name, *options).stdout
    pairs = (line.split(":", 1) for line in out.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


THREE_VCPUS = {
    0: "/machine/unattached/device[0]",
    1: "/machine/peripheral/vcpu1",
    2: "/machine/peripheral/vcpu2",
}


@dataclass
class Migration:
    """virsh migrate --live from the host's libvirtd to the peer, in the background."""

    process: subprocess.Popen[str]

    def wait(self) -> tuple[int, str]:
        try:
            _, err = self.process.communicate(timeout=MIGRATE_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise
        return self.process.returncode, err


def _migrate_argv(source: Libvirt, peer: PeerLibvirt, name: str, *options: str) -> list[str]:
    # The peer's hostname is this host's: the migration URI names the loopback, as the spec's
    # recipe does.
    return ["virsh", "-c", source.uri, "migrate", "--live", *options, name, peer.uri,
            "--migrateuri", "tcp://127.0.0.1"]  # fmt: skip


def _migrate(source: Libvirt, peer: PeerLibvirt, name: str, *options: str) -> Migration:
    argv = _migrate_argv(source, peer, name, *options)
    return Migration(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))


@pytest.fixture
def arrived(peer: PeerLibvirt) -> Iterator[list[str]]:
    """Names of domains that may have reached the peer: destroyed there afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        peer.destroy_quietly(name)


def _slow_migration(
    libvirt: Libvirt, peer: PeerLibvirt, domains: Domain, workdir: Path
) -> tuple[str, Migration]:
    """A 3-vCPU domain whose guest rewrites 512 KiB over and over, migrating at 1 MiB/s: with
    the 300 ms downtime limit it cannot converge, so the job lasts until it is aborted or its
    bandwidth raised.  Returns once the source's job is under way."""
    name = domains.start(current=3, extra_args=("-bios", str(vmd_busy_bios(workdir))), prefix="vmd-lm")
    migration = _migrate(libvirt, peer, name, "--bandwidth", "1")

    def under_way() -> bool:
        if migration.process.poll() is not None:
            raise AssertionError(f"virsh migrate ended early: {migration.process.communicate()}")
        # Until `migrate` reached `active` the job has no memory figures yet.
        return "Memory total" in libvirt.virsh("domjobinfo", name, check=False).stdout

    wait_until(under_way, TIMEOUT, "the migration job", 0.1)
    return name, migration


def test_live_migration_after_setvcpus(
    libvirt: Libvirt, peer: PeerLibvirt, domains: Domain, arrived: list[str]
) -> None:
    name = domains.start(extra_args=("-vmd-guest", "load=busy"), prefix="vmd-lm")
    arrived.append(name)
    libvirt.virsh("setvcpus", name, "3", "--live")
    wait_until(lambda: libvirt.guest_online(name) == "0-2", TIMEOUT, "vCPUs online")
    before = int(_ram(libvirt, name)["guest-counter"])  # type: ignore[call-overload]
    code, err = _migrate(libvirt, peer, name).wait()
    assert code == 0, err
    assert not libvirt.exists(name)  # a transient domain leaves the source
    assert _state(peer, name) == "running (migrated)"
    assert peer.vcpucount_live(name) == 3
    assert _plugged(peer, name) == THREE_VCPUS
    assert peer.guest_online(name) == "0-2"  # the guest's own view came over
    # The destination keeps the job's figures (the source's query-migrate, via libvirt's cookie).
    completed = _job(peer, name, "--completed")
    assert (completed["Job type"], completed["Operation"]) == ("Completed", "Incoming migration")
    assert completed["Memory total"] == "128.000 MiB"
    wait_until(
        lambda: int(_ram(peer, name)["guest-counter"]) > before,  # type: ignore[call-overload]
        TIMEOUT,
        "the migrated guest goes on",
    )
    # The destination's libvirt owns it now: it hot-plugs and unplugs as before.
    peer.virsh("setvcpus", name, "4", "--live")
    wait_until(lambda: peer.guest_online(name) == "0-3", TIMEOUT, "vCPU 3 online")
    peer.virsh("setvcpus", name, "2", "--live")
    assert peer.vcpucount_live(name) == 2


def test_plug_order_does_not_matter(
    libvirt: Libvirt, peer: PeerLibvirt, domains: Domain, arrived: list[str]
) -> None:
    """vCPU 3 plugged before vCPU 1: libvirt plugs them into the destination in that order (the
    XML's `order`), and each lands in its own slot."""
    name = domains.start(prefix="vmd-lm")
    arrived.append(name)
    libvirt.virsh("setvcpu", name, "3", "--enable", "--live")
    libvirt.virsh("setvcpu", name, "1", "--enable", "--live")
    wait_until(lambda: libvirt.guest_online(name) == "0-1,3", TIMEOUT, "vCPUs 1 and 3 online")
    source_order = _sockets_in_order(libvirt, name)
    assert source_order == [0, 3, 1]  # creation order
    code, err = _migrate(libvirt, peer, name).wait()
    assert code == 0, err
    assert _plugged(peer, name) == {
        0: "/machine/unattached/device[0]",
        1: "/machine/peripheral/vcpu1",
        3: "/machine/peripheral/vcpu3",
    }
    assert _sockets_in_order(peer, name) == source_order
    assert peer.guest_online(name) == "0-1,3"


def test_paused_domain_arrives_paused_with_its_ram(
    libvirt: Libvirt, peer: PeerLibvirt, domains: Domain, arrived: list[str]
) -> None:
    name = domains.start(current=2, extra_args=("-vmd-guest", "load=busy"), prefix="vmd-lm")
    arrived.append(name)
    wait_until(lambda: int(_ram(libvirt, name)["guest-counter"]) > 0, TIMEOUT, "the guest works")  # type: ignore[call-overload]
    libvirt.virsh("suspend", name)
    before = _ram(libvirt, name)
    code, err = _migrate(libvirt, peer, name).wait()
    assert code == 0, err
    assert _state(peer, name) == "paused (user)"  # libvirt's reason for a domain that came paused
    assert _ram(peer, name) == before  # RAM checksum and the guest's counter, bit for bit
    assert peer.vcpucount_live(name) == 2
    peer.virsh("resume", name)
    wait_until(
        lambda: int(_ram(peer, name)["guest-counter"]) > int(before["guest-counter"]),  # type: ignore[call-overload]
        TIMEOUT,
        "the resumed guest goes on",
    )


def test_domjobinfo_then_domjobabort(
    libvirt: Libvirt, peer: PeerLibvirt, domains: Domain, arrived: list[str]
) -> None:
    name, migration = _slow_migration(libvirt, peer, domains, libvirt.workdir)
    arrived.append(name)
    try:
        job = _job(libvirt, name)
        assert job["Job type"] == "Unbounded"
        assert job["Operation"] == "Outgoing migration"
        assert job["Memory total"] == "128.000 MiB"
        assert job["Page size"] == "4096         bytes"
        # The destination waits paused for the stream; libvirt keeps its statistics on the source.
        assert _state(peer, name) == "paused (migrating)"
        refused = peer.virsh("domjobinfo", name, check=False)
        assert "migration statistics are available only on the source host" in refused.stderr
        # The job goes on: the guest keeps dirtying its pages faster than 1 MiB/s drains them.
        passes = int(job["Iteration"])
        wait_until(lambda: int(_job(libvirt, name)["Iteration"]) > passes, TIMEOUT, "another pass")
    finally:
        aborted = libvirt.virsh("domjobabort", name)
    assert aborted.ok
    code, err = migration.wait()
    assert code != 0
    assert "error: operation aborted: job 'migration out' canceled by client" in err
    # The source goes on, whole: running, its three vCPUs in their slots, the guest writing.
    assert _state(libvirt, name) == "running (booted)"  # libvirt never paused it
    assert libvirt.monitor(name, "query-status") == {
        "status": "running",
        "singlestep": False,
        "running": True,
    }
    assert libvirt.monitor(name, "query-migrate") == {"status": "cancelled"}
    assert libvirt.vcpucount_live(name) == 3
    assert _plugged(libvirt, name) == THREE_VCPUS
    digest = _ram(libvirt, name)["sha256"]
    wait_until(lambda: _ram(libvirt, name)["sha256"] != digest, TIMEOUT, "the guest to write on")
    # The destination's emulator is gone with its domain.
    wait_until(lambda: not peer.exists(name), TIMEOUT, "the destination torn down", 0.1)


def test_setvcpus_during_migration(
    libvirt: Libvirt, peer: PeerLibvirt, domains: Domain, arrived: list[str]
) -> None:
    name, migration = _slow_migration(libvirt, peer, domains, libvirt.workdir)
    arrived.append(name)
    try:
        # libvirt holds the source's job lock for the migration: setvcpus waits for it, gives up,
        # and never reaches vmd.
        refused = libvirt.virsh("setvcpus", name, "2", "--live", check=False, timeout=LIBVIRT_JOB_WAIT + 30)
        assert not refused.ok
        assert (
            "error: Timed out during operation: cannot acquire state change lock "
            "(held by monitor=remoteDispatchDomainMigratePerform3Params)"
        ) in refused.stderr
        assert _job(libvirt, name)["Operation"] == "Outgoing migration"  # the job is untouched
        # On the destination setvcpus waits for the incoming job and then plugs.
        late = subprocess.Popen(
            ["virsh", "-c", peer.uri, "setvcpus", name, "4", "--live"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # A bandwidth the guest cannot outpace lets the migration converge.
        libvirt.virsh("migrate-setspeed", name, "1000")
        code, err = migration.wait()
    except BaseException:
        libvirt.virsh("domjobabort", name, check=False)
        raise
    assert code == 0, err
    _, late_err = late.communicate(timeout=LIBVIRT_JOB_WAIT + 30)
    assert late.returncode == 0, late_err
    assert _state(peer, name) == "running (migrated)"
    assert peer.vcpucount_live(name) == 4
    assert _plugged(peer, name) == THREE_VCPUS | {3: "/machine/peripheral/vcpu3"}


def test_migration_to_the_same_host_is_refused(libvirt: Libvirt, domains: Domain) -> None:
    name = domains.start(prefix="vmd-lm")
    refused = libvirt.virsh("migrate", "--live", name, libvirt.uri, check=False)
    assert not refused.ok
    assert "error: internal error: Attempt to migrate guest to the same host" in refused.stderr
    assert _state(libvirt, name) == "running (booted)"
    assert libvirt.monitor(name, "query-migrate") == {}  # vmd never saw a migration
