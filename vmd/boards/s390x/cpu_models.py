"""QEMU 7.2's s390x CPU models: the 78 models, their features and feature groups, as
qemu-system-s390x 7.2 (Debian 1:7.2+dfsg-7+deb12u18+b3, TCG) has them.

The data below was captured from that binary by a throw-away script: `-cpu help` gave the
models' order and descriptions and the features and groups in QEMU's bit order;
`query-cpu-model-expansion` (full) of every model and of its `-base` on every machine version
gave the base and default feature sets, one feature at a time the full set (a feature outside it
is refused: "Feature 'x' is not available for CPU model 'y'"), and a model that has a whole
group (or, for esort, every feature turned on) each group's members; the `qemu` and `max`
models of each machine version; query-cpu-definitions' order; and, one feature turned off at a
time on a model with every other one on, which features warn "'x' requires 'y'.".  The CPU
types, generations and GA levels are QEMU's S390CPUDef table (target/s390x/cpu_models.c).
Capture again rather than edit by hand.

Why ~900 lines: the data of 312 features, 17 groups and 38 CPU definitions (each with three
feature sets); the code is at the end.

A feature set is an int, bit N being QEMU's feature N (FEATURES' order).  What depends on the
machine type: the `qemu` model (each version pins its own, s390_set_qemu_cpu_model) and, on
types before 4.1, the default features of the newer models (s390_cpudef_featoff).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

from vmd.machine.cpu_catalog import CpuCatalog, CpuModel
from vmd.records import dataclass

# fmt: off
# Every feature, in QEMU's bit order (S390Feat): name and -cpu help description.
FEATURES: tuple[tuple[str, str], ...] = (
    ("esan3", "Instructions marked as n3"),
    ("zarch", "z/Architecture architectural mode"),
    ("dateh", "DAT-enhancement facility"),
    ("idtes", "IDTE selective TLB segment-table clearing"),
    ("idter", "IDTE selective TLB region-table clearing"),
    ("asnlxr", "ASN-and-LX reuse facility"),
    ("stfle", "Store-facility-list-extended facility"),
    ("edat", "Enhanced-DAT facility"),
    ("srs", "Sense-running-status facility"),
    ("csske", "Conditional-SSKE facility"),
    ("ctop", "Configuration-topology facility"),
    ("apqci", "Query AP Configuration Information facility"),
    ("ipter", "IPTE-range facility"),
    ("nonqks", "Nonquiescing key-setting facility"),
    ("apft", "AP Facilities Test facility"),
    ("etf2", "Extended-translation facility 2"),
    ("msa-base", "Message-security-assist facility (excluding subfunctions)"),
    ("ldisp", "Long-displacement facility"),
    ("ldisphp", "Long-displacement facility has high performance"),
    ("hfpm", "HFP-multiply-add/subtract facility"),
    ("eimm", "Extended-immediate facility"),
    ("etf3", "Extended-translation facility 3"),
    ("hfpue", "HFP-unnormalized-extension facility"),
    ("etf2eh", "ETF2-enhancement facility"),
    ("stckf", "Store-clock-fast facility"),
    ("parseh", "Parsing-enhancement facility"),
    ("mvcos", "Move-with-optional-specification facility"),
    ("tods-base", "TOD-clock-steering facility (excluding subfunctions)"),
    ("etf3eh", "ETF3-enhancement facility"),
    ("ectg", "Extract-CPU-time facility"),
    ("csst", "Compare-and-swap-and-store facility"),
    ("csst2", "Compare-and-swap-and-store facility 2"),
    ("ginste", "General-instructions-extension facility"),
    ("exrl", "Execute-extensions facility"),
    ("emon", "Enhanced-monitor facility"),
    ("fpe", "Floating-point extension facility"),
    ("opc", "Order Preserving Compression facility"),
    ("sprogp", "Set-program-parameters facility"),
    ("fpseh", "Floating-point-support-enhancement facilities"),
    ("dfp", "DFP (decimal-floating-point) facility"),
    ("dfphp", "DFP (decimal-floating-point) facility has high performance"),
    ("pfpo", "PFPO instruction"),
    ("stfle45", "Various facilities introduced with z196"),
    ("cmpsceh", "CMPSC-enhancement facility"),
    ("dfpzc", "Decimal-floating-point zoned-conversion facility"),
    ("stfle49", "Various facilities introduced with zEC12"),
    ("cte", "Constrained transactional-execution facility"),
    ("ltlbc", "Local-TLB-clearing facility"),
    ("iacc2", "Interlocked-access facility 2"),
    ("stfle53", "Various facilities introduced with z13"),
    ("eec", "Entropy encoding compression facility"),
    ("msa5-base", "Message-security-assist-extension-5 facility (excluding subfunctions)"),
    ("minste2", "Miscellaneous-instruction-extensions facility 2"),
    ("sema", "Semaphore-assist facility"),
    ("tsi", "Time-slice Instrumentation facility"),
    ("minste3", "Miscellaneous-Instruction-Extensions Facility 3"),
    ("ri", "CPU runtime-instrumentation facility"),
    ("apqi", "AP-Queue interruption facility"),
    ("zpci", "z/PCI facility"),
    ("aen", "General-purpose-adapter-event-notification facility"),
    ("ais", "General-purpose-adapter-interruption-suppression facility"),
    ("te", "Transactional-execution facility"),
    ("sthyi", "Store-hypervisor-information facility"),
    ("aefsi", "Access-exception-fetch/store-indication facility"),
    ("msa3-base", "Message-security-assist-extension-3 facility (excluding subfunctions)"),
    ("msa4-base", "Message-security-assist-extension-4 facility (excluding subfunctions)"),
    ("edat2", "Enhanced-DAT facility 2"),
    ("dfppc", "Decimal-floating-point packed-conversion facility"),
    ("ppa15", "PPA15 is installed"),
    ("bpb", "Branch prediction blocking"),
    ("vx", "Vector facility"),
    ("iep", "Instruction-execution-protection facility"),
    ("sea_esop2", "Side-effect-access facility and Enhanced-suppression-on-protection facility 2"),
    ("gs", "Guarded-storage facility"),
    ("vxpd", "Vector packed decimal facility"),
    ("vxeh", "Vector enhancements facility"),
    ("mepoch", "Multiple-epoch facility"),
    ("els", "Extended-length SCCB facility"),
    ("tpei", "Test-pending-external-interruption facility"),
    ("irbm", "Insert-reference-bits-multiple facility"),
    ("msa8-base", "Message-security-assist-extension-8 facility (excluding subfunctions)"),
    ("cmmnt", "CMM: ESSA-enhancement (no translate) facility"),
    ("vxeh2", "Vector Enhancements facility 2"),
    ("esort-base", "Enhanced-sort facility (excluding subfunctions)"),
    ("deflate-base", "Deflate-conversion facility (excluding subfunctions)"),
    ("vxpdeh", "Vector-Packed-Decimal-Enhancement Facility"),
    ("msa9-base", "Message-security-assist-extension-9 facility (excluding subfunctions)"),
    ("etoken", "Etoken facility"),
    ("unpack", "Unpack facility"),
    ("nnpa", "NNPA facility"),
    ("vxpdeh2", "Vector-Packed-Decimal-Enhancement facility 2"),
    ("beareh", "BEAR-enhancement facility"),
    ("rdp", "Reset-DAT-protection facility"),
    ("pai", "Processor-Activity-Instrumentation facility"),
    ("paie", "Processor-Activity-Instrumentation extension-1"),
    ("gsls", "SIE: Guest-storage-limit-suppression facility"),
    ("esop", "Enhanced-suppression-on-protection facility"),
    ("hpma2", "Host page management assist 2 Facility"),
    ("kss", "SIE: Keyless-subset facility"),
    ("64bscao", "SIE: 64-bit-SCAO facility"),
    ("cmma", "SIE: Collaborative-memory-management assist"),
    ("pfmfi", "SIE: PFMF interpretation facility"),
    ("ibs", "SIE: Interlock-and-broadcast-suppression facility"),
    ("diag318", "Control program name and version codes"),
    ("sief2", "SIE: interception format 2 (Virtual SIE)"),
    ("skey", "SIE: Storage-key facility"),
    ("gpereh", "SIE: Guest-PER enhancement facility"),
    ("siif", "SIE: Shared IPTE-interlock facility"),
    ("sigpif", "SIE: SIGP interpretation facility"),
    ("ib", "SIE: Intervention bypass facility"),
    ("cei", "SIE: Conditional-external-interception facility"),
    ("dateh2", "DAT-enhancement facility 2"),
    ("cmm", "Collaborative-memory-management facility"),
    ("ap", "AP instructions installed"),
    ("plo-cl", "PLO Compare and load (32 bit in general registers)"),
    ("plo-clg", "PLO Compare and load (64 bit in parameter list)"),
    ("plo-clgr", "PLO Compare and load (32 bit in general registers)"),
    ("plo-clx", "PLO Compare and load (128 bit in parameter list)"),
    ("plo-cs", "PLO Compare and swap (32 bit in general registers)"),
    ("plo-csg", "PLO Compare and swap (64 bit in parameter list)"),
    ("plo-csgr", "PLO Compare and swap (32 bit in general registers)"),
    ("plo-csx", "PLO Compare and swap (128 bit in parameter list)"),
    ("plo-dcs", "PLO Double compare and swap (32 bit in general registers)"),
    ("plo-dcsg", "PLO Double compare and swap (64 bit in parameter list)"),
    ("plo-dcsgr", "PLO Double compare and swap (32 bit in general registers)"),
    ("plo-dcsx", "PLO Double compare and swap (128 bit in parameter list)"),
    ("plo-csst", "PLO Compare and swap and store (32 bit in general registers)"),
    ("plo-csstg", "PLO Compare and swap and store (64 bit in parameter list)"),
    ("plo-csstgr", "PLO Compare and swap and store (32 bit in general registers)"),
    ("plo-csstx", "PLO Compare and swap and store (128 bit in parameter list)"),
    ("plo-csdst", "PLO Compare and swap and double store (32 bit in general registers)"),
    ("plo-csdstg", "PLO Compare and swap and double store (64 bit in parameter list)"),
    ("plo-csdstgr", "PLO Compare and swap and double store (32 bit in general registers)"),
    ("plo-csdstx", "PLO Compare and swap and double store (128 bit in parameter list)"),
    ("plo-cstst", "PLO Compare and swap and triple store (32 bit in general registers)"),
    ("plo-cststg", "PLO Compare and swap and triple store (64 bit in parameter list)"),
    ("plo-cststgr", "PLO Compare and swap and triple store (32 bit in general registers)"),
    ("plo-cststx", "PLO Compare and swap and triple store (128 bit in parameter list)"),
    ("ptff-qto", "PTFF Query TOD Offset"),
    ("ptff-qsi", "PTFF Query Steering Information"),
    ("ptff-qpc", "PTFF Query Physical Clock"),
    ("ptff-qui", "PTFF Query UTC Information"),
    ("ptff-qtou", "PTFF Query TOD Offset User"),
    ("ptff-qsie", "PTFF Query Steering Information Extended"),
    ("ptff-qtoue", "PTFF Query TOD Offset User Extended"),
    ("ptff-sto", "PTFF Set TOD Offset"),
    ("ptff-stou", "PTFF Set TOD Offset User"),
    ("ptff-stoe", "PTFF Set TOD Offset Extended"),
    ("ptff-stoue", "PTFF Set TOD Offset User Extended"),
    ("kmac-dea", "KMAC DEA"),
    ("kmac-tdea-128", "KMAC TDEA-128"),
    ("kmac-tdea-192", "KMAC TDEA-192"),
    ("kmac-edea", "KMAC Encrypted-DEA"),
    ("kmac-etdea-128", "KMAC Encrypted-TDEA-128"),
    ("kmac-etdea-192", "KMAC Encrypted-TDEA-192"),
    ("kmac-aes-128", "KMAC AES-128"),
    ("kmac-aes-192", "KMAC AES-192"),
    ("kmac-aes-256", "KMAC AES-256"),
    ("kmac-eaes-128", "KMAC Encrypted-AES-128"),
    ("kmac-eaes-192", "KMAC Encrypted-AES-192"),
    ("kmac-eaes-256", "KMAC Encrypted-AES-256"),
    ("kmc-dea", "KMC DEA"),
    ("kmc-tdea-128", "KMC TDEA-128"),
    ("kmc-tdea-192", "KMC TDEA-192"),
    ("kmc-edea", "KMC Encrypted-DEA"),
    ("kmc-etdea-128", "KMC Encrypted-TDEA-128"),
    ("kmc-etdea-192", "KMC Encrypted-TDEA-192"),
    ("kmc-aes-128", "KMC AES-128"),
    ("kmc-aes-192", "KMC AES-192"),
    ("kmc-aes-256", "KMC AES-256"),
    ("kmc-eaes-128", "KMC Encrypted-AES-128"),
    ("kmc-eaes-192", "KMC Encrypted-AES-192"),
    ("kmc-eaes-256", "KMC Encrypted-AES-256"),
    ("kmc-prng", "KMC PRNG"),
    ("km-dea", "KM DEA"),
    ("km-tdea-128", "KM TDEA-128"),
    ("km-tdea-192", "KM TDEA-192"),
    ("km-edea", "KM Encrypted-DEA"),
    ("km-etdea-128", "KM Encrypted-TDEA-128"),
    ("km-etdea-192", "KM Encrypted-TDEA-192"),
    ("km-aes-128", "KM AES-128"),
    ("km-aes-192", "KM AES-192"),
    ("km-aes-256", "KM AES-256"),
    ("km-eaes-128", "KM Encrypted-AES-128"),
    ("km-eaes-192", "KM Encrypted-AES-192"),
    ("km-eaes-256", "KM Encrypted-AES-256"),
    ("km-xts-aes-128", "KM XTS-AES-128"),
    ("km-xts-aes-256", "KM XTS-AES-256"),
    ("km-xts-eaes-128", "KM XTS-Encrypted-AES-128"),
    ("km-xts-eaes-256", "KM XTS-Encrypted-AES-256"),
    ("kimd-sha-1", "KIMD SHA-1"),
    ("kimd-sha-256", "KIMD SHA-256"),
    ("kimd-sha-512", "KIMD SHA-512"),
    ("kimd-sha3-224", "KIMD SHA3-224"),
    ("kimd-sha3-256", "KIMD SHA3-256"),
    ("kimd-sha3-384", "KIMD SHA3-384"),
    ("kimd-sha3-512", "KIMD SHA3-512"),
    ("kimd-shake-128", "KIMD SHAKE-128"),
    ("kimd-shake-256", "KIMD SHAKE-256"),
    ("kimd-ghash", "KIMD GHASH"),
    ("klmd-sha-1", "KLMD SHA-1"),
    ("klmd-sha-256", "KLMD SHA-256"),
    ("klmd-sha-512", "KLMD SHA-512"),
    ("klmd-sha3-224", "KLMD SHA3-224"),
    ("klmd-sha3-256", "KLMD SHA3-256"),
    ("klmd-sha3-384", "KLMD SHA3-384"),
    ("klmd-sha3-512", "KLMD SHA3-512"),
    ("klmd-shake-128", "KLMD SHAKE-128"),
    ("klmd-shake-256", "KLMD SHAKE-256"),
    ("pckmo-edea", "PCKMO Encrypted-DEA-Key"),
    ("pckmo-etdea-128", "PCKMO Encrypted-TDEA-128-Key"),
    ("pckmo-etdea-192", "PCKMO Encrypted-TDEA-192-Key"),
    ("pckmo-aes-128", "PCKMO Encrypted-AES-128-Key"),
    ("pckmo-aes-192", "PCKMO Encrypted-AES-192-Key"),
    ("pckmo-aes-256", "PCKMO Encrypted-AES-256-Key"),
    ("pckmo-ecc-p256", "PCKMO Encrypt-ECC-P256-Key"),
    ("pckmo-ecc-p384", "PCKMO Encrypt-ECC-P384-Key"),
    ("pckmo-ecc-p521", "PCKMO Encrypt-ECC-P521-Key"),
    ("pckmo-ecc-ed25519", "PCKMO Encrypt-ECC-Ed25519-Key"),
    ("pckmo-ecc-ed448", "PCKMO Encrypt-ECC-Ed448-Key"),
    ("kmctr-dea", "KMCTR DEA"),
    ("kmctr-tdea-128", "KMCTR TDEA-128"),
    ("kmctr-tdea-192", "KMCTR TDEA-192"),
    ("kmctr-edea", "KMCTR Encrypted-DEA"),
    ("kmctr-etdea-128", "KMCTR Encrypted-TDEA-128"),
    ("kmctr-etdea-192", "KMCTR Encrypted-TDEA-192"),
    ("kmctr-aes-128", "KMCTR AES-128"),
    ("kmctr-aes-192", "KMCTR AES-192"),
    ("kmctr-aes-256", "KMCTR AES-256"),
    ("kmctr-eaes-128", "KMCTR Encrypted-AES-128"),
    ("kmctr-eaes-192", "KMCTR Encrypted-AES-192"),
    ("kmctr-eaes-256", "KMCTR Encrypted-AES-256"),
    ("kmf-dea", "KMF DEA"),
    ("kmf-tdea-128", "KMF TDEA-128"),
    ("kmf-tdea-192", "KMF TDEA-192"),
    ("kmf-edea", "KMF Encrypted-DEA"),
    ("kmf-etdea-128", "KMF Encrypted-TDEA-128"),
    ("kmf-etdea-192", "KMF Encrypted-TDEA-192"),
    ("kmf-aes-128", "KMF AES-128"),
    ("kmf-aes-192", "KMF AES-192"),
    ("kmf-aes-256", "KMF AES-256"),
    ("kmf-eaes-128", "KMF Encrypted-AES-128"),
    ("kmf-eaes-192", "KMF Encrypted-AES-192"),
    ("kmf-eaes-256", "KMF Encrypted-AES-256"),
    ("kmo-dea", "KMO DEA"),
    ("kmo-tdea-128", "KMO TDEA-128"),
    ("kmo-tdea-192", "KMO TDEA-192"),
    ("kmo-edea", "KMO Encrypted-DEA"),
    ("kmo-etdea-128", "KMO Encrypted-TDEA-128"),
    ("kmo-etdea-192", "KMO Encrypted-TDEA-192"),
    ("kmo-aes-128", "KMO AES-128"),
    ("kmo-aes-192", "KMO AES-192"),
    ("kmo-aes-256", "KMO AES-256"),
    ("kmo-eaes-128", "KMO Encrypted-AES-128"),
    ("kmo-eaes-192", "KMO Encrypted-AES-192"),
    ("kmo-eaes-256", "KMO Encrypted-AES-256"),
    ("pcc-cmac-dea", "PCC Compute-Last-Block-CMAC-Using-DEA"),
    ("pcc-cmac-tdea-128", "PCC Compute-Last-Block-CMAC-Using-TDEA-128"),
    ("pcc-cmac-tdea-192", "PCC Compute-Last-Block-CMAC-Using-TDEA-192"),
    ("pcc-cmac-edea", "PCC Compute-Last-Block-CMAC-Using-Encrypted-DEA"),
    ("pcc-cmac-etdea-128", "PCC Compute-Last-Block-CMAC-Using-Encrypted-TDEA-128"),
    ("pcc-cmac-etdea-192", "PCC Compute-Last-Block-CMAC-Using-EncryptedTDEA-192"),
    ("pcc-cmac-aes-128", "PCC Compute-Last-Block-CMAC-Using-AES-128"),
    ("pcc-cmac-aes-192", "PCC Compute-Last-Block-CMAC-Using-AES-192"),
    ("pcc-cmac-aes-256", "PCC Compute-Last-Block-CMAC-Using-AES-256"),
    ("pcc-cmac-eaes-128", "PCC Compute-Last-Block-CMAC-Using-Encrypted-AES-128"),
    ("pcc-cmac-eaes-192", "PCC Compute-Last-Block-CMAC-Using-Encrypted-AES-192"),
    ("pcc-cmac-eaes-256", "PCC Compute-Last-Block-CMAC-Using-Encrypted-AES-256"),
    ("pcc-xts-aes-128", "PCC Compute-XTS-Parameter-Using-AES-128"),
    ("pcc-xts-aes-256", "PCC Compute-XTS-Parameter-Using-AES-256"),
    ("pcc-xts-eaes-128", "PCC Compute-XTS-Parameter-Using-Encrypted-AES-128"),
    ("pcc-xts-eaes-256", "PCC Compute-XTS-Parameter-Using-Encrypted-AES-256"),
    ("pcc-scalar-mult-p256", "PCC Scalar-Multiply-P256"),
    ("pcc-scalar-mult-p384", "PCC Scalar-Multiply-P384"),
    ("pcc-scalar-mult-p521", "PCC Scalar-Multiply-P521"),
    ("pcc-scalar-mult-ed25519", "PCC Scalar-Multiply-Ed25519"),
    ("pcc-scalar-mult-ed448", "PCC Scalar-Multiply-Ed448"),
    ("pcc-scalar-mult-x25519", "PCC Scalar-Multiply-X25519"),
    ("pcc-scalar-mult-x448", "PCC Scalar-Multiply-X448"),
    ("ppno-sha-512-drng", "PPNO SHA-512-DRNG"),
    ("prno-trng-qrtcr", "PRNO TRNG-Query-Raw-to-Conditioned-Ratio"),
    ("prno-trng", "PRNO TRNG"),
    ("kma-gcm-aes-128", "KMA GCM-AES-128"),
    ("kma-gcm-aes-192", "KMA GCM-AES-192"),
    ("kma-gcm-aes-256", "KMA GCM-AES-256"),
    ("kma-gcm-eaes-128", "KMA GCM-Encrypted-AES-128"),
    ("kma-gcm-eaes-192", "KMA GCM-Encrypted-AES-192"),
    ("kma-gcm-eaes-256", "KMA GCM-Encrypted-AES-256"),
    ("kdsa-ecdsa-verify-p256", "KDSA ECDSA-Verify-P256"),
    ("kdsa-ecdsa-verify-p384", "KDSA ECDSA-Verify-P384"),
    ("kdsa-ecdsa-verify-p521", "KDSA ECDSA-Verify-P521"),
    ("kdsa-ecdsa-sign-p256", "KDSA ECDSA-Sign-P256"),
    ("kdsa-ecdsa-sign-p384", "KDSA ECDSA-Sign-P384"),
    ("kdsa-ecdsa-sign-p521", "KDSA ECDSA-Sign-P521"),
    ("kdsa-eecdsa-sign-p256", "KDSA Encrypted-ECDSA-Sign-P256"),
    ("kdsa-eecdsa-sign-p384", "KDSA Encrypted-ECDSA-Sign-P384"),
    ("kdsa-eecdsa-sign-p521", "KDSA Encrypted-ECDSA-Sign-P521"),
    ("kdsa-eddsa-verify-ed25519", "KDSA EdDSA-Verify-Ed25519"),
    ("kdsa-eddsa-verify-ed448", "KDSA EdDSA-Verify-Ed448"),
    ("kdsa-eddsa-sign-ed25519", "KDSA EdDSA-Sign-Ed25519"),
    ("kdsa-eddsa-sign-ed448", "KDSA EdDSA-Sign-Ed448"),
    ("kdsa-eeddsa-sign-ed25519", "KDSA Encrypted-EdDSA-Sign-Ed25519"),
    ("kdsa-eeddsa-sign-ed448", "KDSA Encrypted-EdDSA-Sign-Ed448"),
    ("sortl-sflr", "SORTL SFLR"),
    ("sortl-svlr", "SORTL SVLR"),
    ("sortl-32", "SORTL 32 input lists"),
    ("sortl-128", "SORTL 128 input lists"),
    ("sortl-f0", "SORTL format 0 parameter-block"),
    ("dfltcc-gdht", "DFLTCC GDHT"),
    ("dfltcc-cmpr", "DFLTCC CMPR"),
    ("dfltcc-xpnd", "DFLTCC XPND"),
    ("dfltcc-f0", "DFLTCC format 0 parameter-block"),
)

# Every feature group (S390FeatGroup), in order: name, description, its features.
GROUPS: tuple[tuple[str, str, int], ...] = (
    ("plo", "Perform-locked-operation facility",
     0x3fffffc0000000000000000000000000000),
    ("tods", "Tod-clock-steering facility",
     0x21c0000000000000000000000000008000000),
    ("gen13ptff", "PTFF enhancements introduced with z13",
     0x4600000000000000000000000000000000000),
    ("msa", "Message-security-assist facility",
     0x1004001c00e00e0000000000000000000000000000000010000),
    ("msa1", "Message-security-assist-extension 1 facility",
     0x200801000800000000000000000000000000000000000000000),
    ("msa2", "Message-security-assist-extension 2 facility",
     0x401006023000000000000000000000000000000000000000000),
    ("msa3", "Message-security-assist-extension 3 facility",
     0x7e0000038e1c700700000000000000000000010000000000000000),
    ("msa4", "Message-security-assist-extension 4 facility",
     0xfffffffffffff00000803c000001f800000000000000000000020000000000000000),
    ("msa5", "Message-security-assist-extension 5 facility",
     0x8000000000000000000000000000000000000000000000000000000008000000000000),
    ("msa6", "Message-security-assist-extension 6 facility",
     0x1f87e000000000000000000000000000000000000000000000000),
    ("msa7", "Message-security-assist-extension 7 facility",
     0x30000000000000000000000000000000000000000000000000000000000000000000000),
    ("msa8", "Message-security-assist-extension 8 facility",
     0xfc0000000000000000000000000000000000000000000000000100000000000000000000),
    ("msa9", "Message-security-assist-extension 9 facility",
     0x7fff007f00000000000000000000000000000000000000000000004000000000000000000000),
    ("msa9_pckmo", "Message-security-assist-extension 9 PCKMO subfunctions",
     0xf800000000000000000000000000000000000000000000000000000),
    ("mepochptff", "PTFF enhancements introduced with Multiple-epoch facility",
     0x19800000000000000000000000000000000000),
    ("esort", "Enhanced-sort facility",
     0xf8000000000000000000000000000000000000000000000000000000800000000000000000000),
    ("deflate", "Deflate-conversion facility",
     0xf00000000000000000000000000000000000000000000000000000001000000000000000000000),
)

# QEMU's CPU definitions (S390CPUDef) in release order: name, description, CPU type, generation,
# EC GA level, then the base, default (on the 7.2 machine) and full feature sets.
DEFINITIONS: tuple[tuple[str, str, int, int, int, int, int, int], ...] = (
    ("z900", "IBM zSeries 900 GA1", 0x2064, 7, 1,
     0x3fffffc0000000000000000000000000003,
     0x3fffffc0000000000000000000000000003,
     0x3fffffc6700000000300000000000000003),
    ("z900.2", "IBM zSeries 900 GA2", 0x2064, 7, 2,
     0x3fffffc0000000000000000000000000003,
     0x3fffffc0000000000000000000000000003,
     0x3fffffc6700000000300000000000008003),
    ("z900.3", "IBM zSeries 900 GA3", 0x2064, 7, 3,
     0x3fffffc0000000000000000000000000003,
     0x3fffffc0000000000000000000000000003,
     0x3fffffc6f00000000300000000000028003),
    ("z800", "IBM zSeries 800 GA1", 0x2066, 7, 3,
     0x3fffffc0000000000000000000000000003,
     0x3fffffc0000000000000000000000000003,
     0x3fffffc6f00000000300000000000028003),
    ("z990", "IBM zSeries 990 GA1", 0x2084, 8, 1,
     0x1004001c00e00e003fffffc00000000000000000000000f8007,
     0x1004001c00e00e003fffffc00000000000000000000000f8007,
     0x1004001c00e00e003fffffc6f088000003000000000000f8007),
    ("z990.2", "IBM zSeries 990 GA2", 0x2084, 8, 2,
     0x1004001c00e00e003fffffc00000000000000000000000f8007,
     0x1004001c00e00e003fffffc00000000000000000000000f8007,
     0x1004001c00e00e003fffffc6f088000003000000000000f8007),
    ("z990.3", "IBM zSeries 990 GA3", 0x2084, 8, 3,
     0x1004001c00e00e003fffffc00000000000000000000000f8007,
     0x1004001c00e00e003fffffc00000000000000000000000f8007,
     0x1004001c00e00e003fffffc6f088000003000000000002f8027),
    ("z890", "IBM zSeries 880 GA1", 0x2086, 8, 3,
     0x1004001c00e00e003fffffc00000000000000000000000f8007,
     0x1004001c00e00e003fffffc00000000000000000000000f8007,
     0x1004001c00e00e003fffffc6f088000003000000000002f8027),
    ("z990.4", "IBM zSeries 990 GA4", 0x2084, 8, 4,
     0x1004001c00e00e003fffffc00000000000000000000000f8007,
     0x1004001c00e00e003fffffc00000000000000000000000f8007,
     0x1004001c00e00e003fffffc6f088000003000000000002f8027),
    ("z890.2", "IBM zSeries 880 GA2", 0x2086, 8, 4,
     0x1004001c00e00e003fffffc00000000000000000000000f8007,
     0x1004001c00e00e003fffffc00000000000000000000000f8007,
     0x1004001c00e00e003fffffc6f088000003000000000002f8027),
    ("z990.5", "IBM zSeries 990 GA5", 0x2084, 8, 5,
     0x1004001c00e00e003fffffc00000000000000000000000f8007,
     0x1004001c00e00e003fffffc00000000000000000000000f8007,
     0x1004001c00e00e003fffffc6f088000003000000000002f8027),
    ("z890.3", "IBM zSeries 880 GA3", 0x2086, 8, 5,
     0x1004001c00e00e003fffffc00000000000000000000000f8007,
     0x1004001c00e00e003fffffc00000000000000000000000f8007,
     0x1004001c00e00e003fffffc6f088000003000000000002f8027),
    ("z9EC", "IBM System z9 EC GA1", 0x2094, 9, 1,
     0x1004001c00e00e21ffffffc8000000000000000000019ff816f,
     0x300c011c08e00e21ffffffd8000000000004000000019ff816f,
     0x300c011c08e00e21ffffffdef18800000304000000019ff816f),
    ("z9EC.2", "IBM System z9 EC GA2", 0x2094, 9, 2,
     0x1004001c00e00e21ffffffc8000000000000000000019ff816f,
     0x300c011c08e00e21ffffffd8000000000004000000019ff816f,
     0x300c011c08e00e21ffffffdef1880000030400000c07dff816f),
    ("z9BC", "IBM System z9 BC GA1", 0x2096, 9, 2,
     0x1004001c00e00e21ffffffc8000000000000000000019ff816f,
     0x300c011c08e00e21ffffffd8000000000004000000019ff816f,
     0x300c011c08e00e21ffffffdef1880000030400000c07dff816f),
    ("z9EC.3", "IBM System z9 EC GA3", 0x2094, 9, 3,
     0x1004001c00e00e21ffffffc8000000000000000000019ff816f,
     0x300c011c08e00e21ffffffd8000000000004000000019ff816f,
     0x300c011c08e00e21ffffffdef1880000030400002c07dff836f),
    ("z9BC.2", "IBM System z9 BC GA2", 0x2096, 9, 3,
     0x1004001c00e00e21ffffffc8000000000000000000019ff816f,
     0x300c011c08e00e21ffffffd8000000000004000000019ff816f,
     0x300c011c08e00e21ffffffdef1880000030400002c07dff836f),
    ("z10EC", "IBM System z10 EC GA1", 0x2097, 10, 1,
     0x1004001c00e00e21ffffffc800000000000000003c3ffff836f,
     0x701c071e38e00e21ffffffd800000000000400003c3ffff83ef,
     0x701c071e38e00e21ffffffdff3980000030400003c3ffff87ef),
    ("z10EC.2", "IBM System z10 EC GA2", 0x2097, 10, 2,
     0x1004001c00e00e21ffffffc800000000000000003c3ffff836f,
     0x701c071e38e00e21ffffffd800000000000400003c3ffff83ef,
     0x701c071e38e00e21ffffffdff7980000030400003e3ffff87ef),
    ("z10BC", "IBM System z10 BC GA1", 0x2098, 10, 2,
     0x1004001c00e00e21ffffffc800000000000000003c3ffff836f,
     0x701c071e38e00e21ffffffd800000000000400003c3ffff83ef,
     0x701c071e38e00e21ffffffdff7980000030400003e3ffff87ef),
    ("z10EC.3", "IBM System z10 EC GA3", 0x2097, 10, 3,
     0x1004001c00e00e21ffffffc800000000000000003c3ffff836f,
     0x701c071e38e00e21ffffffd800000000000400003c3ffff83ef,
     0x7e0701c3fffffe07e21ffffffdff7980000031400003e3ffff87ef),
    ("z10BC.2", "IBM System z10 BC GA2", 0x2098, 10, 3,
     0x1004001c00e00e21ffffffc800000000000000003c3ffff836f,
     0x701c071e38e00e21ffffffd800000000000400003c3ffff83ef,
     0x7e0701c3fffffe07e21ffffffdff7980000031400003e3ffff87ef),
    ("z196", "IBM zEnterprise 196 GA1", 0x2817, 11, 1,
     0x1004001c00e00e21ffffffc80000000000000010fefffffa36f,
     0xfffffffffffff07e0781ffffffffffe21ffffffd800000000033c0010fefffffb3ef,
     0xfffffffffffff07e0781ffffffffffe21ffffffdff7980000033c0010fefffffb7ef),
    ("z196.2", "IBM zEnterprise 196 GA2", 0x2817, 11, 2,
     0x1004001c00e00e21ffffffc80000000000000010fefffffa36f,
     0xfffffffffffff07e0781ffffffffffe21ffffffd800000000033c0010fefffffb3ef,
     0xfffffffffffff07e0781ffffffffffe21ffffffdff7980000033c0010fefffffb7ef),
    ("z114", "IBM zEnterprise 114 GA1", 0x2818, 11, 2,
     0x1004001c00e00e21ffffffc80000000000000010fefffffa36f,
     0xfffffffffffff07e0781ffffffffffe21ffffffd800000000033c0010fefffffb3ef,
     0xfffffffffffff07e0781ffffffffffe21ffffffdff7980000033c0010fefffffb7ef),
    ("zEC12", "IBM zEnterprise EC12 GA1", 0x2827, 12, 1,
     0x1004001c00e00e21ffffffc8000000000000001bfefffffa36f,
     0xfffffffffffff07e0781ffffffffffe21ffffffd800100000137ed01ffefffffb3ef,
     0xfffffffffffff07e0781ffffffffffe21ffffffffff980002137ff01ffefffffffef),
    ("zEC12.2", "IBM zEnterprise EC12 GA2", 0x2827, 12, 2,
     0x1004001c00e00e21ffffffc8000000000000001bfefffffa36f,
     0xfffffffffffff07e0781ffffffffffe21ffffffd800100000137ed01ffefffffb3ef,
     0x80fffffffffffff07e0781ffffffffffe21ffffffffff980002137ff09ffefffffffef),
    ("zBC12", "IBM zEnterprise BC12 GA1", 0x2828, 12, 2,
     0x1004001c00e00e21ffffffc8000000000000001bfefffffa36f,
     0xfffffffffffff07e0781ffffffffffe21ffffffd800100000137ed01ffefffffb3ef,
     0x80fffffffffffff07e0781ffffffffffe21ffffffffff980002137ff09ffefffffffef),
    ("z13", "IBM z13 GA1", 0x2964, 13, 1,
     0x1004001c00e00e67ffffffc8000000000080003bfefffffa36f,
     0x80fffffffffffff07e0781ffffffffffe67ffffffd80010000017fed0bffefffffb3ef,
     0x80fffffffffffff07e0781ffffffffffe67ffffffffff98000217fff0bffefffffffef),
    ("z13.2", "IBM z13 GA2", 0x2964, 13, 2,
     0x1004001c00e00e67ffffffc8000000000080003bfefffffa36f,
     0x80fffffffffffff07e0781ffffffffffe67ffffffd80010000017fed0bffefffffb3ef,
     0x80fffffffffffff07e0781ffffffffffe67ffffffffff98000217fff0bffefffffffef),
    ("z13s", "IBM z13s GA1", 0x2965, 13, 2,
     0x1004001c00e00e67ffffffc8000000000080003bfefffffa36f,
     0x80fffffffffffff07e0781ffffffffffe67ffffffd80010000017fed0bffefffffb3ef,
     0x80fffffffffffff07e0781ffffffffffe67ffffffffff98000217fff0bffefffffffef),
    ("z14", "IBM z14 GA1", 0x3906, 14, 1,
     0x1004001c00e00e67ffffffc8000000000080077bfffffffa36f,
     0xff80fffffffffffff07ffffffffffffffffffffffffd800100011fffed7fffffffffb3ef,
     0xff80fffffffffffff07fffffffffffffffffffffffffffff8083ffffff7fffffffffffef),
    ("z14.2", "IBM z14 GA2", 0x3906, 14, 2,
     0x1004001c00e00e67ffffffc8000000000080077bfffffffa36f,
     0xff80fffffffffffff07ffffffffffffffffffffffffd800100011fffed7fffffffffb3ef,
     0xff80fffffffffffff07fffffffffffffffffffffffffffff8083ffffff7fffffffffffef),
    ("z14ZR1", "IBM z14 Model ZR1 GA1", 0x3907, 14, 1,
     0x1004001c00e00e67ffffffc8000000000080077bfffffffa36f,
     0xff80fffffffffffff07ffffffffffffffffffffffffd800100011fffed7fffffffffb3ef,
     0xff80fffffffffffff07fffffffffffffffffffffffffffff8083ffffff7fffffffffffef),
    ("gen15a", "IBM z15 T01 GA1", 0x8561, 15, 1,
     0x1004001c00e00e67ffffffc80000000000800f7bfffffffa16f,
     0xf07ffffffffffffffffffffffffffffffffffffffffffffffd800100f51fdfedffffffffffb1ef,
     0xffffffffffffffffffffffffffffffffffffffffffffffffffffff81ffffffffffffffffffffef),
    ("gen15b", "IBM z15 T02 GA1", 0x8562, 15, 1,
     0x1004001c00e00e67ffffffc80000000000800f7bfffffffa16f,
     0xf07ffffffffffffffffffffffffffffffffffffffffffffffd800100f51fdfedffffffffffb1ef,
     0xffffffffffffffffffffffffffffffffffffffffffffffffffffff81ffffffffffffffffffffef),
    ("gen16a", "IBM 3931 GA1", 0x3931, 16, 1,
     0x1004001c00e00e67ffffffc80000000000800f7bfffffffa16f,
     0xf07ffffffffffffffffffffffffffffffffffffffffffffffd80017ef51fdfedffffffffffb1ef,
     0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffef),
    ("gen16b", "IBM 3932 GA1", 0x3932, 16, 1,
     0x1004001c00e00e67ffffffc80000000000800f7bfffffffa16f,
     0xf07ffffffffffffffffffffffffffffffffffffffffffffffd80017ef51fdfedffffffffffb1ef,
     0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffef),
)

# Older machine types turn features of newer models' default sets off (s390_cpudef_featoff):
# by machine version, (definition, the features turned off) for the models that differ.
DEFAULTS_OFF: dict[str, tuple[tuple[str, int], ...]] = {
    "2.4": (
        ("z196", 0x300000000000000000),
        ("z196.2", 0x300000000000000000),
        ("z114", 0x300000000000000000),
        ("zEC12", 0x1000001300c00000000000000),
        ("zEC12.2", 0x1000001300c00000000000000),
        ("zBC12", 0x1000001300c00000000000000),
        ("z13", 0x1000001300c00000000000000),
        ("z13.2", 0x1000001300c00000000000000),
        ("z13s", 0x1000001300c00000000000000),
        ("z14", 0x19800000000001000011300c00000000000000),
        ("z14.2", 0x19800000000001000011300c00000000000000),
        ("z14ZR1", 0x19800000000001000011300c00000000000000),
        ("gen15a", 0x19800000000001000011100c00000000000000),
        ("gen15b", 0x19800000000001000011100c00000000000000),
        ("gen16a", 0x198000000000017e0011100c00000000000000),
        ("gen16b", 0x198000000000017e0011100c00000000000000),
    ),
    "2.5": (
        ("z196", 0x300000000000000000),
        ("z196.2", 0x300000000000000000),
        ("z114", 0x300000000000000000),
        ("zEC12", 0x1000001300c00000000000000),
        ("zEC12.2", 0x1000001300c00000000000000),
        ("zBC12", 0x1000001300c00000000000000),
        ("z13", 0x1000001300c00000000000000),
        ("z13.2", 0x1000001300c00000000000000),
        ("z13s", 0x1000001300c00000000000000),
        ("z14", 0x19800000000001000011300c00000000000000),
        ("z14.2", 0x19800000000001000011300c00000000000000),
        ("z14ZR1", 0x19800000000001000011300c00000000000000),
        ("gen15a", 0x19800000000001000011100c00000000000000),
        ("gen15b", 0x19800000000001000011100c00000000000000),
        ("gen16a", 0x198000000000017e0011100c00000000000000),
        ("gen16b", 0x198000000000017e0011100c00000000000000),
    ),
    "2.6": (
        ("z196", 0x300000000000000000),
        ("z196.2", 0x300000000000000000),
        ("z114", 0x300000000000000000),
        ("zEC12", 0x1000001300c00000000000000),
        ("zEC12.2", 0x1000001300c00000000000000),
        ("zBC12", 0x1000001300c00000000000000),
        ("z13", 0x1000001300c00000000000000),
        ("z13.2", 0x1000001300c00000000000000),
        ("z13s", 0x1000001300c00000000000000),
        ("z14", 0x19800000000001000011300c00000000000000),
        ("z14.2", 0x19800000000001000011300c00000000000000),
        ("z14ZR1", 0x19800000000001000011300c00000000000000),
        ("gen15a", 0x19800000000001000011100c00000000000000),
        ("gen15b", 0x19800000000001000011100c00000000000000),
        ("gen16a", 0x198000000000017e0011100c00000000000000),
        ("gen16b", 0x198000000000017e0011100c00000000000000),
    ),
    "2.7": (
        ("z196", 0x300000000000000000),
        ("z196.2", 0x300000000000000000),
        ("z114", 0x300000000000000000),
        ("zEC12", 0x1000001300c00000000000000),
        ("zEC12.2", 0x1000001300c00000000000000),
        ("zBC12", 0x1000001300c00000000000000),
        ("z13", 0x1000001300c00000000000000),
        ("z13.2", 0x1000001300c00000000000000),
        ("z13s", 0x1000001300c00000000000000),
        ("z14", 0x19800000000001000011300c00000000000000),
        ("z14.2", 0x19800000000001000011300c00000000000000),
        ("z14ZR1", 0x19800000000001000011300c00000000000000),
        ("gen15a", 0x19800000000001000011100c00000000000000),
        ("gen15b", 0x19800000000001000011100c00000000000000),
        ("gen16a", 0x198000000000017e0011100c00000000000000),
        ("gen16b", 0x198000000000017e0011100c00000000000000),
    ),
    "2.8": (
        ("z196", 0x300000000000000000),
        ("z196.2", 0x300000000000000000),
        ("z114", 0x300000000000000000),
        ("zEC12", 0x1000001300c00000000000000),
        ("zEC12.2", 0x1000001300c00000000000000),
        ("zBC12", 0x1000001300c00000000000000),
        ("z13", 0x1000001300c00000000000000),
        ("z13.2", 0x1000001300c00000000000000),
        ("z13s", 0x1000001300c00000000000000),
        ("z14", 0x19800000000001000011300c00000000000000),
        ("z14.2", 0x19800000000001000011300c00000000000000),
        ("z14ZR1", 0x19800000000001000011300c00000000000000),
        ("gen15a", 0x19800000000001000011100c00000000000000),
        ("gen15b", 0x19800000000001000011100c00000000000000),
        ("gen16a", 0x198000000000017e0011100c00000000000000),
        ("gen16b", 0x198000000000017e0011100c00000000000000),
    ),
    "2.9": (
        ("z196", 0x300000000000000000),
        ("z196.2", 0x300000000000000000),
        ("z114", 0x300000000000000000),
        ("zEC12", 0x1000001300c00000000000000),
        ("zEC12.2", 0x1000001300c00000000000000),
        ("zBC12", 0x1000001300c00000000000000),
        ("z13", 0x1000001300c00000000000000),
        ("z13.2", 0x1000001300c00000000000000),
        ("z13s", 0x1000001300c00000000000000),
        ("z14", 0x19800000000001000011300c00000000000000),
        ("z14.2", 0x19800000000001000011300c00000000000000),
        ("z14ZR1", 0x19800000000001000011300c00000000000000),
        ("gen15a", 0x19800000000001000011100c00000000000000),
        ("gen15b", 0x19800000000001000011100c00000000000000),
        ("gen16a", 0x198000000000017e0011100c00000000000000),
        ("gen16b", 0x198000000000017e0011100c00000000000000),
    ),
    "2.10": (
        ("z196", 0x300000000000000000),
        ("z196.2", 0x300000000000000000),
        ("z114", 0x300000000000000000),
        ("zEC12", 0x300000000000000000),
        ("zEC12.2", 0x300000000000000000),
        ("zBC12", 0x300000000000000000),
        ("z13", 0x300000000000000000),
        ("z13.2", 0x300000000000000000),
        ("z13s", 0x300000000000000000),
        ("z14", 0x19800000000000000010300000000000000000),
        ("z14.2", 0x19800000000000000010300000000000000000),
        ("z14ZR1", 0x19800000000000000010300000000000000000),
        ("gen15a", 0x19800000000000000010100000000000000000),
        ("gen15b", 0x19800000000000000010100000000000000000),
        ("gen16a", 0x198000000000007e0010100000000000000000),
        ("gen16b", 0x198000000000007e0010100000000000000000),
    ),
    "2.11": (
        ("z196", 0x300000000000000000),
        ("z196.2", 0x300000000000000000),
        ("z114", 0x300000000000000000),
        ("zEC12", 0x300000000000000000),
        ("zEC12.2", 0x300000000000000000),
        ("zBC12", 0x300000000000000000),
        ("z13", 0x300000000000000000),
        ("z13.2", 0x300000000000000000),
        ("z13s", 0x300000000000000000),
        ("z14", 0x19800000000000000010300000000000000000),
        ("z14.2", 0x19800000000000000010300000000000000000),
        ("z14ZR1", 0x19800000000000000010300000000000000000),
        ("gen15a", 0x19800000000000000010100000000000000000),
        ("gen15b", 0x19800000000000000010100000000000000000),
        ("gen16a", 0x198000000000007e0010100000000000000000),
        ("gen16b", 0x198000000000007e0010100000000000000000),
    ),
    "2.12": (
        ("z196", 0x300000000000000000),
        ("z196.2", 0x300000000000000000),
        ("z114", 0x300000000000000000),
        ("zEC12", 0x300000000000000000),
        ("zEC12.2", 0x300000000000000000),
        ("zBC12", 0x300000000000000000),
        ("z13", 0x300000000000000000),
        ("z13.2", 0x300000000000000000),
        ("z13s", 0x300000000000000000),
        ("z14", 0x19800000000000000010300000000000000000),
        ("z14.2", 0x19800000000000000010300000000000000000),
        ("z14ZR1", 0x19800000000000000010300000000000000000),
        ("gen15a", 0x19800000000000000010100000000000000000),
        ("gen15b", 0x19800000000000000010100000000000000000),
        ("gen16a", 0x198000000000007e0010100000000000000000),
        ("gen16b", 0x198000000000007e0010100000000000000000),
    ),
    "3.0": (
        ("z14", 0x19800000000000000010000000000000000000),
        ("z14.2", 0x19800000000000000010000000000000000000),
        ("z14ZR1", 0x19800000000000000010000000000000000000),
        ("gen15a", 0x19800000000000000010000000000000000000),
        ("gen15b", 0x19800000000000000010000000000000000000),
        ("gen16a", 0x198000000000007e0010000000000000000000),
        ("gen16b", 0x198000000000007e0010000000000000000000),
    ),
    "3.1": (
        ("z14", 0x19800000000000000010000000000000000000),
        ("z14.2", 0x19800000000000000010000000000000000000),
        ("z14ZR1", 0x19800000000000000010000000000000000000),
        ("gen15a", 0x19800000000000000010000000000000000000),
        ("gen15b", 0x19800000000000000010000000000000000000),
        ("gen16a", 0x198000000000007e0010000000000000000000),
        ("gen16b", 0x198000000000007e0010000000000000000000),
    ),
    "4.0": (
        ("gen16a", 0x7e0000000000000000000000),
        ("gen16b", 0x7e0000000000000000000000),
    ),
    "4.1": (
        ("gen16a", 0x7e0000000000000000000000),
        ("gen16b", 0x7e0000000000000000000000),
    ),
    "4.2": (
        ("gen16a", 0x7e0000000000000000000000),
        ("gen16b", 0x7e0000000000000000000000),
    ),
    "5.0": (
        ("gen16a", 0x7e0000000000000000000000),
        ("gen16b", 0x7e0000000000000000000000),
    ),
    "5.1": (
        ("gen16a", 0x7e0000000000000000000000),
        ("gen16b", 0x7e0000000000000000000000),
    ),
    "5.2": (
        ("gen16a", 0x7e0000000000000000000000),
        ("gen16b", 0x7e0000000000000000000000),
    ),
    "6.0": (
        ("gen16a", 0x7e0000000000000000000000),
        ("gen16b", 0x7e0000000000000000000000),
    ),
    "6.1": (
        ("gen16a", 0x7e0000000000000000000000),
        ("gen16b", 0x7e0000000000000000000000),
    ),
    "6.2": (
        ("gen16a", 0x400000000000000000000000),
        ("gen16b", 0x400000000000000000000000),
    ),
    "7.0": (
        ("gen16a", 0x400000000000000000000000),
        ("gen16b", 0x400000000000000000000000),
    ),
    "7.1": (
        ("gen16a", 0x400000000000000000000000),
        ("gen16b", 0x400000000000000000000000),
    ),
}

# The `qemu` model of each machine version (s390_set_qemu_cpu_model): its definition and features.
# `none` keeps QEMU's own default, the `max` model.
QEMU_MODELS: dict[str, tuple[str, int]] = {
    "none": ("gen15a",
        0x2000000000000000000040100000000000003fffffc0001000509c39c9ba46bf5b7814f),
    "2.4": ("z900",
        0x3fffffc0000000000000000000000000003),
    "2.5": ("z900",
        0x3fffffc0000000000000000000000000003),
    "2.6": ("z900",
        0x3fffffc0000000000000000000000000003),
    "2.7": ("z900",
        0x3fffffc0000000000000000000000000003),
    "2.8": ("z900",
        0x3fffffc0000000000000000000000000003),
    "2.9": ("z900",
        0x3fffffc0000000000000000000000000003),
    "2.10": ("z900",
        0x3fffffc0000000000000000000000000003),
    "2.11": ("z900",
        0x3fffffc0000000000000000000000000003),
    "2.12": ("zEC12.2",
        0x3fffffc0000000000031801a463f5b7814f),
    "3.0": ("zEC12.2",
        0x3fffffc0000000000031801a463f5b7814f),
    "3.1": ("zEC12.2",
        0x3fffffc0000000000031801a463f5b7814f),
    "4.0": ("zEC12.2",
        0x3fffffc0000000000031c01a46bf5b7814f),
    "4.1": ("z13.2",
        0x3fffffc0000000000431c03a46bf5b7814f),
    "4.2": ("z13.2",
        0x3fffffc0001000001439c03a46bf5b7814f),
    "5.0": ("z13.2",
        0x3fffffc0001000001439c03a46bf5b7814f),
    "5.1": ("z13.2",
        0x3fffffc0001000001439c03a46bf5b7814f),
    "5.2": ("z13.2",
        0x3fffffc0001000001439c03a46bf5b7814f),
    "6.0": ("z13.2",
        0x3fffffc0001000001439c03a46bf5b7814f),
    "6.1": ("z14.2",
        0x3fffffc0001000109c39c13a46bf5b7814f),
    "6.2": ("z14.2",
        0x3fffffc0001000109c39c13a46bf5b7814f),
    "7.0": ("gen15a",
        0x3fffffc0001000109c39c93a46bf5b7814f),
    "7.1": ("gen15a",
        0x3fffffc0001000509c39c93a46bf5b7814f),
    "7.2": ("gen15a",
        0x2000000000000000000040100000000000003fffffc0001000509c39c9ba46bf5b7814f),
}

# TCG's `max` model (get_max_cpu_model under TCG), the same on every machine.
MAX_MODEL = ("gen15a",
             0x2000000000000000000040100000000000003fffffc0001000509c39c9ba46bf5b7814f)

# query-cpu-definitions lists the models in this order (QEMU's type table's).
DEFINITION_ORDER = (
    "gen16a-base", "z890.2-base", "z800-base", "gen16a", "z9EC.2", "z13.2",
    "z990.5-base", "z9BC-base", "z890.2", "z890", "z9BC", "z13",
    "z196", "z13s", "gen16b-base", "z990.3", "z13s-base", "z9EC",
    "gen15a", "z14ZR1-base", "z14.2-base", "z900.3-base", "z13.2-base", "z196.2-base",
    "zBC12-base", "z9BC.2-base", "z900.2-base", "z9EC.3", "zEC12", "z900",
    "z114-base", "zEC12-base", "z10EC.2", "z10EC-base", "z900.3", "z14ZR1",
    "z10BC", "z10BC.2-base", "z9BC.2", "z990.2", "z990", "z14",
    "gen15b-base", "z990.4", "max", "z10EC.2-base", "gen15a-base", "z800",
    "z10EC", "zEC12.2", "z990.2-base", "gen16b", "z900-base", "z10BC.2",
    "z9EC-base", "z9EC.3-base", "z114", "z890.3", "z196-base", "z9EC.2-base",
    "z196.2", "z14.2", "z990-base", "z900.2", "z890-base", "z10EC.3",
    "z14-base", "z990.4-base", "z10EC.3-base", "z10BC-base", "z13-base", "z990.3-base",
    "zEC12.2-base", "zBC12", "z890.3-base", "z990.5", "gen15b", "qemu",
)

# check_consistency: (feature, the feature it requires), in QEMU's order.
REQUIRES = (
    ("ipter", "dateh"),
    ("idtes", "dateh"),
    ("ltlbc", "dateh"),
    ("ldisphp", "ldisp"),
    ("dfphp", "dfp"),
    ("te", "stfle49"),
    ("edat2", "edat"),
    ("msa5-base", "kimd-sha-512"),
    ("msa5-base", "klmd-sha-512"),
    ("msa4-base", "msa3-base"),
    ("cmma", "cmm"),
    ("cmma", "gsls"),
    ("pfmfi", "edat"),
    ("msa8-base", "msa3-base"),
    ("msa9-base", "msa3-base"),
    ("msa9-base", "msa4-base"),
    ("mepoch", "tods-base"),
    ("vxpd", "vx"),
    ("vxpdeh", "vxpd"),
    ("vxpdeh2", "vxpdeh"),
    ("vxeh", "vx"),
    ("iep", "sea_esop2"),
    ("sea_esop2", "esop"),
    ("cmmnt", "cmm"),
    ("gs", "sea_esop2"),
    ("mepoch", "stckf"),
    ("mepoch", "tods-base"),
    ("sema", "stfle49"),
    ("kimd-sha3-224", "msa-base"),
    ("kimd-sha3-256", "msa-base"),
    ("kimd-sha3-384", "msa-base"),
    ("kimd-sha3-512", "msa-base"),
    ("kimd-shake-128", "msa-base"),
    ("kimd-shake-256", "msa-base"),
    ("klmd-sha3-224", "msa-base"),
    ("klmd-sha3-256", "msa-base"),
    ("klmd-sha3-384", "msa-base"),
    ("klmd-sha3-512", "msa-base"),
    ("klmd-shake-128", "msa-base"),
    ("klmd-shake-256", "msa-base"),
    ("prno-trng-qrtcr", "msa5-base"),
    ("prno-trng", "msa5-base"),
    ("kss", "sief2"),
    ("apqci", "ap"),
    ("apft", "ap"),
    ("ptff-qsie", "mepoch"),
    ("ptff-qtoue", "mepoch"),
    ("ptff-stoe", "mepoch"),
    ("ptff-stoue", "mepoch"),
    ("apqi", "ap"),
    ("diag318", "els"),
    ("nnpa", "vx"),
    ("rdp", "ltlbc"),
)
# fmt: on


# A model's QOM type name is the model name with this suffix (qemu -> qemu-s390x-cpu).
TYPE_SUFFIX = "-s390x-cpu"
CPU_TYPE_PARENT = "s390x-cpu"  # the abstract type of every s390x CPU model
DEFAULT_CPU_TYPE = "qemu" + TYPE_SUFFIX
QEMU_DESCRIPTION = "QEMU Virtual CPU version 2.5+"
MAX_DESCRIPTION = "Enables all features supported by the accelerator in the current host"


@dataclass(frozen=True, slots=True)
class Definition:
    """One S390CPUDef: a CPU generation and GA level, with its three feature sets (base: the
    static `-base` model; default: the model itself on the 7.2 machine; full: every feature the
    hardware has, which bounds what a property may turn on).  `index` is its place in the table."""

    name: str
    description: str
    cpu_type: int
    gen: int
    ec_ga: int
    base: int
    default: int
    full: int
    index: int


@dataclass(frozen=True, slots=True)
class S390Model:
    """An S390CPUModel: a definition and the features turned on (QEMU compares both)."""

    definition: Definition
    features: int


DEFS: tuple[Definition, ...] = tuple(Definition(*row, index=i) for i, row in enumerate(DEFINITIONS))
DEF_BY_NAME: Mapping[str, Definition] = MappingProxyType({d.name: d for d in DEFS})
FEATURE_NAMES: tuple[str, ...] = tuple(name for name, _ in FEATURES)
FEATURE_BIT: Mapping[str, int] = MappingProxyType({name: bit for bit, name in enumerate(FEATURE_NAMES)})
GROUP_MASK: Mapping[str, int] = MappingProxyType({name: mask for name, _, mask in GROUPS})
ALL_FEATURES = (1 << len(FEATURES)) - 1


def machine_version(board_version: tuple[int, ...] | None) -> str:
    """The key of the tables above for a machine type's version (None: `none`)."""
    return "none" if board_version is None else ".".join(str(part) for part in board_version)


@cache
def models(version: str) -> Mapping[str, S390Model]:
    """Every model's S390CPUModel on the machine of `version` ("7.2", "none", ...), by name."""
    off = dict(DEFAULTS_OFF.get(version, ()))
    found: dict[str, S390Model] = {}
    qemu_def, qemu_features = QEMU_MODELS[version]
    found["qemu"] = S390Model(DEF_BY_NAME[qemu_def], qemu_features)
    found["max"] = max_model()
    for definition in DEFS:
        found[f"{definition.name}-base"] = S390Model(definition, definition.base)
        found[definition.name] = S390Model(definition, definition.default & ~off.get(definition.name, 0))
    return MappingProxyType(found)


@cache
def max_model() -> S390Model:
    """What TCG can provide: the bound of every model (get_max_cpu_model)."""
    name, features = MAX_MODEL
    return S390Model(DEF_BY_NAME[name], features)


def feature_names(features: int) -> list[str]:
    """s390_feat_bitmap_to_ascii: every whole group first (in group order), then the features left,
    lowest bit first."""
    names = []
    for name, _, mask in GROUPS:
        if features & mask == mask:
            features &= ~mask
            names.append(name)
    bit = 0
    while features:
        if features & 1:
            names.append(FEATURE_NAMES[bit])
        features >>= 1
        bit += 1
    return names


def unavailable_features(model: S390Model) -> tuple[str, ...]:
    """What TCG lacks of `model` (check_unavailable_features): the names prepended one by one, so
    the features come highest first, then the groups in reverse, then `type` when the model's
    generation is newer than the accelerator's."""
    limit = max_model()
    listed = []
    if (limit.definition.gen, limit.definition.ec_ga) < (model.definition.gen, model.definition.ec_ga):
        listed.append("type")
    listed += feature_names(model.features & ~limit.features)
    return tuple(reversed(listed))


def _help_order() -> tuple[str, ...]:
    """-cpu help: qemu and max first, then the definitions in release order, each `-base` first."""
    return ("qemu", "max", *(name for d in DEFS for name in (f"{d.name}-base", d.name)))


def _entry(name: str, model: S390Model) -> CpuModel:
    static = name.endswith("-base")
    if name == "qemu":
        description, details = QEMU_DESCRIPTION, "(migration-safe)"
    elif name == "max":
        description, details = MAX_DESCRIPTION, ""
    else:
        description = model.definition.description
        details = "(static, migration-safe)" if static else "(migration-safe)"
    # -cpu help prints "%-35s %s" (QEMU's s390_print_cpu_model_list_entry), nothing after an
    # empty details column.
    shown = f"{description:<35} {details}" if details else f"{description:<35}"
    return CpuModel(
        name,
        name + TYPE_SUFFIX,
        None,
        static,
        name != "max",
        False,
        shown,
        unavailable_features(model),
        CPU_TYPE_PARENT,
    )


@cache
def catalog(version: str) -> CpuCatalog:
    """The CPU models of the machine of `version`, as -cpu, -cpu help and query-cpu-definitions
    see them."""
    table = models(version)
    entries = {name: _entry(name, table[name]) for name in _help_order()}
    return CpuCatalog(
        [entries[name] for name in DEFINITION_ORDER],
        [entries[name] for name in _help_order()],
        show_aliases=False,
        help_prefix="s390",
        help_style="s390x",
        help_sections=(
            ("Recognized feature flags:", FEATURES),
            ("Recognized feature groups:", tuple((name, text) for name, text, _ in GROUPS)),
        ),
    )
