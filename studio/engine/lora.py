"""LoRA adapters applied to the loaded model through diffusers' adapter API.

The base weights are never reloaded: adapters are added, weighted and removed
on the shared UNet and text encoders, so every mode sees the same set."""

from __future__ import annotations

import contextlib
import hashlib
import re
from pathlib import Path
from typing import Any

from .errors import RequestError
from .request import LoraSpec


def adapter_name(spec: LoraSpec) -> str:
    # peft module names cannot hold dots; the hash keeps two files with the
    # same name in different folders apart.
    digest = hashlib.sha1(str(Path(spec.path).resolve()).encode()).hexdigest()[:8]
    safe = re.sub(r"\W", "_", spec.name)
    return f"{safe}_{digest}"


class LoraState:
    """Which adapters are loaded into the current model's modules."""

    def __init__(self) -> None:
        self.loaded: dict[str, str] = {}  # adapter name -> file path

    def reset(self) -> None:
        self.loaded.clear()

    def apply(self, pipe: Any, loras: tuple[LoraSpec, ...]) -> None:
        wanted = {adapter_name(spec): spec for spec in loras}
        if not wanted:
            if self.loaded:
                # unload restores the original modules exactly, not just
                # adapters switched off.
                pipe.unload_lora_weights()
                self.loaded.clear()
            return
        stale = [name for name in self.loaded if name not in wanted]
        if stale:
            pipe.delete_adapters(stale)
            for name in stale:
                del self.loaded[name]
        for name, spec in wanted.items():
            if name in self.loaded:
                continue
            try:
                pipe.load_lora_weights(spec.path, adapter_name=name)
            except Exception as exc:  # diffusers/peft raise many kinds here
                self._discard(pipe, name)
                # The request's file, not the engine, is at fault: HTTP 400.
                raise RequestError(
                    f"LoRA {spec.name!r} could not be applied to this model ({exc}). "
                    "It may be made for another model family (SD 1.5 vs SDXL) or damaged."
                ) from exc
            self.loaded[name] = spec.path
        pipe.set_adapters(list(wanted), adapter_weights=[s.weight for s in wanted.values()])

    def _discard(self, pipe: Any, name: str) -> None:
        with contextlib.suppress(Exception):
            pipe.delete_adapters([name])
