"""The reliability suite: bad input, many and misbehaving clients, plug/unplug soaks, signals.

The tests here are the short mode (small sizes, in every test run); `scripts/stress.py` runs the
same drivers (drivers.py) long, against vmd and QEMU 7.2, for the README's figures."""
