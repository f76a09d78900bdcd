"""The x86_64 target: QEMU 7.2's pc (i440FX) and q35 boards, their CPUs, APIC IDs and buses."""
