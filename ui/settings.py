"""The panel's settings: render options, handles and the viewer's cache, kept with QSettings.

The form is built from `RenderOptions`' fields (label, tooltip, choices from the registries, a check box for a
yes/no option), and every field is read exactly as the command line reads the same option
(`keydub.plugin.panel.options`), so the settings refuse what `keydub render` refuses, with the same message. The
weights section shows what `keydub weights list` shows: where each component comes from and whether it is here.
"""

from collections.abc import Mapping
from typing import Any

from PySide6 import QtCore, QtWidgets

from keydub.core.errors import KeydubError
from keydub.core.render.options import RenderOptions, option_specs, option_type
from keydub.plugin.panel.options import HANDLES_FIELD, fields_from_options, options_from_fields, setting_fields
from keydub.plugin.timeline.plan import DEFAULT_HANDLES
from keydub.ui.viewer.cache import DEFAULT_CACHE_BYTES


ORGANISATION, APPLICATION = "Keydub", "Keydub panel"
_HANDLES_LABEL = "Handles (frames)"
_GIB = 1 << 30


def app_settings() -> QtCore.QSettings:
    """The panel's QSettings (per user)."""
    return QtCore.QSettings(ORGANISATION, APPLICATION)


def load_settings(settings: QtCore.QSettings) -> tuple[RenderOptions, int, int]:
    """`(render options, handles, frame cache bytes)` as stored; a stored value that no longer passes the checks
    (an older version, a hand edit) falls back to the defaults."""
    fields = {name: str(settings.value(f"render/{name}", "") or "") for name in setting_fields()}
    try:
        options, handles = options_from_fields(fields)
    except KeydubError:
        options, handles = options_from_fields({})
    try:
        cache = int(float(settings.value("viewer/cache_gb", DEFAULT_CACHE_BYTES / _GIB)) * _GIB)
    except (TypeError, ValueError):
        cache = DEFAULT_CACHE_BYTES
    return options, handles, max(0, cache)


def save_settings(settings: QtCore.QSettings, options: RenderOptions, handles: int, cache_bytes: int) -> None:
    for name, text in fields_from_options(options, handles).items():
        settings.setValue(f"render/{name}", text)
    settings.setValue("viewer/cache_gb", cache_bytes / _GIB)
    settings.sync()


class SettingsDialog(QtWidgets.QDialog):
    """Edit the render options, handles and cache size; OK is refused (with the reason) until every field passes.

    Args:
        options (`RenderOptions | Mapping`), handles (`int`), cache_bytes (`int`): the current values.
        weights_status (`list | None`): `keydub.core.weights.list_weights()` rows to show (read when `None`).
        system_palette (`bool`, defaults to `False`): whether the system palette box starts ticked
            (`system_palette_box`; see `keydub.ui.palette`).
    """

    def __init__(
        self,
        options: RenderOptions | Mapping[str, Any],
        handles: int = DEFAULT_HANDLES,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        weights_status: list | None = None,
        system_palette: bool = False,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keydub settings")
        if not isinstance(options, RenderOptions):
            options = RenderOptions.from_dict(options, where="settings")
        self.options, self.handles, self.cache_bytes = options, handles, cache_bytes
        self.fields: dict[str, QtWidgets.QComboBox | QtWidgets.QLineEdit | QtWidgets.QCheckBox] = {}
        form = QtWidgets.QFormLayout()
        specs = option_specs()
        for name, text in fields_from_options(options, handles).items():
            field = _field(name, text)
            field.setObjectName(name)
            self.fields[name] = field
            if name in specs:
                field.setToolTip(specs[name].help)
            form.addRow(specs[name].label if name in specs else _HANDLES_LABEL, field)
        self.cache_field = QtWidgets.QLineEdit(f"{cache_bytes / _GIB:g}")
        form.addRow("Frame cache (GB)", self.cache_field)
        self.system_palette_box = QtWidgets.QCheckBox("the platform's colours instead of the dark, neutral ones")
        self.system_palette_box.setChecked(system_palette)
        form.addRow("System palette", self.system_palette_box)
        self.error_label = QtWidgets.QLabel("", wordWrap=True)
        self.error_label.setStyleSheet("color: #e05050")
        self.weights_table = self._weights_table(weights_status)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QtWidgets.QLabel("Weights (keydub weights list)"))
        layout.addWidget(self.weights_table)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        buttons.accepted.connect(self._on_ok_click)
        buttons.rejected.connect(self.reject)

    def texts(self) -> dict[str, str]:
        return {name: _text(field) for name, field in self.fields.items()}

    def _weights_table(self, statuses: list | None) -> QtWidgets.QTableWidget:
        if statuses is None:
            from keydub.core.weights import list_weights

            try:
                statuses = list_weights()
            except KeydubError as error:
                self.error_label.setText(f"weights: {error}")
                statuses = []
        table = QtWidgets.QTableWidget(len(statuses), 4)
        table.setHorizontalHeaderLabels(["Component", "State", "From", "Where"])
        for row, status in enumerate(statuses):
            values = (
                status.component,
                status.state,
                f"{status.origin}: {status.source}",
                str(status.path or status.detail or ""),
            )
            for column, value in enumerate(values):
                table.setItem(row, column, QtWidgets.QTableWidgetItem(value))
        table.horizontalHeader().setStretchLastSection(True)
        table.verticalHeader().hide()
        return table

    def _on_ok_click(self) -> None:
        try:
            options, handles = options_from_fields(self.texts())
            cache_gb = float(self.cache_field.text())
            if not 0 <= cache_gb <= 1024:
                raise ValueError
        except KeydubError as error:
            self.error_label.setText(str(error))
            return
        except ValueError:
            self.error_label.setText(
                f"frame cache: expected a size in GB between 0 and 1024, not {self.cache_field.text()!r}"
            )
            return
        self.options, self.handles, self.cache_bytes = options, handles, int(cache_gb * _GIB)
        self.accept()


def _field(name: str, text: str) -> QtWidgets.QWidget:
    """The widget of one setting: a check box for yes/no, a list for choices (open to other text where the option
    takes more than its list: `cuda:1`, a frame number), else a line of text."""
    if name == HANDLES_FIELD:
        return QtWidgets.QLineEdit(text, placeholderText="default")
    spec, kind = option_specs()[name], option_type(name)
    if kind is bool:
        box = QtWidgets.QCheckBox()
        box.setChecked(text == "true")
        return box
    if spec.choices:
        combo = QtWidgets.QComboBox(editable=spec.is_open or kind is not str)
        combo.addItems(spec.choices)
        combo.setCurrentText(text)
        return combo
    return QtWidgets.QLineEdit(text, placeholderText="default")


def _text(field: QtWidgets.QWidget) -> str:
    if isinstance(field, QtWidgets.QCheckBox):
        return "true" if field.isChecked() else "false"
    return field.currentText() if isinstance(field, QtWidgets.QComboBox) else field.text()
