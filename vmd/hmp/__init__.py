"""HMP, QEMU's human monitor, as `human-monitor-command` carries it: the command table
(vmd.hmp.table), QEMU 7.2's parser of a command line (vmd.hmp.parser) and its output formats
(vmd.hmp.text).

Knows no VM: vmd.handlers.hmp runs what the parser found, through the same calls as the QMP
commands, and formats the answers here.  Like vmd.cli, whose QemuOpts parser and listings it
reuses, nothing here imports the machine model.
"""
