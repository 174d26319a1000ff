#include "logmodel.h"

#include "style.h"

namespace procpool::monitor {

LogModel::LogModel(EngineWatcher *watcher, QObject *parent)
    : QAbstractTableModel(parent)
    , m_watcher(watcher)
{
    connect(watcher, &EngineWatcher::polled, this, &LogModel::update);
}

int LogModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_lines.size());
}

int LogModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant LogModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    static const char *const titles[ColumnCount] = {"Time", "Namespace", "PID", "Source", "Message"};
    return QString::fromLatin1(titles[section]);
}

QVariant LogModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= m_lines.size())
        return {};
    const Line &l = m_lines.at(index.row());
    if (role == SourceRole)
        return int(l.source);
    if (role == Qt::ForegroundRole) {
        if (l.source == Source::Error)
            return style::stateColor(QStringLiteral("failed"));
        if (l.source == Source::Engine)
            return QColor(0x1e, 0x5a, 0x96);
        return {};
    }
    if (role == Qt::ToolTipRole && index.column() == Message)
        return l.text;
    if (role != Qt::DisplayRole)
        return {};
    switch (index.column()) {
    case Time: return l.time.toString(QStringLiteral("HH:mm:ss.zzz"));
    case Namespace: return l.namespaceId;
    case Pid: return l.pid > 0 ? QVariant(l.pid) : QVariant();
    case SourceColumn:
        switch (l.source) {
        case Source::Output: return QStringLiteral("output");
        case Source::Engine: return QStringLiteral("engine");
        case Source::Error: return QStringLiteral("error");
        }
        return {};
    case Message: return l.text;
    default: return {};
    }
}

void LogModel::addMessage(Source source, const QString &namespaceId, const QString &text)
{
    QList<Line> lines;
    lines.append(Line{QDateTime::currentDateTime(), namespaceId, 0, source, text});
    append(std::move(lines));
}

void LogModel::clear()
{
    beginResetModel();
    m_lines.clear();
    endResetModel();
}

void LogModel::append(QList<Line> &&lines)
{
    if (lines.isEmpty())
        return;
    if (lines.size() > m_limit)
        lines.remove(0, lines.size() - m_limit);
    const qsizetype overflow = m_lines.size() + lines.size() - m_limit;
    if (overflow > 0) {
        beginRemoveRows({}, 0, int(overflow) - 1);
        m_lines.remove(0, overflow);
        endRemoveRows();
    }
    const int first = int(m_lines.size());
    beginInsertRows({}, first, first + int(lines.size()) - 1);
    m_lines.append(std::move(lines));
    endInsertRows();
}

void LogModel::update()
{
    QList<Line> lines;
    for (const EngineEvent &e : m_watcher->events()) {
        Line l{e.time, e.namespaceId, e.pid, Source::Engine, {}};
        switch (e.kind) {
        case EngineEvent::Kind::WorkerStarted:
            l.text = QStringLiteral("worker %1 started").arg(e.text);
            break;
        case EngineEvent::Kind::WorkerExited:
            l.text = QStringLiteral("worker exited: %1 (%2)")
                         .arg(e.text, e.signal != 0 ? QStringLiteral("signal %1").arg(e.signal)
                                                    : QStringLiteral("exit code %1").arg(e.exitCode));
            if (e.signal != 0 || e.exitCode != 0)
                l.source = Source::Error;
            break;
        case EngineEvent::Kind::StateChanged:
            l.text = QStringLiteral("pool %1").arg(stateName(e.state));
            if (e.state == PoolState::Broken) {
                l.text = QStringLiteral("pool broken: workers cannot be started");
                l.source = Source::Error;
            }
            break;
        case EngineEvent::Kind::WorkerLog:
            l.text = e.text;
            l.source = e.text.startsWith(QLatin1String("procpool: ")) ? Source::Engine : Source::Output;
            break;
        }
        lines.append(std::move(l));
    }
    if (m_watcher->droppedEvents() != m_droppedReported) {
        lines.append(Line{QDateTime::currentDateTime(), QString(), 0, Source::Error,
                          QStringLiteral("%1 output lines dropped: workers printed faster than the "
                                         "monitor can show")
                              .arg(m_watcher->droppedEvents() - m_droppedReported)});
        m_droppedReported = m_watcher->droppedEvents();
    }
    append(std::move(lines));
}

void LogFilterModel::setSources(bool output, bool engine)
{
    m_output = output;
    m_engine = engine;
    invalidateFilter();
}

void LogFilterModel::setText(const QString &text)
{
    m_text = text;
    invalidateFilter();
}

bool LogFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const
{
    const QModelIndex i = sourceModel()->index(sourceRow, LogModel::Message, sourceParent);
    const auto source = LogModel::Source(i.data(LogModel::SourceRole).toInt());
    if (source == LogModel::Source::Output ? !m_output : !m_engine)
        return false;
    if (m_text.isEmpty())
        return true;
    for (int c = 0; c < LogModel::ColumnCount; ++c)
        if (sourceModel()->index(sourceRow, c, sourceParent).data().toString().contains(m_text, Qt::CaseInsensitive))
            return true;
    return false;
}

} // namespace procpool::monitor
