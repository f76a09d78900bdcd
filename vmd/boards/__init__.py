"""The machine types vmd offers, one package per family (siblings), and how a command line
becomes a machine (configure).  Adding a board is adding a package here."""
