"""The qdev bus trees of QEMU 7.2's pc (i440FX) and q35 boards, as `bus=` paths search them.

From `info qtree` of qemu-system-x86_64 7.2 with -nodefaults: the same for every version of each
family; devices in bus order, child buses in QEMU's (reverse creation) order.
"""

from __future__ import annotations

from vmd.machine.qdev.bus import QdevBus, QdevDevice


def _leaves(*types: str) -> tuple[QdevDevice, ...]:
    return tuple(QdevDevice(t) for t in types)


_EEPROMS = _leaves(*["smbus-eeprom"] * 8)
_ISA_DEVICES = ("port92", "vmmouse", "vmport", "i8042")
_ISA_TIMERS = _leaves("isa-pcspk", "isa-pit", "mc146818rtc", "isa-i8259", "isa-i8259", "i8257", "i8257")
_SYSTEM_FIRST = _leaves("ps2-mouse", "ps2-kbd", "hpet", "ioapic")
_SYSTEM_LAST = _leaves("fw_cfg_io", "kvmvapic")

Q35_BUSES = QdevBus(
    "main-system-bus",
    "System",
    (
        *_SYSTEM_FIRST,
        QdevDevice(
            "q35-pcihost",
            (
                QdevBus(
                    "pcie.0",
                    "PCIE",
                    (
                        QdevDevice("ICH9-SMB", (QdevBus("i2c", "i2c-bus", _EEPROMS),)),
                        QdevDevice(
                            "ich9-ahci",
                            tuple(QdevBus(f"ide.{n}", "IDE") for n in range(5, -1, -1)),
                            alias="ahci",
                        ),
                        QdevDevice(
                            "ICH9-LPC", (QdevBus("isa.0", "ISA", (*_leaves(*_ISA_DEVICES), *_ISA_TIMERS)),)
                        ),
                        QdevDevice("mch"),
                    ),
                ),
            ),
        ),
        *_SYSTEM_LAST,
    ),
)
I440FX_BUSES = QdevBus(
    "main-system-bus",
    "System",
    (
        *_SYSTEM_FIRST,
        QdevDevice(
            "i440FX-pcihost",
            (
                QdevBus(
                    "pci.0",
                    "PCI",
                    (
                        QdevDevice("PIIX4_PM", (QdevBus("i2c", "i2c-bus", _EEPROMS),)),
                        QdevDevice("piix3-ide", (QdevBus("ide.1", "IDE"), QdevBus("ide.0", "IDE"))),
                        QdevDevice(
                            "PIIX3",
                            (
                                QdevBus(
                                    "isa.0",
                                    "ISA",
                                    (
                                        *_leaves(*_ISA_DEVICES),
                                        QdevDevice("isa-fdc", (QdevBus("floppy-bus.0", "floppy-bus"),)),
                                        *_ISA_TIMERS,
                                    ),
                                ),
                            ),
                        ),
                        QdevDevice("i440FX"),
                    ),
                ),
            ),
        ),
        *_SYSTEM_LAST,
    ),
)
