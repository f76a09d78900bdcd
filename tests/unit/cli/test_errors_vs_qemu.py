"""Errors, in QEMU 7.2's words.

The error table holds QEMU's own words: every message was checked against
qemu-system-x86_64 7.2 (Debian 1:7.2+dfsg-7+deb12u18) and `test_qemu_says_the_same`
checks them again against the QEMU installed here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cli.common import error_of, qemu_binary, qemu_first_error

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
    (["-g", "800x600"], "-g 800x600: Option not supported for this target"),
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
    # bytes outside ASCII (argv holds those that are not UTF-8 as lone surrogates): QEMU's lexer
    # passes 0x20..0xFD inside a string and its parser judges the UTF-8; errors quote raw bytes
    (["-device", '{"a":"\udcc0"}'],
     '-device {"a":"\udcc0"}: JSON parse error, invalid UTF-8 sequence in string'),
    (["-device", '{"a":"\udcfd"}'],
     '-device {"a":"\udcfd"}: JSON parse error, invalid UTF-8 sequence in string'),
    (["-device", '{"a":"\uffff"}'],
     '-device {"a":"\uffff"}: JSON parse error, invalid UTF-8 sequence in string'),
    (["-device", '{"a":"\udcfe"}'], '-device {"a":"\udcfe"}: JSON parse error, stray \'"\udcfe\''),
    (["-device", '{"a":\xe9}'], "-device {\"a\":\xe9}: JSON parse error, stray '\udcc3'"),
    (["-device", '{"a":"\\u12\xe9"}'],
     '-device {"a":"\\u12\xe9"}: JSON parse error, \\u12\xe9 is not a valid Unicode character'),
    (["-device", '{"a":"\\u12\u20ac"}'],  # QEMU quotes 6 bytes of the escape: half of the euro sign
     '-device {"a":"\\u12\u20ac"}: JSON parse error, \\u12\udce2\udc82 is not a valid Unicode character'),
    (["-device", '{"a":0e5}'], '-device {"a":0e5}: JSON parse error, expected separator in dict'),
    (["-device", '{"a":' + "x" * 2000 + "}"],  # QEMU formats the message into 1024 bytes
     '-device {"a":' + "x" * 2000 + "}: JSON parse error, " + ("invalid keyword '" + "x" * 2000)[:1023]),
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
    (["-chardev", "socket,id=c,fd=3,reconnect=1"],
     "-chardev socket,id=c,fd=3,reconnect=1: 'reconnect' option is incompatible with 'fd' address type"),
    (["-chardev", "socket,id=c,fd=3,reconnect=0,wait=off"],
     "-chardev socket,id=c,fd=3,reconnect=0,wait=off: "
     "'reconnect' option is incompatible with 'fd' address type"),
    (["-chardev", "socket,id=c,fd=3,reconnect=1,server=on"],
     "-chardev socket,id=c,fd=3,reconnect=1,server=on: "
     "'reconnect' option is incompatible with 'fd' address type"),
    (["-qmp", "unix:{d}/s,reconnect=x"],
     "-qmp unix:{d}/s,reconnect=x: Parameter 'reconnect' expects a number"),
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


@pytest.mark.qemu
@pytest.mark.parametrize(
    ("argv", "message"), QEMU_ERRORS, ids=[" ".join(argv)[:60] for argv, _ in QEMU_ERRORS]
)
def test_qemu_says_the_same(argv: list[str], message: str, workdir: Path) -> None:
    qemu_binary()
    argv = [_fill(arg, str(workdir)) for arg in argv]
    assert qemu_first_error(argv) == _fill(message, str(workdir))


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
    (["-chardev", "socket,id=c,path=/tmp/s,mode=0660", "-mon", "c,mode=control"],
     "-mon c,mode=control: Parameter 'mode' is for a socket file vmd creates, with server=on"),
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
    (["-vmd-guest", "ack"], "-vmd-guest ack: Expected '=' after parameter 'ack'"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "message"), VMD_ERRORS, ids=[" ".join(argv)[:60] for argv, _ in VMD_ERRORS])
def test_vmd_refusals(argv: list[str], message: str) -> None:
    assert error_of(*argv) == message


@pytest.mark.parametrize(("argv", "message"), QEMU_ERRORS + VMD_ERRORS)
def test_every_error_is_one_line(argv: list[str], message: str) -> None:
    assert "\n" not in message
