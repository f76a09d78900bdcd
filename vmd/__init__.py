"""vmd: a QMP-speaking virtualization daemon (`python -m vmd`, or the `vmd` command).

Importing the package loads nothing but its version: start-up time matters.
"""

from vmd.version import __version__

__all__ = ["__version__"]
