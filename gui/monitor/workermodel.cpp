#include "workermodel.h"

#include "rowruns.h"
#include "style.h"

#include <QtGui/QTextDocument>

namespace procpool::monitor {

namespace {
//! /proc is read at most this often: CPU % needs an interval long enough to mean something.
constexpr qint64 procSamplePeriodMs = 1000;
} // namespace

QVariant WorkerModel::hostToolTip(const Row &r)
{
    if (r.host.isEmpty())
        return QStringLiteral("On this machine");
    QString tip = QStringLiteral("On host %1").arg(r.host);
    if (!r.reportedHost.isEmpty())
        tip += QStringLiteral(", which calls itself %1").arg(r.reportedHost);
    if (r.remotePid != 0)
        tip += QStringLiteral(", as pid %1 there").arg(r.remotePid);
    // As plain text: the name is what the worker says, and a tag in it must not become markup.
    return Qt::convertFromPlainText(tip + QStringLiteral("; pid %1 is its launcher's, here").arg(r.pid));
}

WorkerModel::WorkerModel(EngineWatcher *watcher, QObject *parent)
    : QAbstractTableModel(parent)
    , m_watcher(watcher)
{
    m_clock.start();
    connect(watcher, &EngineWatcher::polled, this, &WorkerModel::update);
    update();
}

int WorkerModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_rows.size());
}

int WorkerModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant WorkerModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal)
        return {};
    static const char *const titles[ColumnCount] = {"PID",    "Name",   "Slot",    "Host",
                                                    "Namespace", "State", "Task",   "Done",
                                                    "Failed", "CPU %",  "Memory", "Uptime",
                                                    "Restarts"};
    if (role == Qt::DisplayRole)
        return QString::fromLatin1(titles[section]);
    if (role == Qt::ToolTipRole) {
        switch (section) {
        case Memory: return QStringLiteral("Resident memory (/proc/PID/statm)");
        case Cpu: return QStringLiteral("CPU use over the last second; 100 % is one core");
        case Restarts: return QStringLiteral("Workers of this pool replaced after a crash");
        case Failures: return QStringLiteral("Tasks that threw in this worker");
        case Slot:
            return QStringLiteral("The worker's slot in its pool: 0 for the first worker; a "
                                  "replacement takes the slot of the worker it replaces "
                                  "(PoolOptions::workerEnvironment is chosen by it)");
        case Host:
            return QStringLiteral("Where the worker runs: local, or the host of its pool's "
                                  "PoolOptions::hosts it was started on (its PID is then the "
                                  "launcher's, here)");
        default: return {};
        }
    }
    return {};
}

QVariant WorkerModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= m_rows.size())
        return {};
    const Row &r = m_rows.at(index.row());
    switch (role) {
    case ManagerRole: return QVariant::fromValue(r.key);
    case PidRole: return r.pid;
    case AliveRole: return !r.ended;
    case Qt::ToolTipRole:
        if (r.ended)
            return QStringLiteral("%1 (pid %2): %3").arg(r.name).arg(r.pid).arg(r.exitReason);
        if (index.column() == Host)
            return hostToolTip(r);
        if ((index.column() == Cpu || index.column() == Memory) && !r.host.isEmpty())
            return QStringLiteral("Not measured: the worker runs on %1, and its PID here is its "
                                  "launcher's").arg(r.host);
        return {};
    case Qt::DecorationRole:
        return index.column() == State ? QVariant(style::stateDot(r.state)) : QVariant();
    case Qt::ForegroundRole:
        if (index.column() == State)
            return style::stateColor(r.state);
        if (r.ended)
            return QColor(0x90, 0x90, 0x90);
        return {};
    case Qt::TextAlignmentRole:
        if (index.column() == Pid || index.column() == Slot || (index.column() >= Done && index.column() != Uptime))
            return int(Qt::AlignRight | Qt::AlignVCenter);
        return {};
    case Qt::UserRole: // sort keys
        switch (index.column()) {
        case Cpu: return r.host.isEmpty() ? r.cpu : -1.0;
        case Memory: return r.host.isEmpty() ? r.rss : qint64(-1);
        case Uptime: return r.uptimeSeconds;
        default: return data(index, Qt::DisplayRole);
        }
    case Qt::DisplayRole:
        switch (index.column()) {
        case Pid: return r.pid;
        case Name: return r.name;
        case Slot: return r.slot >= 0 ? QVariant(r.slot) : QVariant();
        case Host: return r.host.isEmpty() ? QStringLiteral("local") : r.host;
        case Namespace: return r.namespaceId;
        case State: return r.state;
        case CurrentTask: return r.ended ? r.exitReason : r.currentTask;
        case Done: return r.done;
        case Failures: return r.failed;
        // /proc here knows only the launcher (ssh, srun) of a worker on another host.
        case Cpu: return r.ended || !r.host.isEmpty() ? QString() : QString::number(r.cpu, 'f', 1);
        case Memory: return r.ended || r.rss <= 0 || !r.host.isEmpty() ? QString() : style::formatBytes(r.rss);
        case Uptime: return r.ended ? QString() : style::formatDuration(r.uptimeSeconds * 1000);
        case Restarts: return r.restarts;
        default: return {};
        }
    default:
        return {};
    }
}

WorkerModel::Row *WorkerModel::rowFor(qint64 pid)
{
    const int row = m_rowOfPid.value(pid, -1);
    return row < 0 ? nullptr : &m_rows[row];
}

void WorkerModel::append(Row &&row)
{
    const int at = int(m_rows.size());
    beginInsertRows({}, at, at);
    m_rowOfPid.insert(row.pid, at);
    m_rows.append(std::move(row));
    endInsertRows();
}

void WorkerModel::dropRows(const QList<int> &sortedRows)
{
    forEachRunFromEnd(sortedRows, [this](int first, int last) {
        beginRemoveRows({}, first, last);
        m_rows.remove(first, last - first + 1);
        endRemoveRows();
    });
    m_rowOfPid.clear();
    for (int i = 0; i < m_rows.size(); ++i)
        m_rowOfPid.insert(m_rows.at(i).pid, i);
}

void WorkerModel::update()
{
    const qint64 now = m_clock.elapsed();
    const QList<Row> before = m_rows;

    // Lifecycle events first: a worker may have started and ended between two polls.
    for (const EngineEvent &e : m_watcher->events()) {
        if (e.kind == EngineEvent::Kind::WorkerStarted && !rowFor(e.pid)) {
            Row row;
            row.pid = e.pid;
            row.name = e.text;
            row.namespaceId = e.namespaceId;
            row.key = e.key;
            row.state = stateName(WorkerState::Starting);
            row.startedAt = e.time;
            append(std::move(row));
        } else if (e.kind == EngineEvent::Kind::WorkerExited) {
            if (Row *row = rowFor(e.pid)) {
                const bool crashed = e.signal != 0 || e.exitCode != 0;
                row->state = crashed ? stateName(WorkerState::Crashed) : QStringLiteral("exited");
                row->exitReason = e.text;
                if (!row->ended)
                    row->endedAtMs = now;
                row->ended = true;
                row->currentTask.clear();
            }
        }
    }

    QSet<qint64> seen;
    QSet<quintptr> readable;
    QHash<quintptr, const ManagerView *> views;
    QList<qint64> livePids;
    for (const ManagerView &v : m_watcher->managers()) {
        views.insert(v.key, &v);
        if (!v.hasPool)
            continue;
        readable.insert(v.key);
        for (const WorkerInfo &w : v.workers) {
            seen.insert(w.pid);
            livePids.append(w.pid);
            Row *row = rowFor(w.pid);
            if (!row) {
                Row fresh;
                fresh.pid = w.pid;
                append(std::move(fresh));
                row = rowFor(w.pid);
            }
            if (row->ended)
                continue; // the exit announcement wins over a snapshot taken just before it
            row->name = w.name;
            row->slot = w.slot;
            row->host = w.host;
            row->reportedHost = w.reportedHost;
            row->remotePid = w.remotePid;
            row->namespaceId = v.namespaceId;
            row->key = v.key;
            row->state = stateName(w.state);
            row->currentTask = w.currentTask;
            row->done = w.tasksDone;
            row->failed = w.tasksFailed;
            row->startedAt = w.startedAt;
            row->restarts = v.stats.workersCrashed;
            row->uptimeSeconds = w.startedAt.isValid()
                                     ? std::max<qint64>(0, w.startedAt.secsTo(QDateTime::currentDateTimeUtc()))
                                     : 0;
        }
    }

    if (now - m_lastSampleMs >= procSamplePeriodMs) {
        m_lastSampleMs = now;
        m_sampler.sample(livePids);
        for (qint64 pid : std::as_const(livePids)) {
            if (Row *row = rowFor(pid)) {
                const detail::ProcStatSampler::Usage u = m_sampler.usage(pid);
                row->cpu = u.cpuPercent;
                row->rss = u.residentBytes;
            }
        }
    }

    QList<int> remove;
    for (int i = 0; i < m_rows.size(); ++i) {
        Row &row = m_rows[i];
        const bool managerAlive = views.contains(row.key);
        if (!row.ended && !seen.contains(row.pid) && (readable.contains(row.key) || !managerAlive)) {
            // Gone from a pool we can read without an announcement (yet): it exited.
            const bool starting = row.state == stateName(WorkerState::Starting)
                                  && row.startedAt.msecsTo(QDateTime::currentDateTime()) < 2000;
            if (!starting || !managerAlive) {
                row.ended = true;
                row.endedAtMs = now;
                row.state = QStringLiteral("exited");
                row.currentTask.clear();
            }
        } else if (!row.ended && !readable.contains(row.key) && managerAlive) {
            row.state = stateName(WorkerState::Exiting); // its pool is draining after stop()
        }
        if (row.ended && (now - row.endedAtMs > m_retentionMs || !managerAlive))
            remove.append(i);
    }

    // Minimal notifications: one dataChanged per changed row that existed before.
    for (int i = 0; i < before.size() && i < m_rows.size(); ++i) {
        if (before.at(i).pid == m_rows.at(i).pid && !(before.at(i) == m_rows.at(i)))
            Q_EMIT dataChanged(index(i, 0), index(i, ColumnCount - 1));
    }
    if (!remove.isEmpty())
        dropRows(remove);
}

} // namespace procpool::monitor
