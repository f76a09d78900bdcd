# shellcheck shell=bash
# Sourced by scripts/run and scripts/install-deps: the Python that vmd's virtual environments are
# made from, the apt packages that needs, and the stamps that say a venv is up to date.
#
# The Python is $VMD_PYTHON if set, else python3 on PATH (Debian's own or a pyenv one: vmd never
# pip-installs into it, so PEP 668's "externally managed" does not matter).  With no python3 at
# all, Debian's is installed.

say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

_apt_updated=""
# apt_install [--no-install-recommends] PACKAGE...: as root, or through sudo.
apt_install() {
    local sudo="" packages=("$@")
    [ "${packages[0]}" != --no-install-recommends ] || packages=("${packages[@]:1}")
    if ! command -v apt-get >/dev/null; then
        say "this needs ${packages[*]} (Debian's names): install them, then run this again"
        exit 1
    fi
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    if [ -z "$_apt_updated" ]; then
        say "updating apt's package lists"
        $sudo apt-get update -qq
        _apt_updated=1
    fi
    say "installing ${packages[*]} (apt)"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# pip_install VENV ARG...: pip in VENV, without the warning pip repeats for every package when the
# machine's pip configuration names an index location that does not exist.
pip_install() {
    local venv=$1
    shift
    # Unbuffered, line by line: pip's lines are the progress shown.
    PYTHONUNBUFFERED=1 "$venv/bin/python" -m pip install --disable-pip-version-check --no-input "$@" 2>&1 |
        { grep --line-buffered -v -e "is ignored: it is neither a file nor a directory" || true; } >&2
}

# The interpreter venvs are made from, as a path.
base_python() {
    local python=${VMD_PYTHON:-python3}
    if ! command -v "$python" >/dev/null; then
        if [ -n "${VMD_PYTHON:-}" ]; then
            say "VMD_PYTHON=$VMD_PYTHON: no such program"
            exit 1
        fi
        apt_install python3-venv python3-dev gcc
        python=/usr/bin/python3
    fi
    command -v "$python"
}

# What is missing to make a venv with PYTHON and compile vmd's C engine in it, as Debian packages.
# The compiler is found as setuptools will find it (native/vcpu_build.py does the same check).
_build_needs() {
    "$1" -I - <<'PY'
import importlib.util, os, shlex, shutil, sysconfig
from pathlib import Path

need = []
if importlib.util.find_spec("ensurepip") is None:
    need.append("python3-venv")
if not (Path(sysconfig.get_path("include")) / "Python.h").is_file():
    need.append("python3-dev")
if shutil.which(shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")[0]) is None:
    need.append("gcc")
print(*need)
PY
}

# require_build_tools PYTHON: apt-installs what _build_needs names; fails if that was not enough.
require_build_tools() {
    local need
    need=$(_build_needs "$1")
    [ -n "$need" ] || return 0
    # shellcheck disable=SC2086 # a list of package names
    apt_install $need
    need=$(_build_needs "$1")
    if [ -n "$need" ]; then
        say "$1 still lacks what Debian's $need provide (is it a Python built elsewhere?); set VMD_PYTHON to another python3"
        exit 1
    fi
}

# source_stamp PATH...: a hash of the contents of the files under PATHs that git tracks or would
# track (not ignored ones: no build output, no bytecode), or of all of their files outside git.
source_stamp() {
    {
        if git rev-parse --git-dir >/dev/null 2>&1; then
            git ls-files -z --cached --others --exclude-standard -- "$@"
        else
            find "$@" -type f ! -path '*/__pycache__/*' ! -name '*.so' ! -name '*.o' -print0 2>/dev/null | sort -z
        fi | xargs -0 -r sha256sum 2>/dev/null || true  # a tracked file deleted: its line goes
    } | sha256sum | cut -d' ' -f1
}

# python_identity PYTHON: changes when the interpreter a venv was made from is replaced.
python_identity() {
    local real
    real=$(readlink -f "$1")
    stat -L -c '%n %s %Y' "$real"
}

# venv_of PYTHON DIR: is DIR a working venv made from PYTHON as it is now?
venv_of() {
    [ -x "$2/bin/python" ] && [ "$(cat "$2/.vmd-python" 2>/dev/null)" = "$(python_identity "$1")" ]
}

# ensure_venv PYTHON DIR: DIR is a venv of PYTHON (made again if PYTHON changed since).  Call
# require_build_tools first: Debian's python3 makes venvs only with python3-venv.
ensure_venv() {
    ! venv_of "$1" "$2" || return 0
    local version
    version=$("$1" -c 'import platform; print(platform.python_version())')
    if ! "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        say "$1 is Python $version; vmd needs 3.11 or later: set VMD_PYTHON to one"
        exit 1
    fi
    say "creating the virtual environment $2 from $1 ($version)"
    rm -rf "$2"
    "$1" -m venv "$2"
    python_identity "$1" >"$2/.vmd-python"
}
