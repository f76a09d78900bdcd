"""Versions: vmd's own, and the QEMU release whose QMP behaviour vmd follows.

vmd reports itself to clients as QEMU 7.2.0 (libvirt requires at least 4.2.0 and
picks behaviour from the version and the schema); the `package` string says
what is really answering.

`__version__` is the one place vmd's version is written: setuptools reads it from
this file's text for the package metadata (pyproject.toml), so it must stay a literal.
"""

from __future__ import annotations

__version__ = "0.1.0"
VMD_VERSION = __version__
QEMU_COMPAT = (7, 2, 0)
PACKAGE = f"vmd {VMD_VERSION}"
