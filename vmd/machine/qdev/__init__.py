"""device_add generics: arguments as QEMU 7.2 creates a device, property values, buses, and
what a board lets device_add create."""
