"""The visible job queue: what runs now, what waits, and a way to remove jobs."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..engine.request import GenerationRequest
from .icons import running_icon, waiting_icon


def describe_job(request: GenerationRequest) -> str:
    prompt = request.prompt if len(request.prompt) <= 48 else request.prompt[:47] + "…"
    batch = f" ×{request.batch_count}" if request.batch_count > 1 else ""
    return f"{request.mode}{batch} · {prompt or '(no prompt)'}"


class QueueView(QWidget):
    remove_requested = Signal(int)  # job id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("Queue: empty")
        self.title.setObjectName("hint")
        self.list = QListWidget()
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setIconSize(QSize(12, 12))
        # Drawn, not emoji: many systems have no font with a glyph for ⏳.
        self._running = (running_icon(), "Running")
        self._waiting = (waiting_icon(), "Waiting")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the chosen job (the running one is stopped)")
        self.remove_button.setEnabled(False)
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        header.addWidget(self.remove_button)
        column = QVBoxLayout(self)
        column.setContentsMargins(6, 2, 6, 2)
        column.addLayout(header)
        column.addWidget(self.list, 1)
        self.remove_button.clicked.connect(self._remove)
        self.list.currentItemChanged.connect(
            lambda item, _old: self.remove_button.setEnabled(item is not None)
        )

    def show_jobs(
        self,
        running: tuple[int, GenerationRequest] | None,
        waiting: list[tuple[int, GenerationRequest]],
    ) -> None:
        self.list.clear()
        rows = ([(running, self._running)] if running else []) + [
            (job, self._waiting) for job in waiting
        ]
        for (job_id, request), (icon, state) in rows:
            item = QListWidgetItem(icon, describe_job(request))
            item.setToolTip(f"{state}: {request.prompt or '(no prompt)'}")
            item.setData(Qt.ItemDataRole.UserRole, job_id)
            self.list.addItem(item)
        count = len(rows)
        self.title.setText("Queue: empty" if not count else f"Queue: {count} job(s)")
        self.remove_button.setEnabled(False)

    def job_ids(self) -> list[int]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def _remove(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.remove_requested.emit(int(item.data(Qt.ItemDataRole.UserRole)))
