"""The canvas project file: one zip holding a JSON manifest and a PNG per layer.

    manifest.json   {"format": "diffusion-studio-canvas", "version": 1,
                     "width": 512, "height": 512,
                     "layers": [{"name": "image", "file": "image.png", "visible": true}, ...]}
    image.png       RGBA
    sketch.png      RGBA
    mask.png        8-bit greyscale, white = change (readable by any tool)

Written to a temporary file beside the target and renamed over it, so a crash
while saving never leaves a broken project behind.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QImage

from ..atomicfile import atomic_file, write_problem
from .errors import ProjectError
from .imageconv import blank_layer
from .layers import LAYER_ORDER, LayerName, LayerSource, mask_layer, mask_strength
from .sizing import check_size

FORMAT = "diffusion-studio-canvas"
VERSION = 1
SUFFIX = ".dscanvas"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ProjectContents:
    width: int
    height: int
    layers: dict[LayerName, QImage]
    visible: dict[LayerName, bool]


def save_project(document: LayerSource, path: Path) -> None:
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "width": document.width(),
        "height": document.height(),
        "layers": [
            {"name": name.value, "file": f"{name.value}.png", "visible": document.is_visible(name)}
            for name in LAYER_ORDER
        ],
    }
    try:
        with atomic_file(path) as handle, zipfile.ZipFile(handle, "w") as archive:
            archive.writestr(MANIFEST, json.dumps(manifest, indent=2))
            for name in LAYER_ORDER:
                # PNG is already compressed: storing it saves time, not space.
                archive.writestr(f"{name.value}.png", _layer_png(document.layer(name), name))
    except OSError as error:
        raise ProjectError(f"Could not save {path}: {write_problem(error, path)}.") from None


def load_project(path: Path) -> ProjectContents:
    if not path.exists():
        raise ProjectError(f"{path} does not exist.")
    if path.is_dir():
        raise ProjectError(f"{path} is a folder, not a canvas project.")
    if not zipfile.is_zipfile(path):
        with path.open("rb") as handle:
            starts_like_a_zip = handle.read(4) == b"PK\x03\x04"
        if starts_like_a_zip:  # its end, where the zip's index lives, is missing
            raise ProjectError(f"{path.name} is damaged: the file is incomplete.")
        raise ProjectError(f"{path.name} is not a Diffusion Studio canvas project.")
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = _read_manifest(archive, path.name)
            width, height = manifest["width"], manifest["height"]
            layers, visible = {}, {}
            for entry in manifest["layers"]:
                name = LayerName(entry["name"])
                image = _read_layer(archive, entry["file"], name, path.name)
                if (image.width(), image.height()) != (width, height):
                    raise ProjectError(
                        f"{path.name} is damaged: its {name.value} layer is "
                        f"{image.width()}×{image.height()}, the canvas {width}×{height}."
                    )
                layers[name] = image
                visible[name] = bool(entry.get("visible", True))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as error:
        raise ProjectError(f"{path.name} is damaged and cannot be opened ({error}).") from None
    for name in LAYER_ORDER:
        layers.setdefault(name, blank_layer(width, height))
        visible.setdefault(name, True)
    return ProjectContents(width, height, layers, visible)


def _read_manifest(archive: zipfile.ZipFile, filename: str) -> dict:
    try:
        manifest = json.loads(archive.read(MANIFEST))
    except KeyError:
        raise ProjectError(f"{filename} is not a Diffusion Studio canvas project.") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ProjectError(f"{filename} is damaged: its manifest is not valid JSON.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ProjectError(f"{filename} is not a Diffusion Studio canvas project.")
    version = manifest.get("version")
    if not isinstance(version, int) or version < 1:
        raise ProjectError(f"{filename} is damaged: its format version is {version!r}.")
    if version > VERSION:
        raise ProjectError(
            f"{filename} was saved by a newer Diffusion Studio (format {version}); "
            "update the app to open it."
        )
    try:
        width, height = manifest["width"], manifest["height"]
        check_size(int(width), int(height))
        entries = manifest["layers"]
        names = [LayerName(entry["name"]) for entry in entries]
        if len(set(names)) != len(names) or not all(isinstance(e["file"], str) for e in entries):
            raise ValueError("repeated or malformed layers")
    except (KeyError, TypeError, ValueError) as error:
        raise ProjectError(f"{filename} is damaged: {error}.") from None
    return manifest


def _read_layer(archive: zipfile.ZipFile, member: str, name: LayerName, filename: str) -> QImage:
    try:
        data = archive.read(member)
    except KeyError:
        raise ProjectError(f"{filename} is damaged: its {name.value} layer is missing.") from None
    image = QImage.fromData(data, "PNG")
    if image.isNull():
        raise ProjectError(f"{filename} is damaged: its {name.value} layer is not a valid PNG.")
    if name == LayerName.MASK:
        return _mask_from_grey(image)
    return image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)


def _layer_png(image: QImage, name: LayerName) -> bytes:
    if name == LayerName.MASK:
        grey = np.ascontiguousarray(mask_strength(image))
        height, width = grey.shape
        image = QImage(grey.data, width, height, width, QImage.Format.Format_Grayscale8).copy()
    else:
        image = image.convertToFormat(QImage.Format.Format_ARGB32)
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise OSError(f"the {name.value} layer could not be encoded")
    buffer.close()
    return bytes(data)


def _mask_from_grey(image: QImage) -> QImage:
    grey = image.convertToFormat(QImage.Format.Format_Grayscale8)
    width, height = grey.width(), grey.height()
    rows = np.frombuffer(grey.constBits(), np.uint8).reshape(height, grey.bytesPerLine())
    return mask_layer(rows[:, :width])
