"""The command-line commands: headless generation and model utilities."""

from __future__ import annotations

import argparse
import errno
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from .atomicfile import check_can_create_in, write_problem
from .engine.errors import EngineError, JobCancelledError, RequestError
from .engine.image_files import check_result_files, write_error
from .engine.options import EngineOptions, ServiceOptions
from .engine.request import GenerationRequest
from .engine.watermark import Watermark
from .option_flags import options_from_args
from .remote import SERVER_ENV
from .request_args import request_from_args


def _fail(message: str, code: int = 1) -> int:
    one_line = " ".join(message.split())
    print(f"error: {one_line}", file=sys.stderr)
    return code


def _open_image(path: str | None, what: str) -> Image.Image | None:
    if path is None:
        return None
    try:
        with warnings.catch_warnings():
            # Up to twice Pillow's limit it only warns, of a "DOS attack": not a
            # sentence for the user's own large photo, which is scaled down anyway.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                return image.copy()
    except FileNotFoundError:
        raise EngineError(f"The {what} {path!r} does not exist.") from None
    except IsADirectoryError:
        raise EngineError(f"The {what} {path!r} is a folder; name an image file.") from None
    except Image.DecompressionBombError:
        # Pillow refuses to decode this many pixels: a few GB of memory, or a trap.
        raise EngineError(
            f"The {what} {path!r} has more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels, "
            "too many to open; scale it down first."
        ) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise EngineError(
            f"The {what} {path!r} is not an image this app can read ({exc})."
        ) from None


def output_paths(out: str, count: int) -> list[Path]:
    """`out.png` for one image; `out-1.png`, `out-2.png`, ... for a batch (any suffix:
    output_format has checked it)."""
    path = Path(out)
    if count == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i}{path.suffix}") for i in range(1, count + 1)]


def _check_cache_folder(services: ServiceOptions, writing: bool, hint: str = "") -> Path:
    """The cache folder, refused with a sentence when it is a file (or, for
    `writing`, cannot be written), before any work starts."""
    folder = services.cache_folder()
    try:
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "Not a folder", str(folder))
        if writing:
            check_can_create_in(folder / "entries")
    except OSError as exc:
        raise EngineError(
            f"Cannot use the cache folder {folder}: {write_problem(exc, folder)}{hint}."
        ) from None
    return folder


def engine_options(args: argparse.Namespace) -> EngineOptions:
    return EngineOptions(**options_from_args(EngineOptions, args))


def service_options(args: argparse.Namespace) -> ServiceOptions:
    """Cache, safety filter, watermark and batch budget from the shared flags."""
    values = options_from_args(ServiceOptions, args)
    if args.safety_keywords:
        from .engine.safety import parse_keywords

        try:
            with open(args.safety_keywords, encoding="utf-8-sig") as file:
                values["safety_keywords"] = parse_keywords(file.read())
        except OSError as exc:
            raise EngineError(
                f"The keyword list {args.safety_keywords!r} could not be read ({exc})."
            ) from None
    mark = options_from_args(Watermark, args, prefix="watermark_")
    if mark["text"] is not None:
        values["watermark"] = Watermark(**mark).validated()
    try:
        return ServiceOptions(
            **values,
            image_checker=args.image_checker is not None,
            image_checker_model=args.image_checker or None,
        )
    except ValueError as exc:
        raise RequestError(str(exc)) from None


def _request_from_args(args: argparse.Namespace) -> GenerationRequest:
    if not args.prompt and not args.prompts_file:
        raise RequestError("Say what to draw: give --prompt TEXT, or --prompts-file FILE.")
    return request_from_args(args, _open_image)


def _jobs_from_args(args: argparse.Namespace, services: ServiceOptions) -> list[GenerationRequest]:
    """One job, or for --prompts-file as few jobs as the batch budget allows."""
    request = _request_from_args(args)
    if not args.prompts_file:
        jobs = [request]
    else:
        from .engine.batch import plan_batch, read_prompt_file

        prompts = read_prompt_file(args.prompts_file)
        jobs = plan_batch(request, prompts, services.batch_megapixels)
    from .engine.safety import prompt_filter

    checked = []
    for job in jobs:  # refuse bad input before torch is even imported
        job, _notices = job.validated()  # generate() reports the notices, not validating again
        prompt_filter(services).check(job.prompts)
        checked.append(job)
    return checked


def step_printer(quiet: bool) -> Callable[[int, int], None]:
    """The step counter on stderr: on a terminal one line rewritten in place; in a
    log or a pipe (no carriage returns) one line a job, at its last step."""
    terminal = sys.stderr.isatty()

    def show(step: int, total: int) -> None:
        if quiet:
            return
        if terminal:
            print(f"\rstep {step}/{total}", end="", file=sys.stderr, flush=True)
        elif step == total:
            print(f"step {step}/{total}", file=sys.stderr, flush=True)

    return show


def cmd_generate(args: argparse.Namespace) -> int:
    check_result_files([Path(args.out)])  # before anything else, and again once sized
    server = args.server or os.environ.get(SERVER_ENV)
    if server:  # the same request, run by a `studio serve` elsewhere
        from .cli_remote import generate_remote

        return generate_remote(
            args, server, lambda: _request_from_args(args), output_paths, step_printer(args.quiet)
        )
    services = service_options(args)
    if services.cache:
        _check_cache_folder(services, writing=True, hint=", or run with --no-cache")
    jobs = _jobs_from_args(args, services)
    paths = output_paths(args.out, sum(job.image_count for job in jobs))
    check_result_files(paths, jobs)  # before any model loads: a result thrown away costs minutes
    from .engine.denoise import StepInfo
    from .engine.generate import generate
    from .engine.image_files import save_image
    from .engine.pipelines import PipelineStore

    store = PipelineStore(engine_options(args))

    terminal = sys.stderr.isatty()
    show_step = step_printer(args.quiet)

    def progress(info: StepInfo) -> None:
        show_step(info.step, info.total)

    results = []
    for job in jobs:
        result = generate(job, store, on_step=progress, services=services)
        if terminal and not args.quiet and not result.cached:
            print(file=sys.stderr)
        for notice in result.notices:
            print(f"note: {notice}", file=sys.stderr)
        results.append(result)
    images = [
        (image, text, seed)
        for result in results
        for image, text, seed in zip(result.images, result.infotexts, result.seeds, strict=True)
    ]
    for (image, infotext, seed), path in zip(images, paths, strict=True):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_image(image, path, infotext)
        except OSError as exc:
            raise write_error(path, exc) from None
        print(f"{path}  (seed {seed})")
    r = results[0].request
    elapsed = sum(result.elapsed_s for result in results)
    calls = f" in {len(results)} pipeline calls" if len(results) > 1 else ""
    print(
        f"{len(paths)} image(s), {r.width}×{r.height}, {r.steps} steps, "
        f"model {results[0].model_label}, {elapsed:.2f} s on {store.device}{calls}",
        file=sys.stderr,
    )
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from .engine.cache import ResultCache

    services = ServiceOptions(cache_dir=Path(args.cache_dir) if args.cache_dir else None)
    folder = _check_cache_folder(services, writing=args.action == "clear")
    cache = ResultCache(folder, args.cache_max_mb * 2**20)
    if args.action == "clear":
        removed = cache.clear()
        left = cache.stats().entries
        if left:  # clear() skips what it may not delete: say so instead of a false count
            return _fail(f"{left} cached result(s) in {folder} could not be removed.")
        print(f"Removed {removed} cached result(s) from {folder}.")
    else:
        print(cache.stats().describe())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    services = service_options(args)
    if services.cache:
        _check_cache_folder(services, writing=True, hint=", or run with --no-cache")
    from .server.runner import serve_forever

    return serve_forever(args, engine_options(args), services)


def cmd_make_tiny_model(args: argparse.Namespace) -> int:
    from .engine import tiny
    from .engine.pipelines import quiet_libraries

    quiet_libraries()
    folder = Path(args.folder)
    if folder.exists() and not folder.is_dir():
        return _fail(f"{folder} is a file; choose a new folder.")
    if folder.exists() and any(folder.iterdir()):
        return _fail(f"{folder} exists and is not empty; choose a new folder.")
    try:
        check_can_create_in(folder)
    except OSError as exc:
        raise write_error(folder, exc) from None
    if args.controlnet:
        tiny.save_tiny_controlnet(folder, sdxl=args.sdxl)
    else:
        tiny.save_tiny_model(folder, sdxl=args.sdxl)
    print(folder)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .engine.byte_sizes import size_text
    from .engine.catalog import CATALOG
    from .engine.downloads import DownloadError, ModelState, model_state, update_available
    from .engine.resolve import catalog_status

    unchecked: str | None = None  # why the hub could not be asked, once
    for entry in CATALOG.values():
        where = entry.hub_id or ("bundled" if entry.bundled else "built locally")
        status, size = catalog_status(entry), ""
        if entry.hub_id:
            state, on_disk = model_state(entry.name)
            if state is ModelState.PARTIAL:
                status = "partial"
            elif state is ModelState.PRESENT and args.updates and unchecked is None:
                try:
                    if update_available(entry.name):
                        status = ModelState.UPDATE_AVAILABLE.value
                except DownloadError as exc:  # the list still shows what is here
                    unchecked = str(exc)
            size = size_text(on_disk) if on_disk else ""
        print(f"{entry.name:24} {status:15} {size:>9}  {entry.title}  [{where}]")
    if unchecked is not None:
        return _fail(f"Updates were not checked: {unchecked}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from .engine.downloads import download, plan_download
    from .engine.pipelines import pick_device
    from .engine.resolve import resolve_model

    # The precision this machine runs: the fp16 files alone on a CUDA GPU.
    device = pick_device("auto")
    plan = plan_download(args.model, args.revision, args.include, device=device)
    print(f"Downloading {plan.describe()} from {plan.repo_id}.", file=sys.stderr, flush=True)
    folder = download(plan, progress=_progress_printer(dict(plan.files), sys.stderr))
    if not args.include:  # a complete model resolves as the app will load it
        kind = resolve_model(folder.as_posix()).kind
        print(f"{plan.label} is ready: {_use_of(plan.label, kind)}", file=sys.stderr)
    for line in _offers(args.model, device):
        print(line, file=sys.stderr)
    print(folder)
    return 0


def _use_of(label: str, kind: str) -> str:
    """How a downloaded model is used: only an image model is a --model."""
    from .engine.catalog import SPEED_PACK_EFFECT, Kind

    if kind == Kind.CONTROLNET:
        return f"studio generate --mode controlnet-canny --controlnet {label} ..."
    if kind == Kind.DECODER:
        return (
            f"the CPU decodes with it from now on ({SPEED_PACK_EFFECT}; --no-speed-pack "
            "turns it off)."
        )
    return f"studio generate --model {label} ..."


BAR_WIDTH = 24
REDRAW_S = 0.1  # a terminal line is redrawn at most this often


def _progress_printer(sizes: dict[str, int], out) -> Callable:
    """On a terminal, one line redrawn in place: a bar, bytes, speed, time left.
    In a log or a pipe, plain lines: each file as it starts, and every tenth of
    the whole as it passes."""
    from .engine.byte_sizes import size_text
    from .engine.download_meter import DownloadStatus, SpeedMeter
    from .engine.downloads import DownloadProgress

    terminal = out.isatty()
    meter = SpeedMeter()
    state = {"file": "", "tenth": -1, "drawn": 0.0}

    def progress(p: DownloadProgress) -> None:
        status = DownloadStatus(p.done, p.total, meter.add(p.done))
        if terminal:
            now = time.monotonic()
            if now - state["drawn"] < REDRAW_S and p.done < p.total:
                return
            state["drawn"] = now
            filled = BAR_WIDTH * status.percent // 100
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            line = f"\r{status.percent:3d}% [{bar}] {status.text()}"
            print(f"{line:<79}", end="\n" if p.done >= p.total else "", file=out, flush=True)
            return
        if p.file != state["file"]:
            state["file"] = p.file
            print(f"fetching {p.file} ({size_text(sizes.get(p.file, 0))})", file=out, flush=True)
        tenth = status.percent // 10
        if tenth > state["tenth"]:
            state["tenth"] = tenth
            print(f"{status.percent:3d}%  {status.text()}", file=out, flush=True)

    return progress


def _offers(spec: str, device: str) -> list[str]:
    """What is offered with a catalog model and not here yet: its canny ControlNet,
    and where the CPU runs it, its speed pack."""
    from .engine.catalog import CATALOG, SPEED_PACK_EFFECT, Kind, companions
    from .engine.downloads import ModelState, model_state

    entry = next((e for e in CATALOG.values() if spec.strip() in (e.name, e.hub_id)), None)
    lines = []
    for other in companions(entry) if entry is not None else ():
        if other.kind is Kind.DECODER and device != "cpu":
            continue  # on a GPU the model's own decoder costs little
        if model_state(other.name)[0] is ModelState.PRESENT:
            continue
        what = (
            f"speed pack: {SPEED_PACK_EFFECT}" if other.kind is Kind.DECODER else "canny ControlNet"
        )
        lines.append(f"Also offered: {other.name} ({what}): studio download {other.name}")
    return lines


def cmd_remove(args: argparse.Namespace) -> int:
    from .engine.byte_sizes import size_text
    from .engine.downloads import remove_model

    freed = remove_model(args.model)
    print(f"Removed {args.model} ({size_text(freed)} freed).")
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    from .engine.image_parameters import ParametersReadError, read_parameters

    # Only the metadata is read: a file cut off in its pixels still gives its recipe.
    try:
        text = read_parameters(args.image)
    except ParametersReadError as exc:
        return _fail(str(exc))
    if text is None:
        return _fail(f"{args.image} holds no generation parameters.")
    print(text)
    return 0


DEBUG_ENV = "STUDIO_DEBUG"  # set: unexpected errors show their traceback

COMMANDS = {
    "cache": cmd_cache,
    "generate": cmd_generate,
    "serve": cmd_serve,
    "make-tiny-model": cmd_make_tiny_model,
    "models": cmd_models,
    "download": cmd_download,
    "remove": cmd_remove,
    "params": cmd_params,
}


def run(args: argparse.Namespace) -> int:
    if args.command != "download":  # we never download behind the user's back
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        return COMMANDS[args.command](args)
    except (EngineError, ValueError) as exc:
        return _fail(str(exc))
    except (JobCancelledError, KeyboardInterrupt):
        print("\ncancelled", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader stopped early (`studio models | head`): no error
        # Python would try to flush stdout again at exit and complain: point it at nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a command its pipe's reader cut short
    except OSError as exc:  # a file or the network failed somewhere we did not expect
        where = f" ({exc.filename})" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}; check the path and try again.")
    except Exception as exc:  # a bug: still one sentence, the details on request
        if os.environ.get(DEBUG_ENV):
            raise
        return _fail(
            f"Unexpected {type(exc).__name__}: {exc}. This is a bug; please report it "
            f"with the output of the same command run with {DEBUG_ENV}=1."
        )
