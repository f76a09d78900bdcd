"""-device, -object and -global values (vmd.cli.devices)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from tests.unit.cli.common import error_of, parse
from vmd.cli import CommandLineError
from vmd.config import (
    DeviceConfig,
    GlobalConfig,
    ObjectConfig,
    thaw_json,
)


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
