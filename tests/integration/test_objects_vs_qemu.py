"""-object and -machine memory-backend= refused as QEMU 7.2 refuses them: the same one line.

Both forms of -object are covered (QEMU's key=value parser and its JSON visitor word some errors
differently), and both stages: what QEMU checks while reading the option (the option is named)
and what it checks when it creates the object (it is not)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.peers import startup_error, vmd_command

pytestmark = pytest.mark.qemu

# A 1 MiB file, made by the fixture; named per process, as test runs of other checkouts may share /tmp.
SHORT = Path(f"/tmp/vmd-objects-1M-{os.getpid()}")

REFUSED = [
    ["-object", "foo,id=x"],
    ["-object", '{"qom-type":"foo","id":"x"}'],
    ["-object", "memory-backend-ram,id=m"],
    ["-object", "memory-backend-ram,id=m,size=1M,bogus=1"],
    ["-object", '{"qom-type":"memory-backend-ram","id":"m","size":1048576,"bogus":1}'],
    ["-object", '{"qom-type":"memory-backend-ram","id":"m","size":"1M"}'],
    ["-object", "memory-backend-ram,id=m,size=1M", "-object", "memory-backend-ram,id=m,size=1M"],
    ["-object", "memory-backend-file,id=m,size=1M"],
    ["-object", f"memory-backend-file,id=m,size=4M,mem-path={SHORT}"],
    ["-object", "memory-backend-file,id=m,size=4M,mem-path=/nonexistent/dir/x"],
    [
        "-object",
        '{"qom-type":"memory-backend-file","id":"m","size":1048576,"mem-path":"/tmp/x","share":"on"}',
    ],
    ["-object", "secret,id=s"],
    ["-object", "secret,id=s,file=/nonexistent/key"],
    ["-object", "secret,id=s,data=x,bogus=1"],
    ["-object", '{"qom-type":"secret","id":"s","data":5}'],
    ["-machine", "q35,memory-backend=pc.ram"],
    [
        "-machine",
        "q35,memory-backend=pc.ram",
        "-m",
        "128",
        "-object",
        "memory-backend-ram,id=pc.ram,size=64M",
    ],
]


@pytest.fixture(scope="module", autouse=True)
def short_backing_file() -> object:
    SHORT.write_bytes(b"\0" * (1 << 20))
    yield
    SHORT.unlink()


@pytest.mark.parametrize("args", REFUSED, ids=[" ".join(a)[:60] for a in REFUSED])
def test_refused_like_qemu(qemu: str, args: list[str]) -> None:
    assert startup_error([*vmd_command(), *args], "vmd") == startup_error([qemu, *args], "qemu-system-x86_64")
