"""QEMU 7.2's ppc64 target: the IBM pseries boards (sPAPR), their POWER CPU models and cores,
and CPU hotplug through PAPR dynamic-reconfiguration connectors."""
