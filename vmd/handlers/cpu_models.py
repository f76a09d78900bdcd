"""query-cpu-model-expansion, -comparison and -baseline (qemu-system-s390x 7.2 has all three;
vmd declares them on s390x, the target whose CPU model data it has)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from vmd.handlers.bind import handles
from vmd.handlers.context import CommandContext
from vmd.qapi.compiled import (
    CpuModelBaselineInfo,
    CpuModelCompareInfo,
    CpuModelCompareResult,
    CpuModelExpansionArgs,
    CpuModelExpansionInfo,
    CpuModelInfo,
    CpuModelPairArgs,
)

# s390x's model tables load when a query comes (an x86 VM never asks): start-up time.
if TYPE_CHECKING:
    from vmd.boards.s390x import model_queries
    from vmd.boards.s390x.cpu_models import S390Model


def _models(ctx: CommandContext) -> Mapping[str, S390Model]:
    """The machine's models, as a CPU object of each type starts (-cpu's options included)."""
    from vmd.boards.s390x.cpus import S390Family

    family = getattr(ctx.vm.board, "cpu_family", None)
    assert isinstance(family, S390Family), "the CPU model queries are s390x commands"
    return family.query_models()


def _model(models: Mapping[str, S390Model], info: CpuModelInfo) -> S390Model:
    from vmd.boards.s390x import model_queries

    return model_queries.model_from_info(models, info.name, info.props, info.props is not None)


def _info(found: model_queries.ModelInfo) -> CpuModelInfo:
    return CpuModelInfo(name=found.name, props=found.props)


@handles("query-cpu-model-expansion")
def query_cpu_model_expansion(ctx: CommandContext, args: CpuModelExpansionArgs) -> CpuModelExpansionInfo:
    from vmd.boards.s390x import model_queries

    model = _model(_models(ctx), args.model)
    return CpuModelExpansionInfo(model=_info(model_queries.expansion(model, args.type.value)))


@handles("query-cpu-model-comparison")
def query_cpu_model_comparison(ctx: CommandContext, args: CpuModelPairArgs) -> CpuModelCompareInfo:
    from vmd.boards.s390x import model_queries

    models = _models(ctx)
    a, b = _model(models, args.modela), _model(models, args.modelb)
    result, responsible = model_queries.comparison(a, b)
    return CpuModelCompareInfo(result=CpuModelCompareResult(result), responsible_properties=responsible)


@handles("query-cpu-model-baseline")
def query_cpu_model_baseline(ctx: CommandContext, args: CpuModelPairArgs) -> CpuModelBaselineInfo:
    from vmd.boards.s390x import model_queries

    models = _models(ctx)
    a, b = _model(models, args.modela), _model(models, args.modelb)
    return CpuModelBaselineInfo(model=_info(model_queries.baseline(a, b)))
