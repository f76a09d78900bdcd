"""The guest program: vmd's ISA assembler and the standard firmware every vCPU runs, with the
guest-RAM layout it shares with the guest model (online bitmap, per-CPU words)."""
