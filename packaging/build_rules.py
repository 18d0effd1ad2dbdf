"""What build.spec puts into the frozen app and what it leaves out.

Plain functions and lists, so tests can check them without running
PyInstaller. docs/PACKAGING.md gives the measured size of each item.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

# -- what goes in ----------------------------------------------------------------------------

RESOURCE_JUNK = {"__pycache__", ".DS_Store", ".gitkeep", ".gitignore", "Thumbs.db"}


def resource_files(root: Path) -> list[tuple[str, str]]:
    """Every file under studio/resources/ (icons, the X11 list, the demo
    model), as (source, destination folder) pairs. They land in
    <app>/_internal/studio/resources: inside the studio package as in a
    checkout or a wheel, so `studio.paths.resources_dir()` finds them in all."""
    found = []
    folder = root / "studio" / "resources"
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        parts = path.relative_to(root).parts
        if path.is_file() and not RESOURCE_JUNK.intersection(parts) and path.suffix != ".pyc":
            found.append((str(path), str(Path(*parts[:-1]))))
    return found


# Packages that check each other's presence and version through
# importlib.metadata at run time: without torch's metadata diffusers decides
# torch "is not installed" and every pipeline class becomes a dummy that
# raises. (transformers' own hook adds the metadata of its dependency table.)
METADATA = [
    "torch",
    "diffusers",
    "transformers",
    "accelerate",
    "safetensors",
    "huggingface_hub",
    "peft",
    "tokenizers",
    "numpy",
    "pillow",
    "opencv-python-headless",
    "openai",
    "httpx",
    "keyring",
    "platformdirs",
    "qasync",
    "PySide6-Essentials",
    "filelock",
    "fsspec",
    "packaging",
    "pyyaml",
    "regex",
    "requests",
    "tqdm",
    "psutil",
    "diffusion-studio",
]

# diffusers and transformers import lazily (a class is imported when first
# used, e.g. the pipeline class a model_index.json names): the analysis cannot
# see that, so these are collected by name.
PIPELINES = ("stable_diffusion", "stable_diffusion_xl", "controlnet")
DIFFUSERS_PACKAGES = (
    "diffusers.schedulers",
    "diffusers.models",
    "diffusers.loaders",
    "diffusers.guiders",
    "diffusers.hooks",
    "diffusers.quantizers",
    *(f"diffusers.pipelines.{p}" for p in PIPELINES),
)
DIFFUSERS_MODULES = (
    "diffusers.pipelines.pipeline_utils",
    "diffusers.pipelines.pipeline_loading_utils",
)
# What the SD/SDXL pipelines, their safety checker, peft and diffusers'
# loaders import from transformers.models (measured: sys.modules after the
# engine tests); every other model family is left out.
TRANSFORMERS_MODELS = {
    "auto",
    "clip",
    "bloom",
    "siglip",
    "dinov2_with_registers",
    "vit_mae",
    "encoder_decoder",
}

# -- what stays out --------------------------------------------------------------------------

EXCLUDES = [
    # Other Qt bindings and GUI toolkits (qasync probes for them).
    "PyQt5",
    "PyQt6",
    "PySide2",
    "tkinter",
    "_tkinter",
    # Never used by the app; reachable through optional imports of its libraries.
    "torchvision",
    "torchaudio",
    "matplotlib",
    "IPython",
    "jupyter",
    "notebook",
    "pytest",
    "_pytest",
    "pytestqt",
    "ruff",
    "PyInstaller",
    "tensorboard",
    "torch.utils.tensorboard",
    "scipy",
    "pandas",
    "sklearn",
]

TRIM_EXCLUDES = [
    # The app uses QtCore, QtGui and QtWidgets only.
    "PySide6.QtNetwork",
    "PySide6.QtQml",
    "PySide6.QtQuick",
    "PySide6.QtQuickWidgets",
    "PySide6.QtQuickControls2",
    "PySide6.QtSql",
    "PySide6.QtTest",
    "PySide6.QtPdf",
    "PySide6.QtPdfWidgets",
    "PySide6.QtSvgWidgets",
    "PySide6.QtOpenGL",
    "PySide6.QtOpenGLWidgets",
    "PySide6.QtPrintSupport",
    "PySide6.QtConcurrent",
    "PySide6.QtXml",
    "PySide6.QtDesigner",
    "PySide6.QtHelp",
    "PySide6.QtUiTools",
    "PySide6.QtStateMachine",
    "PySide6.QtDBus",
    "PySide6.QtMultimedia",
    # huggingface_hub's download backend (11 MB): the app never downloads.
    "hf_xet",
    "diffusers.commands",
    "diffusers.modular_pipelines",
    "diffusers.experimental",
    "transformers.commands",
    "transformers.cli",
    "transformers.onnx",
    "torch.onnx._internal.exporter",
    "setuptools",
    "distutils",
]


def unused_subpackages(package: str, keep: set[str] | tuple[str, ...]) -> list[str]:
    """Subpackages of `package` not in `keep`. diffusers.pipelines and
    transformers.models name every subpackage inside `if TYPE_CHECKING` in
    their lazy __init__, which the analysis follows: without these excludes
    every pipeline and all ~550 transformers model families are frozen."""
    spec = importlib.util.find_spec(package)
    folder = Path(spec.origin).parent
    return [
        f"{package}.{child.name}"
        for child in sorted(folder.iterdir())
        if (child / "__init__.py").is_file() and child.name not in keep
    ]


# The GTK3 platform theme plugin loads the user's libgtk-3 next to the pango,
# cairo and glib builds it drags in from the build machine: a mix that can
# crash on another distribution. Without it Qt draws its own dialogs. Nothing
# else needs these libraries (a build test checks every bundled library still
# finds its dependencies).
GTK_STACK = (
    "libatk-1.0.",
    "libatk-bridge",
    "libcairo.",
    "libcairo-gobject.",
    "libgdk_pixbuf-2.0.",
    "libgdk-3.",
    "libgtk-3.",
    "libpango-1.0.",
    "libpangocairo-1.0.",
    "libpangoft2-1.0.",
    "libpixman-1.",
    "libthai.",
    "libdatrie.",
    "libfribidi.",
    "libgraphite2.",
    "libharfbuzz.so",
    "libgio-2.0.",
    "libgmodule-2.0.",
    "libgobject-2.0.",
    "libmount.",
    "libblkid.",
    "libselinux.",
    "libXext.",
    "libXrender.",
    "libjpeg.so.62",
)
KEPT_PLATFORMS = ("xcb", "wayland", "offscreen", "minimal", "windows", "cocoa")
KEPT_IMAGE_FORMATS = ("jpeg", "gif", "ico", "webp", "svg")  # PNG is built into QtGui
DROPPED_PLUGIN_FOLDERS = {
    "egldeviceintegrations",
    "generic",
    "networkinformation",
    "tls",
    "sqldrivers",
    "qmltooling",
    "printsupport",
    "designer",
}


def unwanted(dest: str) -> bool:
    """Whether a collected file (its path inside the app) is left out."""
    d = dest.replace("\\", "/")
    name = d.rsplit("/", 1)[-1]
    top_level = "/" not in d
    if "__pycache__/" in d:
        return True
    if d.startswith("torch/lib/") and any(
        k in name for k in ("test", "aoti_custom_ops", "backend_with_compiler")
    ):
        return True  # torch's own test libraries
    if d.startswith("torch/bin/") and not name.startswith("torch_shm_manager"):
        return True  # C++ test programs and protoc; `import torch` needs torch_shm_manager
    if d.startswith(("torch/test/", "torch/include/", "torch/share/cmake/")):
        return True  # C++ unit-test programs (83 MB), headers
    if top_level and name.startswith(("libcudart", "libcuda.", "libnvrtc", "libcublas")):
        return True  # a CUDA runtime of the build machine, found through ctypes
    if top_level and name.startswith(GTK_STACK):
        return True
    if d.startswith("cv2/data/"):
        return True  # Haar cascades for face detection
    if d.startswith("PySide6/") and "/translations/" in f"/{d}":
        return True  # Qt's own translations: the window is in English
    if "/plugins/" in d:
        folder = d.split("/plugins/", 1)[1].split("/", 1)[0]
        if folder in DROPPED_PLUGIN_FOLDERS:
            return True  # touch screens, SQL, printing, TLS backends, network status
        if folder == "platforms":
            # eglfs, linuxfb, vnc, vkkhrdisplay, direct2d: kiosk and embedded targets.
            return "minimalegl" in name or not any(k in name for k in KEPT_PLATFORMS)
        if folder == "platformthemes":
            return "gtk3" in name  # see GTK_STACK
        if folder == "imageformats":
            return not any(k in name for k in KEPT_IMAGE_FORMATS)
    return False


# torch's own libraries carry their symbol tables (the dynamic symbols, which
# linking needs, are another table). Stripping every binary is not an option:
# `strip` breaks libraries that auditwheel's patchelf rewrote ("ELF load
# command address/offset not page-aligned" for NumPy's OpenBLAS).
STRIPPED = ("torch/lib/libtorch", "torch/lib/libc10", "torch/lib/libshm")


def strippable(dest: str) -> bool:
    d = dest.replace("\\", "/")
    return d.startswith(STRIPPED) and ".so" in d.rsplit("/", 1)[-1]


def strip_libraries(internal: Path) -> int:
    """Strips the symbol tables of `strippable` libraries in a built app's
    _internal folder; returns the bytes saved (0 without a `strip` tool)."""
    tool = shutil.which("strip")
    if tool is None:
        print("build_rules: no `strip` tool; torch's libraries keep their symbols")
        return 0
    saved = 0
    for path in sorted(internal.rglob("*.so*")):
        if (
            path.is_file()
            and not path.is_symlink()
            and strippable(path.relative_to(internal).as_posix())
        ):
            before = path.stat().st_size
            subprocess.run([tool, str(path)], check=True)
            saved += before - path.stat().st_size
    return saved
