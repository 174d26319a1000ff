// procpool monitor — LogModel: worker output and engine events, newest last, bounded.
#pragma once

#include "enginewatcher.h"

#include <QtCore/QAbstractTableModel>
#include <QtCore/QSortFilterProxyModel>

namespace procpool::monitor {

class LogModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { Time, Namespace, Pid, SourceColumn, Message, ColumnCount };
    //! Where a line comes from: a worker's output, or the pool and the monitor.
    enum class Source { Output, Engine, Error };
    enum Role { SourceRole = Qt::UserRole + 1 };

    explicit LogModel(EngineWatcher *watcher, QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    //! Adds a line of the monitor's own (e.g. the outcome of an action).
    void addMessage(Source source, const QString &namespaceId, const QString &text);
    void clear();
    //! Lines kept; the oldest go first. 20,000 by default.
    void setLimit(int lines) { m_limit = std::max(100, lines); }

private:
    struct Line
    {
        QDateTime time;
        QString namespaceId;
        qint64 pid = 0;
        Source source = Source::Output;
        QString text;
    };
    void update();
    void append(QList<Line> &&lines);

    EngineWatcher *m_watcher;
    QList<Line> m_lines;
    int m_limit = 20000;
    quint64 m_droppedReported = 0;
};

//! Shows the lines of some sources that contain a text.
class LogFilterModel : public QSortFilterProxyModel
{
    Q_OBJECT
public:
    using QSortFilterProxyModel::QSortFilterProxyModel;
    void setSources(bool output, bool engine);
    void setText(const QString &text);

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;

private:
    bool m_output = true, m_engine = true;
    QString m_text;
};

} // namespace procpool::monitor
