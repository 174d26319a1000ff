#include "progressdelegate.h"

#include "futuremodel.h"

#include <QtWidgets/QApplication>
#include <QtWidgets/QStyle>
#include <QtWidgets/QStyleOptionProgressBar>

namespace procpool::monitor {

void ProgressDelegate::paint(QPainter *painter, const QStyleOptionViewItem &option,
                             const QModelIndex &index) const
{
    const int maximum = index.data(FutureModel::ProgressMaximumRole).toInt();
    if (maximum <= 0) {
        QStyledItemDelegate::paint(painter, option, index);
        return;
    }
    // The selection background first, then the bar inset a little.
    QStyleOptionViewItem background = option;
    initStyleOption(&background, index);
    background.text.clear();
    const QWidget *widget = option.widget;
    QStyle *style = widget ? widget->style() : QApplication::style();
    style->drawControl(QStyle::CE_ItemViewItem, &background, painter, widget);

    QStyleOptionProgressBar bar;
    bar.rect = option.rect.adjusted(2, 2, -2, -2);
    bar.minimum = 0;
    bar.maximum = maximum;
    bar.progress = std::min(maximum, index.data(FutureModel::ProgressValueRole).toInt());
    bar.text = QStringLiteral("%1%").arg(100 * bar.progress / maximum);
    bar.textVisible = true;
    bar.textAlignment = Qt::AlignCenter;
    bar.state = option.state | QStyle::State_Horizontal;
    bar.palette = option.palette;
    bar.fontMetrics = option.fontMetrics;
    style->drawControl(QStyle::CE_ProgressBar, &bar, painter, widget);
}

} // namespace procpool::monitor
