"""vmd's QEMU-compatible command line (vmd.cli).

The error table holds QEMU's own words: every message was checked against
qemu-system-x86_64 7.2 (Debian 1:7.2+dfsg-7+deb12u18) and `test_qemu_says_the_same`
checks them again against the QEMU installed here.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmd.cli import CommandLineError, EarlyExit, parse_command_line
from vmd.config import (
    AccelConfig,
    AddFdConfig,
    ChardevConfig,
    Config,
    DeviceConfig,
    GlobalConfig,
    InheritedFd,
    MemoryConfig,
    MonitorConfig,
    NumaCpuConfig,
    NumaDistConfig,
    NumaNodeConfig,
    NumaRawConfig,
    ObjectConfig,
    SerialConfig,
    SmpConfig,
    UnixPath,
    thaw_json,
)

MiB = 1 << 20
GiB = 1 << 30


def parse(*argv: str) -> Config:
    return parse_command_line(list(argv))


def error_of(*argv: str) -> str:
    with pytest.raises(CommandLineError) as caught:
        parse_command_line(list(argv))
    return caught.value.message


# --------------------------------------------------------------------------------------
# What libvirt 9.0 sends (spec/libvirt-contract.md)
# --------------------------------------------------------------------------------------

PROBE = [
    "-S", "-no-user-config", "-nodefaults", "-nographic", "-machine", "none,accel=kvm:tcg",
    "-qmp", "unix:/var/lib/libvirt/qemu/qmp-x/qmp.monitor,server=on,wait=off",
    "-pidfile", "/var/lib/libvirt/qemu/qmp-x/qmp.pid", "-daemonize",
]  # fmt: skip

UUID = "c7a5fdbd-cdaf-9455-926a-d65c16db1809"
DOMAIN = [
    "-name", "guest=demo,debug-threads=on",
    "-S",
    "-object", '{"qom-type":"secret","id":"masterKey0","format":"raw",'
    '"file":"/var/lib/libvirt/qemu/domain-1-demo/master-key.aes"}',
    "-machine", "pc-q35-7.2,usb=off,dump-guest-core=off,memory-backend=pc.ram",
    "-accel", "tcg",
    "-cpu", "qemu64",
    "-m", "128",
    "-object", '{"qom-type":"memory-backend-ram","id":"pc.ram","size":134217728}',
    "-overcommit", "mem-lock=off",
    "-smp", "1,maxcpus=4,sockets=4,dies=1,cores=1,threads=1",
    "-uuid", UUID,
    "-display", "none",
    "-no-user-config",
    "-nodefaults",
    "-chardev", "socket,id=charmonitor,fd=31,server=on,wait=off",
    "-mon", "chardev=charmonitor,id=monitor,mode=control",
    "-rtc", "base=utc",
    "-no-shutdown",
    "-boot", "strict=on",
    "-audiodev", '{"id":"audio1","driver":"none"}',
    "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
    "-msg", "timestamp=on",
]  # fmt: skip


def test_libvirt_probe_command_line() -> None:
    config = parse(*PROBE)
    assert config.start_paused
    assert config.daemonize
    assert config.nodefaults
    assert config.no_user_config
    assert config.nographic
    assert config.display == "none"
    assert config.machine_type == "none"
    assert config.machine_props == {"graphics": "off"}  # what -nographic means to the machine
    assert config.accel == (AccelConfig("kvm"), AccelConfig("tcg"))
    assert config.pidfile == "/var/lib/libvirt/qemu/qmp-x/qmp.pid"
    assert config.monitors == (
        MonitorConfig(
            endpoint=UnixPath("/var/lib/libvirt/qemu/qmp-x/qmp.monitor"),
            chardev_id="compat_monitor0",
            wait=False,
            id="compat_monitor0",
        ),
    )
    assert config.memory == MemoryConfig(size_bytes=128 * MiB)
    assert config.ignored_options == ()


def test_libvirt_domain_command_line() -> None:
    config = parse(*DOMAIN)
    assert config.name == "demo"
    assert config.debug_threads is True
    assert config.start_paused
    assert config.no_shutdown
    assert not config.no_reboot
    assert config.machine_type == "pc-q35-7.2"
    assert config.machine_props == {"usb": "off", "dump-guest-core": "off", "memory-backend": "pc.ram"}
    assert config.accel == (AccelConfig("tcg"),)
    assert config.cpu_model == "qemu64"
    assert config.cpu_features == ()
    assert config.memory == MemoryConfig(size_bytes=128 * MiB)
    assert config.smp == SmpConfig(cpus=1, maxcpus=4, sockets=4, dies=1, cores=1, threads=1)
    assert config.uuid == UUID
    assert config.display == "none"
    assert config.monitors == (
        MonitorConfig(endpoint=InheritedFd(31), chardev_id="charmonitor", wait=False, id="monitor"),
    )
    assert config.chardevs == {
        "charmonitor": ChardevConfig("charmonitor", "socket", {"fd": "31", "server": "on", "wait": "off"})
    }
    assert [(obj.qom_type, obj.id) for obj in config.objects] == [
        ("secret", "masterKey0"),
        ("memory-backend-ram", "pc.ram"),
    ]
    assert config.objects[1].props == {"size": 134217728}
    assert config.objects[1].from_json
    assert [name for name, _ in config.ignored_options] == [
        "-overcommit",
        "-rtc",
        "-boot",
        "-audiodev",
        "-sandbox",
        "-msg",
    ]


def test_libvirt_hotplug_additions() -> None:
    read_end, write_end = os.pipe()
    inherited = 33
    os.dup2(read_end, inherited)
    try:
        config = parse(
            *DOMAIN,
            "-add-fd", f"set=0,fd={inherited},opaque=log",
            "-device", '{"driver":"qemu64-x86_64-cpu","id":"vcpu1","socket-id":1,"core-id":0,"thread-id":0}',
        )  # fmt: skip
    finally:
        for fd in (inherited, read_end, write_end):
            os.close(fd)
    assert config.add_fds == (AddFdConfig(fd=inherited, set=0, opaque="log"),)
    assert config.devices == (
        DeviceConfig(
            "qemu64-x86_64-cpu", "vcpu1", {"socket-id": 1, "core-id": 0, "thread-id": 0}, from_json=True
        ),
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [(["-kernel", "/boot/vmlinuz", "-append", "console=ttyS0"],
      "-kernel /boot/vmlinuz: vmd cannot boot a Linux kernel"),
     (["-overcommit", "mem-lock=on"], "-overcommit mem-lock=on: vmd cannot honour mem-lock=on"),
     (["-overcommit", "cpu-pm=on"], "-overcommit cpu-pm=on: vmd cannot honour cpu-pm=on"),
     (["-add-fd", "fd=1000,set=1"], "-add-fd fd=1000,set=1: fd is not valid or already in use")],
)  # fmt: skip
def test_what_vmd_cannot_honour_is_refused(args: list[str], message: str) -> None:
    """Not accepted and then ignored: the last is QEMU's text, the others vmd's."""
    with pytest.raises(CommandLineError) as caught:
        parse(*args)
    assert caught.value.message == message


# --------------------------------------------------------------------------------------
# Errors, in QEMU 7.2's words (each checked against qemu-system-x86_64 7.2)
# --------------------------------------------------------------------------------------

LONG_PATH = "/tmp/" + "x" * 120

# (argv, message after "vmd: "); "{d}" is a short temporary directory.
QEMU_ERRORS: list[tuple[list[str], str]] = [
    # option names and arguments: all looked up before any value is read
    (["-foo"], "-foo: invalid option"),
    (["--foo"], "--foo: invalid option"),
    (["--"], "--: invalid option"),
    (["-m"], "-m: requires an argument"),
    (["--m"], "--m: requires an argument"),
    (["-m", "12Q", "-foo"], "-foo: invalid option"),
    (["-machine"], "-machine: requires an argument"),
    (["-semihosting"], "-semihosting: Option not supported for this target"),
    # -uuid
    (["-uuid", "bad"], "-uuid bad: failed to parse UUID string: wrong format"),
    (["-uuid", "{12345678-1234-1234-1234-123456789abc}"],
     "-uuid {12345678-1234-1234-1234-123456789abc}: failed to parse UUID string: wrong format"),
    (["-uuid", "123456781234123412341234567890ab"],
     "-uuid 123456781234123412341234567890ab: failed to parse UUID string: wrong format"),
    # -smp: keyval, numbers checked when the machine is made (so no location)
    (["-smp", "x"], "Parameter 'smp.cpus' expects integer"),
    (["-smp", "cpus=x"], "Parameter 'smp.cpus' expects integer"),
    (["-smp", "1,maxcpus=x"], "Parameter 'smp.maxcpus' expects integer"),
    (["-smp", "1,sockets=1.5"], "Parameter 'smp.sockets' expects integer"),
    (["-smp", "1 "], "Parameter 'smp.cpus' expects integer"),
    (["-smp", "99999999999999999999999"], "Parameter 'smp.cpus' expects integer"),
    (["-smp", "4,foo=1"], "Parameter 'smp.foo' is unexpected"),
    (["-smp", "cpus.x=1"], "Parameters 'smp.cpus.*' are unexpected"),
    (["-smp", "4,,"], "-smp 4,,: Invalid parameter ''"),
    (["-smp", "a,b"], "-smp a,b: Expected '=' after parameter 'b'"),
    # -m: QemuOpts; QEMU adds a second line about suffixes, vmd keeps one line
    (["-m", "12Q"], "-m 12Q: Parameter 'size' expects a non-negative number below 2^64"),
    (["-m", "-1"], "-m -1: Parameter 'size' expects a non-negative number below 2^64"),
    (["-m", "1.5"], "-m 1.5: Parameter 'size' expects a non-negative number below 2^64"),
    (["-m", "1e3M"], "-m 1e3M: Parameter 'size' expects a non-negative number below 2^64"),
    (["-m", ".5G"], "-m .5G: Parameter 'size' expects a non-negative number below 2^64"),
    (["-m", "128 "], "-m 128 : Parameter 'size' expects a non-negative number below 2^64"),
    (["-m", "size="], "-m size=: Parameter 'size' expects a non-negative number below 2^64"),
    (["-m", "help"], "-m help: Parameter 'size' expects a non-negative number below 2^64"),
    (["-m", "16E"], "-m 16E: Value '16E' is out of range for parameter 'size'"),
    (["-m", "18446744073709551616"],
     "-m 18446744073709551616: Value '18446744073709551616' is out of range for parameter 'size'"),
    (["-m", "17592186044416"], "Parameter 'memory.size' expects size"),
    (["-m", "size=128,id=x"], "-m size=128,id=x: Invalid parameter 'id'"),
    (["-m", "size=128M,foo=1"], "-m size=128M,foo=1: Invalid parameter 'foo'"),
    (["-m", "1T,slots=x"], "-m 1T,slots=x: Parameter 'slots' expects a number"),
    (["-m", "slots=1.5"], "-m slots=1.5: Parameter 'slots' expects a number"),
    (["-m", "slots=99999999999999999999"],
     "-m slots=99999999999999999999: Value '99999999999999999999' is too large for parameter 'slots'"),
    (["-m", "1G,maxmem=x"], "-m 1G,maxmem=x: Parameter 'maxmem' expects a non-negative number below 2^64"),
    # -machine: keyval
    (["-machine", "none,,x"], "-machine none,,x: Invalid parameter ''"),
    (["-machine", ",none"], "-machine ,none: Invalid parameter ''"),
    (["-machine", "q35,foo"], "-machine q35,foo: Expected '=' after parameter 'foo'"),
    (["-machine", "accel=tcg,none"], "-machine accel=tcg,none: Expected '=' after parameter 'none'"),
    (["-machine", "none,a.b=1,a=2"], "-machine none,a.b=1,a=2: Parameters 'a.*' used inconsistently"),
    (["-machine", "none,1=1"], "-machine none,1=1: Invalid parameter '1'"),
    (["-machine", "none,_x=1"], "-machine none,_x=1: Invalid parameter '_x'"),
    (["-machine", "none,=1"], "-machine none,=1: Invalid parameter ''"),
    (["-machine", "none,kernel_irqchip=on,kernel-irqchip=off"],
     "Conflict between 'kernel_irqchip' and 'kernel-irqchip'"),
    (["-machine", "none,accel=tcg", "-accel", "tcg"],
     'The -accel and "-machine accel=" options are incompatible'),
    # JSON (-device and -object read it the same way)
    (["-device", "{bad"], "-device {bad: JSON parse error, invalid keyword 'bad'"),
    (["-object", "{bad"], "-object {bad: JSON parse error, invalid keyword 'bad'"),
    (["-device", '{"a":}'], '-device {"a":}: JSON parse error, expecting value'),
    (["-device", '{"a":1'], '-device {"a":1: JSON parse error, premature EOI'),
    (["-device", "{"], "-device {: JSON parse error, premature EOI"),
    (["-device", '{"a":1,}'], '-device {"a":1,}: JSON parse error, expecting value'),
    (["-device", '{"a" 1}'], '-device {"a" 1}: JSON parse error, missing : in object pair'),
    (["-device", '{"a" 1'], '-device {"a" 1: JSON parse error, missing : in object pair'),
    (["-device", "{1:1}"], "-device {1:1}: JSON parse error, key is not a string in object"),
    (["-device", "{,}"], "-device {,}: JSON parse error, expecting value"),
    (["-device", '{"a":tru}'], '-device {"a":tru}: JSON parse error, invalid keyword \'tru\''),
    (["-device", '{"a":TRUE}'], "-device {\"a\":TRUE}: JSON parse error, stray 'T'"),
    (["-device", '{"a":NaN}'], "-device {\"a\":NaN}: JSON parse error, stray 'N'"),
    (["-device", '{"a":@}'], "-device {\"a\":@}: JSON parse error, stray '@'"),
    (["-device", '{"a":01}'], "-device {\"a\":01}: JSON parse error, stray '01'"),
    (["-device", '{"a":1.}'], "-device {\"a\":1.}: JSON parse error, stray '1.}'"),
    (["-device", '{"a":-}'], "-device {\"a\":-}: JSON parse error, stray '-}'"),
    (["-device", '{"a":1e}'], "-device {\"a\":1e}: JSON parse error, stray '1e}'"),
    (["-device", '{"a":1.5.2}'], "-device {\"a\":1.5.2}: JSON parse error, stray '.'"),
    (["-device", '{"a":"x'], "-device {\"a\":\"x: JSON parse error, stray '\"x'"),
    (["-device", '{"a":"\tb"}'], "-device {\"a\":\"\tb\"}: JSON parse error, stray '\"\t'"),
    (["-device", '{"a":1x}'], '-device {"a":1x}: JSON parse error, expected separator in dict'),
    (["-device", '{"a":[1 2]}'], '-device {"a":[1 2]}: JSON parse error, expected separator in list'),
    (["-device", '{"a":[1,2}'], '-device {"a":[1,2}: JSON parse error, expected separator in list'),
    (["-device", '{"a":{"b":1]}'], '-device {"a":{"b":1]}: JSON parse error, expected separator in dict'),
    (["-device", '{"a":1,"a":2}'], '-device {"a":1,"a":2}: JSON parse error, duplicate key'),
    (["-device", '{"a":"\\x"}'], '-device {"a":"\\x"}: JSON parse error, invalid escape sequence in string'),
    (["-device", '{"a":"\\u12"}'],
     '-device {"a":"\\u12"}: JSON parse error, \\u12" is not a valid Unicode character'),
    (["-device", '{"a":"\\ud800"}'],
     '-device {"a":"\\ud800"}: JSON parse error, \\ud800 is not a valid Unicode character'),
    (["-device", '{"a":"\\uffff"}'],
     '-device {"a":"\\uffff"}: JSON parse error, \\uffff is not a valid Unicode character'),
    (["-device", '{"driver":"x"} x'], '-device {"driver":"x"} x: Expecting at most one JSON value'),
    (["-device", '{"a":1}}'], '-device {"a":1}}: Expecting at most one JSON value'),
    (["-device", '{"a":' + "[" * 1024 + "]" * 1024 + "}"],
     '-device {"a":' + "[" * 1024 + "]" * 1024 + "}: JSON nesting depth limit exceeded"),
    # -device
    (["-device", ""], "-device : Parameter 'driver' is missing"),
    (["-device", "id=x"], "-device id=x: Parameter 'driver' is missing"),
    (["-device", '{"a":1}'], "-device {\"a\":1}: Parameter 'driver' is missing"),
    (["-device", '{"driver":1}'], "-device {\"driver\":1}: Parameter 'driver' is missing"),
    (["-device", "x,id=1d"], "-device x,id=1d: Parameter 'id' expects an identifier"),
    (["-device", "x,id=d", "-device", "y,id=d"], "-device y,id=d: Duplicate ID 'd' for device"),
    # -object
    (["-object", '{"id":"x"}'], "-object {\"id\":\"x\"}: Parameter 'qom-type' is missing"),
    (["-object", '{"qom-type":"secret"}'], "-object {\"qom-type\":\"secret\"}: Parameter 'id' is missing"),
    (["-object", '{"qom-type":"secret","id":1,"data":"x"}'],
     "-object {\"qom-type\":\"secret\",\"id\":1,\"data\":\"x\"}: "
     "Invalid parameter type for 'id', expected: string"),
    (["-object", '{"qom-type":1,"id":"s","data":"x"}'],
     "-object {\"qom-type\":1,\"id\":\"s\",\"data\":\"x\"}: "
     "Invalid parameter type for 'qom-type', expected: string"),
    (["-object", '{"qom-type":"secret","id":"1s","data":"x"}'], "Parameter 'id' expects an identifier"),
    (["-object", "secret,id=1s,data=x"], "-object secret,id=1s,data=x: Parameter 'id' expects an identifier"),
    (["-object", "id=x"], "-object id=x: Parameter 'qom-type' is missing"),
    (["-object", "secret"], "-object secret: Parameter 'id' is missing"),
    (["-object", "secret,id=s,data=x", "-object", "secret,id=s,data=y"],
     "-object secret,id=s,data=y: Duplicate ID 's' for object"),
    (["-object", '{"qom-type":"secret","id":"s","data":"x"}',
      "-object", '{"qom-type":"secret","id":"s","data":"y"}'],
     "attempt to add duplicate property 's' to object (type 'container')"),
    # -chardev
    (["-chardev", "socket"], "-chardev socket: chardev: no id specified"),
    (["-chardev", ""], "-chardev : chardev: no id specified"),
    (["-chardev", "id=c"], '-chardev id=c: chardev: "c" missing backend'),
    (["-chardev", "foo,id=c"], "-chardev foo,id=c: 'foo' is not a valid char driver name"),
    (["-chardev", "unix,id=c"], "-chardev unix,id=c: 'unix' is not a valid char driver name"),
    (["-chardev", "socket,id=x"], "-chardev socket,id=x: Unable to parse FD number "),
    (["-chardev", "socket,id=c,fd=abc,server=on,wait=off"],
     "-chardev socket,id=c,fd=abc,server=on,wait=off: Unable to parse FD number abc"),
    (["-chardev", "socket,id=c,fd=-1,server=on,wait=off"],
     "-chardev socket,id=c,fd=-1,server=on,wait=off: File descriptor '-1' is not a socket"),
    (["-chardev", "socket,id=c,fd=2147483648,server=on,wait=off"],
     "-chardev socket,id=c,fd=2147483648,server=on,wait=off: Unable to parse FD number 2147483648: "
     "Numerical result out of range"),
    (["-chardev", "socket,id=c,fd=99999999999999999999,server=on,wait=off"],
     "-chardev socket,id=c,fd=99999999999999999999,server=on,wait=off: Unable to parse FD number "
     "99999999999999999999: Numerical result out of range"),
    (["-chardev", "socket,id=c,fd=0x10,server=on,wait=off"],
     "-chardev socket,id=c,fd=0x10,server=on,wait=off: Unable to parse FD number 0x10"),
    (["-chardev", "socket,id=c,path={d}/s,server=off,wait=off"],
     "-chardev socket,id=c,path={d}/s,server=off,wait=off: "
     "'wait' option is incompatible with socket in client connect mode"),
    (["-chardev", "socket,id=c,path={d}/s,server=on,wait=off,reconnect=1"],
     "-chardev socket,id=c,path={d}/s,server=on,wait=off,reconnect=1: "
     "'reconnect' option is incompatible with socket in server listen mode"),
    (["-chardev", "socket,id=c,path={d}/s,fd=3,server=on,wait=off"],
     "-chardev socket,id=c,path={d}/s,fd=3,server=on,wait=off: "
     "None or one of 'path', 'fd' or 'host' option required."),
    (["-chardev", "socket,id=c,host=localhost"],
     "-chardev socket,id=c,host=localhost: chardev: socket: no port given"),
    (["-chardev", "socket,id=c,path={d}/s,server=maybe"],
     "-chardev socket,id=c,path={d}/s,server=maybe: Parameter 'server' expects 'on' or 'off'"),
    (["-chardev", f"socket,id=c,path={LONG_PATH},server=on,wait=off"],
     f"-chardev socket,id=c,path={LONG_PATH},server=on,wait=off: UNIX socket path '{LONG_PATH}' is too long"),
    (["-chardev", "socket,id=c,path={d}/s,server=on,wait=off,delay=on,nodelay=on"],
     "-chardev socket,id=c,path={d}/s,server=on,wait=off,delay=on,nodelay=on: "
     "'delay' and 'nodelay' are mutually exclusive"),
    (["-chardev", "null,id=c", "-chardev", "null,id=c"], "-chardev null,id=c: Duplicate ID 'c' for chardev"),
    (["-chardev", "null,id=1c"], "-chardev null,id=1c: Parameter 'id' expects an identifier"),
    (["-chardev", "null,id=c,foo"], "-chardev null,id=c,foo: Invalid parameter 'foo'"),
    (["-chardev", "file,id=c"], "-chardev file,id=c: chardev: file: no filename given"),
    (["-chardev", "pipe,id=p"], "-chardev pipe,id=p: chardev: pipe: no device path given"),
    (["-chardev", "serial,id=p"], "-chardev serial,id=p: chardev: serial/tty: no device path given"),
    (["-chardev", "tty,id=p"], "-chardev tty,id=p: chardev: serial/tty: no device path given"),
    (["-chardev", "ringbuf,id=p,size=x"],
     "-chardev ringbuf,id=p,size=x: Parameter 'size' expects a non-negative number below 2^64"),
    # -mon and -qmp
    (["-chardev", "socket,id=c,path={d}/s,server=on,wait=off", "-mon", "chardev=c,mode=foo"],
     "-mon chardev=c,mode=foo: Parameter 'mode' does not accept value 'foo'"),
    (["-mon", "mode=control"], "-mon mode=control: Parameter 'chardev' is missing"),
    (["-mon", ""], "-mon : Parameter 'chardev' is missing"),
    (["-mon", "c,pretty=maybe"], "-mon c,pretty=maybe: Parameter 'pretty' expects 'on' or 'off'"),
    (["-mon", "c,foo=1"], "-mon c,foo=1: Invalid parameter 'foo'"),
    (["-mon", "c,id=1m"], "-mon c,id=1m: Parameter 'id' expects an identifier"),
    (["-mon", "c,id=m", "-mon", "c,id=m"], "-mon c,id=m: Duplicate ID 'm' for mon"),
    (["-mon", "chardev=nope"], '-mon chardev=nope: chardev "nope" not found'),
    (["-mon", "nope,mode=control"], '-mon nope,mode=control: chardev "nope" not found'),
    (["-chardev", "socket,id=c,path={d}/s,server=on,wait=off",
      "-mon", "c,mode=control", "-mon", "c,mode=control"],
     "-mon c,mode=control: Device 'c' is in use"),
    (["-qmp", "unix:{d}/q,server=on,wait=off", "-mon", "compat_monitor0,mode=control"],
     "-mon compat_monitor0,mode=control: Device 'compat_monitor0' is in use"),
    (["-qmp", "foo"], "-qmp foo: 'foo' is not a valid char driver"),
    (["-qmp", "none"], "-qmp none: 'none' is not a valid char driver"),
    (["-qmp", "unix:{d}/q,foo=1"], "-qmp unix:{d}/q,foo=1: Invalid parameter 'foo'"),
    (["-qmp", "unix:"], "-qmp unix:: Unable to parse FD number "),
    (["-qmp", "tcp:"], "-qmp tcp:: parse error: tcp:"),
    (["-qmp", "tcp:localhost"], "-qmp tcp:localhost: parse error: tcp:localhost"),
    (["-qmp", "chardev:nope"], '-qmp chardev:nope: chardev "nope" not found'),
    (["-qmp", "chardev:1x"], "-qmp chardev:1x: Parameter 'id' expects an identifier"),
    (["-chardev", "socket,id=c,path={d}/s,server=on,wait=off", "-qmp", "chardev:c", "-qmp", "chardev:c"],
     "-qmp chardev:c: Duplicate ID 'c' for mon"),
    # -serial
    (["-serial", "foo"], "-serial foo: 'foo' is not a valid char driver"),
    (["-serial", "vc:bad"], "-serial vc:bad: could not connect serial device to character backend 'vc:bad'"),
    (["-serial", "chardev:nope"],
     "-serial chardev:nope: could not connect serial device to character backend 'chardev:nope'"),
    # -name
    (["-name", "guest=a,,b,debug-threads=maybe"],
     "-name guest=a,,b,debug-threads=maybe: Parameter 'debug-threads' expects 'on' or 'off'"),
    (["-name", "a,foo=1"], "-name a,foo=1: Invalid parameter 'foo'"),
    (["-name", "a,id=x"], "-name a,id=x: Invalid parameter 'id'"),
    # -numa (checked by QEMU's options visitor)
    (["-numa", "foo"], "-numa foo: Parameter 'type' does not accept value 'foo'"),
    (["-numa", "help"], "-numa help: Parameter 'type' does not accept value 'help'"),
    (["-numa", "foo=1"], "-numa foo=1: Parameter 'type' is missing"),
    (["-numa", "node,foo=1"], "-numa node,foo=1: Invalid parameter 'foo'"),
    (["-numa", "node,id=x"], "-numa node,id=x: Invalid parameter 'id'"),
    (["-numa", "node,nodeid=x"], "-numa node,nodeid=x: Parameter 'nodeid' expects a uint64 value"),
    (["-numa", "node,nodeid=-1"], "-numa node,nodeid=-1: Parameter 'nodeid' expects a uint64 value"),
    (["-numa", "node,nodeid=70000"], "-numa node,nodeid=70000: Parameter 'nodeid' expects uint16_t"),
    (["-numa", "node,cpus=3-1"], "-numa node,cpus=3-1: Parameter 'cpus' expects a uint64 value or range"),
    (["-numa", "node,cpus=1-"], "-numa node,cpus=1-: Parameter 'cpus' expects a uint64 value or range"),
    (["-numa", "node,cpus=0-1:3"], "-numa node,cpus=0-1:3: Parameter 'cpus' expects a uint64 value or range"),
    (["-numa", "node,cpus=0-4294967296"],
     "-numa node,cpus=0-4294967296: Parameter 'cpus' expects a uint64 value or range"),
    (["-numa", "node,cpus=70000"], "-numa node,cpus=70000: Parameter 'null' expects uint16_t"),
    (["-numa", "node,mem=x"], "-numa node,mem=x: Parameter 'mem' expects a size value"),
    (["-numa", "node,initiator=x"], "-numa node,initiator=x: Parameter 'initiator' expects a uint64 value"),
    (["-numa", "cpu,node-id=x"], "-numa cpu,node-id=x: Parameter 'node-id' expects an int64 value"),
    (["-numa", "cpu,node-id=0,socket-id=x"],
     "-numa cpu,node-id=0,socket-id=x: Parameter 'socket-id' expects an int64 value"),
    (["-numa", "dist,src=0"], "-numa dist,src=0: Parameter 'dst' is missing"),
    (["-numa", "dist,src=70000,dst=1,val=1"],
     "-numa dist,src=70000,dst=1,val=1: Parameter 'src' expects uint16_t"),
    (["-numa", "dist,src=0,dst=1,val=300"],
     "-numa dist,src=0,dst=1,val=300: Parameter 'val' expects uint8_t"),
    (["-numa", "hmat-lb,initiator=0"], "-numa hmat-lb,initiator=0: Parameter 'target' is missing"),
    (["-numa", "hmat-lb,initiator=0,target=0,hierarchy=x,data-type=access-latency"],
     "-numa hmat-lb,initiator=0,target=0,hierarchy=x,data-type=access-latency: "
     "Parameter 'hierarchy' does not accept value 'x'"),
    (["-numa", "hmat-cache,node-id=0"], "-numa hmat-cache,node-id=0: Parameter 'size' is missing"),
    (["-numa", "hmat-cache,node-id=0,size=x,level=1,associativity=direct,policy=write-back,line=8"],
     "-numa hmat-cache,node-id=0,size=x,level=1,associativity=direct,policy=write-back,line=8: "
     "Parameter 'size' expects a size value"),
    # options vmd accepts and ignores still get QEMU's checks
    (["-msg", "timestamp=maybe"], "-msg timestamp=maybe: Parameter 'timestamp' expects 'on' or 'off'"),
    (["-msg", "foo=1"], "-msg foo=1: Invalid parameter 'foo'"),
    (["-boot", "strict=x"], "Parameter 'boot.strict' expects 'on' or 'off'"),
    (["-boot", "foo=x"], "Parameter 'boot.foo' is unexpected"),
    (["-boot", "splash-time=x"], "Parameter 'boot.splash-time' expects integer"),
    (["-boot", "menu=on,menu.x=1"], "-boot menu=on,menu.x=1: Parameters 'menu.*' used inconsistently"),
    (["-rtc", "base=utc,foo=1"], "-rtc base=utc,foo=1: Invalid parameter 'foo'"),
    (["-rtc", "utc"], "-rtc utc: Invalid parameter 'utc'"),
    (["-overcommit", "mem-lock=x"], "-overcommit mem-lock=x: Parameter 'mem-lock' expects 'on' or 'off'"),
    (["-overcommit", "foo"], "-overcommit foo: Invalid parameter 'foo'"),
    (["-sandbox", "on,foo=deny"], "-sandbox on,foo=deny: Invalid parameter 'foo'"),
    (["-sandbox", "maybe"], "-sandbox maybe: Parameter 'enable' expects 'on' or 'off'"),
    (["-sandbox", "on,obsolete=maybe"], "-sandbox on,obsolete=maybe: invalid argument for obsolete"),
    (["-sandbox", "on,spawn=maybe"], "-sandbox on,spawn=maybe: invalid argument for spawn"),
    (["-audiodev", "none"], "-audiodev none: Parameter 'id' is missing"),
    (["-audiodev", "driver=none"], "-audiodev driver=none: Parameter 'id' is missing"),
    (["-vga", "foo"], "unknown vga type: foo"),
    (["-vga", "stdx"], "unknown vga type: stdx"),
    (["-seed", "x"], "-seed x: Invalid seed number: x"),
    (["-action", "shutdown=foo"], "-action shutdown=foo: Parameter 'shutdown' does not accept value 'foo'"),
    (["-action", "watchdog=inject-nmi,reboot=x"],
     "-action watchdog=inject-nmi,reboot=x: Parameter 'reboot' does not accept value 'x'"),
    (["-action", "foo=1"], "-action foo=1: Invalid parameter 'foo'"),
    # the rest
    (["-add-fd", "fd=x,set=2"], "-add-fd fd=x,set=2: Parameter 'fd' expects a number"),
    (["-add-fd", "set=2"], "-add-fd set=2: fd option is required and must be non-negative"),
    (["-add-fd", "fd=1,set=2"], "-add-fd fd=1,set=2: fd cannot be a standard I/O stream"),
    (["-add-fd", "3"], "-add-fd 3: Invalid parameter '3'"),
    (["-add-fd", "fd=3,set=2,opaque=x,foo=1"], "-add-fd fd=3,set=2,opaque=x,foo=1: Invalid parameter 'foo'"),
    (["-incoming", "foo"], "-incoming foo: unknown migration protocol: foo"),
    (["-incoming", "file:/x"], "-incoming file:/x: unknown migration protocol: file:/x"),
    (["-global", "foo"], "-global foo: Invalid parameter 'foo'"),
    (["-global", "x=z"], "-global x=z: Invalid parameter 'x'"),
    (["-global", ".y=z"], "-global .y=z: Invalid parameter '.y'"),
    (["-global", "driver=x"], "-global driver=x: options 'driver', 'property', and 'value' are required"),
    (["-display", "none,foo=1"], "-display none,foo=1: Parameter 'foo' is unexpected"),
    (["-display", "foo"], "-display foo: Parameter 'type' does not accept value 'foo'"),
    (["-display", "vnc"], "-display vnc: VNC requires a display argument vnc=<display>"),
    (["-display", "none,,x"], "-display none,,x: Invalid parameter ''"),
    (["-append", "foo"], "-append only allowed with -kernel option"),
    (["-initrd", "foo"], "-initrd only allowed with -kernel option"),
]  # fmt: skip


def _fill(text: str, directory: str) -> str:
    return text.replace("{d}", directory)


@pytest.mark.parametrize(
    ("argv", "message"), QEMU_ERRORS, ids=[" ".join(argv)[:60] for argv, _ in QEMU_ERRORS]
)
def test_errors_use_qemu_words(argv: list[str], message: str, workdir: Path) -> None:
    argv = [_fill(arg, str(workdir)) for arg in argv]
    assert error_of(*argv) == _fill(message, str(workdir))


def _qemu_first_error(qemu: str, argv: list[str]) -> str | None:
    """The first error line of qemu-system-x86_64 for `argv`, or None if it did not fail at once."""
    try:
        done = subprocess.run(
            [qemu, "-nodefaults", "-display", "none", "-S", *argv],
            capture_output=True,
            text=True,
            errors="surrogateescape",
            timeout=10,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return None
    for line in done.stderr.splitlines():
        if line.startswith("qemu-system-x86_64: ") and ": warning: " not in line:
            return line.removeprefix("qemu-system-x86_64: ")
    return done.stderr


@pytest.mark.qemu
@pytest.mark.parametrize(
    ("argv", "message"), QEMU_ERRORS, ids=[" ".join(argv)[:60] for argv, _ in QEMU_ERRORS]
)
def test_qemu_says_the_same(qemu: str, argv: list[str], message: str, workdir: Path) -> None:
    argv = [_fill(arg, str(workdir)) for arg in argv]
    assert _qemu_first_error(qemu, argv) == _fill(message, str(workdir))


# vmd's own refusals: QEMU would accept these, vmd cannot honour them.
VMD_ERRORS: list[tuple[list[str], str]] = [
    (["-chardev", "socket,id=c,path=/tmp/s,server=on", "-mon", "c"],
     "-mon c: vmd implements only QMP monitors (mode=control); the human monitor (HMP) is not supported: "
     "add mode=control"),
    (["-monitor", "stdio"],
     "-monitor stdio: vmd implements only QMP monitors (mode=control); the human monitor (HMP) is not "
     "supported: use -qmp"),
    (["-serial", "mon:stdio"],
     "-serial mon:stdio: vmd implements only QMP monitors (mode=control); "
     "the human monitor (HMP) is not supported"),
    (["-qmp", "tcp:localhost:4444,server=on,wait=off"],
     "-qmp tcp:localhost:4444,server=on,wait=off: vmd serves QMP only on unix sockets (path=PATH or an "
     "inherited fd=N), not on TCP (host=localhost)"),
    (["-qmp", "stdio"],
     "-qmp stdio: vmd serves QMP only on unix sockets (path=PATH or an inherited fd=N), not 'stdio'"),
    (["-qmp", "mon:stdio"],
     "-qmp mon:stdio: vmd serves QMP only on unix sockets (path=PATH or an inherited fd=N), not 'mon:stdio'"),
    (["-chardev", "file,id=f,path=/tmp/log", "-mon", "f,mode=control"],
     "-mon f,mode=control: vmd serves QMP only on unix sockets (path=PATH or an inherited fd=N), "
     "not on a 'file' chardev"),
    (["-chardev", "socket,id=c,host=localhost,port=4444,server=on,wait=off", "-mon", "c,mode=control"],
     "-mon c,mode=control: vmd serves QMP only on unix sockets (path=PATH or an inherited fd=N), "
     "not on TCP (host=localhost)"),
    (["-qmp", "unix:/tmp/s"],
     "-qmp unix:/tmp/s: vmd does not support client-mode monitor sockets (server=off); use server=on"),
    (["-chardev", "socket,id=c,path=/tmp/s,server=on,telnet=on", "-mon", "c,mode=control"],
     "-mon c,mode=control: vmd does not support telnet=on on a monitor socket"),
    (["-qmp", "unix:/tmp/s,server=on,mode=rw"],
     "-qmp unix:/tmp/s,server=on,mode=rw: Parameter 'mode' expects octal permissions such as 0660, not 'rw'"),
    (["-chardev", "file,id=f,path=/tmp/log,mode=0600"],
     "-chardev file,id=f,path=/tmp/log,mode=0600: Invalid parameter 'mode'"),
    (["-drive", "file=disk.img"], "-drive file=disk.img: not supported by vmd"),
    (["-netdev", "user,id=n"], "-netdev user,id=n: not supported by vmd"),
    (["-net", "nic"], "-net nic: not supported by vmd"),
    (["-s"], "-s: not supported by vmd"),
    (["disk.img"], "disk.img: disk images are not supported by vmd"),
    (["-vmd-guest", "help"], "-vmd-guest help: Help is not available for this option"),
    (["-vmd-guest", "ack"], "-vmd-guest ack: Expected '=' after parameter 'ack'"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "message"), VMD_ERRORS, ids=[" ".join(argv)[:60] for argv, _ in VMD_ERRORS])
def test_vmd_refusals(argv: list[str], message: str) -> None:
    assert error_of(*argv) == message


@pytest.mark.parametrize(("argv", "message"), QEMU_ERRORS + VMD_ERRORS)
def test_every_error_is_one_line(argv: list[str], message: str) -> None:
    assert "\n" not in message


# --------------------------------------------------------------------------------------
# Value syntaxes
# --------------------------------------------------------------------------------------


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


def test_double_comma_escapes_a_comma() -> None:
    config = parse(
        "-name", "a,,b,process=p,,q",
        "-chardev", "file,id=log,path=/tmp/a,,b",
        "-qmp", "unix:/tmp/q,,1,server=on,wait=off",
        "-machine", "q35,firmware=x,,y",
    )  # fmt: skip
    assert config.name == "a,b"
    assert config.process_name == "p,q"
    assert config.chardevs["log"].props == {"path": "/tmp/a,b"}
    assert config.monitors[0].endpoint == UnixPath("/tmp/q,1")
    assert config.machine_props == {"firmware": "x,y"}


def test_keyval_implied_value_ends_at_the_first_comma() -> None:
    # In -machine (keyval) ",," escapes only after "key=": "none,,x" is "none" then ",x".
    assert error_of("-machine", "none,,x") == "-machine none,,x: Invalid parameter ''"
    assert parse("-machine", "type=a,,b").machine_type == "a,b"


def test_booleans_take_every_spelling_and_are_normalised() -> None:
    config = parse(
        "-chardev", "socket,id=a,path=/tmp/a,server=y,wait=no",
        "-chardev", "socket,id=b,path=/tmp/b,server=true,wait=false",
        "-chardev", "socket,id=c,path=/tmp/c,server=yes,wait=n",
    )  # fmt: skip
    for chardev in config.chardevs.values():
        assert (chardev.props["server"], chardev.props["wait"]) == ("on", "off")


def test_legacy_bare_flags() -> None:
    config = parse("-qmp", "unix:/tmp/q,server,nowait", "-chardev", "socket,id=c,path=/tmp/c,server,nowait")
    assert config.monitors[0].wait is False
    assert config.chardevs["c"].props == {"path": "/tmp/c", "server": "on", "wait": "off"}


def test_a_server_socket_waits_for_its_first_client_by_default() -> None:
    config = parse("-qmp", "unix:/tmp/q,server=on")
    assert config.monitors[0].wait is True


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


def test_name_options_merge() -> None:
    config = parse("-name", "demo", "-name", "process=vmd-demo,debug-threads=off")
    assert (config.name, config.process_name, config.debug_threads) == ("demo", "vmd-demo", False)


def test_uuid_is_stored_in_lower_case() -> None:
    assert parse("-uuid", UUID.upper()).uuid == UUID


def test_options_take_one_or_two_dashes() -> None:
    assert parse("--m", "1G", "--S", "--name", "x") == parse("-m", "1G", "-S", "-name", "x")


def test_an_option_argument_may_start_with_a_dash() -> None:
    assert parse("-name", "-S").name == "-S"


# --------------------------------------------------------------------------------------
# Monitors, chardevs, serial ports
# --------------------------------------------------------------------------------------


def test_several_monitors() -> None:
    config = parse(
        "-qmp", "unix:/run/a.sock,server=on,wait=off",
        "-qmp-pretty", "unix:/run/b.sock,server=on,wait=off,mode=0660",
        "-chardev", "socket,id=mon0,fd=7,server=on,wait=off",
        "-mon", "chardev=mon0,mode=control,pretty=on,id=m0",
        "-chardev", "socket,id=mon1,path=/run/c.sock,server=on,mode=640",
        "-qmp", "chardev:mon1",
    )  # fmt: skip
    assert config.monitors == (
        MonitorConfig(UnixPath("/run/a.sock"), "compat_monitor0", wait=False, id="compat_monitor0"),
        MonitorConfig(UnixPath("/run/b.sock"), "compat_monitor1", wait=False, pretty=True, socket_mode=0o660,
                      id="compat_monitor1"),
        MonitorConfig(InheritedFd(7), "mon0", wait=False, pretty=True, id="m0"),
        MonitorConfig(UnixPath("/run/c.sock"), "mon1", wait=True, socket_mode=0o640, id="mon1"),
    )  # fmt: skip
    assert list(config.chardevs) == ["compat_monitor0", "compat_monitor1", "mon0", "mon1"]


def test_a_monitor_may_name_a_chardev_defined_later() -> None:
    config = parse("-mon", "c,mode=control", "-chardev", "socket,id=c,fd=3,server=on,wait=off")
    assert config.monitors[0].endpoint == InheritedFd(3)


def test_monitor_none_is_accepted() -> None:
    assert parse("-monitor", "none").monitors == ()


def test_chardevs_not_used_by_monitors_are_kept() -> None:
    config = parse(
        "-chardev", "file,id=log,path=/tmp/console.log,append=on",
        "-chardev", "null,id=nothing",
        "-chardev", "socket,id=sock,path=/tmp/serial.sock,server=on,wait=off",
    )  # fmt: skip
    assert config.chardevs == {
        "log": ChardevConfig("log", "file", {"path": "/tmp/console.log", "append": "on"}),
        "nothing": ChardevConfig("nothing", "null"),
        "sock": ChardevConfig("sock", "socket", {"path": "/tmp/serial.sock", "server": "on", "wait": "off"}),
    }
    assert config.monitors == ()


def test_serial_ports() -> None:
    config = parse(
        "-chardev", "file,id=log,path=/tmp/log",
        "-serial", "none",
        "-serial", "chardev:log",
        "-serial", "file:/tmp/second",
        "-serial", "null",
        "-serial", "stdio",
        "-serial", "unix:/tmp/s,server=on,wait=off",
        "-serial", "tcp::4444,server=on,wait=off",
    )  # fmt: skip
    assert config.serials == (
        SerialConfig(0, "log"),
        SerialConfig(1, "serial1"),
        SerialConfig(2, "serial2"),
        SerialConfig(3, "serial3"),
        SerialConfig(4, "serial4"),
        SerialConfig(5, "serial5"),
    )
    assert config.chardevs["serial1"] == ChardevConfig("serial1", "file", {"path": "/tmp/second"})
    assert config.chardevs["serial2"] == ChardevConfig("serial2", "null")
    assert config.chardevs["serial3"] == ChardevConfig("serial3", "stdio")
    assert config.chardevs["serial4"].props == {"path": "/tmp/s", "server": "on", "wait": "off"}
    assert config.chardevs["serial5"].props == {"host": "", "port": "4444", "server": "on", "wait": "off"}


# --------------------------------------------------------------------------------------
# Devices, objects, NUMA, globals
# --------------------------------------------------------------------------------------


def test_devices_in_both_forms_keep_order_and_types() -> None:
    config = parse(
        "-device", "pcie-root-port,id=rp1,chassis=1,bus=pcie.0,addr=0x2",
        "-device", '{"driver":"virtio-rng-pci","id":"rng0","bus":"rp1","max-bytes":1024,"period":1000,'
        '"x-flag":true,"list":[1,"a",null],"nested":{"k":1.5},\'single\':\'quotes\'}',
        "-device", "qemu64-x86_64-cpu,socket-id=1,core-id=0,thread-id=0",
    )  # fmt: skip
    first, second, third = config.devices
    assert first == DeviceConfig("pcie-root-port", "rp1", {"chassis": "1", "bus": "pcie.0", "addr": "0x2"})
    assert (second.driver, second.id, second.from_json) == ("virtio-rng-pci", "rng0", True)
    assert thaw_json(second.props) == {
        "bus": "rp1",
        "max-bytes": 1024,
        "period": 1000,
        "x-flag": True,
        "list": [1, "a", None],
        "nested": {"k": 1.5},
        "single": "quotes",
    }
    assert isinstance(second.props["list"], tuple)
    assert isinstance(second.props["nested"], Mapping)
    assert third.id is None
    assert third.props == {"socket-id": "1", "core-id": "0", "thread-id": "0"}


def test_json_device_ids_clash_with_any_device_id() -> None:
    # checked against QEMU 7.2 (with -M q35 and a real driver)
    message = error_of("-device", "pcie-root-port,id=d", "-device", '{"driver":"pcie-root-port","id":"d"}')
    assert message == '-device {"driver":"pcie-root-port","id":"d"}: Duplicate device ID \'d\''


def test_a_json_device_id_that_is_not_a_string_is_no_id() -> None:
    # QEMU 7.2 accepts {"driver":"pcie-root-port","id":1} and gives the device no id
    (device,) = parse("-device", '{"driver":"pcie-root-port","id":1,"chassis":2}').devices
    assert device == DeviceConfig("pcie-root-port", None, {"chassis": 2}, from_json=True)


def test_objects_in_both_forms() -> None:
    config = parse(
        "-object", "memory-backend-ram,id=m0,size=1G,share=off",
        "-object", '{"qom-type":"memory-backend-ram","id":"m1","size":1073741824,"prealloc":false}',
    )  # fmt: skip
    assert config.objects == (
        ObjectConfig("memory-backend-ram", "m0", {"size": "1G", "share": "off"}),
        ObjectConfig("memory-backend-ram", "m1", {"size": 1073741824, "prealloc": False}, from_json=True),
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [("foo,id=x", "-object foo,id=x: Parameter 'qom-type' does not accept value 'foo'"),
     ("iothread,id=io0", "-object iothread,id=io0: Parameter 'qom-type' does not accept value 'iothread'"),
     ("memory-backend-ram,id=m", "-object memory-backend-ram,id=m: Parameter 'size' is missing"),
     ("memory-backend-ram,id=m,size=1M,bogus=1",
      "-object memory-backend-ram,id=m,size=1M,bogus=1: Invalid parameter 'bogus'"),
     ("memory-backend-ram,id=m,size=1M,share=on",
      "-object memory-backend-ram,id=m,size=1M,share=on: memory-backend-ram property 'share' is not "
      "supported by vmd"),
     ("memory-backend-file,id=m,size=1M",
      "-object memory-backend-file,id=m,size=1M: Parameter 'mem-path' is missing"),
     ("secret,id=s,data=x,keyid=k",
      "-object secret,id=s,data=x,keyid=k: secret property 'keyid' is not supported by vmd")],
)  # fmt: skip
def test_objects_vmd_cannot_honour_are_refused(option: str, message: str) -> None:
    """QEMU's words where QEMU refuses too (the first ones are compared with QEMU in
    tests/integration); vmd's own, naming the property, where QEMU would accept what vmd cannot do."""
    with pytest.raises(CommandLineError) as caught:
        parse("-object", option)
    assert caught.value.message == message


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


def test_globals() -> None:
    config = parse(
        "-global", "ICH9-LPC.disable_s3=1",
        "-global", "driver=cfi.pflash01,property=secure,value=on",
        "-global", "a.b=c,d",
    )  # fmt: skip
    assert config.globals == (
        GlobalConfig("ICH9-LPC", "disable_s3", "1"),
        GlobalConfig("cfi.pflash01", "secure", "on"),
        GlobalConfig("a", "b", "c,d"),
    )


def test_incoming_is_checked_then_refused() -> None:
    """Until vmd can receive a migration: the URI is checked as QEMU checks it, the last one
    given counts, and then start-up stops instead of waiting for a stream that never comes."""
    for args, last in (
        (["-incoming", "tcp:0:4444", "-incoming", "defer"], "defer"),
        (["-incoming", "unix:/tmp/mig"], "unix:/tmp/mig"),
    ):
        with pytest.raises(CommandLineError) as caught:
            parse(*args)
        assert str(caught.value) == f"-incoming {last}: vmd cannot receive a migration"


def test_actions() -> None:
    assert parse("-no-reboot").no_reboot
    assert parse("-action", "shutdown=pause").no_shutdown
    config = parse("-no-shutdown", "-action", "shutdown=poweroff,panic=none")
    assert not config.no_shutdown
    assert config.ignored_options == (("-action", "shutdown=poweroff,panic=none"),)


def test_guest_policy() -> None:
    config = parse("-vmd-guest", "unplug=ack,online.delay-ms=10", "-vmd-guest", "unplug=ignore")
    assert config.guest_policy == {"unplug": "ignore", "online.delay-ms": "10"}


def test_log_file_and_limits_are_vmds_own() -> None:
    config = parse(
        "-D", "/tmp/vmd.log", "-vmd-limits", "max-message=64k,max-output=1M", "-vmd-limits", "queue-depth=4"
    )
    assert config.log_file == "/tmp/vmd.log"
    assert config.limits == {"max-message": 65536, "max-output": 1 << 20, "queue-depth": 4}
    assert config.ignored_options == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("bogus=1", "-vmd-limits bogus=1: Invalid parameter 'bogus'"),
        ("max-message=big", "-vmd-limits max-message=big: Parameter 'max-message' expects a size"),
        ("queue-depth=0", "-vmd-limits queue-depth=0: Parameter 'queue-depth' must be positive"),
    ],
)
def test_limit_errors(value: str, message: str) -> None:
    with pytest.raises(CommandLineError) as caught:
        parse("-vmd-limits", value)
    assert caught.value.message == message


def test_ignored_options_are_listed_not_dropped() -> None:
    config = parse(
        "-rtc", "base=utc", "-k", "en-us", "-vga", "std", "-vga", "none", "-vnc", ":0",
        "-d", "guest_errors", "-trace", "enable=qmp*", "-seed", "42", "-display", "gtk", "-snapshot",
        "-net", "none", "-parallel", "none",
    )  # fmt: skip
    assert config.ignored_options == (
        ("-rtc", "base=utc"),
        ("-k", "en-us"),
        ("-vga", "std"),
        ("-vnc", ":0"),
        ("-d", "guest_errors"),
        ("-trace", "enable=qmp*"),
        ("-seed", "42"),
        ("-display", "gtk"),
        ("-snapshot", ""),
    )
    assert config.display == "gtk"


# --------------------------------------------------------------------------------------
# Questions instead of a VM
# --------------------------------------------------------------------------------------


def early_exit(*argv: str) -> EarlyExit:
    with pytest.raises(EarlyExit) as caught:
        parse_command_line(list(argv))
    return caught.value


def test_version() -> None:
    answer = early_exit("-version")
    assert answer.topic == "version"
    assert answer.text.startswith("QEMU emulator version 7.2.0 (vmd ")


@pytest.mark.parametrize("option", ["-h", "-help", "--help"])
def test_help(option: str) -> None:
    answer = early_exit(option)
    assert answer.topic == "help"
    assert "-qmp unix:PATH" in answer.text


def test_a_bad_option_before_help_still_fails_and_one_after_it_too() -> None:
    assert error_of("-m", "x", "-help") == "-m x: Parameter 'size' expects a non-negative number below 2^64"
    assert error_of("-help", "-foo") == "-foo: invalid option"


@pytest.mark.parametrize(
    ("argv", "topic", "detail"),
    [
        (["-machine", "help"], "machine", None),
        (["-M", "?"], "machine", None),
        (["-machine", "q35,help"], "machine", "q35"),
        (["-accel", "help"], "accel", None),
        (["-accel", "thread=single"], "accel", None),
        (["-cpu", "help"], "cpu", None),
        (["-device", "help"], "device", None),
        (["-device", "virtio-net-pci,help"], "device", "virtio-net-pci"),
        (["-object", "help"], "object", None),
        (["-object", "secret,help"], "object", "secret"),
        (["-display", "help"], "display", None),
        (["-vga", "help"], "vga", None),
        (["-audiodev", "help"], "audiodev", None),
        (["-d", "help"], "log", None),
    ],
)
def test_help_topics_the_caller_renders(argv: list[str], topic: str, detail: str | None) -> None:
    answer = early_exit(*argv)
    assert (answer.topic, answer.detail, answer.text) == (topic, detail, "")


def test_option_key_help_is_rendered_here() -> None:
    answer = early_exit("-m", "1G,help")
    assert answer.topic == "options"
    assert answer.text == "memory options:\n  maxmem=<size>\n  size=<size>\n  slots=<num>\n"
    assert early_exit("-smp", "2,help").text.startswith("smp-opts options:\n  clusters=<num>\n")


def test_cpu_help_waits_for_the_whole_line() -> None:
    # QEMU answers -cpu help only after reading every option
    assert error_of("-cpu", "help", "-m", "x").startswith("-m x: ")


# --------------------------------------------------------------------------------------
# The option table matches QEMU 7.2's
# --------------------------------------------------------------------------------------

# From `qemu-system-x86_64 -help` and `qemu-system-x86_64 -version -OPTION` (7.2): the
# options that take an argument, and those that do not.
QEMU_OPTIONS_WITH_ARG = (
    "D", "L", "M", "accel", "acpitable", "action", "add-fd", "append", "audio", "audiodev", "bios",
    "blockdev", "boot", "cdrom", "chardev", "chroot", "compat", "cpu", "d", "debugcon", "device",
    "dfilter", "display", "drive", "dtb", "dump-vmstate", "echr", "fda", "fdb", "fsdev", "fw_cfg", "g",
    "gdb", "global", "hda", "hdb", "hdc", "hdd", "icount", "incoming", "initrd", "iscsi", "k", "kernel",
    "loadvm", "m", "machine", "mem-path", "mon", "monitor", "msg", "mtdblock", "name", "net", "netdev",
    "nic", "numa", "object", "option-rom", "overcommit", "parallel", "pflash", "pidfile", "plugin",
    "prom-env", "qmp", "qmp-pretty", "qtest", "qtest-log", "readconfig", "rotate", "rtc", "runas",
    "sandbox", "sd", "seed", "semihosting-config", "serial", "set", "smbios", "smp", "spice", "tpmdev",
    "trace", "usbdevice", "uuid", "vga", "virtfs", "vnc", "watchdog-action", "xen-domid",
)  # fmt: skip
QEMU_OPTIONS_WITHOUT_ARG = (
    "S", "async-teardown", "audio-help", "daemonize", "enable-kvm", "enable-sync-profile", "full-screen",
    "h", "help", "mem-prealloc", "no-acpi", "no-fd-bootchk", "no-hpet", "no-reboot", "no-shutdown",
    "no-user-config", "nodefaults", "nographic", "old-param", "only-migratable", "portrait", "preconfig",
    "s", "semihosting", "singlestep", "snapshot", "usb", "version", "win2k-hack", "xen-attach",
    "xen-domid-restrict",
)  # fmt: skip


@pytest.mark.parametrize("name", QEMU_OPTIONS_WITH_ARG)
def test_every_qemu_option_with_an_argument_is_known(name: str) -> None:
    assert error_of(f"-{name}") == f"-{name}: requires an argument"


def _outcome(*argv: str) -> str:
    """ "ok", "early exit", or the error message."""
    try:
        parse(*argv)
    except CommandLineError as exc:
        return exc.message
    except EarlyExit:
        return "early exit"
    return "ok"


@pytest.mark.parametrize("name", QEMU_OPTIONS_WITHOUT_ARG)
def test_every_qemu_option_without_an_argument_is_known(name: str) -> None:
    outcome = _outcome(f"-{name}")
    assert "invalid option" not in outcome
    assert "requires an argument" not in outcome


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------

# Text a command-line argument can hold (no NUL), also outside ASCII.
argument_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)


@given(argument_text)
def test_any_name_survives_comma_escaping(name: str) -> None:
    assert parse("-name", "guest=" + name.replace(",", ",,")).name == name


@given(argument_text.filter(lambda text: "=" not in text and text != ""))
def test_an_implied_first_value_survives_comma_escaping(name: str) -> None:
    assert parse("-name", name.replace(",", ",,")).name == name


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
        assert _outcome("-m", value) == f"-m {value}: Value '{value}' is out of range for parameter 'size'"
    else:  # fits in bytes, which QEMU checks first, but not in MiB
        assert _outcome("-m", value) == "Parameter 'memory.size' expects size"


@given(st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1), st.sampled_from(["{}", "{:#x}"]))
def test_smp_numbers_are_c_integers(number: int, style: str) -> None:
    text = style.format(number) if number >= 0 else "-" + style.format(-number)
    assert parse("-smp", f"cpus={text}").smp.cpus == number


def _valid_code_point(char: str) -> bool:
    code = ord(char)
    return not (0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE)


json_text = st.text(st.characters(exclude_categories=["Cs"]).filter(_valid_code_point), max_size=20)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | json_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(json_text, children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300)
@given(st.dictionaries(json_text, json_values, max_size=5), st.booleans())
def test_json_devices_read_what_json_writes(props: dict[str, object], ascii_only: bool) -> None:
    document = {"driver": "x", **{key: value for key, value in props.items() if key not in ("driver", "id")}}
    text = json.dumps(document, ensure_ascii=ascii_only)
    (device,) = parse("-device", text).devices
    thawed = thaw_json(device.props)
    expected = {key: value for key, value in document.items() if key != "driver"}
    assert _same_json(thawed, expected)


def _same_json(left: object, right: object) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return left == right or (math.isnan(left) and math.isnan(right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same_json(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_same_json(a, b) for a, b in zip(left, right, strict=True))
    return type(left) is type(right) and left == right
