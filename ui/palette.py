"""The panel's colours: a dark, neutral palette by default, or the system's.

Colour is judged against what surrounds the picture: a light window beside footage makes it look darker and less
saturated than it is, which is why grading and editing applications are dark grey. The default palette is greys
with equal red, green and blue (no colour cast on the footage beside them) under Qt's Fusion style, the built-in
style that draws every control from the palette on every platform. The panel's setting `appearance/system_palette`
gives back the platform's own style and palette. `arrow_icon` draws an arrow in a palette's text colour: the
styles' own arrows are black, which a dark button hides.
"""

from PySide6 import QtCore, QtGui, QtWidgets


SYSTEM_PALETTE_KEY = "appearance/system_palette"
_STYLE = "Fusion"
# Where the application keeps the platform's style name while the dark palette is on (a dynamic property).
_SYSTEM_STYLE_PROPERTY = "keydubSystemStyle"
_Role, _Group = QtGui.QPalette.ColorRole, QtGui.QPalette.ColorGroup
# Grey levels (0-255, equal R, G and B) of each role: panels a little lighter than the lists and fields in them,
# text light enough to read at a glance (about 9:1 on the window).
_GREYS = {
    _Role.Window: 45,
    _Role.Base: 30,
    _Role.AlternateBase: 38,
    _Role.Button: 55,
    _Role.ToolTipBase: 25,
    _Role.Light: 80,
    _Role.Midlight: 65,
    _Role.Mid: 40,
    _Role.Dark: 25,
    _Role.Shadow: 10,
    _Role.WindowText: 220,
    _Role.Text: 220,
    _Role.ButtonText: 220,
    _Role.ToolTipText: 220,
    _Role.BrightText: 255,
    _Role.HighlightedText: 255,
    _Role.PlaceholderText: 130,
}
# Text that cannot be used: dimmer, still readable on the window and on a button.
_DISABLED_GREY = 130
_DISABLED_ROLES = (_Role.WindowText, _Role.Text, _Role.ButtonText, _Role.HighlightedText)
# The only hues: a muted blue for the selection and for links, small areas that must stand out from the greys.
_HIGHLIGHT = QtGui.QColor(52, 84, 125)
_LINK = QtGui.QColor(110, 160, 225)
# Sides of the arrow icons' pixmaps: a tool button's 16 px, and its double and quadruple for high-density screens.
_ARROW_SIDES = (16, 32, 64)


def dark_palette() -> QtGui.QPalette:
    """The dark, neutral palette."""
    palette = QtGui.QPalette()
    for role, grey in _GREYS.items():
        palette.setColor(role, QtGui.QColor(grey, grey, grey))
    palette.setColor(_Role.Highlight, _HIGHLIGHT)
    palette.setColor(_Role.Link, _LINK)
    palette.setColor(_Role.LinkVisited, _LINK)
    for role in _DISABLED_ROLES:
        palette.setColor(_Group.Disabled, role, QtGui.QColor(_DISABLED_GREY, _DISABLED_GREY, _DISABLED_GREY))
    palette.setColor(_Group.Disabled, _Role.Highlight, QtGui.QColor(70, 70, 70))
    return palette


def apply_palette(is_system: bool) -> None:
    """Give the running application the dark palette, or (`is_system`) the platform's style and palette back."""
    app = QtWidgets.QApplication.instance()
    if app.property(_SYSTEM_STYLE_PROPERTY) is None:
        app.setProperty(_SYSTEM_STYLE_PROPERTY, app.style().name())
    if is_system:
        app.setStyle(app.property(_SYSTEM_STYLE_PROPERTY))
        app.setPalette(QtGui.QPalette())  # an empty palette: the platform's
    else:
        app.setStyle(_STYLE)
        app.setPalette(dark_palette())


def arrow_icon(points_left: bool, palette: QtGui.QPalette) -> QtGui.QIcon:
    """A left (or right) arrow in `palette`'s button text colour, dimmed when disabled.

    Drawn once into pixmaps, so painting it runs no Python (the UI thread would wait for the interpreter while
    another thread holds it); make a new one when the palette changes.
    """
    icon = QtGui.QIcon()
    for mode, group in ((QtGui.QIcon.Mode.Normal, _Group.Active), (QtGui.QIcon.Mode.Disabled, _Group.Disabled)):
        for side in _ARROW_SIDES:
            icon.addPixmap(_arrow_pixmap(side, points_left, palette.color(group, _Role.ButtonText)), mode)
    return icon


def _arrow_pixmap(side: int, points_left: bool, colour: QtGui.QColor) -> QtGui.QPixmap:
    pixmap = QtGui.QPixmap(side, side)
    pixmap.fill(QtCore.Qt.GlobalColor.transparent)
    # About the size of the styles' own arrows: five eighths of the icon high, three eighths wide, centred.
    tip, back = 0.3125 * side, 0.6875 * side
    if not points_left:
        tip, back = back, tip
    corners = ((tip, 0.5 * side), (back, 0.1875 * side), (back, 0.8125 * side))
    painter = QtGui.QPainter(pixmap)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    painter.setPen(QtCore.Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    painter.drawPolygon(QtGui.QPolygonF([QtCore.QPointF(*corner) for corner in corners]))
    painter.end()
    return pixmap


def is_system_palette_chosen(settings: QtCore.QSettings) -> bool:
    """Whether the panel's settings ask for the system palette (the dark one when unset)."""
    return settings.value(SYSTEM_PALETTE_KEY, False, type=bool)


def choose_palette(settings: QtCore.QSettings, is_system: bool) -> None:
    """Keep the choice in the panel's settings and apply it now."""
    settings.setValue(SYSTEM_PALETTE_KEY, is_system)
    settings.sync()
    apply_palette(is_system)
