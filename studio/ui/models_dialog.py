"""The Models dialog: the catalog's downloadable models, their state on this
machine, and Download / Resume / Cancel / Remove for each.

Non-modal, and only a view: the downloads belong to the window's DownloadJobs,
so closing the dialog stops nothing, and opening it again shows what runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..engine.byte_sizes import size_text
from ..engine.catalog import CATALOG, SPEED_PACK_EFFECT, CatalogEntry, Kind, companions
from ..engine.downloads import DownloadError, ModelState, model_state
from .download_jobs import DownloadJobs, DownloadStatus, fetch_device, runs_on_cpu

if TYPE_CHECKING:
    from .generation_panel import GenerationPanel
    from .message_bar import MessageBar
    from .preferences import Preferences

NAME, STATE, SIZE, PROGRESS = range(4)
PROGRESS_WIDTH = 270  # "312 MB of 1228.8 MB · 45 MB/s · 0:23 left" fits
NAME_ROLE = Qt.ItemDataRole.UserRole
# What a companion row is for, after its name; a pipeline row shows its title.
ROLES = {
    Kind.CONTROLNET: "canny ControlNet: follows the canvas's edges",
    Kind.DECODER: f"speed pack: {SPEED_PACK_EFFECT}",
}


def removal_question(name: str, on_disk: int) -> str:
    """What Remove asks: what the files are, for which models, and how to undo."""
    entry = CATALOG[name]
    users = [e.name for e in CATALOG.values() if name in (e.controlnet, e.decoder)]
    serves = f" It serves {', '.join(users)}." if len(users) > 1 else ""
    return (
        f"Remove {name} — {entry.title} — from this machine? It takes "
        f"{size_text(on_disk)}.{serves} Other models' files stay; Download gets it back."
    )


def confirm_removal(parent: QWidget, question: str) -> bool:
    box = QMessageBox(QMessageBox.Icon.Question, "Remove model", question, parent=parent)
    remove = box.addButton("Remove", QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(box.addButton(QMessageBox.StandardButton.Cancel))
    box.exec()
    return box.clickedButton() is remove


def downloadable(cpu_path: bool) -> list[tuple[CatalogEntry, tuple[CatalogEntry, ...]]]:
    """The rows: each pipeline with a hub id, and what is offered with it."""
    rows = []
    for entry in CATALOG.values():
        if entry.kind is Kind.PIPELINE and entry.hub_id:
            extras = tuple(c for c in companions(entry) if cpu_path or c.kind is not Kind.DECODER)
            rows.append((entry, extras))
    return rows


class ModelsDialog(QDialog):
    def __init__(self, jobs: DownloadJobs, cpu_path: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.setObjectName("modelsDialog")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.jobs = jobs
        self._items: dict[str, list[QTreeWidgetItem]] = {}
        self._states: dict[str, tuple[ModelState, int]] = {}

        self.tree = QTreeWidget()
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["Model", "State", "Size", "Progress"])
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        # The name gives way (elided, whole in its tooltip) so the progress
        # column stays in view at the dialog's smallest size.
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        for column in (STATE, SIZE):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(PROGRESS, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(PROGRESS, PROGRESS_WIDTH)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        for entry, extras in downloadable(cpu_path):
            row = self._add_item(self.tree.invisibleRootItem(), entry)
            for extra in extras:
                self._add_item(row, extra)
        self.tree.expandAll()

        self.download_button = QPushButton("Download")
        self.cancel_button = QPushButton("Cancel")
        self.remove_button = QPushButton("Remove…")
        self.update_button = QPushButton("Check for updates")
        self.update_button.setToolTip("Ask the hub whether the models here have newer versions")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.close)
        actions = QHBoxLayout()
        for button in (self.download_button, self.cancel_button, self.remove_button):
            actions.addWidget(button)
        actions.addStretch(1)
        actions.addWidget(self.update_button)
        actions.addWidget(close)
        column = QVBoxLayout(self)
        column.addWidget(self.tree, 1)
        column.addWidget(self.message)
        column.addLayout(actions)
        self.setMinimumSize(560, 320)
        self.resize(920, 440)

        self.download_button.clicked.connect(self.download_selected)
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.remove_button.clicked.connect(self.remove_selected)
        self.update_button.clicked.connect(self.check_updates)
        self.tree.currentItemChanged.connect(self._update_buttons)
        jobs.started.connect(self._on_running_changed)
        jobs.cancelling.connect(self._on_running_changed)
        jobs.planned.connect(self._on_planned)
        jobs.progressed.connect(self._on_progress)
        jobs.finished.connect(self._on_finished)
        jobs.failed.connect(self._on_failed)
        jobs.cancelled.connect(self._on_cancelled)
        jobs.removed.connect(self._on_removed)
        jobs.updates_checked.connect(self._on_updates_checked)
        jobs.update_check_failed.connect(self._on_update_check_failed)
        self.refresh()
        self.tree.setCurrentItem(self.tree.topLevelItem(0))
        # What each model would fetch, asked in the background: sizes show before Download.
        jobs.measure(
            [n for n, (state, _) in self._states.items() if state is not ModelState.PRESENT]
        )

    def _add_item(self, parent: QTreeWidgetItem, entry: CatalogEntry) -> QTreeWidgetItem:
        item = QTreeWidgetItem(parent, [f"{entry.name} — {ROLES.get(entry.kind, entry.title)}"])
        item.setData(NAME, NAME_ROLE, entry.name)
        item.setToolTip(NAME, f"{entry.name}: {entry.title}\n{entry.hub_id}")
        self._items.setdefault(entry.name, []).append(item)
        return item

    # -- reading the state -------------------------------------------------------

    def selected_name(self) -> str | None:
        item = self.tree.currentItem()
        return None if item is None else item.data(NAME, NAME_ROLE)

    def select(self, name: str) -> None:
        """Selects the (first) row of `name`; a name without a row changes nothing."""
        if name in self._items:
            self.tree.setCurrentItem(self._items[name][0])

    def items(self, name: str) -> list[QTreeWidgetItem]:
        return self._items[name]

    def state_text(self, name: str) -> str:
        return self._items[name][0].text(STATE)

    def refresh(self, names: list[str] | None = None) -> None:
        """Reads the hub cache again (every row, or those named) and redraws them."""
        for name in names or list(self._items):
            try:
                self._states[name] = model_state(name)
            except DownloadError as exc:  # not expected for catalog names with a hub id
                self._states[name] = (ModelState.NOT_DOWNLOADED, 0)
                self._say(str(exc), warning=True)
            self._draw(name)
        self._update_buttons()

    def _draw(self, name: str) -> None:
        state, on_disk = self._states[name]
        running = self.jobs.running(name)
        total = self.jobs.planned_total(name)
        if state is ModelState.PRESENT or not total:
            size = size_text(on_disk) if on_disk else "—"
            size_tip = "Size on disk" if on_disk else "Not on this machine"
        else:
            size, size_tip = size_text(total), f"Download size ({size_text(on_disk)} on disk)"
        error = None if running else self.jobs.error(name)
        shown = "downloading" if running else state.value
        if not running and state is ModelState.PRESENT and self.jobs.has_update(name):
            shown = ModelState.UPDATE_AVAILABLE.value
        for item in self._items[name]:
            item.setText(STATE, shown)
            item.setText(SIZE, size)
            item.setToolTip(SIZE, size_tip)
            if running:
                self._bar(item).setVisible(True)
            else:
                self._drop_bar(item)
                item.setText(PROGRESS, error or "")
                item.setToolTip(PROGRESS, error or "")
        if running and (status := self.jobs.status(name)) is not None:
            self._show_status(name, status)

    def _bar(self, item: QTreeWidgetItem) -> QProgressBar:
        bar = self.tree.itemWidget(item, PROGRESS)
        if not isinstance(bar, QProgressBar):
            item.setText(PROGRESS, "")
            bar = QProgressBar()
            bar.setRange(0, 0)  # busy until the plan says how much there is
            bar.setTextVisible(True)
            bar.setFormat("Planning…")
            self.tree.setItemWidget(item, PROGRESS, bar)
        return bar

    def _drop_bar(self, item: QTreeWidgetItem) -> None:
        if self.tree.itemWidget(item, PROGRESS) is not None:
            self.tree.removeItemWidget(item, PROGRESS)

    def bar(self, name: str) -> QProgressBar | None:
        """The progress bar of a running download's first row (tests, screenshots)."""
        widget = self.tree.itemWidget(self._items[name][0], PROGRESS)
        return widget if isinstance(widget, QProgressBar) else None

    def _show_status(self, name: str, status: DownloadStatus) -> None:
        for item in self._items[name]:
            bar = self._bar(item)
            bar.setRange(0, 100)
            bar.setValue(status.percent)
            bar.setFormat("Cancelling…" if self.jobs.is_cancelling(name) else status.text())

    def _update_buttons(self, *_args: object) -> None:
        present = any(state is ModelState.PRESENT for state, _ in self._states.values())
        self.update_button.setEnabled(present and not self.jobs.checking())
        name = self.selected_name()
        if name is None:
            for button in (self.download_button, self.cancel_button, self.remove_button):
                button.setEnabled(False)
            return
        state, on_disk = self._states.get(name, (ModelState.NOT_DOWNLOADED, 0))
        running = self.jobs.running(name)
        update = state is ModelState.PRESENT and self.jobs.has_update(name)
        verb = "Update" if update else "Resume" if state is ModelState.PARTIAL else "Download"
        self.download_button.setText(verb)
        self.download_button.setEnabled(not running and (update or state is not ModelState.PRESENT))
        self.cancel_button.setEnabled(running and not self.jobs.is_cancelling(name))
        self.remove_button.setEnabled(not running and on_disk > 0)

    # -- what the buttons do -----------------------------------------------------

    def download_selected(self) -> None:
        name = self.selected_name()
        if name is not None:
            self.message.clear()
            self.jobs.start(name)

    def cancel_selected(self) -> None:
        name = self.selected_name()
        if name is not None:
            self.jobs.cancel(name)  # the rows follow its cancelling signal

    def remove_selected(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        _, on_disk = self._states.get(name, (ModelState.NOT_DOWNLOADED, 0))
        if not confirm_removal(self, removal_question(name, on_disk)):
            return
        try:
            self.jobs.remove(name)
        except DownloadError as exc:
            self._say(str(exc), warning=True)
            self.refresh([name])

    def check_updates(self) -> None:
        """Asks the hub about every model here (not only the selected one: one
        click answers "is anything out of date?")."""
        names = [n for n, (state, _) in self._states.items() if state is ModelState.PRESENT]
        if names and self.jobs.check_updates(names):
            self._say(f"Checking {len(names)} model(s) for updates…")
            self._update_buttons()

    def _on_updates_checked(self, found: list[str]) -> None:
        self.refresh()
        if found:
            self._say(f"A newer version is on the hub for: {', '.join(found)}; Update fetches it.")
        else:
            self._say("Every model here is up to date.")

    def _on_update_check_failed(self, sentence: str) -> None:
        self.refresh()
        self._say(sentence, warning=True)

    def _say(self, text: str, warning: bool = False) -> None:
        self.message.setText(text)
        self.message.setProperty("warning", warning)
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)

    # -- what the downloads say --------------------------------------------------

    def _on_running_changed(self, name: str) -> None:
        if name in self._items:
            self._draw(name)
            self._update_buttons()

    def _on_planned(self, name: str, total: int) -> None:
        if name in self._items:
            self._draw(name)

    def _on_progress(self, name: str, status: DownloadStatus) -> None:
        if name in self._items:
            self._show_status(name, status)

    def _on_finished(self, name: str) -> None:
        if name in self._items:
            self.refresh([name])
            self._say(f"{name} is downloaded.")

    def _on_failed(self, name: str, sentence: str) -> None:
        if name in self._items:
            self.refresh([name])
            self._say(sentence, warning=True)

    def _on_cancelled(self, name: str) -> None:
        if name in self._items:
            self.refresh([name])
            self._say(f"The download of {name} was cancelled; Resume continues where it stopped.")

    def _on_removed(self, name: str, freed: int) -> None:
        if name in self._items:
            self.refresh([name])
            self._say(f"Removed {name}: {size_text(freed)} freed.")


class ModelsHost(Protocol):
    """What the dialog and the download wiring need of the window: a MainWindow is one."""

    prefs: Preferences
    downloads: DownloadJobs
    panel: GenerationPanel
    message_bar: MessageBar

    def findChildren(self, kind: type) -> list: ...


def show_models(window: ModelsHost) -> ModelsDialog:
    """Opens the Models dialog, or raises the one already open."""
    # A closed one may linger until its deferred delete: only a visible one counts.
    shown = [d for d in window.findChildren(ModelsDialog) if d.isVisible()]
    if shown:
        dialog = shown[0]
    else:
        cpu_path = runs_on_cpu(window.prefs.engine.device)
        dialog = ModelsDialog(window.downloads, cpu_path, cast(QWidget, window))
        dialog.select(window.panel.model.current_spec())  # the model the user has in mind
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog


def attach_downloads(window: ModelsHost) -> DownloadJobs:
    """The window's downloads (they live as long as it does), wired to its model
    picker: Models… opens the dialog, Download starts one from the picker."""
    jobs = DownloadJobs(
        device=lambda: fetch_device(window.prefs.engine.device), parent=cast(QWidget, window)
    )
    picker = window.panel.model
    picker.set_downloads(jobs)
    picker.models_requested.connect(lambda: show_models(window))

    shown: dict[str, str] = {}  # name -> its failure the window's bar shows

    def failed(name: str, sentence: str) -> None:
        # The dialog says it itself; with none open, the window does.
        if not any(d.isVisible() for d in window.findChildren(ModelsDialog)):
            window.message_bar.show_message(sentence)
            shown[name] = sentence

    def retried(name: str) -> None:
        # A new start makes the failure old news (the bar kept it after the model came).
        if window.message_bar.text() == shown.pop(name, None):
            window.message_bar.hide()

    jobs.failed.connect(failed)
    jobs.started.connect(retried)
    return jobs
