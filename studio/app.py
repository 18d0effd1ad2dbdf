"""Entry point: argument parsing and dispatch.

Only the standard library is imported here, so `studio --help` answers at
once; torch, diffusers and Qt are imported by the command that needs them.
"""

from __future__ import annotations

import argparse

from . import __version__
from .engine.catalog import CATALOG, DEFAULT_IMAGE_MODEL
from .engine.options import (
    BATCH_GROUP,
    CACHE_GROUP,
    DEFAULT_CACHE_MB,
    SAFETY_GROUP,
    EngineOptions,
    ServiceOptions,
)
from .engine.watermark import Watermark
from .option_flags import add_flags
from .request_args import add_request_arguments
from .server.limits import DEFAULT_MAX_QUEUE

DESCRIPTION = """\
Diffusion Studio: paint on a canvas and generate images with diffusion models
on your own machine. Catalog models: sd15, sd15-inpainting, sd21, sdxl,
sd-turbo, sdxl-turbo, lcm-dreamshaper (from the local hub cache: fetch one
with `studio download NAME`), demo (the
default: a small bundled model that draws coloured shapes, offline) or
tiny-random (a random-weight test model built locally; it draws noise).
Without a command, opens the window."""
# A prompt the demo model draws as asked on at least 12 of 16 seeds (docs/MODEL_CARD.md).
FIRST_PICTURE = f"""\
A first picture, offline, with the bundled demo model:
  studio generate -p "{CATALOG[DEFAULT_IMAGE_MODEL].example_prompt}" -o star.png"""


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def _device_options() -> argparse.ArgumentParser:
    group = argparse.ArgumentParser(add_help=False)
    add_flags(group, EngineOptions)
    return group


def _service_options() -> argparse.ArgumentParser:
    """Cache, watermark, safety filter and batching: shared by generate and serve."""
    group = argparse.ArgumentParser(add_help=False)
    group.add_argument_group(CACHE_GROUP.lower())  # the groups' order in --help
    watermark = group.add_argument_group("watermark")
    safety = group.add_argument_group(SAFETY_GROUP.lower())
    add_flags(group, ServiceOptions, titles={BATCH_GROUP: ""})
    add_flags(watermark, Watermark, prefix="watermark-", group="")
    # Not one option each: a file of keywords, and a switch that may name a model.
    safety.add_argument(
        "--safety-keywords",
        metavar="FILE",
        help="keyword list (one per line or comma-separated) replacing the built-in one",
    )
    safety.add_argument(
        "--image-checker",
        nargs="?",
        const="",
        metavar="MODEL",
        help="check images with the SD safety checker (a folder, or CompVis' from the hub cache)",
    )
    return group


def _option_defaults(*parsers: argparse.ArgumentParser) -> tuple[tuple[str, str, object], ...]:
    """(dest, flag, default) of each option of `parsers`."""
    return tuple(
        (action.dest, max(action.option_strings, key=len), action.default)
        for parser in parsers
        for action in parser._actions  # argparse has no public list of a parser's options
        if action.option_strings and action.dest != "help"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="studio",
        description=DESCRIPTION,
        epilog=FIRST_PICTURE,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--screenshot",
        metavar="FILE",
        help="open the window, let it settle, save a picture of it to FILE and exit",
    )
    parser.add_argument("--open", metavar="FILE", help="an image or .dscanvas project to open")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="open the window offscreen, generate one image with the default model, check it "
        "and exit (0: passed)",
    )
    parser.add_argument(
        "--self-test-report", metavar="FILE", help="write the self-test's JSON report to FILE"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    device = _device_options()
    services = _service_options()
    gen = commands.add_parser(
        "generate",
        help="generate images on the command line (headless)",
        description="Generate images headless, with the same engine as the window.",
        epilog=FIRST_PICTURE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[device, services],
    )
    gen.add_argument(
        "--prompts-file",
        metavar="FILE",
        help="many prompts, one per line (# comments): a batch with the other settings shared",
    )
    gen.add_argument(
        "--out",
        "-o",
        default="out.png",
        help="output file; its suffix picks the format: .png, .jpg/.jpeg or .webp, each with "
        "the parameters inside as A1111 stores them; a batch adds -1, -2, ... before the "
        "suffix (default: out.png)",
    )
    add_request_arguments(gen.add_argument_group("generation (each field of the request)"))
    gen.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    remote = gen.add_argument_group("remote engine (docs/SERVICE.md, Remote)")
    remote.add_argument(
        "--server",
        metavar="URL",
        help="generate on a `studio serve` elsewhere, e.g. http://gpu-box:8080 (default: "
        "$STUDIO_SERVER; none: this machine). The device, cache, safety, watermark and batch "
        "options are then the server's own and refused here",
    )
    remote.add_argument(
        "--token", help="the server's token, sent as a Bearer header (default: $STUDIO_API_TOKEN)"
    )
    # The options that set up this machine's engine: with --server they are the server's.
    gen.set_defaults(local_only=_option_defaults(device, services))

    serve = commands.add_parser(
        "serve",
        help="run the local HTTP API (headless): POST /generate/image, /generate/text, /jobs",
        description="Serve the HTTP API on this machine; the OpenAPI page is at /docs.",
        parents=[device, services],
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default: 8080; 0: any free)")
    serve.add_argument(
        "--token",
        help="require 'Authorization: Bearer TOKEN' (default: $STUDIO_API_TOKEN; none if unset)",
    )
    serve.add_argument(
        "--model",
        "-m",
        default=DEFAULT_IMAGE_MODEL,
        help=f"model for requests that name none (default: {DEFAULT_IMAGE_MODEL})",
    )
    serve.add_argument(
        "--max-queue",
        type=_at_least_one,
        default=DEFAULT_MAX_QUEUE,
        metavar="N",
        help="jobs that may wait; past that a request gets 503 with Retry-After "
        f"(default: {DEFAULT_MAX_QUEUE})",
    )
    serve.add_argument(
        "--mercury-url",
        help="OpenAI-compatible base URL for /generate/text (default: $INCEPTION_BASE_URL, "
        "else Inception); the key comes from $INCEPTION_API_KEY or the keyring",
    )

    ray_flags = serve.add_argument_group("many GPUs (Ray Serve; pip install '.[cluster]')")
    ray_flags.add_argument(
        "--cluster",
        choices=["ray"],
        help="serve the same API as a Ray Serve application: one engine replica per GPU",
    )
    ray_flags.add_argument(
        "--replicas",
        type=_at_least_one,
        default=1,
        metavar="N",
        help="engine replicas (with --cluster; default: 1)",
    )
    ray_flags.add_argument(
        "--max-replicas",
        type=_at_least_one,
        metavar="M",
        help="autoscale from --replicas up to M engine replicas (with --cluster)",
    )
    ray_flags.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="join this Ray cluster, e.g. ray://head:10001 or auto (default: start one here)",
    )

    cache = commands.add_parser("cache", help="show or clear the result cache")
    cache.add_argument("action", choices=["stats", "clear"], help="what to do")
    cache.add_argument("--cache-dir", help="cache folder (default: <data folder>/cache)")
    cache.add_argument(
        "--cache-max-mb", type=int, default=DEFAULT_CACHE_MB, help="size cap, for stats"
    )

    tiny = commands.add_parser(
        "make-tiny-model",
        help="write a tiny random-weight model folder (for trying the pipeline offline)",
    )
    tiny.add_argument("folder", help="where to write it")
    tiny.add_argument("--sdxl", action="store_true", help="SDXL architecture")
    tiny.add_argument("--controlnet", action="store_true", help="a ControlNet instead")

    listing = commands.add_parser(
        "models", help="list the catalog, what is on this machine and its size on disk"
    )
    listing.add_argument(
        "--updates",
        action="store_true",
        help="also ask the hub whether a downloaded model has a newer version (needs internet)",
    )

    fetch = commands.add_parser(
        "download",
        help="download a catalog model or hub repo into the hub cache (resumes where it stopped)",
        description="Download the files the pipeline needs (diffusers folders, one set of "
        "weights: the fp16 files alone where a CUDA GPU will run them) into the hub cache. "
        "Honours HF_TOKEN or `hf auth login` (else the token saved from Settings, kept in the "
        "system keyring, never in the settings file), HF_ENDPOINT and "
        "HF_HUB_CACHE; a rerun continues an interrupted download, and downloading a model "
        "again after an update fetches only the files that changed.",
    )
    fetch.add_argument("model", metavar="NAME|REPO_ID", help="a catalog name or 'owner/name'")
    fetch.add_argument("--revision", metavar="R", help="branch, tag or commit (default: main)")
    fetch.add_argument(
        "--include",
        action="append",
        metavar="PATTERN",
        help="fetch only the files matching this glob (repeatable) instead of the automatic choice",
    )

    remove = commands.add_parser(
        "remove", help="delete a downloaded model from the hub cache (only its own files)"
    )
    remove.add_argument("model", metavar="NAME|REPO_ID", help="a catalog name or 'owner/name'")

    params = commands.add_parser(
        "params", help="print the generation parameters stored in a PNG, JPEG or WebP"
    )
    params.add_argument(
        "image",
        help="an image written by this app, A1111, Forge, Fooocus, ComfyUI, InvokeAI or NovelAI",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.self_test:
        from .selftest import run_self_test

        return run_self_test(args.self_test_report)
    if args.command is None:
        from .gui import run_gui

        return run_gui(screenshot=args.screenshot, open_path=args.open)
    from . import cli

    return cli.run(args)
