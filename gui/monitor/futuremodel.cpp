#include "futuremodel.h"

#include "rowruns.h"
#include "style.h"

#include <QtCore/QDebug>

#include <algorithm>
#include <exception>

namespace procpool::monitor {

namespace {

bool isFinal(TaskState state)
{
    return state == TaskState::Finished || state == TaskState::Failed || state == TaskState::Cancelled;
}

QString timeText(const QDateTime &time)
{
    return time.isValid() ? time.toLocalTime().toString(QStringLiteral("HH:mm:ss.zzz")) : QString();
}

//! "2/3" while retries are allowed, "1" for a task run once, empty before it ran.
QString attemptsText(const TaskRecord &r)
{
    if (r.maxAttempts > 1)
        return QStringLiteral("%1/%2").arg(r.attempts).arg(r.maxAttempts);
    return r.attempts > 0 ? QString::number(r.attempts) : QString();
}

//! The errors of the attempts that failed and were retried, one a line.
QString attemptsToolTip(const TaskRecord &r)
{
    if (r.attemptErrors.isEmpty())
        return r.maxAttempts > 1 ? QStringLiteral("Attempt %1 of at most %2").arg(r.attempts).arg(r.maxAttempts)
                                 : QString();
    QStringList lines;
    for (qsizetype i = 0; i < r.attemptErrors.size(); ++i)
        lines.append(QStringLiteral("Attempt %1: %2").arg(i + 1).arg(r.attemptErrors.at(i).section(u'\n', 0, 0)));
    return lines.join(u'\n');
}

//! The history may exceed its limit by this fraction before rows are dropped, so that
//! eviction (one rowsRemoved) happens once per many finished tasks, not on every poll.
constexpr int historySlackPercent = 5;

} // namespace

QString describeValue(const QVariant &value, int maxLength)
{
    QString text;
    if (!value.isValid())
        text = QStringLiteral("(none)");
    else if (value.typeId() == QMetaType::QByteArray)
        text = QStringLiteral("%1 bytes").arg(value.toByteArray().size());
    else if (value.canConvert<QString>() && value.typeId() != QMetaType::QVariantList
             && value.typeId() != QMetaType::QVariantMap && value.typeId() != QMetaType::QStringList)
        text = value.toString();
    else {
        QDebug debug(&text);
        debug.noquote() << value;
    }
    if (maxLength > 0 && text.size() > maxLength)
        text = text.left(maxLength - 1) + QChar(0x2026);
    return text;
}

FutureModel::FutureModel(EngineWatcher *watcher, QObject *parent)
    : QAbstractTableModel(parent)
    , m_watcher(watcher)
{
    connect(watcher, &EngineWatcher::polled, this, &FutureModel::update);
}

int FutureModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_rows.size());
}

int FutureModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant FutureModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    static const char *const titles[ColumnCount] = {
        "ID", "Task", "Type", "Namespace", "State", "Worker", "Priority", "Attempts", "Submitted",
        "Started", "Finished", "Duration", "Progress", "Result / error"};
    return QString::fromLatin1(titles[section]);
}

int FutureModel::rowOf(quint64 id) const
{
    return m_rowOfId.value(id, -1);
}

QVariant FutureModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= m_rows.size())
        return {};
    const Row &row = m_rows.at(index.row());
    const TaskRecord &r = row.record;
    const QString state = row.lost ? QStringLiteral("ended") : stateName(r.state);
    switch (role) {
    case IdRole: return QVariant::fromValue(row.uid);
    case StateRole: return row.lost ? -1 : int(r.state);
    case NamespaceRole: return row.namespaceId;
    case TaskTypeRole: return r.taskType;
    case ProgressValueRole: return r.progressValue;
    case ProgressMaximumRole: return r.progressMaximum;
    case ProgressTextRole: return r.progressText;
    case CancellableRole:
        return !row.lost && !isFinal(r.state) && !(row.own && row.future.isCanceled());
    case Qt::DecorationRole:
        return index.column() == State ? QVariant(style::stateDot(state)) : QVariant();
    case Qt::ForegroundRole:
        if (index.column() == State || (index.column() == Outcome && r.state == TaskState::Failed))
            return style::stateColor(state);
        return {};
    case Qt::ToolTipRole:
        if (row.lost)
            return QStringLiteral("Ended between two updates; its pool no longer keeps how "
                                  "(PoolOptions::taskHistory), or the pool is gone");
        if (index.column() == Outcome)
            return r.state == TaskState::Failed ? r.error : row.result;
        if (index.column() == Attempts)
            return attemptsToolTip(r);
        return {};
    case Qt::TextAlignmentRole:
        switch (index.column()) {
        case Id: case Worker: case Priority: case Attempts: case Duration:
            return int(Qt::AlignRight | Qt::AlignVCenter);
        default: return {};
        }
    case SortRole:
        switch (index.column()) {
        case Id: return QVariant::fromValue(r.id);
        case Worker: return r.workerPid;
        case Priority: return r.priority;
        case Attempts: return r.attempts;
        case Submitted: return r.submittedAt;
        case Started: return r.startedAt;
        case Finished: return r.finishedAt;
        case Duration:
            return r.startedAt.isValid() && r.finishedAt.isValid() ? r.startedAt.msecsTo(r.finishedAt) : -1;
        case Progress: return r.progressMaximum > 0 ? double(r.progressValue) / r.progressMaximum : -1.0;
        default: return data(index, Qt::DisplayRole);
        }
    case Qt::DisplayRole:
        break;
    default:
        return {};
    }
    switch (index.column()) {
    case Id: return QVariant::fromValue(r.id);
    case Task: return r.taskName;
    case Type: return r.taskType;
    case Namespace: return row.namespaceId;
    case State: return state;
    case Worker: return r.workerPid > 0 ? QVariant(r.workerPid) : QVariant();
    case Priority: return r.priority;
    case Attempts: return attemptsText(r);
    case Submitted: return timeText(r.submittedAt);
    case Started: return timeText(r.startedAt);
    case Finished: return timeText(r.finishedAt);
    case Duration:
        if (!r.startedAt.isValid())
            return {};
        return style::formatDuration(r.startedAt.msecsTo(r.finishedAt.isValid() ? r.finishedAt
                                                                                  : QDateTime::currentDateTimeUtc()));
    case Progress:
        if (r.progressMaximum <= 0)
            return {};
        return r.progressText.isEmpty()
                   ? QStringLiteral("%1%").arg(100 * r.progressValue / r.progressMaximum)
                   : r.progressText;
    case Outcome:
        if (r.state == TaskState::Failed)
            return r.error.section(QLatin1Char('\n'), 0, 0);
        return row.result;
    default: return {};
    }
}

void FutureModel::setHistoryLimit(int limit)
{
    m_historyLimit = std::max(0, limit);
    trimHistory();
}

void FutureModel::noteVocabulary(const Row &row)
{
    bool changed = false;
    if (!m_namespaces.contains(row.namespaceId)) {
        m_namespaces.append(row.namespaceId);
        m_namespaces.sort();
        changed = true;
    }
    if (!m_taskTypes.contains(row.record.taskType)) {
        m_taskTypes.append(row.record.taskType);
        m_taskTypes.sort();
        changed = true;
    }
    if (changed)
        Q_EMIT vocabularyChanged();
}

void FutureModel::setState(Row &row, TaskState state)
{
    if (row.record.state == state)
        return;
    --m_counts[size_t(row.record.state)];
    ++m_counts[size_t(state)];
    m_finishedRows += int(isFinal(state)) - int(isFinal(row.record.state));
    row.record.state = state;
}

void FutureModel::addSubmission(const QString &namespaceId, ProcessPoolManager *manager,
                                const QString &taskName, const QString &taskType,
                                const QVariantList &arguments,
                                const ProcessPoolManager::TrackedTask &task, int priority,
                                int maxAttempts)
{
    Row row;
    row.record.id = task.id;
    row.record.priority = priority;
    row.record.maxAttempts = maxAttempts;
    row.record.taskName = taskName;
    row.record.taskType = taskType;
    row.record.state = TaskState::Queued;
    row.record.submittedAt = QDateTime::currentDateTimeUtc();
    row.namespaceId = namespaceId;
    row.manager = manager;
    row.key = quintptr(manager);
    row.uid = task.id;
    row.own = true;
    row.arguments = arguments;
    row.future = task.future;
    if (const int existing = rowOf(task.id); existing >= 0) {
        // The poll saw the engine's record first: keep it, add what only we know.
        Row &r = m_rows[existing];
        r.own = true;
        r.arguments = arguments;
        r.future = task.future;
    } else {
        ++m_counts[size_t(TaskState::Queued)];
        ++m_seen;
        QList<Row> rows;
        rows.append(std::move(row));
        appendRows(std::move(rows));
    }
    m_openOwn.append(task.id);
}

void FutureModel::addRemoteOutcome(const ManagerView &view, quint64 id, const QString &taskName,
                                   const QVariantList &arguments, const QString &result,
                                   const QString &error)
{
    const quint64 uid = m_watcher->uidOf(view, id);
    int at = rowOf(uid);
    if (at < 0) { // the answer came before the record: what the answer says is all there is
        Row row;
        row.record.id = id;
        row.record.taskName = taskName;
        row.record.state = TaskState::Queued;
        row.record.submittedAt = QDateTime::currentDateTimeUtc();
        row.namespaceId = view.namespaceId;
        row.key = view.key;
        row.uid = uid;
        ++m_counts[size_t(TaskState::Queued)];
        ++m_seen;
        QList<Row> rows;
        rows.append(std::move(row));
        appendRows(std::move(rows));
        at = rowOf(uid);
    }
    Row &row = m_rows[at];
    row.sentFromHere = true;
    row.arguments = arguments;
    row.result = error.isEmpty() ? result : QString();
    row.futureSettled = true;
    if (!isFinal(row.record.state)) {
        setState(row, error.isEmpty() ? TaskState::Finished : TaskState::Failed);
        row.record.finishedAt = QDateTime::currentDateTimeUtc();
    }
    if (row.record.error.isEmpty())
        row.record.error = error;
    QList<int> changed{at};
    announce(changed);
}

int FutureModel::cancel(const QList<quint64> &ids)
{
    int cancelled = 0;
    for (quint64 id : ids) {
        const int at = rowOf(id);
        if (at < 0)
            continue;
        Row &row = m_rows[at];
        if (const ManagerView *view = m_watcher->viewByKey(row.key); view && view->remote) {
            // In another process: ask it, as it would be asked to cancel any task of its own.
            if (row.lost || isFinal(row.record.state) || !view->hasPool)
                continue;
            view->remote->request({{QStringLiteral("op"), QStringLiteral("cancel")},
                                   {QStringLiteral("namespace"), view->namespaceId},
                                   {QStringLiteral("task"), qint64(row.record.id)}});
            ++cancelled;
            continue;
        }
        if (row.own) {
            if (row.future.isFinished() || row.future.isCanceled())
                continue;
            row.future.cancel(); // the engine drops it (queued) or applies the pool's cancel policy
            ++cancelled;
            continue;
        }
        // Submitted elsewhere: the monitor holds only the id, so ask the pool to cancel it.
        if (row.lost || isFinal(row.record.state) || !row.manager
            || !ProcessPoolManager::allInstances().contains(row.manager) || !row.manager->isRunning())
            continue;
        try {
            cancelled += row.manager->getPool()->cancelTask(row.record.id) ? 1 : 0;
        } catch (const PoolNotRunning &) {
            // stopped in the meantime: the stop settles the task
        }
    }
    return cancelled;
}

bool FutureModel::settleFromFuture(Row &row)
{
    if (!row.own || row.futureSettled || !row.future.isFinished())
        return false;
    row.futureSettled = true;
    // The future has finished: none of these calls waits.
    if (row.future.resultCount() > 0) {
        row.result = describeValue(row.future.result(), 0);
        if (!isFinal(row.record.state))
            setState(row, TaskState::Finished);
        return true;
    }
    QString error;
    try {
        row.future.waitForFinished(); // rethrows the task's failure
    } catch (const std::exception &e) {
        error = QString::fromUtf8(e.what());
    } catch (...) {
        error = QStringLiteral("unknown exception");
    }
    if (!isFinal(row.record.state)) {
        setState(row, error.isEmpty() ? TaskState::Cancelled : TaskState::Failed);
        row.record.finishedAt = QDateTime::currentDateTimeUtc();
    }
    if (row.record.error.isEmpty())
        row.record.error = error;
    return true;
}

void FutureModel::merge(const RecordUpdate &update, QList<int> &changed, QList<Row> &added)
{
    const TaskRecord &record = update.record;
    const int at = rowOf(update.uid);
    if (at >= m_rows.size())
        return; // added earlier in this poll
    if (at < 0) {
        Row row;
        row.record = record;
        row.namespaceId = update.namespaceId;
        row.manager = update.manager;
        row.key = update.key;
        row.uid = update.uid;
        ++m_counts[size_t(record.state)];
        ++m_seen;
        if (isFinal(record.state))
            ++m_finishedRows;
        else
            m_openOthers.append(update.uid);
        m_rowOfId.insert(update.uid, int(m_rows.size() + added.size()));
        added.append(std::move(row));
        return;
    }
    Row &row = m_rows[at];
    if (row.lost)
        setLost(row, false); // its record turned up after all
    if (isFinal(row.record.state) && !isFinal(record.state))
        return; // settled from the future already; the engine's record is behind
    const TaskState state = record.state;
    const QString keepError = row.record.error;
    const TaskState old = row.record.state;
    row.record = record;
    row.record.state = old; // counted through setState()
    setState(row, state);
    if (row.record.error.isEmpty())
        row.record.error = keepError;
    if (row.namespaceId.isEmpty())
        row.namespaceId = update.namespaceId;
    changed.append(at);
}

void FutureModel::setLost(Row &row, bool lost)
{
    if (row.lost == lost)
        return;
    row.lost = lost;
    const int sign = lost ? 1 : -1;
    m_lost += quint64(sign);
    m_counts[size_t(row.record.state)] -= quint64(sign);
    if (!isFinal(row.record.state))
        m_finishedRows += sign;
}

void FutureModel::reconcileOthers(QList<int> &changed)
{
    // Tasks submitted elsewhere are followed through their records only. A pool that finishes
    // more tasks between two polls than it keeps (PoolOptions::taskHistory) drops some records
    // before the monitor sees them end; a stopped pool drops them all. Such rows would stay
    // "running" for ever: compare with what the engine still holds.
    QHash<quintptr, qint64> open;
    QList<quint64> stillOpen;
    for (quint64 id : std::as_const(m_openOthers)) {
        const int at = rowOf(id);
        if (at < 0 || at >= m_rows.size() || isFinal(m_rows.at(at).record.state) || m_rows.at(at).lost)
            continue;
        stillOpen.append(id);
        ++open[m_rows.at(at).key];
    }
    m_openOthers = std::move(stillOpen);
    for (auto it = open.cbegin(); it != open.cend(); ++it) {
        const ManagerView *view = m_watcher->viewByKey(it.key());
        const ProcessPool *pool = nullptr;
        if (view && view->remote && view->remote->status() == RemoteProcess::Status::Attached) {
            continue; // its records come in deltas; a pool that changes faster is shown, not replayed
        } else if (view && view->remote) {
            // The process is gone: what it ran ended without the monitor seeing how.
        } else if (view && view->hasPool) {
            if (view->stats.queued + view->stats.running >= it.value())
                continue; // as many tasks active as the monitor believes: nothing was missed
            try {
                pool = view->manager->getPool();
            } catch (const std::exception &) {
                continue;
            }
        } else if (view && (view->stopping || view->state != PoolState::Stopped
                            || m_watcher->isBeingStopped(view->manager))) {
            continue; // draining where the monitor cannot see: wait for the pool to go
        }
        for (quint64 id : std::as_const(m_openOthers)) {
            const int at = rowOf(id);
            Row &row = m_rows[at];
            if (row.key != it.key())
                continue;
            if (const std::optional<TaskRecord> record = pool ? pool->taskRecord(row.record.id) : std::nullopt) {
                if (isFinal(record->state)) { // an end the polls did not deliver: take it now
                    QList<Row> none;
                    merge(RecordUpdate{*record, row.namespaceId, row.manager, row.key, row.uid}, changed, none);
                }
                continue;
            }
            setLost(row, true);
            changed.append(at);
        }
    }
    m_openOthers.removeIf([this](quint64 id) {
        const Row &row = m_rows.at(rowOf(id));
        return row.lost || isFinal(row.record.state);
    });
}

void FutureModel::appendRows(QList<Row> &&rows)
{
    if (rows.isEmpty())
        return;
    const int first = int(m_rows.size());
    beginInsertRows({}, first, first + int(rows.size()) - 1);
    for (Row &row : rows) {
        m_rowOfId.insert(row.uid, int(m_rows.size()));
        noteVocabulary(row);
        m_rows.append(std::move(row));
    }
    endInsertRows();
}

void FutureModel::announce(QList<int> &changed)
{
    std::sort(changed.begin(), changed.end());
    changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
    forEachRunFromEnd(changed, [this](int first, int last) {
        Q_EMIT dataChanged(index(first, 0), index(last, ColumnCount - 1));
    });
}

void FutureModel::trimHistory()
{
    const int slack = m_historyLimit * historySlackPercent / 100;
    if (m_finishedRows <= m_historyLimit + slack)
        return;
    int excess = m_finishedRows - m_historyLimit;
    QList<int> drop; // the oldest finished rows
    for (int i = 0; i < m_rows.size() && excess > 0; ++i) {
        if (isFinal(m_rows.at(i).record.state) || m_rows.at(i).lost) {
            drop.append(i);
            --excess;
        }
    }
    forEachRunFromEnd(drop, [this](int first, int last) {
        beginRemoveRows({}, first, last);
        m_rows.remove(first, last - first + 1);
        endRemoveRows();
    });
    m_finishedRows -= int(drop.size());
    m_rowOfId.clear();
    m_rowOfId.reserve(m_rows.size());
    for (int i = 0; i < m_rows.size(); ++i)
        m_rowOfId.insert(m_rows.at(i).uid, i);
    m_openOwn.removeIf([this](quint64 id) { return !m_rowOfId.contains(id); });
    m_openOthers.removeIf([this](quint64 id) { return !m_rowOfId.contains(id); });
}

void FutureModel::update()
{
    QList<int> changed;
    QList<Row> added;
    for (const RecordUpdate &u : m_watcher->records())
        merge(u, changed, added);
    appendRows(std::move(added));

    // Own submissions: results (and outcomes of pools that cannot be read any more).
    QList<quint64> stillOpen;
    for (quint64 id : std::as_const(m_openOwn)) {
        const int at = rowOf(id);
        if (at < 0)
            continue;
        if (settleFromFuture(m_rows[at]))
            changed.append(at);
        else
            stillOpen.append(id);
    }
    m_openOwn = std::move(stillOpen);

    // Once a second: the list of other submitters' open tasks is rebuilt from the rows, and
    // the duration of running tasks, which grows without any record changing, is refreshed.
    const bool everySecond = !m_durationClock.isValid() || m_durationClock.elapsed() >= 1000;
    if (everySecond) {
        m_durationClock.start();
        QList<quint64> others;
        for (const Row &row : std::as_const(m_rows))
            if (!row.own && !row.lost && !isFinal(row.record.state))
                others.append(row.uid);
        m_openOthers = std::move(others);
    }
    reconcileOthers(changed);
    announce(changed);
    trimHistory();
    if (everySecond) {
        QList<int> running;
        for (int i = 0; i < m_rows.size(); ++i)
            if (m_rows.at(i).record.state == TaskState::Running && !m_rows.at(i).lost)
                running.append(i);
        forEachRunFromEnd(running, [this](int first, int last) {
            Q_EMIT dataChanged(index(first, Duration), index(last, Duration), {Qt::DisplayRole});
        });
    }
}

QString FutureModel::details(quint64 id) const
{
    const int at = rowOf(id);
    if (at < 0)
        return {};
    const Row &row = m_rows.at(at);
    const TaskRecord &r = row.record;
    QString text;
    auto line = [&text](const QString &label, const QString &value) {
        text += QStringLiteral("<tr><td style='color:#666;padding-right:10px'>%1</td><td>%2</td></tr>")
                    .arg(label, value.toHtmlEscaped());
    };
    text += QStringLiteral("<table>");
    line(QStringLiteral("Task"), QStringLiteral("%1 (id %2)").arg(r.taskName).arg(r.id));
    line(QStringLiteral("Namespace"), row.namespaceId);
    line(QStringLiteral("Task type"), r.taskType.isEmpty() ? QStringLiteral("(none)") : r.taskType);
    line(QStringLiteral("State"), row.lost ? QStringLiteral("ended (its pool no longer keeps how)")
                                           : stateName(r.state));
    if (r.workerPid > 0)
        line(QStringLiteral("Worker"), QString::number(r.workerPid));
    if (r.priority != 0)
        line(QStringLiteral("Priority"), QString::number(r.priority));
    if (r.maxAttempts > 1 || r.attempts > 1)
        line(QStringLiteral("Attempts"), QStringLiteral("%1 of at most %2").arg(r.attempts).arg(r.maxAttempts));
    line(QStringLiteral("Submitted"), timeText(r.submittedAt));
    if (r.startedAt.isValid())
        line(QStringLiteral("Started"), timeText(r.startedAt));
    if (r.finishedAt.isValid())
        line(QStringLiteral("Finished"), timeText(r.finishedAt));
    if (r.startedAt.isValid() && r.finishedAt.isValid())
        line(QStringLiteral("Duration"), style::formatDuration(r.startedAt.msecsTo(r.finishedAt)));
    if (r.progressMaximum > 0)
        line(QStringLiteral("Progress"), QStringLiteral("%1 / %2 %3").arg(r.progressValue).arg(r.progressMaximum).arg(r.progressText));
    if (row.own || row.sentFromHere) {
        QStringList args;
        for (const QVariant &a : row.arguments)
            args.append(describeValue(a, 0));
        line(QStringLiteral("Arguments"), args.isEmpty() ? QStringLiteral("()") : u'(' + args.join(QStringLiteral(", ")) + u')');
    } else {
        line(QStringLiteral("Arguments"), (row.key & 1) ? QStringLiteral("(submitted by the attached process)")
                                                          : QStringLiteral("(submitted elsewhere in this process)"));
    }
    text += QStringLiteral("</table>");
    if (r.state == TaskState::Finished)
        text += QStringLiteral("<p><b>Result</b></p><pre>%1</pre>")
                    .arg((row.own || row.sentFromHere
                              ? (row.futureSettled ? row.result : QStringLiteral("(arriving)"))
                              : QStringLiteral("(held by the submitter)")).toHtmlEscaped());
    if (!r.error.isEmpty())
        text += QStringLiteral("<p><b style='color:#c62828'>Error</b></p><pre style='white-space:pre-wrap'>%1</pre>")
                    .arg(r.error.toHtmlEscaped());
    for (qsizetype i = 0; i < r.attemptErrors.size(); ++i)
        text += QStringLiteral("<p><b>Attempt %1 failed</b> (retried)</p><pre style='white-space:pre-wrap'>%2</pre>")
                    .arg(i + 1)
                    .arg(r.attemptErrors.at(i).toHtmlEscaped());
    if (!r.output.isEmpty())
        text += QStringLiteral("<p><b>Output</b> (the last lines its worker printed while it ran it)</p>"
                               "<pre style='white-space:pre-wrap'>%1</pre>")
                    .arg(r.output.toHtmlEscaped());
    return text;
}

// ---- FutureFilterModel ---------------------------------------------------------------------

void FutureFilterModel::setStates(const QList<TaskState> &states)
{
    m_states = states;
    invalidateFilter();
}

void FutureFilterModel::setNamespace(const std::optional<QString> &namespaceId)
{
    m_namespace = namespaceId;
    invalidateFilter();
}

void FutureFilterModel::setTaskType(const std::optional<QString> &taskType)
{
    m_taskType = taskType;
    invalidateFilter();
}

void FutureFilterModel::setText(const QString &text)
{
    m_text = text;
    invalidateFilter();
}

bool FutureFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const
{
    const QModelIndex i = sourceModel()->index(sourceRow, 0, sourceParent);
    if (!m_states.isEmpty()
        && !m_states.contains(TaskState(i.data(FutureModel::StateRole).toInt())))
        return false;
    if (m_namespace && i.data(FutureModel::NamespaceRole).toString() != *m_namespace)
        return false;
    if (m_taskType && i.data(FutureModel::TaskTypeRole).toString() != *m_taskType)
        return false;
    if (!m_text.isEmpty()) {
        const QAbstractItemModel *m = sourceModel();
        const bool found = m->index(sourceRow, FutureModel::Task).data().toString().contains(m_text, Qt::CaseInsensitive)
                           || m->index(sourceRow, FutureModel::Outcome).data().toString().contains(m_text, Qt::CaseInsensitive)
                           || m->index(sourceRow, FutureModel::Id).data().toString() == m_text;
        if (!found)
            return false;
    }
    return true;
}

} // namespace procpool::monitor
