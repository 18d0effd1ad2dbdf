"""ComfyUI, InvokeAI and NovelAI PNGs: what they hold becomes A1111 text that
`studio params` prints and a restore applies. The samples have the shapes these
tools write (ComfyUI's default graph and its API `prompt`, InvokeAI's core
metadata node from 3.x and 4.x, 2.x `sd-metadata`, 1.x `Dream`, NovelAI's
Comment JSON)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from studio.app import main
from studio.engine.foreign_parameters import infotext_from_foreign
from studio.engine.image_parameters import ParametersReadError, read_parameters
from studio.engine.infotext import parse_infotext, request_from_infotext

# ComfyUI's default graph as its SaveImage node stores it in `prompt` (API format).
COMFY_DEFAULT = {
    "3": {
        "inputs": {
            "seed": 156680208700286,
            "steps": 20,
            "cfg": 8,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
        "class_type": "KSampler",
        "_meta": {"title": "KSampler"},
    },
    "4": {
        "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"},
        "class_type": "CheckpointLoaderSimple",
        "_meta": {"title": "Load Checkpoint"},
    },
    "5": {
        "inputs": {"width": 512, "height": 512, "batch_size": 1},
        "class_type": "EmptyLatentImage",
        "_meta": {"title": "Empty Latent Image"},
    },
    "6": {
        "inputs": {
            "text": "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,",
            "clip": ["4", 1],
        },
        "class_type": "CLIPTextEncode",
        "_meta": {"title": "CLIP Text Encode (Prompt)"},
    },
    "7": {
        "inputs": {"text": "text, watermark", "clip": ["4", 1]},
        "class_type": "CLIPTextEncode",
        "_meta": {"title": "CLIP Text Encode (Prompt)"},
    },
    "8": {
        "inputs": {"samples": ["3", 0], "vae": ["4", 2]},
        "class_type": "VAEDecode",
        "_meta": {"title": "VAE Decode"},
    },
    "9": {
        "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]},
        "class_type": "SaveImage",
        "_meta": {"title": "Save Image"},
    },
}
# The UI graph beside it (`workflow`): positions and widget values, not read.
COMFY_WORKFLOW = {
    "last_node_id": 9,
    "last_link_id": 9,
    "nodes": [
        {
            "id": 3,
            "type": "KSampler",
            "pos": [863, 186],
            "size": [315, 262],
            "flags": {},
            "order": 4,
            "mode": 0,
            "inputs": [{"name": "model", "type": "MODEL", "link": 1}],
            "outputs": [{"name": "LATENT", "type": "LATENT", "links": [7], "slot_index": 0}],
            "properties": {"Node name for S&R": "KSampler"},
            "widgets_values": [156680208700286, "randomize", 20, 8, "euler", "normal", 1],
        }
    ],
    "links": [[1, 4, 0, 3, 0, "MODEL"], [4, 6, 0, 3, 1, "CONDITIONING"]],
    "groups": [],
    "config": {},
    "extra": {},
    "version": 0.4,
}


def _png(path: Path, **texts: str) -> Path:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    Image.new("RGB", (16, 16), (40, 80, 120)).save(path, pnginfo=info)
    return path


def test_comfyui_default_graph_is_read_from_the_png(tmp_path, capsys):
    path = _png(
        tmp_path / "ComfyUI_00001_.png",
        prompt=json.dumps(COMFY_DEFAULT),
        workflow=json.dumps(COMFY_WORKFLOW),
    )
    text = read_parameters(path)
    assert text == (
        "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,\n"
        "Negative prompt: text, watermark\n"
        "Steps: 20, Sampler: Euler, Schedule type: Normal, CFG scale: 8, "
        "Seed: 156680208700286, Size: 512x512, Model: v1-5-pruned-emaonly"
    )
    restored, notices = request_from_infotext(text)
    assert (restored.steps, restored.guidance_scale, restored.seed) == (20, 8.0, 156680208700286)
    assert (restored.scheduler, restored.width, restored.height) == ("euler", 512, 512)
    assert (restored.negative_prompt, restored.model) == ("text, watermark", "v1-5-pruned-emaonly")
    assert notices == []
    # `studio params` prints it instead of "holds no generation parameters".
    assert main(["params", str(path)]) == 0
    assert capsys.readouterr().out == text + "\n"


def _sdxl_graph_with_loras_and_a_second_pass() -> dict:
    sampler = {
        "seed": ["21", 0],  # from a seed node, as many graphs share one seed
        "cfg": 5.5,
        "sampler_name": "dpmpp_2m",
        "scheduler": "karras",
        "model": ["11", 0],
        "positive": ["30", 0],
        "negative": ["30", 1],
    }
    return {
        # the hires pass comes first in the file: the first pass is still the one read
        "13": {
            "class_type": "KSampler",
            "inputs": sampler | {"steps": 15, "denoise": 0.45, "latent_image": ["12", 0]},
        },
        "3": {
            "class_type": "KSampler",
            "inputs": sampler | {"steps": 30, "denoise": 1, "latent_image": ["5", 0]},
        },
        "4": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "SDXL\\juggernautXL_v9.safetensors"},
        },
        "10": {
            "class_type": "LoraLoader",
            "inputs": {
                "lora_name": "detail_tweaker.safetensors",
                "strength_model": 0.8,
                "strength_clip": 0.8,
                "model": ["4", 0],
                "clip": ["4", 1],
            },
        },
        "11": {
            "class_type": "LoraLoader",
            "inputs": {
                "lora_name": "styles/film grain.safetensors",
                "strength_model": 0.5,
                "strength_clip": 1.0,
                "model": ["10", 0],
                "clip": ["10", 1],
            },
        },
        "20": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "a lighthouse"}},
        "21": {"class_type": "PrimitiveInt", "inputs": {"value": 987654321}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": ["20", 0], "clip": ["11", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["11", 1]}},
        "30": {
            "class_type": "ControlNetApplyAdvanced",
            "inputs": {
                "strength": 0.7,
                "start_percent": 0,
                "end_percent": 1,
                "positive": ["6", 0],
                "negative": ["7", 0],
                "control_net": ["31", 0],
                "image": ["32", 0],
            },
        },
        "31": {"class_type": "ControlNetLoader", "inputs": {"control_net_name": "canny.pth"}},
        "32": {"class_type": "LoadImage", "inputs": {"image": "edges.png"}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": 832, "height": 1216, "batch_size": 1},
        },
        "12": {
            "class_type": "LatentUpscaleBy",
            "inputs": {"upscale_method": "nearest-exact", "scale_by": 1.5, "samples": ["3", 0]},
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["13", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x", "images": ["8", 0]}},
    }


def test_comfyui_graph_with_loras_controlnet_and_a_hires_pass():
    text = infotext_from_foreign({"prompt": json.dumps(_sdxl_graph_with_loras_and_a_second_pass())})
    assert text == (
        "a lighthouse\nNegative prompt: blurry\n"
        "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 5.5, Seed: 987654321, "
        'Size: 832x1216, Model: juggernautXL_v9, Lora: "detail_tweaker:0.8, film grain:0.5", '
        "Samplers in graph: 2"
    )
    restored, notices = request_from_infotext(text)
    assert (restored.scheduler, restored.seed, restored.steps) == ("dpm++2m-karras", 987654321, 30)
    assert notices == [
        "This image used LoRA detail_tweaker:0.8, film grain:0.5: load the files to apply them."
    ]


def test_comfyui_advanced_sampler_with_a_sampler_this_app_lacks():
    graph = {
        "1": {
            "class_type": "KSamplerAdvanced",
            "inputs": {
                "add_noise": "enable",
                "noise_seed": 42,
                "steps": 25,
                "cfg": 7,
                "sampler_name": "dpmpp_2m_sde_gpu",
                "scheduler": "exponential",
                "start_at_step": 0,
                "end_at_step": 10000,
                "return_with_leftover_noise": "disable",
                "positive": ["2", 0],
                "negative": ["3", 0],
                "latent_image": ["4", 0],
                "model": ["5", 0],
            },
        },
        "2": {"class_type": "CLIPTextEncodeSDXL", "inputs": {"text_g": "a fox", "text_l": "a fox"}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": ""}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 1024}},
        "5": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev.safetensors"}},
    }
    text = infotext_from_foreign({"prompt": json.dumps(graph)})
    assert text == (
        "a fox\nSteps: 25, Sampler: DPM++ 2M SDE, Schedule type: Exponential, CFG scale: 7, "
        "Seed: 42, Size: 1024x1024, Model: flux1-dev"
    )
    _, notices = request_from_infotext(text)
    assert notices == ["The sampler 'DPM++ 2M SDE' is not available here, so it was not restored."]


INVOKEAI_4 = {
    "generation_mode": "sdxl_txt2img",
    "positive_prompt": "a red fox in the snow, golden hour",
    "negative_prompt": "blurry",
    "width": 1024,
    "height": 1024,
    "seed": 2841563372,
    "rand_device": "cpu",
    "cfg_scale": 6,
    "cfg_rescale_multiplier": 0,
    "steps": 30,
    "scheduler": "dpmpp_2m_k",
    "model": {
        "key": "9c3e1f6a-51b7-4e4c-9c5b-0f1f4f3a2b1c",
        "hash": "blake3:1b0a2ce2b1a0f6e1",
        "name": "Juggernaut XL v9",
        "base": "sdxl",
        "type": "main",
    },
    "loras": [
        {
            "model": {"key": "k2", "hash": "h2", "name": "add-detail-xl", "base": "sdxl"},
            "weight": 0.75,
        }
    ],
    "positive_style_prompt": "a red fox in the snow, golden hour",
    "negative_style_prompt": "blurry",
    "app_version": "4.2.9",
}
# InvokeAI 3.3's shape: model_name, and no LoRA.
INVOKEAI_3 = {
    "app_version": "3.3.0post3",
    "generation_mode": "img2img",
    "positive_prompt": "landscape",
    "negative_prompt": "low quality",
    "width": 768,
    "height": 432,
    "seed": 356120443,
    "rand_device": "cpu",
    "cfg_scale": 7.5,
    "steps": 50,
    "scheduler": "euler_a",
    "strength": 0.6,
    "clip_skip": 0,
    "model": {"model_name": "amixx_3Prunedfp16", "base_model": "sd-1", "model_type": "main"},
    "controlnets": [],
    "ipAdapters": [],
    "t2iAdapters": [],
    "loras": [],
    "vae": {"model_name": "sd-vae-ft-mse", "base_model": "sd-1"},
}


def test_invokeai_metadata_of_versions_3_and_4(tmp_path):
    four = read_parameters(_png(tmp_path / "four.png", invokeai_metadata=json.dumps(INVOKEAI_4)))
    assert four == (
        "a red fox in the snow, golden hour\nNegative prompt: blurry\n"
        "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6, Seed: 2841563372, "
        'Size: 1024x1024, Model: Juggernaut XL v9, Lora: "add-detail-xl:0.75", '
        "Version: InvokeAI 4.2.9"
    )
    restored, _ = request_from_infotext(four)
    assert (restored.scheduler, restored.model) == ("dpm++2m-karras", "Juggernaut XL v9")
    three = infotext_from_foreign({"invokeai_metadata": json.dumps(INVOKEAI_3)})
    assert three == (
        "landscape\nNegative prompt: low quality\n"
        "Steps: 50, Sampler: Euler a, CFG scale: 7.5, Seed: 356120443, Size: 768x432, "
        "Model: amixx_3Prunedfp16, Denoising strength: 0.6, Version: InvokeAI 3.3.0post3"
    )
    restored, notices = request_from_infotext(three)
    assert (restored.scheduler, restored.strength, notices) == ("euler-a", 0.6, [])


def test_older_invokeai_sd_metadata_and_dream():
    sd_metadata = {
        "model": "stable diffusion",
        "model_weights": "stable-diffusion-1.5",
        "model_hash": "cc6cb27103417325ff94f52b7a5d2dde45a7515b25c255d8e396c90014281516",
        "app_id": "invoke-ai/InvokeAI",
        "app_version": "2.2.4",
        "image": {
            "prompt": [{"prompt": "a lighthouse at dusk [fog, people]", "weight": 1.0}],
            "steps": 30,
            "cfg_scale": 7.5,
            "threshold": 0,
            "perlin": 0,
            "height": 512,
            "width": 768,
            "seed": 1234567,
            "seamless": False,
            "hires_fix": False,
            "type": "txt2img",
            "postprocessing": None,
            "sampler": "k_euler_a",
            "variations": [],
        },
    }
    assert infotext_from_foreign({"sd-metadata": json.dumps(sd_metadata)}) == (
        "a lighthouse at dusk\nNegative prompt: fog, people\n"
        "Steps: 30, Sampler: Euler a, CFG scale: 7.5, Seed: 1234567, Size: 768x512, "
        "Model: stable-diffusion-1.5, "
        "Model hash: cc6cb27103417325ff94f52b7a5d2dde45a7515b25c255d8e396c90014281516, "
        "Version: InvokeAI 2.2.4"
    )
    dream = '"a cat on a mat [blurry]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms'
    assert infotext_from_foreign({"Dream": dream}) == (
        "a cat on a mat\nNegative prompt: blurry\n"
        "Steps: 50, Sampler: LMS, CFG scale: 7.5, Seed: 42, Size: 512x512"
    )


NOVELAI_COMMENT = {
    "prompt": "1girl, red hair, cafe, window light",
    "steps": 28,
    "height": 1216,
    "width": 832,
    "scale": 5.0,
    "uncond_scale": 0.0,
    "cfg_rescale": 0.0,
    "seed": 3339123321,
    "n_samples": 1,
    "hide_debug_overlay": False,
    "noise_schedule": "karras",
    "legacy_v3_extend": False,
    "reference_information_extracted_multiple": [],
    "reference_strength_multiple": [],
    "sampler": "k_euler_ancestral",
    "controlnet_strength": 1.0,
    "controlnet_model": None,
    "dynamic_thresholding": False,
    "sm": False,
    "sm_dyn": False,
    "skip_cfg_below_sigma": 0.0,
    "lora_unet_weights": None,
    "lora_clip_weights": None,
    "uc": "lowres, bad anatomy",
    "request_type": "PromptGenerateRequest",
    "signed_hash": "GmQ1r0iQ9Vw",
}
# Version 4 keeps the base and character prompts apart.
NOVELAI_V4 = NOVELAI_COMMENT | {
    "v4_prompt": {
        "caption": {
            "base_caption": "2girls, cafe",
            "char_captions": [
                {"char_caption": "girl, red hair", "centers": [{"x": 0.3, "y": 0.5}]},
                {"char_caption": "girl, blue hair", "centers": [{"x": 0.7, "y": 0.5}]},
            ],
        },
        "use_coords": True,
    },
    "v4_negative_prompt": {"caption": {"base_caption": "lowres", "char_captions": []}},
}


def test_novelai_png(tmp_path):
    path = _png(
        tmp_path / "nai.png",
        Title="NovelAI generated image",
        Description="1girl, red hair, cafe, window light",
        Software="NovelAI",
        Source="NovelAI Diffusion V3 7BCCAA2C",
        Comment=json.dumps(NOVELAI_COMMENT),
    )
    text = read_parameters(path)
    assert text == (
        "1girl, red hair, cafe, window light\nNegative prompt: lowres, bad anatomy\n"
        "Steps: 28, Sampler: Euler a, Schedule type: Karras, CFG scale: 5, Seed: 3339123321, "
        "Size: 832x1216, Model: NovelAI Diffusion V3, Model hash: 7BCCAA2C, Version: NovelAI"
    )
    restored, notices = request_from_infotext(text)
    assert restored.scheduler == "euler-a"
    assert notices == ["Euler a is used without its Karras schedule (not available)."]
    # Version 4 keeps the base and character prompts apart.
    v4 = NOVELAI_V4 | {"noise_schedule": "native"}
    texts = {"Software": "NovelAI", "Description": "2girls, cafe", "Comment": json.dumps(v4)}
    parsed = parse_infotext(infotext_from_foreign(texts))
    assert parsed.prompt == "2girls, cafe | girl, red hair | girl, blue hair"
    assert parsed.negative_prompt == "lowres" and "Schedule type" not in parsed.params


def test_a_png_with_no_recipe_and_other_tools_half_written_metadata(tmp_path):
    plain = _png(tmp_path / "plain.png", Software="GIMP 2.10", Comment="holiday")
    assert read_parameters(plain) is None
    broken = {
        "prompt": "{not json",
        "invokeai_metadata": "[1, 2]",
        "sd-metadata": json.dumps({"image": "x"}),
        "Dream": '"unclosed',
        "Comment": "{}",
    }
    assert infotext_from_foreign(broken) is None
    cyclic = {"1": {"class_type": "KSampler", "inputs": {"steps": 2, "cfg": 1}}}
    cyclic["1"]["inputs"] |= {"sampler_name": ["1", 0], "seed": ["1", 0], "positive": ["1", 0]}
    assert infotext_from_foreign({"prompt": json.dumps(cyclic)}) == "Steps: 2, CFG scale: 1"


def _random_json(rng: random.Random, depth: int = 0) -> object:
    kinds = ["int", "float", "str", "none", "bool", "link"] + ["list", "dict"] * (depth < 4)
    kind = rng.choice(kinds)
    keys = ["inputs", "class_type", "seed", "steps", "cfg", "sampler_name", "text", "model",
            "positive", "negative", "latent_image", "width", "height", "caption", "prompt",
            "image", "loras", "weight", "name", "v4_prompt", "char_captions", "1", "2"]  # fmt: skip
    if kind == "dict":
        return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(6))}
    if kind == "list":
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {
        "int": lambda: rng.choice([0, -1, 7, 2**70]),
        "float": lambda: rng.choice([0.5, 1e308, float("nan")]),
        "str": lambda: rng.choice(["", "euler", "1", "a b", "k_dpmpp_2m_k"]),
        "none": lambda: None,
        "bool": lambda: rng.choice([True, False]),
        "link": lambda: [rng.choice(["1", "2"]), 0],
    }[kind]()


def test_any_json_shape_gives_text_or_none_never_an_exception():
    rng = random.Random(5)
    for _ in range(3000):
        value = json.dumps(_random_json(rng))
        texts = {"prompt": value, "invokeai_metadata": value, "sd-metadata": value}
        texts |= {"Software": "NovelAI", "Comment": value, "Dream": value}
        for key in texts:
            result = infotext_from_foreign({key: texts[key]} | {"Software": "NovelAI"})
            assert result is None or isinstance(result, str)


def test_values_of_the_wrong_type_are_as_if_absent(tmp_path):
    # A NovelAI V4 comment whose char_captions is a number raised TypeError, which
    # crashed the history strip while it was being built.
    caption = {"base_caption": "2girls, cafe", "char_captions": 5}
    comment = NOVELAI_COMMENT | {"v4_prompt": {"caption": caption}}
    path = _png(tmp_path / "nai.png", Software="NovelAI", Comment=json.dumps(comment))
    assert parse_infotext(read_parameters(path)).prompt == "2girls, cafe"
    # A list or an object where a text belongs is not written out as Python shows it.
    nai = {"prompt": {"a": 1}, "uc": [1], "sampler": 3, "noise_schedule": [1], "steps": 4}
    nai_texts = {"Software": "NovelAI", "Comment": json.dumps(nai)}
    assert infotext_from_foreign(nai_texts) == "Steps: 4, Version: NovelAI"
    invokeai = {"seed": 1, "scheduler": [1], "app_version": {}, "positive_prompt": ["x"]}
    invokeai |= {"model": {"name": 5}, "clip_skip": [2], "width": True, "height": 512}
    assert infotext_from_foreign({"invokeai_metadata": json.dumps(invokeai)}) == "Seed: 1"
    graph = json.loads(json.dumps(COMFY_DEFAULT))
    graph["3"]["inputs"]["sampler_name"] = 5
    graph["4"]["inputs"]["ckpt_name"] = 7
    graph["5"]["inputs"]["width"] = True
    assert infotext_from_foreign({"prompt": json.dumps(graph)}).endswith(
        "\nSteps: 20, CFG scale: 8, Seed: 156680208700286"
    )


def test_long_runs_of_spaces_and_long_command_lines_are_read_at_once(tmp_path):
    # Regexes that retried from every space of a long run took minutes on these,
    # and shlex builds a word a character at a time (2 MB took 78 s).
    spaces = " " * 200_000
    nai = {"Software": "NovelAI", "Comment": "{}", "Description": "a cat"}
    nai["Source"] = f"NovelAI{spaces}Diffusion{spaces}4BDE2A90"
    parsed = parse_infotext(infotext_from_foreign(nai))
    model = (parsed.params["Model"], parsed.params["Model hash"])
    assert model == ("NovelAI Diffusion", "4BDE2A90")
    image = {"prompt": f"a cat{spaces}[ugly]{spaces}on a mat", "steps": 2, "seed": 3}
    image |= {"width": 64, "height": 64}
    parsed = parse_infotext(infotext_from_foreign({"sd-metadata": json.dumps({"image": image})}))
    assert (parsed.prompt, parsed.negative_prompt) == (f"a cat{spaces}on a mat", "ugly")
    dream = _png(tmp_path / "dream.png", Dream='"' + "a" * 100_000 + '" -s 5')
    with pytest.raises(ParametersReadError) as error:
        read_parameters(dream)
    assert str(error.value) == (
        "dream.png's Dream text is over 16 KB, longer than any recipe, so it was not read."
    )
