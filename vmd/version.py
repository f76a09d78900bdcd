"""Versions: vmd's own, and the QEMU release whose QMP behaviour vmd follows.

vmd reports itself to clients as QEMU 7.2.0 (libvirt requires at least 4.2.0 and
picks behaviour from the version and the schema); the `package` string says
what is really answering.
"""

from __future__ import annotations

VMD_VERSION = "0.1.0"
QEMU_COMPAT = (7, 2, 0)
PACKAGE = f"vmd {VMD_VERSION}"
