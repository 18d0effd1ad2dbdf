"""The app's one settings store: a QSettings INI file in the data folder.

Every panel reads and writes its own keys here (group per panel). Secrets
never go here: the Mercury API key lives in the OS keyring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QSettings

from ..engine.options import DEVICES, DTYPES, EngineOptions
from ..paths import data_dir


def open_settings(path: Path | None = None) -> QSettings:
    path = path or data_dir() / "settings.ini"
    path.parent.mkdir(parents=True, exist_ok=True)
    return QSettings(str(path), QSettings.Format.IniFormat)


def read_bool(settings: QSettings, key: str, default: bool) -> bool:
    # INI files store booleans as the strings "true"/"false".
    value = settings.value(key, default)
    if isinstance(value, str):
        return value.lower() in ("true", "1", "yes")
    return bool(value)


def read_int(settings: QSettings, key: str, default: int) -> int:
    try:
        return int(settings.value(key, default))
    except (TypeError, ValueError):
        return default


def read_list(settings: QSettings, key: str) -> list[str]:
    value = settings.value(key, [])
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value or []]


@dataclass
class AppPreferences:
    """What the settings dialog edits."""

    model_dirs: list[str] = field(default_factory=list)
    device: str = "auto"
    dtype: str = "auto"
    attention_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False
    allow_pickle: bool = False
    output_dir: str = ""  # empty: <data folder>/outputs
    theme: str = "dark"
    place_results: bool = True  # put the first result on the canvas (undoable)

    def engine_options(self) -> EngineOptions:
        return EngineOptions(
            device=self.device,
            dtype=self.dtype,
            attention_slicing=self.attention_slicing,
            vae_tiling=self.vae_tiling,
            cpu_offload=self.cpu_offload,
            allow_pickle=self.allow_pickle,
            model_dirs=tuple(Path(d) for d in self.model_dirs),
        )

    def outputs_path(self) -> Path:
        return Path(self.output_dir) if self.output_dir else data_dir() / "outputs"

    @classmethod
    def load(cls, settings: QSettings) -> AppPreferences:
        s = settings
        d = cls()
        device = str(s.value("engine/device", d.device))
        dtype = str(s.value("engine/dtype", d.dtype))
        theme = str(s.value("ui/theme", d.theme))
        return cls(
            model_dirs=read_list(s, "engine/model_dirs"),
            device=device if device in DEVICES else d.device,
            dtype=dtype if dtype in DTYPES else d.dtype,
            attention_slicing=read_bool(s, "engine/attention_slicing", d.attention_slicing),
            vae_tiling=read_bool(s, "engine/vae_tiling", d.vae_tiling),
            cpu_offload=read_bool(s, "engine/cpu_offload", d.cpu_offload),
            allow_pickle=read_bool(s, "engine/allow_pickle", d.allow_pickle),
            output_dir=str(s.value("ui/output_dir", d.output_dir)),
            theme=theme if theme in ("light", "dark") else d.theme,
            place_results=read_bool(s, "ui/place_results", d.place_results),
        )

    def save(self, settings: QSettings) -> None:
        s = settings
        s.setValue("engine/model_dirs", self.model_dirs)
        s.setValue("engine/device", self.device)
        s.setValue("engine/dtype", self.dtype)
        s.setValue("engine/attention_slicing", self.attention_slicing)
        s.setValue("engine/vae_tiling", self.vae_tiling)
        s.setValue("engine/cpu_offload", self.cpu_offload)
        s.setValue("engine/allow_pickle", self.allow_pickle)
        s.setValue("ui/output_dir", self.output_dir)
        s.setValue("ui/theme", self.theme)
        s.setValue("ui/place_results", self.place_results)
        s.sync()
