"""QEMU's JSON dialect, one implementation for the whole daemon: the stream parser that reads QMP
input (and the command line's JSON), the writer that produces QMP output, and -qmp-pretty's form."""
