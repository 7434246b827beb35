"""A table cell drawn as a progress bar: the share done from a model role, the cell's own text on the bar.

The queue dock's Progress column and the clip list's State column both show a rendering job this way. A cell
without a share (a job not rendering) is drawn as plain text.
"""

from PySide6 import QtCore, QtGui, QtWidgets


# The bar's resolution: a tenth of a percent.
BAR_MAXIMUM = 1000
# The bar sits this far inside its cell (left and right, top and bottom), and its text this far inside the bar.
_BAR_MARGINS = QtCore.QMargins(2, 3, 2, 3)
_TEXT_MARGIN = 4
# What a bar's text needs beside it: the bar's margins and its text's, on both sides.
_BAR_PADDING = 2 * (_BAR_MARGINS.left() + _TEXT_MARGIN)
# The longest stage text a render shows, for columns sized to show it whole.
WIDEST_STAGE_TEXT = "interpolation · step 888/888"


def column_width_for(view: QtWidgets.QAbstractItemView, text: str) -> int:
    """A column width that shows `text` whole in `view`, on a bar or as a plain cell."""
    return view.fontMetrics().horizontalAdvance(text) + _BAR_PADDING + 8  # and the cell's own frame


class ProgressBarDelegate(QtWidgets.QStyledItemDelegate):
    """Draws cells whose `fraction_role` holds a share in [0, 1] as a progress bar labelled with the cell's text.

    Args:
        fraction_role (`int`): the model role holding the share (`None`: a plain cell).
        widest_text (`str | None`): the longest text a column sized to its contents fits whole; a longer one (a
            skipped clip's reason) is elided there rather than widening the column. `None`: no bound.
        parent (`QAbstractItemView | None`): the view.
    """

    def __init__(
        self, fraction_role: int, widest_text: str | None = None, parent: QtWidgets.QAbstractItemView | None = None
    ) -> None:
        super().__init__(parent)
        self.fraction_role = fraction_role
        self.widest_text = widest_text

    def bar_option(
        self, option: QtWidgets.QStyleOptionViewItem, index: QtCore.QModelIndex
    ) -> QtWidgets.QStyleOptionProgressBar | None:
        """The bar `paint` draws for `index` in `option.rect` (its value and elided text), `None` for a plain cell."""
        fraction = index.data(self.fraction_role)
        if fraction is None:
            return None
        bar = QtWidgets.QStyleOptionProgressBar()
        bar.rect = option.rect.marginsRemoved(_BAR_MARGINS)
        bar.minimum, bar.maximum = 0, BAR_MAXIMUM
        bar.progress = round(min(1.0, max(0.0, fraction)) * BAR_MAXIMUM)
        text = str(index.data(QtCore.Qt.ItemDataRole.DisplayRole) or "")
        width = bar.rect.width() - 2 * _TEXT_MARGIN
        bar.text = option.fontMetrics.elidedText(text, QtCore.Qt.TextElideMode.ElideRight, width)
        bar.textVisible = True
        bar.state = option.state | QtWidgets.QStyle.StateFlag.State_Horizontal
        # The groove in the button colour: in the table's base colour it would show only by its outline, which
        # a dark palette draws as dark as the base.
        palette = QtGui.QPalette(option.palette)
        palette.setColor(QtGui.QPalette.ColorRole.Base, palette.color(QtGui.QPalette.ColorRole.Button))
        bar.palette = palette
        return bar

    def sizeHint(self, option: QtWidgets.QStyleOptionViewItem, index: QtCore.QModelIndex) -> QtCore.QSize:
        """Wide enough for the cell's text on a bar, up to `widest_text`."""
        size = super().sizeHint(option, index) + QtCore.QSize(_BAR_PADDING, 0)
        if self.widest_text is not None and isinstance(self.parent(), QtWidgets.QAbstractItemView):
            size.setWidth(min(size.width(), column_width_for(self.parent(), self.widest_text)))
        return size

    def paint(
        self, painter: QtGui.QPainter, option: QtWidgets.QStyleOptionViewItem, index: QtCore.QModelIndex
    ) -> None:
        bar = self.bar_option(option, index)
        if bar is None:
            super().paint(painter, option, index)
            return
        QtWidgets.QApplication.style().drawControl(QtWidgets.QStyle.ControlElement.CE_ProgressBar, bar, painter)
