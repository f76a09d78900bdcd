"""The s390x target: QEMU 7.2's s390-ccw-virtio boards, their CPU models (78, with features and
groups), add-only CPU hotplug through the SCLP, and the CPU model queries."""
