"""What a release ships: the sdist holds everything the build needs, the wheel built from that
sdist (as `python -m build` does it) installs into a fresh virtual environment and runs the daemon
there, with nothing of this checkout on its path; with its `testing` extra, the README's example
test runs there under pytest with vmd's plugin; and a build without a C compiler ends with one
paragraph that says what to install.

The builds get setuptools and cffi from the package index (build isolation), and the fresh venv
gets vmd's dependencies from it: both need the network, as a release build does.
"""

from __future__ import annotations

import email.message
import email.parser
import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.peers import BASE_ARGS, REPO, Peer, RawQmp, qmp_client, short_tmpdir
from vmd.version import __version__

pytestmark = pytest.mark.slow

DIST = "vmd_qmp"
TOP_LEVEL = ["LICENSE", "MANIFEST.in", "README.md", "pyproject.toml", "setup.py"]


@dataclass(frozen=True)
class Dists:
    sdist: Path
    wheel: Path


def _run(argv: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, f"{' '.join(argv)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """`python -m build`: the sdist from the checkout, then the wheel from the unpacked sdist."""
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)], REPO, timeout=600)
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Dists(sdist, wheel)


def test_the_sdist_holds_every_source_and_no_build_output(dists: Dists) -> None:
    root = f"{DIST}-{__version__}"
    with tarfile.open(dists.sdist) as sdist:
        names = {name.removeprefix(f"{root}/") for name in sdist.getnames()}
    tracked = _run(["git", "ls-files", "vmd", "native"], REPO, timeout=30).split()
    assert set(tracked) <= names, f"missing from the sdist: {sorted(set(tracked) - names)}"
    assert set(TOP_LEVEL) <= names
    assert "vmd/py.typed" in names
    assert not [name for name in names if name.endswith((".so", ".o", ".pyc")) or name == "vmd/_native.c"]


def every(headers: email.message.Message, name: str) -> list[str]:
    """The values of every `name` header (METADATA and WHEEL are RFC 822 headers); there must be one."""
    values = headers.get_all(name)
    assert values is not None, f"no {name} header"
    return values


def test_the_wheel_says_what_it_is(dists: Dists) -> None:
    with zipfile.ZipFile(dists.wheel) as wheel:
        names = set(wheel.namelist())
        info = f"{DIST}-{__version__}.dist-info"
        metadata = email.parser.Parser().parsestr(wheel.read(f"{info}/METADATA").decode())
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
        tags = email.parser.Parser().parsestr(wheel.read(f"{info}/WHEEL").decode()).get_all("Tag")
    assert metadata["Name"] == "vmd-qmp"
    assert metadata["Version"] == __version__
    assert metadata["License-Expression"] == "MIT"
    assert f"{info}/licenses/LICENSE" in names
    assert "Typing :: Typed" in every(metadata, "Classifier")
    # Only what the daemon needs: no pydantic, no test toolchain.
    runtime = sorted(req.split(">")[0] for req in every(metadata, "Requires-Dist") if "extra ==" not in req)
    assert runtime == ["cffi", "qemu.qmp", "uvloop"]
    assert "vmd = vmd.__main__:main" in entry_points
    assert "vmd-system-x86_64 = vmd.__main__:main" in entry_points
    assert "vmd-system-aarch64 = vmd.__main__:main_aarch64" in entry_points
    assert "[pytest11]\nvmd = vmd.testing.plugin\n" in entry_points
    testing = sorted(
        req.split(">")[0] for req in every(metadata, "Requires-Dist") if 'extra == "testing"' in req
    )
    assert testing == ["pytest", "pytest-asyncio"]
    assert {"vmd/py.typed", "vmd/_native.abi3.so", "vmd/qapi/compiled.py"} <= names
    # Built against the limited API: one wheel for CPython 3.11 and later.
    assert tags is not None
    assert [tag.rsplit("-", 1)[0] for tag in tags] == ["cp311-abi3"]


@pytest.fixture(scope="module")
def installed(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv of this interpreter's base Python with the wheel (and its dependencies) in it."""
    env = tmp_path_factory.mktemp("venv") / "venv"
    venv.create(env, with_pip=True)
    pip = [str(env / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    _run([*pip, str(dists.wheel)], env, timeout=600)
    return env


def test_the_installed_package_is_the_wheel_and_has_its_version(installed: Path) -> None:
    code = "import vmd, importlib.util as u; print(vmd.__version__, vmd.__file__, u.find_spec('pydantic'))"
    python = str(installed / "bin" / "python")
    version, path, pydantic = _run([python, "-I", "-c", code], installed, timeout=60).split()
    assert version == __version__
    assert Path(path).is_relative_to(installed)
    assert pydantic == "None"  # so the daemon below runs without it


def test_both_commands_are_vmd(installed: Path) -> None:
    vmd, system = (
        _run([str(installed / "bin" / name), "-version"], installed, timeout=60)
        for name in ("vmd", "vmd-system-x86_64")
    )
    assert vmd == system
    assert vmd.startswith(f"QEMU emulator version 7.2.0 (vmd {__version__})\n")


@pytest.fixture
def installed_daemon(installed: Path) -> Iterator[Callable[..., Peer]]:
    started: list[Peer] = []

    def start(*args: str) -> Peer:
        workdir = short_tmpdir()
        sock, pidfile, log = workdir / "m0.sock", workdir / "vmd.pid", workdir / "vmd.log"
        command = [str(installed / "bin" / "vmd"), "-D", str(log), *BASE_ARGS, *args, "-daemonize"]
        command += ["-pidfile", str(pidfile), "-qmp", f"unix:{sock},server=on,wait=off"]
        # Not from the checkout, and without its environment's PYTHONPATH: the wheel alone.
        environ = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
        _run(command, workdir, timeout=60, env=environ)
        peer = Peer("vmd", workdir, [str(sock)], int(pidfile.read_text()), log)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        if peer.alive():
            peer.stop()


async def test_the_installed_daemon_answers_and_plugs_a_vcpu(installed_daemon: Callable[..., Peer]) -> None:
    peer = installed_daemon("-M", "q35", "-smp", "1,maxcpus=4")
    async with qmp_client(peer.socket) as qmp:
        status = await qmp.execute("query-status")
        assert status == {"running": True, "singlestep": False, "status": "running"}
        schema = await qmp.execute("query-qmp-schema")
        assert isinstance(schema, list)
        assert any(entry.get("name") == "device_add" for entry in schema)
        slots = await qmp.execute("query-hotpluggable-cpus")
        assert isinstance(slots, list)
        free = next(slot for slot in slots if "qom-path" not in slot)
        await qmp.execute("device_add", {"driver": free["type"], "id": "cpu1", **free["props"]})
        cpus = await qmp.execute("query-cpus-fast")
        assert isinstance(cpus, list)
        assert len(cpus) == 2
    # quit over a raw connection: QMPClient reports the daemon's closing it as an error.
    raw = await RawQmp.connect(peer.socket, negotiate=True)
    await raw.send(b'{"execute": "quit"}')
    reply, events = await raw.recv_reply()
    assert reply == {"return": {}}
    assert events[-1]["event"] == "SHUTDOWN"
    assert await raw.at_eof()
    await raw.close()
    assert peer.wait_exit()
    assert "Traceback" not in peer.log.read_text()


def readme_example() -> str:
    """The test in the README's "Testing your software against vmd"."""
    section = (REPO / "README.md").read_text().split("## Testing your software against vmd", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.fixture(scope="module")
def installed_for_testing(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another fresh venv: the wheel with its `testing` extra (pytest, pytest-asyncio)."""
    env = tmp_path_factory.mktemp("venv-testing") / "venv"
    venv.create(env, with_pip=True)
    pip = [str(env / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    _run([*pip, f"{dists.wheel}[testing]"], env, timeout=600)
    return env


def test_the_readme_example_runs_under_pytest_with_the_installed_plugin(
    installed_for_testing: Path, tmp_path: Path
) -> None:
    (tmp_path / "test_example.py").write_text(readme_example())
    python = str(installed_for_testing / "bin" / "python")
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "PYTEST"))}
    out = _run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"], tmp_path, 300, environ
    )
    assert "1 passed" in out
    # the fixture came from the wheel's pytest11 entry point
    code = (
        "import importlib.metadata as m\n"
        "print([e.value for e in m.entry_points(group='pytest11', name='vmd')])"
    )
    assert _run([python, "-I", "-c", code], tmp_path, 60, environ).strip() == "['vmd.testing.plugin']"


def test_a_build_without_a_c_compiler_says_what_to_install(dists: Dists, tmp_path: Path) -> None:
    environ = {**os.environ, "CC": "/nonexistent/cc"}
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check"]
    done = subprocess.run(
        [*pip_wheel, "-w", str(tmp_path), str(dists.sdist)],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "error: vmd cannot be built: its vCPU engine is C code" in output
    assert "the build runs '/nonexistent/cc'" in output
    assert "apt-get install gcc python3-dev" in output
    assert "Traceback" not in output
    assert not list(tmp_path.glob("*.whl"))
