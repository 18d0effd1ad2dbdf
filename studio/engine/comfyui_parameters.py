"""ComfyUI's prompt graph (the `prompt` text chunk its SaveImage node writes: node id
-> class_type and inputs, where an input is a value or a [node id, output] link),
read as A1111 text: the first sampling pass's seed, steps, CFG, sampler and
schedule, the prompts behind its conditioning, the size of its empty latent, the
checkpoint and LoRAs behind its model. No torch and no Qt here."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

from .foreign_names import a1111_sampler, lora_item, model_name, number, size_text
from .infotext import compose_infotext

_MAX_LINK_DEPTH = 16  # a value passed along through more nodes than this is not followed


class _ComfyGraph:
    """ComfyUI's prompt graph: values are followed through links, texts found upstream."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.nodes = {
            str(key): node
            for key, node in data.items()
            if isinstance(node, dict) and isinstance(node.get("inputs"), dict)
        }

    def _linked(self, value: object) -> dict[str, Any] | None:
        if isinstance(value, list) and len(value) == 2 and str(value[0]) in self.nodes:
            return self.nodes[str(value[0])]
        return None

    def value(self, inputs: dict[str, Any], *names: str) -> object:
        """The first of `names` in `inputs`, through links to nodes that pass a value
        on (a seed node, a primitive), or None."""
        for name in names:
            value = inputs.get(name)
            for _ in range(_MAX_LINK_DEPTH):
                node = self._linked(value)
                if node is None:
                    break
                scalars = [v for v in node["inputs"].values() if not isinstance(v, list)]
                choices = [node["inputs"][n] for n in (*names, "value") if n in node["inputs"]]
                value = choices[0] if choices else scalars[0] if len(scalars) == 1 else None
            if value is not None and not isinstance(value, list | dict):
                return value
        return None

    def upstream(self, start: object, skip: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
        """The nodes `start` links to, nearest first, not through inputs named in `skip`."""
        seen: set[int] = set()
        queue = deque([self._linked(start)])
        while queue:
            node = queue.popleft()
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            yield node
            queue.extend(self._linked(v) for k, v in node["inputs"].items() if k not in skip)

    def text(self, link: object, side: str) -> str:
        """The `side` ("positive" or "negative") prompt behind a conditioning link:
        the nearest text encoders' texts, several (a ConditioningCombine) joined with
        A1111's AND. A node carrying both sides (ControlNet, inpaint conditioning) is
        followed on `side` only."""
        texts: list[str] = []
        pending = deque([link])
        seen: set[int] = set()
        while pending:
            node = self._linked(pending.popleft())
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            inputs = node["inputs"]
            found = self.value(inputs, "text", "text_g", "text_l", "prompt", "string")
            if isinstance(found, str):
                if found.strip() and found.strip() not in texts:
                    texts.append(found.strip())
                continue  # a text encoder: what feeds it is not another prompt
            both_sides = {"positive", "negative"} <= inputs.keys()
            pending.extend(
                v for k, v in inputs.items() if k != "clip" and (k == side or not both_sides)
            )
        return " AND ".join(texts)


def _is_sampler(node: dict[str, Any]) -> bool:
    return {"steps", "cfg", "sampler_name"} <= node["inputs"].keys()


def _first_pass_rank(graph: _ComfyGraph, node: dict[str, Any]) -> int:
    # A hires fix or refiner graph has several samplers: the first pass starts from
    # an empty latent at full denoise, and holds the seed and size a user wants.
    inputs = node["inputs"]
    denoise = number(graph.value(inputs, "denoise"))
    starts_late = (number(graph.value(inputs, "start_at_step")) or 0) > 0
    return int(denoise is not None and denoise < 1) + int(starts_late)


def infotext_from_comfyui(data: dict[str, Any]) -> str | None:
    graph = _ComfyGraph(data)
    samplers = [node for node in graph.nodes.values() if _is_sampler(node)]
    if not samplers:
        return None
    node = min(samplers, key=lambda n: _first_pass_rank(graph, n))
    inputs = node["inputs"]
    params: dict[str, object] = {"Steps": number(graph.value(inputs, "steps"))}
    params |= a1111_sampler(graph.value(inputs, "sampler_name"), graph.value(inputs, "scheduler"))
    params["CFG scale"] = number(graph.value(inputs, "cfg"))
    params["Seed"] = number(graph.value(inputs, "seed", "noise_seed"))
    latent = next(
        (n for n in graph.upstream(inputs.get("latent_image")) if "width" in n["inputs"]), None
    )
    if latent is not None:
        li = latent["inputs"]
        params["Size"] = size_text(graph.value(li, "width"), graph.value(li, "height"))
    models = list(graph.upstream(inputs.get("model")))
    checkpoints = (model_name(graph.value(n["inputs"], "ckpt_name", "unet_name")) for n in models)
    params["Model"] = next((name for name in checkpoints if name), None)
    denoise = number(graph.value(inputs, "denoise"))
    params["Denoising strength"] = denoise if denoise is not None and denoise < 1 else None
    loras = [
        lora_item(name, number(graph.value(n["inputs"], "strength_model")))
        for n in models
        if (name := model_name(graph.value(n["inputs"], "lora_name")))
    ]
    params["Lora"] = ", ".join(reversed(loras)) or None  # in the order they were applied
    if len(samplers) > 1:
        params["Samplers in graph"] = len(samplers)  # shown; the first pass is what is read
    prompt = graph.text(inputs.get("positive"), "positive")
    negative = graph.text(inputs.get("negative"), "negative")
    return compose_infotext(prompt, negative, params)
