"""The double-click app: the self-test, the frozen launcher's crash log, the
Linux installer and launcher entry, the icon; and (marked `build`, excluded
from the default run) the PyInstaller build itself.

    scripts/test -m build                        # builds, then tests the result
    STUDIO_REUSE_BUILD=1 scripts/test -m build   # tests an existing dist/ build
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from studio.engine.pngfile import save_png
from studio.selftest import image_problems, png_text_chunks

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = ROOT / "packaging" / "launcher.py"
INSTALL = ROOT / "packaging" / "linux" / "install.sh"
DESKTOP_TEMPLATE = ROOT / "packaging" / "linux" / "diffusion-studio.desktop.in"
ICONS = ROOT / "studio" / "resources" / "icons"
APP_NAME = "Diffusion Studio"
INFOTEXT = "a lighthouse\nNegative prompt: fog\nSteps: 4, Sampler: Euler, Seed: 7, Size: 32x24"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(STUDIO_DATA_DIR=str(tmp_path / "data"), QT_QPA_PLATFORM="offscreen")
    env.update(extra)
    return env


def _noise(width: int = 32, height: int = 24) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


# -- checking a generated picture ---------------------------------------------------------------


def test_a_good_picture_passes(tmp_path):
    path = save_png(_noise(), tmp_path / "ok.png", INFOTEXT)
    assert png_text_chunks(path)["parameters"] == INFOTEXT
    assert image_problems(path, 32, 24, "a lighthouse", 7) == []


@pytest.mark.parametrize(
    ("image", "width", "prompt", "seed", "problem"),
    [
        (Image.new("RGB", (32, 24), (0, 0, 0)), 32, "a lighthouse", 7, "blank"),
        (Image.new("RGB", (32, 24), (90, 120, 200)), 32, "a lighthouse", 7, "blank"),
        (_noise(), 64, "a lighthouse", 7, "expected 64×24"),
        (_noise(), 32, "a castle", 7, "do not hold the prompt"),
        (_noise(), 32, "a lighthouse", 8, "Seed: 8"),
    ],
)
def test_a_wrong_picture_is_named(tmp_path, image, width, prompt, seed, problem):
    path = save_png(image, tmp_path / "bad.png", INFOTEXT)
    problems = image_problems(path, width, 24, prompt, seed)
    assert any(problem in p for p in problems), problems


def test_parameters_must_be_a_text_chunk(tmp_path):
    # iTXt is what some tools misread: the self-test insists on tEXt.
    info = PngImagePlugin.PngInfo()
    info.add_itxt("parameters", INFOTEXT)
    path = tmp_path / "itxt.png"
    _noise().save(path, pnginfo=info)
    assert image_problems(path, 32, 24, "a lighthouse", 7) == ["no 'parameters' tEXt chunk"]


def test_a_damaged_png_is_reported(tmp_path):
    path = save_png(_noise(), tmp_path / "damaged.png", INFOTEXT)
    data = bytearray(path.read_bytes())
    data[data.index(b"tEXt") + 8] ^= 0xFF  # inside the chunk: the CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged tEXt"):
        png_text_chunks(path)
    assert "not a readable PNG" in image_problems(path, 32, 24, "a lighthouse", 7)[0]
    (tmp_path / "missing.png").unlink(missing_ok=True)
    assert "was not written" in image_problems(tmp_path / "missing.png", 32, 24, "x", 1)[0]


# -- the self-test, unfrozen -------------------------------------------------------------------


def _self_test(command: list[str], tmp_path: Path, env: dict[str, str], timeout: float = 600):
    report = tmp_path / "report" / "self-test.json"
    done = subprocess.run(
        [*command, "--self-test", "--self-test-report", str(report)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert report.is_file(), f"no report; rc {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done, json.loads(report.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_self_test_generates_and_checks_an_image(tmp_path):
    from studio.engine.catalog import DEFAULT_IMAGE_MODEL
    from studio.selftest import PROMPT, SEED

    done, report = _self_test([sys.executable, "-m", "studio"], tmp_path, _env(tmp_path))
    assert done.returncode == 0, report
    assert report["ok"] and report["reason"] is None
    assert report["frozen"] is False
    assert report["model"] == DEFAULT_IMAGE_MODEL
    names = {c["name"]: c for c in report["checks"]}
    for name in (
        "window",
        "window before torch",
        "engine",
        "saved",
        "image",
        "tls certificates",
        "qt platform plugins",
        "data folder",
    ):
        assert names[name]["ok"], names[name]
    assert "step events" in names["engine"]["detail"]
    # The picture and a screenshot of the window are kept beside the report.
    image = Path(report["image"])
    assert image.parent == tmp_path / "report"
    assert image_problems(image, *Image.open(image).size, PROMPT, SEED) == []
    assert Image.open(report["screenshot"]).size[0] > 300
    assert "self-test passed" in done.stdout


@pytest.mark.slow
def test_self_test_fails_with_a_reason(tmp_path):
    # A data folder that cannot be created: the window cannot start.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env = _env(tmp_path, STUDIO_DATA_DIR=str(blocker / "data"))
    done, report = _self_test([sys.executable, "-m", "studio"], tmp_path, env, timeout=120)
    assert done.returncode == 1
    assert report["ok"] is False
    assert report["reason"].startswith("The app could not start")
    assert "self-test FAILED" in done.stdout


@pytest.mark.slow
def test_self_test_without_report_prints_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "studio", "--self-test"],
        env=_env(tmp_path, STUDIO_DATA_DIR=str(blocker / "x")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    report = json.loads(done.stdout[: done.stdout.rindex("}") + 1])
    assert report["ok"] is False and report["checks"] == []


def test_a_self_test_killed_midway_leaves_a_report_saying_so(tmp_path):
    # A native crash (a segfault in torch's libraries) ends the process at once.
    report = tmp_path / "report.json"
    code = (
        "import os, sys, studio.gui, studio.selftest\n"
        "studio.gui.run_gui = lambda **kw: os._exit(9)\n"
        f"studio.selftest.run_self_test({str(report)!r})"
    )
    env = _env(tmp_path, STUDIO_LOG_FILE=str(tmp_path / "last-run.log"))
    done = subprocess.run([sys.executable, "-c", code], env=env, timeout=120)
    assert done.returncode == 9
    left = json.loads(report.read_text())
    assert left["ok"] is False
    assert "ended before the self-test finished" in left["reason"]
    assert str(tmp_path / "last-run.log") in left["reason"]


# -- the frozen app's launcher (run from source: same code) -----------------------------------


def _launcher(tmp_path: Path, code: str, **env: str) -> subprocess.CompletedProcess:
    script = f"import sys; sys.path.insert(0, {str(LAUNCHER.parent)!r}); import launcher\n{code}"
    return subprocess.run(
        [sys.executable, "-c", script],
        env=_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _log(tmp_path: Path) -> str:
    return (tmp_path / "data" / "logs" / "last-run.log").read_text(encoding="utf-8")


def test_launcher_runs_the_app_and_logs_the_run(tmp_path):
    done = _launcher(tmp_path, "sys.argv[1:] = ['--version']; sys.exit(launcher.main())")
    assert done.returncode == 0, done.stderr
    assert "studio 0." in done.stdout
    assert "exit status 0" in _log(tmp_path)


def test_launcher_logs_an_unexpected_error(tmp_path):
    code = (
        "import studio.app\n"
        "def broken(): raise ImportError('libtorch_cpu.so: cannot open shared object file')\n"
        "studio.app.main = broken\n"
        "sys.exit(launcher.main())"
    )
    done = _launcher(tmp_path, code)
    assert done.returncode == 70
    log = _log(tmp_path)
    assert "Traceback" in log and "libtorch_cpu.so: cannot open" in log
    assert "The details are in" in done.stderr and "last-run.log" in done.stderr


@pytest.mark.slow
def test_launcher_records_a_fatal_qt_error(tmp_path):
    # What a missing platform plugin (e.g. libxcb-cursor0 absent) does: Qt aborts.
    done = _launcher(
        tmp_path, "sys.argv[1:] = []; sys.exit(launcher.main())", QT_QPA_PLATFORM="nonexistent"
    )
    assert done.returncode != 0
    log = _log(tmp_path)
    assert "Qt FATAL" in log or "Qt critical" in log, log
    assert "nonexistent" in log
    assert "Fatal Python error: Aborted" in log  # faulthandler's stack dump


def test_launcher_gives_a_windowed_app_streams(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("studio_launcher", LAUNCHER)
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    with open(tmp_path / "log.txt", "w", encoding="utf-8") as log:
        launcher.prepare_streams(log)
        assert sys.stdout is log and sys.stderr is log
        print("tqdm and transformers write here", file=sys.stderr)
    assert "transformers write here" in (tmp_path / "log.txt").read_text()


def test_launcher_falls_back_to_a_temporary_log_folder(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("studio_launcher", LAUNCHER)
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("STUDIO_DATA_DIR", str(blocker / "data"))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    assert launcher.log_folder() == tmp_path / "tmp" / "DiffusionStudio-logs"


# -- the Linux installer and its desktop entry --------------------------------------------------


def desktop_entry(path: Path) -> dict[str, str]:
    entry, section = {}, None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            section = line
        elif "=" in line and section == "[Desktop Entry]":
            key, _, value = line.partition("=")
            entry[key] = value
    return entry


def exec_arguments(value: str) -> list[str]:
    """The argument vector of an Exec key, by the Desktop Entry Specification:
    string escapes first, then quoting (\\" \\` \\$ \\\\ inside double quotes)."""
    unescaped, i = [], 0
    string_escapes = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value) and value[i + 1] in string_escapes:
            unescaped.append(string_escapes[value[i + 1]])
            i += 2
        else:
            unescaped.append(value[i])
            i += 1
    text, args, current, quoted, i = "".join(unescaped), [], None, False, 0
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\" and text[i + 1] in '"`$\\':
                current += text[i + 1]
                i += 1
            elif c == '"':
                quoted = False
            else:
                current += c
        elif c == '"':
            quoted, current = True, current or ""
        elif c == " ":
            if current is not None:
                args.append(current)
            current = None
        elif c == "%":
            assert text[i + 1] == "%", "field codes are not expected"
            current = (current or "") + "%"
            i += 1
        else:
            current = (current or "") + c
        i += 1
    assert not quoted, "unterminated quote"
    if current is not None:
        args.append(current)
    return [a.replace("%%", "%") for a in args]


@pytest.fixture
def unpacked(tmp_path) -> Path:
    """An archive's layout with a stand-in app that records its arguments."""
    folder = tmp_path / "diffusion-studio-0.1.0-linux-x86_64"
    icons = folder / APP_NAME / "_internal" / "studio" / "resources" / "icons"
    icons.mkdir(parents=True)
    for png in ICONS.glob("diffusion-studio-*.png"):
        shutil.copy(png, icons)
    app = folder / APP_NAME / APP_NAME
    app.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$MARKER"\n')
    app.chmod(0o755)
    shutil.copy(INSTALL, folder / "install.sh")
    shutil.copy(DESKTOP_TEMPLATE, folder)
    return folder


def _install(folder: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    return subprocess.run(
        ["sh", str(folder / "install.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_install_adds_a_working_launcher_and_uninstall_removes_it(unpacked, tmp_path):
    home = tmp_path / "home"
    # A path that needs every kind of quoting the Exec key has.
    prefix = tmp_path / 'apps dir $HOME `x` "q" 100%'
    done = _install(unpacked, home, "--prefix", str(prefix))
    assert done.returncode == 0, done.stderr
    share = home / ".local" / "share"
    desktop = share / "applications" / "diffusion-studio.desktop"
    entry = desktop_entry(desktop)
    exe = prefix / APP_NAME / APP_NAME
    assert entry["Name"] == APP_NAME and entry["Type"] == "Application"
    assert entry["Icon"] == "diffusion-studio" and entry["Terminal"] == "false"
    assert exec_arguments(entry["Exec"]) == [str(exe)]
    assert entry["TryExec"].replace("\\\\", "\\") == str(exe)
    for size in (16, 48, 256, 512):
        icon = share / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "diffusion-studio.png"
        assert Image.open(icon).size == (size, size)
    link = home / ".local" / "bin" / "diffusion-studio"
    assert link.resolve() == exe.resolve()

    # What a desktop does on a click: run the Exec line.
    marker = tmp_path / "ran.txt"
    subprocess.run(
        [*exec_arguments(entry["Exec"]), "--hello"],
        check=True,
        timeout=30,
        env={**os.environ, "MARKER": str(marker)},
    )
    assert marker.read_text() == "--hello\n"
    assert "uninstall with" in done.stdout

    # Installing again replaces the app in place.
    assert _install(unpacked, home, "--prefix", str(prefix)).returncode == 0

    done = _install(prefix, home, "--prefix", str(prefix), "--uninstall")
    assert done.returncode == 0, done.stderr
    assert not desktop.exists() and not link.exists() and not prefix.exists()
    assert not list((share / "icons").rglob("diffusion-studio.png"))


def test_install_refuses_a_folder_without_the_app(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    shutil.copy(INSTALL, folder / "install.sh")
    done = _install(folder, tmp_path / "home")
    assert done.returncode == 1
    assert "run this script from the unpacked archive" in done.stderr


@pytest.mark.skipif(
    not shutil.which("desktop-file-validate"),
    reason="desktop-file-validate (desktop-file-utils) is not installed",
)
def test_desktop_entry_is_valid(unpacked, tmp_path):
    home = tmp_path / "home"
    assert _install(unpacked, home).returncode == 0
    desktop = home / ".local" / "share" / "applications" / "diffusion-studio.desktop"
    done = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout


# -- the icon -------------------------------------------------------------------------------------


def test_icons_are_the_drawn_ones_in_every_size():
    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        import make_icon
    finally:
        sys.path.remove(str(ROOT / "packaging"))
    for size in make_icon.SIZES:
        image = Image.open(ICONS / f"diffusion-studio-{size}.png")
        assert image.size == (size, size) and image.mode == "RGBA"
    # The committed picture is the script's (a tolerance for Pillow's resampling).
    drawn = make_icon.draw_icon().resize((256, 256), Image.Resampling.LANCZOS)
    committed = Image.open(ICONS / "diffusion-studio-256.png")
    diff = np.abs(np.asarray(drawn, np.int16) - np.asarray(committed, np.int16))
    assert diff.max() <= 3
    assert Image.open(ICONS / "diffusion-studio.ico").format == "ICO"
    assert Image.open(ICONS / "diffusion-studio.icns").format == "ICNS"


# -- what the build takes and leaves out ----------------------------------------------------------


def _build_rules():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_rules", ROOT / "packaging" / "build_rules.py"
    )
    rules = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rules)
    return rules


@pytest.mark.parametrize(
    "dest",
    [
        "torch/lib/libtorch_cpu.so",
        "torch/lib/libgomp.so.1",
        "torch/bin/torch_shm_manager",
        "torch/__init__.py",
        "torch\\lib\\c10.dll",
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/plugins/platforms/libqwayland.so",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so",
        "PySide6\\plugins\\platforms\\qwindows.dll",
        "PySide6/Qt/plugins/platforms/libqcocoa.dylib",
        "PySide6/Qt/plugins/platformthemes/libqxdgdesktopportal.so",
        "PySide6/Qt/plugins/platforminputcontexts/libibusplatforminputcontextplugin.so",
        "PySide6/Qt/plugins/imageformats/libqjpeg.so",
        "PySide6/Qt/plugins/imageformats/libqwebp.so",
        "PySide6/Qt/plugins/xcbglintegrations/libqxcb-glx-integration.so",
        "libglib-2.0.so.0",
        "libharfbuzz-fb49c9fc.so.0.61450.0",
        "libQt6Core.so.6",
        "studio/resources/models/demo/unet/diffusion_pytorch_model.safetensors",
        "studio/resources/icons/diffusion-studio-256.png",
        "certifi/cacert.pem",
    ],
)
def test_the_build_keeps(dest):
    assert not _build_rules().unwanted(dest)


@pytest.mark.parametrize(
    "dest",
    [
        "torch/test/atest",
        "torch/bin/protoc",
        "torch/bin/test_api",
        "torch/lib/libtorchbind_test.so",
        "torch/include/ATen/ATen.h",
        "libcudart.so",
        "libpango-1.0.so.0",
        "libcairo.so.2",
        "libgtk-3.so.0",
        "libharfbuzz.so.0",
        "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
        "PySide6/Qt/plugins/platforms/libqeglfs.so",
        "PySide6/Qt/plugins/platforms/libqminimalegl.so",
        "PySide6/Qt/plugins/platforms/libqvnc.so",
        "PySide6\\plugins\\platforms\\qdirect2d.dll",
        "PySide6/Qt/plugins/generic/libqevdevtouchplugin.so",
        "PySide6/Qt/plugins/imageformats/libqtiff.so",
        "PySide6/Qt/translations/qtbase_de.qm",
        "PySide6\\translations\\qt_fr.qm",
        "cv2/data/haarcascade_eye.xml",
        "studio/__pycache__/app.cpython-311.pyc",
    ],
)
def test_the_build_leaves_out(dest):
    assert _build_rules().unwanted(dest)


@pytest.mark.parametrize(
    ("dest", "stripped"),
    [
        ("torch/lib/libtorch_cpu.so", True),
        ("torch/lib/libtorch_python.so", True),
        ("torch/lib/libc10.so", True),
        ("torch/lib/libshm.so", True),
        # auditwheel/patchelf-rewritten libraries break when stripped
        ("torch/lib/libgomp.so.1", False),
        ("numpy.libs/libscipy_openblas64_-32a4b2a6.so", False),
        ("libQt6Core.so.6", False),
        ("torch/_C.cpython-311-x86_64-linux-gnu.so", False),
    ],
)
def test_only_torchs_own_libraries_are_stripped(dest, stripped):
    assert _build_rules().strippable(dest) is stripped


def test_resources_ship_whole_without_junk(tmp_path):
    for name in (
        "icons/a.png",
        "models/demo/model_index.json",
        "models/demo/unet/w.safetensors",
        "__pycache__/x.pyc",
        "icons/.DS_Store",
        "style.qss",
    ):
        (tmp_path / "studio" / "resources" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "studio" / "resources" / name).write_text("x")
    found = _build_rules().resource_files(tmp_path)
    assert sorted((Path(src).relative_to(tmp_path).as_posix(), dest) for src, dest in found) == [
        ("studio/resources/icons/a.png", "studio/resources/icons"),
        ("studio/resources/models/demo/model_index.json", "studio/resources/models/demo"),
        ("studio/resources/models/demo/unet/w.safetensors", "studio/resources/models/demo/unet"),
        ("studio/resources/style.qss", "studio/resources"),
    ]


def test_the_lazy_subpackages_left_out_are_the_unused_ones():
    rules = _build_rules()
    pipelines = rules.unused_subpackages("diffusers.pipelines", rules.PIPELINES)
    assert "diffusers.pipelines.flux" in pipelines
    assert not {f"diffusers.pipelines.{p}" for p in rules.PIPELINES} & set(pipelines)
    models = rules.unused_subpackages("transformers.models", rules.TRANSFORMERS_MODELS)
    assert "transformers.models.bert" in models and "transformers.models.clip" not in models
    assert len(models) > 300


# -- the frozen app (scripts/test -m build) --------------------------------------------------------


@pytest.fixture(scope="module")
def built_app() -> Path:
    dist = ROOT / "dist"
    app = dist / APP_NAME / APP_NAME
    if not (os.environ.get("STUDIO_REUSE_BUILD") and app.is_file()):
        done = subprocess.run(
            [str(ROOT / "scripts" / "build-app")],
            cwd=ROOT,
            timeout=3600,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-4000:]
    assert app.is_file()
    return app


@pytest.mark.build
def test_frozen_app_passes_its_self_test(built_app, tmp_path):
    done, report = _self_test([str(built_app)], tmp_path / "frozen", _env(tmp_path / "frozen"))
    assert done.returncode == 0, report
    assert report["ok"] and report["frozen"] is True
    assert Path(report["app_dir"]) == built_app.parent / "_internal"
    assert "no metadata" not in report["versions"].values()
    # The frozen app computes what the checkout computes, bit for bit.
    _, source = _self_test(
        [sys.executable, "-m", "studio"], tmp_path / "source", _env(tmp_path / "source")
    )
    assert source["ok"], source
    frozen_pixels = np.asarray(Image.open(report["image"]))
    assert np.array_equal(frozen_pixels, np.asarray(Image.open(source["image"])))


@pytest.mark.build
def test_frozen_app_ships_resources_and_no_trimmed_parts(built_app):
    internal = built_app.parent / "_internal"
    resources = [
        p.relative_to(ROOT) for p in (ROOT / "studio" / "resources").rglob("*") if p.is_file()
    ]
    for path in resources:
        assert (internal / path).is_file(), path
    assert not list(internal.rglob("__pycache__"))
    assert not (internal / "PySide6" / "Qt" / "translations").exists()
    for unused in ("QtNetwork", "QtQml", "QtQuick", "QtPdf"):
        assert not list(internal.glob(f"PySide6/{unused}*")), unused
    assert not (internal / "torchvision").exists()


@pytest.mark.build
def test_frozen_app_writes_a_crash_log_instead_of_dying_silently(built_app, tmp_path):
    done = subprocess.run(
        [str(built_app)],
        env=_env(tmp_path, QT_QPA_PLATFORM="nonexistent"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    log = _log(tmp_path)
    assert "nonexistent" in log and "Fatal Python error: Aborted" in log


@pytest.mark.build
def test_archive_installs_a_launcher_that_starts_the_app(built_app, tmp_path):
    archives = sorted((ROOT / "dist").glob("diffusion-studio-*-linux-*.tar.gz"))
    assert archives, "scripts/build-app made no archive"
    home = tmp_path / "home"
    try:
        with tarfile.open(archives[-1]) as tar:
            tar.extractall(tmp_path / "unpacked", filter="tar")
        (folder,) = (tmp_path / "unpacked").iterdir()
        done = _install(folder, home)
        assert done.returncode == 0, done.stderr
        entry = desktop_entry(home / ".local/share/applications/diffusion-studio.desktop")
        command = exec_arguments(entry["Exec"])
        assert Path(command[0]).is_relative_to(home / ".local" / "opt")
        done, report = _self_test(command, tmp_path, _env(tmp_path))
        assert done.returncode == 0 and report["ok"], report
    finally:  # two copies of the app: 1.7 GB that pytest would keep for three runs
        shutil.rmtree(tmp_path / "unpacked", ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def _write_lora(model: Path, path: Path) -> Path:
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = UNet2DConditionModel.from_pretrained(str(model / "unet"))
    torch.manual_seed(0)
    unet.add_adapter(
        LoraConfig(
            r=4,
            lora_alpha=4,
            init_lora_weights=False,
            target_modules=["to_q", "to_k", "to_v", "to_out.0"],
        )
    )
    StableDiffusionPipeline.save_lora_weights(
        str(path.parent),
        weight_name=path.name,
        unet_lora_layers=convert_state_dict_to_diffusers(get_peft_model_state_dict(unet)),
    )
    return path


@pytest.mark.build
@pytest.mark.parametrize(
    "case", ["sd", "img2img", "inpaint", "controlnet", "sdxl", "single-file", "lora"]
)
def test_frozen_app_runs_every_kind_of_model(built_app, tmp_path, case, request, sd_model):
    """The self-test takes one path; the CLI of the same frozen program reaches the
    lazily imported rest (SDXL, ControlNet, single-file loading, peft for LoRA)."""
    from ldm_checkpoint import copy_pipeline_configs, write_single_file_checkpoint

    picture = tmp_path / "in.png"
    _noise(64, 64).save(picture)
    mask = tmp_path / "mask.png"
    white_square = Image.new("L", (64, 64), 0)
    white_square.paste(255, (16, 16, 48, 48))
    white_square.save(mask)
    args = {
        "sd": ["-m", str(sd_model)],
        "img2img": ["-m", str(sd_model), "--mode", "img2img", "--init", str(picture)],
        "inpaint": [
            "-m",
            str(request.getfixturevalue("sd_inpaint_model")),
            "--mode",
            "inpaint",
            "--init",
            str(picture),
            "--mask",
            str(mask),
        ],
        "controlnet": [
            "-m",
            str(sd_model),
            "--mode",
            "controlnet-canny",
            "--control",
            str(picture),
            "--controlnet",
            str(request.getfixturevalue("sd_controlnet")),
        ],
        "sdxl": ["-m", str(request.getfixturevalue("sdxl_model"))],
    }.get(case)
    if case == "single-file":
        checkpoint = write_single_file_checkpoint(sd_model, tmp_path / "tiny.safetensors")
        copy_pipeline_configs(sd_model, tmp_path / "tiny")
        args = ["-m", str(checkpoint)]
    if case == "lora":
        lora = _write_lora(sd_model, tmp_path / "ink.safetensors")
        args = ["-m", str(sd_model), "--lora", f"{lora}:0.8"]
    out = tmp_path / "out.png"
    done = subprocess.run(
        [
            str(built_app),
            "generate",
            "-p",
            "a lighthouse",
            "--seed",
            "7",
            "--steps",
            "2",
            "--width",
            "64",
            "--height",
            "64",
            "--no-cache",
            "-q",
            "-o",
            str(out),
            *args,
        ],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert image_problems(out, 64, 64, "a lighthouse", 7) == []


def _needed(path: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True).stdout
    return [
        line.split("[", 1)[1].split("]", 1)[0] for line in out.splitlines() if "(NEEDED)" in line
    ]


def _elf_files(folder: Path) -> list[Path]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    found.append(path)
    return found


@pytest.mark.build
@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not shutil.which("readelf"),
    reason="reads ELF libraries with readelf and ldconfig (Linux)",
)
def test_every_bundled_library_finds_its_dependencies(built_app):
    """Trimming must not drop a library that something kept still needs: every
    library a bundled program or library links to is in the bundle, or is one
    PyInstaller leaves to the system (libc, libGL, libxcb, ...), or is missing
    on this build machine too (then PyInstaller could not bundle it either)."""
    from PyInstaller.depend.dylib import include_library

    internal = built_app.parent / "_internal"
    files = _elf_files(internal)
    bundled = {path.name for path in internal.rglob("*")}
    listed = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    on_system = {line.split()[0] for line in listed.splitlines()[1:] if line.strip()}
    dropped = {
        f"{lib} (needed by {path.relative_to(internal)})"
        for path in files
        for lib in _needed(path)
        if lib not in bundled
        and include_library(lib)
        and lib in on_system
        and not lib.startswith("ld-linux")  # the dynamic loader itself
    }
    assert len(files) > 100
    assert not dropped, sorted(dropped)


def test_the_window_icon_comes_in_every_shipped_size(qapp):
    from PySide6.QtCore import QSize

    from studio.gui import app_icon

    sizes = app_icon().availableSizes()
    for side in (16, 32, 48, 256):
        assert QSize(side, side) in sizes
