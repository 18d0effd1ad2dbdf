"""The app's one settings store: a QSettings INI file in the data folder.

Every panel reads and writes its own keys here (group per panel). Secrets
never go here: the Mercury API key lives in the OS keyring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QSettings

from ..engine.errors import RequestError
from ..engine.options import (
    DEFAULT_BATCH_MEGAPIXELS,
    DEFAULT_CACHE_MB,
    DEVICES,
    DTYPES,
    EngineOptions,
    ServiceOptions,
)
from ..engine.safety import DEFAULT_KEYWORDS, SAFETY_MODES, parse_keywords
from ..engine.watermark import POSITIONS, Watermark, parse_color
from ..paths import data_dir
from .theme import THEMES


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


def read_float(settings: QSettings, key: str, default: float) -> float:
    try:
        value = float(settings.value(key, default))
    except (TypeError, ValueError):
        return default
    return value if value == value else default  # NaN


def read_list(settings: QSettings, key: str) -> list[str]:
    value = settings.value(key, [])
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value or []]


FAST_CPU_MODES: dict[str, bool | None] = {"auto": None, "on": True, "off": False}


def _read_fast_cpu(s: QSettings, default: str) -> str:
    mode = str(s.value("engine/fast_cpu_mode", ""))
    if mode in FAST_CPU_MODES:
        return mode
    # before "auto" existed the setting was a checkbox, saved unticked by every
    # settings dialog: only a ticked one was a choice
    return "on" if read_bool(s, "engine/fast_cpu", False) else default


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
    # The fast CPU path (docs/PERFORMANCE.md): "auto" (large models), "on" or "off"
    fast_cpu: str = "auto"
    tiny_vae: str = ""  # empty: the model's own VAE
    compile: bool = False
    threads: int = 0  # 0: torch's default (one per core)
    output_dir: str = ""  # empty: <data folder>/outputs
    theme: str = "dark"
    place_results: bool = True  # put the first result on the canvas (undoable)
    # Services (ServiceOptions): applied to the running queue, no engine restart.
    cache: bool = True
    cache_max_mb: int = DEFAULT_CACHE_MB
    safety_mode: str = "normal"
    safety_keywords: list[str] = field(default_factory=lambda: list(DEFAULT_KEYWORDS))
    image_checker: bool = False
    watermark: bool = False
    watermark_text: str = "AI-generated"
    watermark_position: str = "bottom-right"
    watermark_opacity: float = 0.7
    watermark_font_size: int = 0  # 0: automatic
    watermark_color: str = "#ffffff"
    watermark_margin: int = 10
    batch_megapixels: float = DEFAULT_BATCH_MEGAPIXELS
    # The local HTTP API inside the app (127.0.0.1 only).
    api_server: bool = False
    api_port: int = 8080

    def engine_options(self) -> EngineOptions:
        return EngineOptions(
            device=self.device,
            dtype=self.dtype,
            attention_slicing=self.attention_slicing,
            vae_tiling=self.vae_tiling,
            cpu_offload=self.cpu_offload,
            allow_pickle=self.allow_pickle,
            model_dirs=tuple(Path(d) for d in self.model_dirs),
            fast_cpu=FAST_CPU_MODES.get(self.fast_cpu),
            tiny_vae=self.tiny_vae.strip() or None,
            compile=self.compile,
            threads=self.threads if self.threads > 0 else None,
        )

    def watermark_settings(self) -> Watermark | None:
        """The watermark for every image, or None when it is off or unusable."""
        if not self.watermark:
            return None
        try:
            return Watermark(
                text=self.watermark_text,
                position=self.watermark_position,
                opacity=self.watermark_opacity,
                font_size=self.watermark_font_size or None,
                color=self.watermark_color,
                margin=self.watermark_margin,
            ).validated()
        except RequestError:  # the dialog keeps values valid; a hand-edited file may not
            return None

    def service_options(self) -> ServiceOptions:
        """For `worker.queue.set_services(...)`: takes effect from the next job."""
        return ServiceOptions(
            cache=self.cache,
            cache_max_mb=max(self.cache_max_mb, 1),
            safety_mode=self.safety_mode,
            safety_keywords=parse_keywords(self.safety_keywords),
            image_checker=self.image_checker,
            watermark=self.watermark_settings(),
            batch_megapixels=self.batch_megapixels if self.batch_megapixels > 0 else 1.0,
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
        mode = str(s.value("services/safety_mode", d.safety_mode))
        position = str(s.value("services/watermark_position", d.watermark_position))
        color = str(s.value("services/watermark_color", d.watermark_color))
        try:
            parse_color(color)
        except ValueError:
            color = d.watermark_color
        keywords = (
            read_list(s, "services/safety_keywords")
            if s.contains("services/safety_keywords")
            else d.safety_keywords
        )
        return cls(
            model_dirs=read_list(s, "engine/model_dirs"),
            device=device if device in DEVICES else d.device,
            dtype=dtype if dtype in DTYPES else d.dtype,
            attention_slicing=read_bool(s, "engine/attention_slicing", d.attention_slicing),
            vae_tiling=read_bool(s, "engine/vae_tiling", d.vae_tiling),
            cpu_offload=read_bool(s, "engine/cpu_offload", d.cpu_offload),
            allow_pickle=read_bool(s, "engine/allow_pickle", d.allow_pickle),
            fast_cpu=_read_fast_cpu(s, d.fast_cpu),
            tiny_vae=str(s.value("engine/tiny_vae", d.tiny_vae)),
            compile=read_bool(s, "engine/compile", d.compile),
            threads=max(read_int(s, "engine/threads", d.threads), 0),
            output_dir=str(s.value("ui/output_dir", d.output_dir)),
            theme=theme if theme in THEMES else d.theme,
            place_results=read_bool(s, "ui/place_results", d.place_results),
            cache=read_bool(s, "services/cache", d.cache),
            cache_max_mb=max(read_int(s, "services/cache_max_mb", d.cache_max_mb), 1),
            safety_mode=mode if mode in SAFETY_MODES else d.safety_mode,
            safety_keywords=keywords,
            image_checker=read_bool(s, "services/image_checker", d.image_checker),
            watermark=read_bool(s, "services/watermark", d.watermark),
            watermark_text=str(s.value("services/watermark_text", d.watermark_text)),
            watermark_position=position if position in POSITIONS else d.watermark_position,
            watermark_opacity=read_float(s, "services/watermark_opacity", d.watermark_opacity),
            watermark_font_size=read_int(s, "services/watermark_font_size", 0),
            watermark_color=color,
            watermark_margin=read_int(s, "services/watermark_margin", d.watermark_margin),
            batch_megapixels=read_float(s, "services/batch_megapixels", d.batch_megapixels),
            api_server=read_bool(s, "api/enabled", d.api_server),
            api_port=read_int(s, "api/port", d.api_port),
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
        s.setValue("engine/fast_cpu_mode", self.fast_cpu)
        s.setValue("engine/tiny_vae", self.tiny_vae)
        s.setValue("engine/compile", self.compile)
        s.setValue("engine/threads", self.threads)
        s.setValue("ui/output_dir", self.output_dir)
        s.setValue("ui/theme", self.theme)
        s.setValue("ui/place_results", self.place_results)
        s.setValue("services/cache", self.cache)
        s.setValue("services/cache_max_mb", self.cache_max_mb)
        s.setValue("services/safety_mode", self.safety_mode)
        s.setValue("services/safety_keywords", self.safety_keywords)
        s.setValue("services/image_checker", self.image_checker)
        s.setValue("services/watermark", self.watermark)
        s.setValue("services/watermark_text", self.watermark_text)
        s.setValue("services/watermark_position", self.watermark_position)
        s.setValue("services/watermark_opacity", self.watermark_opacity)
        s.setValue("services/watermark_font_size", self.watermark_font_size)
        s.setValue("services/watermark_color", self.watermark_color)
        s.setValue("services/watermark_margin", self.watermark_margin)
        s.setValue("services/batch_megapixels", self.batch_megapixels)
        s.setValue("api/enabled", self.api_server)
        s.setValue("api/port", self.api_port)
        s.sync()
