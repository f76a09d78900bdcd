"""The s390x CPU model data and QEMU's rules over it, without QEMU (the differential suite,
tests/integration/test_s390x_vs_qemu.py, compares the same against qemu-system-s390x)."""

from __future__ import annotations

import pytest

from vmd.boards.s390x import model_queries
from vmd.boards.s390x.cpu_models import (
    FEATURE_NAMES,
    GROUP_MASK,
    GROUPS,
    catalog,
    feature_names,
    max_model,
    models,
)
from vmd.boards.s390x.model_props import set_feature
from vmd.boards.s390x.pre_plug import check_compatibility, consistency_warnings
from vmd.errors import GenericError


def test_the_catalog_has_qemus_78_models_on_every_machine() -> None:
    for version in ("none", "2.4", "4.0", "7.2"):
        listed = catalog(version)
        assert len(listed.models) == 78
        assert [m.name for m in listed.help_order[:4]] == ["qemu", "max", "z900-base", "z900"]
        assert listed.models["qemu"].unavailable_features == ()
    assert len(FEATURE_NAMES) == 312
    assert len(GROUPS) == 17


def test_feature_names_put_whole_groups_first() -> None:
    msa = GROUP_MASK["msa"]
    assert feature_names(msa) == ["msa"]
    vx = 1 << FEATURE_NAMES.index("vx")
    assert feature_names(msa | vx) == ["msa", "vx"]
    assert feature_names(msa & (msa - 1)) == [
        n for n in FEATURE_NAMES if (msa & (msa - 1)) >> FEATURE_NAMES.index(n) & 1
    ]


def test_consistency_and_compatibility() -> None:
    qemu = models("7.2")["qemu"]
    assert consistency_warnings(set_feature(qemu, "vx", False)) == ["'vxeh' requires 'vx'."]
    check_compatibility(qemu)
    check_compatibility(max_model())
    with pytest.raises(GenericError) as caught:
        check_compatibility(set_feature(qemu, "te", True))
    # QEMU's text ends in two spaces: one after each name, one more after the list.
    assert (
        caught.value.desc
        == "Some features requested in the CPU model are not available in the configuration: te  "
    )
    with pytest.raises(GenericError, match=r"generation is too new.*'gen15a'"):
        check_compatibility(models("7.2")["gen16a"])
    with pytest.raises(GenericError, match="Feature 'vxeh2' is not available for CPU model 'z900'"):
        set_feature(models("7.2")["z900"], "vxeh2", True)


def test_model_queries() -> None:
    table = models("7.2")
    z900 = table["z900"]
    assert model_queries.expansion(z900, "static") == model_queries.ModelInfo("z900-base")
    assert model_queries.comparison(z900, table["z900-base"]) == ("identical", [])
    assert model_queries.baseline(table["qemu"], z900) == model_queries.ModelInfo("z900-base")
    no_esan3 = model_queries.model_from_info(table, "z900", {"esan3": False}, True)
    with pytest.raises(GenericError, match="No compatible CPU model could be created"):
        model_queries.baseline(no_esan3, table["qemu"])
    with pytest.raises(GenericError, match=r"^The CPU definition 'host' is unknown\.$"):
        model_queries.model_from_info(table, "host", None, False)
