"""device_add generics: argument handling as QEMU 7.2 creates a device, property values, buses, and what a board lets one create."""
