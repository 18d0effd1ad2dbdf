"""What the settings dialog edits, as one value: the engine's own option types
plus the window's (look, results, the local API) and Mercury's.

Every field is declared once (studio/option_spec.py); settings_store.py
writes them to the settings file and settings_dialog.py builds its rows from
the same declarations. Each section's `nested(prefix=...)` is where its keys
live in the file ("engine/device", "services/watermark_text", ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..engine.errors import RequestError
from ..engine.options import BATCH_GROUP, EngineOptions, ServiceOptions
from ..engine.watermark import Watermark
from ..mercury.settings import MercurySettings
from ..option_spec import Choice, nested, option
from ..paths import data_dir
from .theme import THEMES

LOOK_GROUP = "Output and look"
ENGINE_GROUP = "Engine: this computer or a server"
WATERMARK_GROUP = "Visible watermark on every image"
DEFAULT_WATERMARK_TEXT = "AI-generated"


@dataclass(frozen=True)
class WindowOptions:
    output_dir: str = option(
        "",
        label="Output folder",
        help="where results are saved; empty: <data folder>/outputs",
        kind="folder",
        group=LOOK_GROUP,
        flag=None,
    )
    theme: str = option(
        next(iter(THEMES)),
        label="Theme",
        choices=tuple(Choice(name, label) for name, label in THEMES.items()),
        group=LOOK_GROUP,
        flag=None,
    )
    place_results: bool = option(
        True,
        label="Put each result on the canvas (Ctrl+Z takes it back)",
        help="the first image of each finished job becomes an undoable canvas edit",
        group=LOOK_GROUP,
        flag=None,
    )


@dataclass(frozen=True)
class RemoteOptions:
    """Where the window's engine runs: here, or a `studio serve` elsewhere."""

    server_url: str = option(
        "",
        label="Engine server",
        help="empty: this computer; else the address of a `studio serve` (http://host:8080)",
        group=ENGINE_GROUP,
        flag=None,
    )

    def server(self) -> str | None:
        return self.server_url.strip() or None


@dataclass(frozen=True)
class ApiOptions:
    """The HTTP API the window can serve over its own queue (127.0.0.1 only)."""

    enabled: bool = option(
        False,
        label="Serve the HTTP API on this machine (127.0.0.1) while open",
        help="the same API as `studio serve`, over this window's queue",
        group=BATCH_GROUP,
        flag=None,
    )
    port: int = option(8080, label="Port", low=1, high=65535, group=BATCH_GROUP, flag=None)


@dataclass(frozen=True)
class WatermarkPreference:
    """The watermark the user set up, kept while it is switched off."""

    enabled: bool = option(
        False, label=WATERMARK_GROUP, key="watermark", kind="toggle", group=WATERMARK_GROUP
    )
    mark: Watermark = field(
        default_factory=lambda: Watermark(DEFAULT_WATERMARK_TEXT),
        metadata=nested("watermark_", group=WATERMARK_GROUP),
    )

    def active(self) -> Watermark | None:
        """The watermark for every image, or None when it is off or unusable."""
        if not self.enabled:
            return None
        try:
            return self.mark.validated()
        except RequestError:  # the dialog keeps values valid; a hand-edited file may not
            return None


@dataclass(frozen=True)
class Preferences:
    engine: EngineOptions = field(default_factory=EngineOptions, metadata=nested("engine/"))
    # Services (ServiceOptions): applied to the running queue, no engine restart.
    services: ServiceOptions = field(default_factory=ServiceOptions, metadata=nested("services/"))
    watermark: WatermarkPreference = field(
        default_factory=WatermarkPreference, metadata=nested("services/")
    )
    window: WindowOptions = field(default_factory=WindowOptions, metadata=nested("ui/"))
    # Changing it restarts the engine as a device change does (main_window).
    remote: RemoteOptions = field(default_factory=RemoteOptions, metadata=nested("remote/"))
    api: ApiOptions = field(default_factory=ApiOptions, metadata=nested("api/"))
    mercury: MercurySettings = field(default_factory=MercurySettings, metadata=nested("mercury/"))

    def service_options(self) -> ServiceOptions:
        """For `worker.queue.set_services(...)`: takes effect from the next job."""
        return replace(self.services, watermark=self.watermark.active())

    def outputs_path(self) -> Path:
        output_dir = self.window.output_dir
        return Path(output_dir) if output_dir else data_dir() / "outputs"
