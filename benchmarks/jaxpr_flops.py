"""Matmul and convolution FLOPs of a JAX function, counted from its jaxpr: the same on every backend.

XLA's ``cost_analysis()`` counts what the backend's optimised module does in HLO: on GPUs the
convolutions and large dots become cuDNN / cuBLAS custom calls that it does not count (a VGG16
training step reads as 1 % of its FLOPs), and the lowered module's count is not offered there. MFU
needs the model's FLOPs, not the backend's bookkeeping, so the benchmarks count them here, before any
backend sees the program:

* ``dot_general``: ``2 * prod(output shape) * prod(contracted sizes)``;
* ``conv_general_dilated``: ``2 * prod(output shape) * prod(kernel shape) / kernel output features``,
  the dense count (taps over padding and over the zeros of a dilated input included: the work a
  convolution kernel does), which covers feature- and batch-grouped convolutions, i.e. every
  gradient convolution JAX's transpose rules emit;
* nothing else (elementwise work, reductions and data movement are not matmul FLOPs, the convention
  of MFU).

Sub-computations count as they run: ``scan`` bodies ``length`` times, the most expensive ``cond``
branch, ``while`` bodies once (their trip count is data: `FlopCount.while_loops` says how many were
seen), ``shard_map`` bodies once per device of the mapped mesh (the body's shapes are per device, the
total is global).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import jax
import jax.extend.core as jex_core


@dataclasses.dataclass
class FlopCount:
    """FLOPs of one call of a function, global over all devices."""
    dot: float = 0.0
    conv: float = 0.0
    while_loops: int = 0

    @property
    def total(self) -> float:
        return self.dot + self.conv

    def add(self, other: "FlopCount", times: float = 1.0) -> None:
        self.dot += times * other.dot
        self.conv += times * other.conv
        self.while_loops += other.while_loops


def dot_general_flops(lhs_shape, out_shape, dimension_numbers) -> float:
    (lhs_contract, _), _ = dimension_numbers
    return 2.0 * math.prod(out_shape) * math.prod(lhs_shape[i] for i in lhs_contract)


def conv_flops(rhs_shape, out_shape, dimension_numbers) -> float:
    # rhs_spec = (out feature dim, in feature dim, *spatial dims) of the kernel. Each output element
    # sums over the kernel's spatial taps and its (per group) input features: prod(kernel) / Cout.
    rhs_out_dim = dimension_numbers.rhs_spec[0]
    return 2.0 * math.prod(out_shape) * math.prod(rhs_shape) / rhs_shape[rhs_out_dim]


def _jaxprs(value) -> list:
    """The jaxprs held by one equation parameter (a jaxpr, a closed jaxpr or a tuple of them)."""
    if isinstance(value, jex_core.ClosedJaxpr):
        return [value.jaxpr]
    if isinstance(value, jex_core.Jaxpr):
        return [value]
    if isinstance(value, (tuple, list)):
        return [j for v in value for j in _jaxprs(v)]
    return []


def _mesh_devices(params: dict) -> int:
    mesh = params.get("mesh")
    if mesh is None:
        return 1
    manual = params.get("manual_axes")
    shape = dict(mesh.shape)
    if manual:
        return math.prod(shape[a] for a in manual)
    return math.prod(shape.values())


def count_jaxpr(jaxpr) -> FlopCount:
    """`FlopCount` of a (closed) jaxpr."""
    if isinstance(jaxpr, jex_core.ClosedJaxpr):
        jaxpr = jaxpr.jaxpr
    total = FlopCount()
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "dot_general":
            total.dot += dot_general_flops(eqn.invars[0].aval.shape, eqn.outvars[0].aval.shape,
                                           eqn.params["dimension_numbers"])
        elif name == "conv_general_dilated":
            total.conv += conv_flops(eqn.invars[1].aval.shape, eqn.outvars[0].aval.shape,
                                     eqn.params["dimension_numbers"])
        elif name == "scan":
            total.add(count_jaxpr(eqn.params["jaxpr"]), times=eqn.params["length"])
        elif name == "cond":
            branches = [count_jaxpr(b) for b in eqn.params["branches"]]
            total.add(max(branches, key=lambda c: c.total))
        elif name == "while":
            total.add(count_jaxpr(eqn.params["body_jaxpr"]))
            total.add(count_jaxpr(eqn.params["cond_jaxpr"]))
            total.while_loops += 1
        elif name == "shard_map":
            total.add(count_jaxpr(eqn.params["jaxpr"]), times=_mesh_devices(eqn.params))
        else:
            # pjit, remat, custom_jvp_call, custom_vjp_call, closed_call, ...: their body runs once.
            for value in eqn.params.values():
                for sub in _jaxprs(value):
                    total.add(count_jaxpr(sub))
    return total


def count(fn: Callable[..., Any], *args, **kwargs) -> FlopCount:
    """`FlopCount` of ``fn(*args, **kwargs)``, traced (not compiled or run) with these arguments."""
    return count_jaxpr(jax.make_jaxpr(fn)(*args, **kwargs))
