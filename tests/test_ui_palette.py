"""The panel's dark, neutral palette: greys with no colour cast and readable text, on the window's own pixels; the
system palette as a setting kept in the panel's QSettings, applied at start and from the settings dialog."""

from collections import Counter

import numpy as np
import pytest


pytest.importorskip("PySide6")
from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

from keydub.plugin.panel.controller import PanelController  # noqa: E402
from keydub.ui import app as app_module  # noqa: E402
from keydub.ui.app import MainWindow, build_parser, run_app  # noqa: E402
from keydub.ui.palette import (  # noqa: E402
    SYSTEM_PALETTE_KEY,
    apply_palette,
    choose_palette,
    dark_palette,
    is_system_palette_chosen,
)
from keydub.ui.settings import SettingsDialog  # noqa: E402


Role = QtGui.QPalette.ColorRole


@pytest.fixture
def system_colours(qapp):
    """The platform's style and window colour before the test; both given back after it."""
    before = (qapp.style().name(), qapp.palette().color(Role.Window).rgb())
    yield before
    apply_palette(is_system=True)
    assert (qapp.style().name(), qapp.palette().color(Role.Window).rgb()) == before


@pytest.fixture
def settings(tmp_path):
    return QtCore.QSettings(str(tmp_path / "panel.ini"), QtCore.QSettings.Format.IniFormat)


def rgb(colour: QtGui.QColor) -> tuple[int, int, int]:
    return colour.red(), colour.green(), colour.blue()


def contrast(a: QtGui.QColor, b: QtGui.QColor) -> float:
    """WCAG 2 contrast ratio of two colours."""

    def luminance(colour):
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in np.array(rgb(colour)) / 255]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def commonest_colour(widget: QtWidgets.QWidget) -> tuple[int, int, int]:
    """The colour of most of `widget`'s pixels as drawn (its background)."""
    image = widget.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB888)
    width, height = image.width(), image.height()
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(height, image.bytesPerLine())[:, : width * 3]
    return Counter(map(tuple, pixels.reshape(-1, 3).tolist())).most_common(1)[0][0]


def undo_arrow_colour(window: MainWindow) -> tuple[int, int, int]:
    """The colour of the occluder dock's undo arrow, at the centre of its icon."""
    pixmap = window.occluder_panel.undo_action.icon().pixmap(QtCore.QSize(32, 32))
    return rgb(pixmap.toImage().pixelColor(16, 16))


def test_the_dark_palette_is_neutral_grey_with_readable_text():
    palette = dark_palette()
    window, base = palette.color(Role.Window), palette.color(Role.Base)
    # Every surface and every text is grey: no colour cast next to the footage.
    for role in (Role.Window, Role.Base, Role.AlternateBase, Role.Button, Role.Text, Role.WindowText, Role.ButtonText):
        red, green, blue = rgb(palette.color(role))
        assert red == green == blue, role
    assert window.lightness() < 64 and base.lightness() < window.lightness()
    for text, surface in ((Role.WindowText, Role.Window), (Role.Text, Role.Base), (Role.ButtonText, Role.Button)):
        assert contrast(palette.color(text), palette.color(surface)) >= 7, (text, surface)
    assert contrast(palette.color(Role.HighlightedText), palette.color(Role.Highlight)) >= 7
    # Disabled text is dimmer than enabled text and still readable.
    disabled = palette.color(QtGui.QPalette.ColorGroup.Disabled, Role.ButtonText)
    assert disabled.lightness() < palette.color(Role.ButtonText).lightness()
    assert contrast(disabled, palette.color(Role.Button)) >= 3


def test_the_window_is_drawn_in_the_dark_palette_and_in_the_systems_on_request(qtbot, system_colours):
    apply_palette(is_system=False)
    window = MainWindow(PanelController(handles=0))
    qtbot.addWidget(window)
    window.resize(1000, 700)
    window.show()
    qtbot.waitExposed(window)
    assert QtWidgets.QApplication.style().name() == "fusion"
    # The status bar is the window's grey, the clip list the darker grey of lists, both neutral.
    assert commonest_colour(window.statusBar()) == (45, 45, 45)
    assert commonest_colour(window.clip_list.viewport()) == (30, 30, 30)
    assert undo_arrow_colour(window) == (220, 220, 220)  # not the style's black arrow
    apply_palette(is_system=True)  # the widgets follow once the event loop runs
    system_window = rgb(QtGui.QColor.fromRgb(system_colours[1]))
    assert system_window != (45, 45, 45)
    qtbot.waitUntil(lambda: commonest_colour(window.statusBar()) == system_window, timeout=5000)
    assert undo_arrow_colour(window) == rgb(QtWidgets.QApplication.palette().color(Role.ButtonText))


def test_the_system_palette_setting_is_kept_in_the_panels_settings(qtbot, settings, tmp_path, system_colours):
    assert not is_system_palette_chosen(settings)  # dark unless asked
    choose_palette(settings, True)
    reread = QtCore.QSettings(str(tmp_path / "panel.ini"), QtCore.QSettings.Format.IniFormat)
    assert is_system_palette_chosen(reread) and reread.value(SYSTEM_PALETTE_KEY) in (True, "true")
    assert rgb(QtWidgets.QApplication.palette().color(Role.Window)) == rgb(QtGui.QColor.fromRgb(system_colours[1]))
    choose_palette(reread, False)
    assert not is_system_palette_chosen(
        QtCore.QSettings(str(tmp_path / "panel.ini"), QtCore.QSettings.Format.IniFormat)
    )
    assert rgb(QtWidgets.QApplication.palette().color(Role.Window)) == (45, 45, 45)
    # The dialog's box starts as the setting says.
    dialog = SettingsDialog({}, weights_status=[], system_palette=True)
    qtbot.addWidget(dialog)
    assert dialog.system_palette_box.isChecked()


def test_the_settings_dialog_switches_the_palette_and_keeps_the_choice(qtbot, settings, monkeypatch, system_colours):
    monkeypatch.setattr(app_module, "app_settings", lambda: settings)
    window = MainWindow(PanelController(handles=0))
    qtbot.addWidget(window)
    offered = []

    def tick_and_accept(dialog):
        offered.append(dialog.system_palette_box.isChecked())
        dialog.system_palette_box.setChecked(True)
        return QtWidgets.QDialog.DialogCode.Accepted

    monkeypatch.setattr(SettingsDialog, "exec", tick_and_accept)
    window.settings_action.trigger()
    assert offered == [False] and is_system_palette_chosen(settings)
    assert rgb(QtWidgets.QApplication.palette().color(Role.Window)) == rgb(QtGui.QColor.fromRgb(system_colours[1]))


@pytest.mark.parametrize("is_system", [False, True])
def test_the_app_starts_in_the_palette_its_settings_name(qapp, settings, monkeypatch, system_colours, is_system):
    settings.setValue(SYSTEM_PALETTE_KEY, is_system)
    monkeypatch.setattr(app_module, "app_settings", lambda: settings)
    seen = []

    def run_and_close(*args):
        """Qt's event loop as a user who looks at the window and closes it."""
        [window] = [
            widget
            for widget in QtWidgets.QApplication.topLevelWidgets()
            if isinstance(widget, MainWindow) and widget.isVisible()
        ]
        seen.append(rgb(window.palette().color(Role.Window)))
        window.close()
        window.deleteLater()
        return 0

    monkeypatch.setattr(QtWidgets.QApplication, "exec", run_and_close)
    assert run_app(build_parser().parse_args([])) == 0
    expected = rgb(QtGui.QColor.fromRgb(system_colours[1])) if is_system else (45, 45, 45)
    assert seen == [expected]


def test_a_progress_cell_shows_its_groove_and_arrows_their_colour_on_the_dark_palette(qtbot, system_colours):
    from keydub.ui.palette import arrow_icon
    from keydub.ui.progress_delegate import ProgressBarDelegate

    apply_palette(is_system=False)
    fraction_role = QtCore.Qt.ItemDataRole.UserRole + 1
    model = QtGui.QStandardItemModel(1, 1)
    model.setData(model.index(0, 0), "rendering 10 %")
    model.setData(model.index(0, 0), 0.1, fraction_role)
    view = QtWidgets.QTableView()
    view.setModel(model)
    view.setItemDelegateForColumn(0, ProgressBarDelegate(fraction_role, parent=view))
    view.horizontalHeader().setStretchLastSection(True)
    view.resize(400, 100)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    image = view.viewport().grab().toImage()
    cell = view.visualRect(model.index(0, 0))
    groove = image.pixelColor(cell.right() - 10, cell.center().y())  # past the 10 % done and the centred text
    assert groove.lightness() - view.palette().color(Role.Base).lightness() >= 20
    # The arrows of icon buttons are drawn in a palette's button text colour, dimmed when disabled.
    for mode, expected in ((QtGui.QIcon.Mode.Normal, 220), (QtGui.QIcon.Mode.Disabled, 130)):
        for points_left in (True, False):
            pixmap = arrow_icon(points_left, dark_palette()).pixmap(QtCore.QSize(32, 32), mode)
            centre = pixmap.toImage().pixelColor(16, 16)
            assert (rgb(centre), centre.alpha()) == ((expected,) * 3, 255), (mode, points_left)
