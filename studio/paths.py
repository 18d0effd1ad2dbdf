"""Where the app keeps its files. One place, so tests can point it elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "DiffusionStudio"


def data_dir() -> Path:
    """The user's data folder (models we build, outputs, history).

    `STUDIO_DATA_DIR` overrides it, for tests and portable installs."""
    override = os.environ.get("STUDIO_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def models_dir() -> Path:
    return data_dir() / "models"


def resources_dir() -> Path:
    """Files shipped with the app (icons, the bundled demo model).

    Inside the `studio` package: in a checkout, in an installed wheel (package
    data) and in the frozen app (packaging/build_rules.py puts them at
    _internal/studio/resources)."""
    return Path(__file__).resolve().parent / "resources"


def bundled_models_dir() -> Path:
    return resources_dir() / "models"
