"""Topology presets of lab VMs: sockets x cores x threads, NUMA nodes, where the NIC sits."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

from colotune.errors import InputError


class Preset(BaseModel):
    """One VM shape. CPUs are numbered socket by socket, threads of a core adjacent.

    Each socket is one NUMA node with `mem_per_node_mib` of memory; the trading NIC
    sits behind a PCI expander bridge on `nic_node` (a NUMA-affine root bus).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    sockets: int = Field(ge=1, le=4)
    cores: int = Field(ge=1, le=32)
    threads: int = Field(ge=1, le=2)
    mem_per_node_mib: int = Field(ge=512)
    nic_node: int = Field(ge=0)
    description: str = ""

    @model_validator(mode="after")
    def _nic_node_exists(self) -> Preset:
        if self.nic_node >= self.sockets:
            raise ValueError(
                f"nic_node={self.nic_node} but the preset has only {self.sockets} NUMA node(s); "
                f"valid: 0-{self.sockets - 1}"
            )
        return self

    @property
    def nodes(self) -> int:
        return self.sockets

    @property
    def vcpus(self) -> int:
        return self.sockets * self.cores * self.threads

    @property
    def memory_mib(self) -> int:
        return self.mem_per_node_mib * self.nodes

    def node_cpus(self, node: int) -> range:
        """The guest CPU numbers of one NUMA node (socket)."""
        per = self.cores * self.threads
        return range(node * per, (node + 1) * per)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="2s4c2t",
            sockets=2,
            cores=4,
            threads=2,
            mem_per_node_mib=4096,
            nic_node=1,
            description="2 sockets x 4 cores x 2 threads, 2 NUMA nodes, trading NIC on node 1",
        ),
        Preset(
            name="1s4c",
            sockets=1,
            cores=4,
            threads=1,
            mem_per_node_mib=4096,
            nic_node=0,
            description="1 socket x 4 cores, one NUMA node",
        ),
    )
}

DEFAULT_PRESET = "2s4c2t"

_SHAPE = re.compile(r"^(\d)s(\d{1,2})c(?:(\d)t)?$")


def get(name: str) -> Preset:
    """A preset by name: one of PRESETS, or any `<S>s<C>c[<T>t]` shape (NIC on the last node)."""
    if name in PRESETS:
        return PRESETS[name]
    match = _SHAPE.match(name)
    valid = ", ".join(PRESETS) + ", or a shape like 2s6c2t (sockets, cores, threads)"
    if not match:
        raise InputError(
            host=None, variable="--topology", value=name, problem=f"unknown preset; valid: {valid}"
        )
    sockets, cores = int(match.group(1)), int(match.group(2))
    threads = int(match.group(3) or 1)
    try:
        return Preset(
            name=name,
            sockets=sockets,
            cores=cores,
            threads=threads,
            mem_per_node_mib=4096,
            nic_node=sockets - 1,
        )
    except ValueError as exc:
        raise InputError(
            host=None, variable="--topology", value=name, problem=f"{exc}; valid: {valid}"
        ) from exc
