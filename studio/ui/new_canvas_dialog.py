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


def ask_canvas_size(parent: QWidget, width: int, height: int) -> tuple[int, int] | None:
    dialog = QDialog(parent)
    dialog.setWindowTitle("New canvas")
    presets = QComboBox()
    presets.addItem("Custom", None)
    for w, h in PRESETS:
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
