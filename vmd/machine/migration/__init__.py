"""Live migration, vmd to vmd: QEMU 7.2's commands, states and events over vmd's own stream.

* `settings`: the capabilities and parameters (QEMU 7.2's names; each one honoured or refused);
* `uri`: what `migrate` and `migrate-incoming` take, parsed with QEMU's errors;
* `channel`: the byte channel (socket, pipe or file) read and written without blocking the loop;
* `stream`: the stream's records and its versioned header, checked by the target first;
* `state`: the machine's state at switchover (vCPU contexts by slot, devices, guest model);
* `outgoing` / `incoming`: the two sides' jobs;
* `manager`: what the VM holds: the job, its status and statistics, the checks of the commands.
"""
