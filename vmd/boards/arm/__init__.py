"""The aarch64 target: QEMU 7.2's ARM `virt` boards, their CPU models, and vCPU hotplug with every
possible vCPU created and parked at boot (the ARMv8 vCPU hotplug RFC's model)."""
