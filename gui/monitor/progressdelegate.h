// procpool monitor — draws the progress of tasks that report it as a progress bar.
#pragma once

#include <QtWidgets/QStyledItemDelegate>

namespace procpool::monitor {

//! For the Progress column of FutureModel: a bar from ProgressValueRole / ProgressMaximumRole
//! with the display text on it; empty cells stay empty.
class ProgressDelegate : public QStyledItemDelegate
{
    Q_OBJECT
public:
    using QStyledItemDelegate::QStyledItemDelegate;
    void paint(QPainter *painter, const QStyleOptionViewItem &option,
               const QModelIndex &index) const override;
};

} // namespace procpool::monitor
