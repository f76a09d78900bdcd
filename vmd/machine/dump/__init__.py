"""Guest memory dumps (`dump-guest-memory`): the ELF core layout and the dump job."""
