"""-m, -smp, -machine, -accel, -cpu and -numa values (vmd.cli.machine_opts)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.cli.common import GiB, MiB, argument_text, outcome_of, parse
from vmd.config import (
    AccelConfig,
    MemoryConfig,
    NumaCpuConfig,
    NumaDistConfig,
    NumaNodeConfig,
    NumaRawConfig,
    SmpConfig,
)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("128", 128 * MiB),
        ("128M", 128 * MiB),
        ("128m", 128 * MiB),
        ("size=128M", 128 * MiB),
        ("1G", GiB),
        ("1g", GiB),
        ("0.5G", 512 * MiB),
        ("5.G", 5 * GiB),  # a lone dot is no fraction
        ("1.0000000000000000000001G", GiB),
        ("131072k", 128 * MiB),
        ("134217728b", 128 * MiB),
        ("+128", 128 * MiB),
        (" 128", 128 * MiB),
        ("0x100", 256 * MiB),
        ("0", 128 * MiB),  # -m 0 is "not given"
        ("", 128 * MiB),
        ("1T", 1 << 40),
    ],
)
def test_memory_sizes(value: str, size: int) -> None:
    assert parse("-m", value).memory.size_bytes == size


def test_memory_options_merge_and_the_last_size_wins() -> None:
    memory = parse("-m", "1G,slots=4", "-m", "maxmem=8G", "-m", "2G").memory
    assert memory == MemoryConfig(size_bytes=2 * GiB, slots=4, maxmem_bytes=8 * GiB)


def test_default_memory_is_128_mib() -> None:
    assert parse().memory == MemoryConfig(size_bytes=128 * MiB)


@pytest.mark.parametrize(
    ("argv", "smp"),
    [
        (["-smp", "4"], SmpConfig(cpus=4)),
        (["-smp", "cpus=4"], SmpConfig(cpus=4)),
        (["-smp", "0x10"], SmpConfig(cpus=16)),
        (["-smp", " +2"], SmpConfig(cpus=2)),
        (["-smp", "-1"], SmpConfig(cpus=-1)),  # a number; the machine refuses it
        (["-smp", "1,maxcpus=8", "-smp", "sockets=2,cores=2,threads=2,dies=1,clusters=1"],
         SmpConfig(cpus=1, maxcpus=8, sockets=2, dies=1, clusters=1, cores=2, threads=2)),
        (["-smp", "2", "-smp", "4"], SmpConfig(cpus=4)),
        (["-smp", ""], SmpConfig()),
    ],
)  # fmt: skip
def test_smp(argv: list[str], smp: SmpConfig) -> None:
    assert parse(*argv).smp == smp


def test_machine_options_merge_in_order() -> None:
    config = parse("-M", "pc", "-machine", "usb=on,kernel_irqchip=split", "-machine", "q35,usb=off", "-usb")
    assert config.machine_type == "q35"
    assert config.machine_props == {"usb": "on", "kernel-irqchip": "split"}


def test_machine_sugar_options() -> None:
    config = parse("-no-acpi", "-no-hpet", "-bios", "/fw.bin", "-enable-kvm")
    assert config.machine_props == {"acpi": "off", "hpet": "off", "firmware": "/fw.bin"}
    assert config.accel == (AccelConfig("kvm"),)


def test_machine_dotted_keys_stay_flat() -> None:
    assert parse("-machine", "q35,smp.cpus=2,memory.size=1G").machine_props == {
        "smp.cpus": "2",
        "memory.size": "1G",
    }


def test_accelerators_in_order_with_properties() -> None:
    config = parse("-accel", "kvm,kernel-irqchip=split", "-accel", "tcg,thread=single,tb-size=64")
    assert config.accel == (
        AccelConfig("kvm", {"kernel-irqchip": "split"}),
        AccelConfig("tcg", {"thread": "single", "tb-size": "64"}),
    )


def test_cpu_features_in_qemu_precedence_order() -> None:
    config = parse("-cpu", "qemu64,-vmx,+x2apic,level=13,kvm=off,pmu,tsc_deadline=on")
    assert config.cpu_model == "qemu64"
    assert config.cpu_features == (
        ("level", "13"),
        ("kvm", "off"),
        ("pmu", "on"),
        ("tsc-deadline", "on"),
        ("x2apic", "on"),
        ("vmx", "off"),
    )


def test_the_last_cpu_option_wins() -> None:
    assert parse("-cpu", "max", "-cpu", "qemu64").cpu_model == "qemu64"


def test_numa() -> None:
    config = parse(
        "-numa", "node,nodeid=0,cpus=0-1,cpus=3,memdev=m0",
        "-numa", "node,nodeid=0x1,mem=512",
        "-numa", "cpu,node-id=1,socket-id=2",
        "-numa", "dist,src=0,dst=1,val=20",
        "-numa", "hmat-lb,initiator=0,target=0,hierarchy=memory,data-type=access-latency,latency=5",
    )  # fmt: skip
    assert config.numa == (
        NumaNodeConfig(nodeid=0, cpus=((0, 1), (3, 3)), memdev="m0"),
        NumaNodeConfig(nodeid=1, mem=512 * MiB),
        NumaCpuConfig(node_id=1, socket_id=2),
        NumaDistConfig(0, 1, 20),
        NumaRawConfig(
            "hmat-lb",
            {
                "initiator": "0",
                "target": "0",
                "hierarchy": "memory",
                "data-type": "access-latency",
                "latency": "5",
            },
        ),
    )


qapi_names = st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True).filter(
    lambda key: key not in ("type", "accel", "kernel", "initrd", "append")
)


@given(st.dictionaries(qapi_names, argument_text, max_size=6))
def test_machine_properties_round_trip(props: dict[str, str]) -> None:
    text = ",".join(["q35", *(f"{key}={value.replace(',', ',,')}" for key, value in props.items())])
    config = parse("-machine", text)
    assert config.machine_type == "q35"
    assert dict(config.machine_props) == props


@given(
    st.integers(min_value=0, max_value=(1 << 64) - 1),
    st.sampled_from(["", "b", "k", "M", "G", "T", "P", "E"]),
)
def test_memory_sizes_scale_by_their_suffix(number: int, suffix: str) -> None:
    unit = 1 << (10 * "bkmgtpe".index((suffix or "m").lower()))
    value = f"{number}{suffix}"
    if number * unit < 1 << 64:
        assert parse("-m", value).memory.size_bytes == (number * unit if number else 128 * MiB)
    elif suffix:
        assert outcome_of("-m", value) == f"-m {value}: Value '{value}' is out of range for parameter 'size'"
    else:  # fits in bytes, which QEMU checks first, but not in MiB
        assert outcome_of("-m", value) == "Parameter 'memory.size' expects size"


@given(st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1), st.sampled_from(["{}", "{:#x}"]))
def test_smp_numbers_are_c_integers(number: int, style: str) -> None:
    text = style.format(number) if number >= 0 else "-" + style.format(-number)
    assert parse("-smp", f"cpus={text}").smp.cpus == number
