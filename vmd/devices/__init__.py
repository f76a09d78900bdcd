"""Devices the guest reaches through port I/O, emulated on the vCPU thread that touched them."""
