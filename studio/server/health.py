"""The device in words for GET /health, without starting the engine: torch is
imported by the engine's thread when it starts, never by a health check."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine.pipelines import PipelineStore

NOT_STARTED = "not started"


def device_words(store: PipelineStore | None) -> str:
    """ "cpu", "cuda:0 NVIDIA H200, 139 GB", ...; "not started" before the engine is."""
    if store is None:
        return NOT_STARTED
    if store.device != "cuda":
        return store.device
    import torch  # already imported by the store

    index = torch.cuda.current_device()
    properties = torch.cuda.get_device_properties(index)
    return f"cuda:{index} {properties.name}, {properties.total_memory / 1e9:.0f} GB"
