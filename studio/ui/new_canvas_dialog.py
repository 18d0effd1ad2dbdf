"""Asking for a new canvas size: presets and free sizes in multiples of 8."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QSpinBox,
    QWidget,
)

PRESETS = [(512, 512), (768, 768), (1024, 1024), (768, 512), (512, 768), (1024, 576), (2048, 2048)]


def ask_canvas_size(
    parent: QWidget, width: int, height: int, native: tuple[int, int] | None = None
) -> tuple[int, int] | None:
    """The size for a new canvas, starting at width × height; `native` is the
    chosen model's own size, offered first."""
    dialog = QDialog(parent)
    dialog.setWindowTitle("New canvas")
    presets = QComboBox()
    presets.addItem("Custom", None)
    if native is not None:
        presets.addItem(f"The model's size ({native[0]} × {native[1]})", native)
    for w, h in PRESETS:
        if (w, h) != native:
            presets.addItem(f"{w} × {h}", (w, h))
    width_box, height_box = QSpinBox(), QSpinBox()
    for box, value in ((width_box, width), (height_box, height)):
        box.setRange(64, 2048)
        box.setSingleStep(8)
        box.setSuffix(" px")
        box.setValue(value)

    def apply_preset() -> None:
        if presets.currentData() is not None:
            width_box.setValue(presets.currentData()[0])
            height_box.setValue(presets.currentData()[1])

    presets.currentIndexChanged.connect(apply_preset)
    sizes = [presets.itemData(i) for i in range(presets.count())]
    sizes = [tuple(size) if size is not None else None for size in sizes]
    presets.setCurrentIndex(sizes.index((width, height)) if (width, height) in sizes else 0)
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    form = QFormLayout(dialog)
    form.addRow("Preset", presets)
    form.addRow("Width", width_box)
    form.addRow("Height", height_box)
    form.addRow(buttons)
    if not dialog.exec():
        return None
    # The canvas takes multiples of 8 only.
    return (width_box.value() // 8 * 8, height_box.value() // 8 * 8)
