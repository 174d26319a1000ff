#include "taskledger_p.h"

#include "workitem_p.h"

#include <QtCore/QDateTime>
#include <QtCore/QMutexLocker>

#include <algorithm>

namespace procpool::detail {

TaskRecord StoredRecord::toRecord(quint64 id) const
{
    auto time = [](qint64 ms) {
        return ms ? QDateTime::fromMSecsSinceEpoch(ms, Qt::UTC) : QDateTime();
    };
    TaskRecord r;
    r.id = id;
    r.serial = serial;
    r.taskName = taskName;
    r.taskType = taskType;
    r.state = state;
    r.workerPid = workerPid;
    r.submittedAt = time(submittedMs);
    r.startedAt = time(startedMs);
    r.finishedAt = time(finishedMs);
    r.progressValue = progressValue;
    r.progressMaximum = progressMaximum;
    r.progressText = progressText;
    r.error = error;
    r.priority = priority;
    r.attempts = attempts;
    r.maxAttempts = maxAttempts;
    r.attemptErrors = attemptErrors;
    r.output = output;
    return r;
}

TaskLedger::TaskLedger(int history) : m_history(history)
{
    m_clock.start();
    m_clockStartMs = QDateTime::currentMSecsSinceEpoch();
}

void TaskLedger::submitted(WorkItem &item)
{
    RecordMap::node_type record;
    if (m_history > 0) {
        // The record's node is allocated here, outside the lock that the engine thread takes
        // for every task it starts and finishes.
        RecordMap one;
        StoredRecord &r = one[item.id];
        r.taskName = item.taskName;
        r.taskType = item.taskType;
        r.submittedMs = nowMs();
        r.priority = item.priority;
        r.maxAttempts = item.retry ? item.retry->maxAttempts : 1;
        record = one.extract(one.begin());
    }
    QMutexLocker locker(&m_mutex);
    ++m_stats.submitted;
    if (record) {
        record.mapped().serial = ++m_serial;
        // Ids grow, so the new record nearly always goes at the end.
        item.recordAt = m_records.insert(m_records.end(), std::move(record));
        item.record = &item.recordAt->second;
    }
}

void TaskLedger::withdrawn(WorkItem &item)
{
    QMutexLocker locker(&m_mutex);
    if (item.record)
        m_records.erase(item.recordAt);
    item.record = nullptr;
    --m_stats.submitted;
}

void TaskLedger::handedOut(WorkItem *const *items, std::size_t count)
{
    QMutexLocker locker(&m_mutex);
    for (std::size_t i = 0; i < count; ++i) {
        Q_ASSERT(!items[i]->running && !items[i]->finished);
        items[i]->running = true;
    }
    m_stats.running += qint64(count);
}

void TaskLedger::requeued(WorkItem &item)
{
    QMutexLocker locker(&m_mutex);
    Q_ASSERT(item.running && !item.finished);
    backToQueueLocked(item);
}

void TaskLedger::backToQueueLocked(WorkItem &item)
{
    if (std::exchange(item.running, false))
        --m_stats.running;
    if (StoredRecord *r = item.record) {
        r->state = TaskState::Queued;
        r->workerPid = 0;
        r->startedMs = 0;
        r->attempts = item.attempts;
        r->serial = ++m_serial;
    }
}

void TaskLedger::started(WorkItem &item, qint64 pid)
{
    if (!item.record)
        return;
    const qint64 now = nowMs();
    QMutexLocker locker(&m_mutex);
    StoredRecord *r = item.record;
    if (r->state == TaskState::Queued) {
        r->state = TaskState::Running;
        r->workerPid = pid;
        r->startedMs = now;
        r->attempts = item.attempts;
        r->serial = ++m_serial;
    }
}

void TaskLedger::retrying(WorkItem &item, const QString &error)
{
    QMutexLocker locker(&m_mutex);
    Q_ASSERT(!item.finished);
    if (StoredRecord *r = item.record) {
        r->attemptErrors.append(error);
        if (r->workerPid != 0 && !r->earlierWorkers.contains(r->workerPid))
            r->earlierWorkers.append(r->workerPid);
    }
    backToQueueLocked(item);
}

void TaskLedger::output(quint64 id, qint64 pid, const QString &line, bool heldThere)
{
    QMutexLocker locker(&m_mutex);
    const auto it = m_records.find(id);
    if (it == m_records.end()
        || (!heldThere && it->second.workerPid != pid && !it->second.earlierWorkers.contains(pid)))
        return;
    StoredRecord &r = it->second;
    r.output += line;
    r.output += u'\n';
    if (r.output.size() > StoredRecord::maxOutputChars) {
        // Whole lines where it can: cut after the first line break inside the excess.
        const qsizetype excess = r.output.size() - StoredRecord::maxOutputChars;
        const qsizetype nl = r.output.indexOf(u'\n', excess - 1);
        r.output.remove(0, nl >= 0 && nl + 1 < r.output.size() ? nl + 1 : excess);
    }
    r.serial = ++m_serial;
}

void TaskLedger::progress(WorkItem &item, int value, int maximum, const QString &text)
{
    if (!item.record)
        return;
    QMutexLocker locker(&m_mutex);
    StoredRecord *r = item.record;
    r->progressValue = value;
    r->progressMaximum = maximum;
    r->progressText = text;
    r->serial = ++m_serial;
}

void TaskLedger::finished(WorkItem &item, TaskState state, const QString &error)
{
    const qint64 now = nowMs();
    QMutexLocker locker(&m_mutex);
    Q_ASSERT(!item.finished);
    item.finished = true;
    if (std::exchange(item.running, false))
        --m_stats.running;
    switch (state) {
    case TaskState::Finished: ++m_stats.completed; break;
    case TaskState::Cancelled: ++m_stats.cancelled; break;
    default: ++m_stats.failed; break;
    }
    StoredRecord *r = item.record;
    if (!r)
        return;
    r->state = state;
    r->error = error;
    r->finishedMs = now;
    r->serial = ++m_serial;
    m_finished.push_back(item.recordAt);
    while (m_finished.size() > size_t(m_history)) {
        // Never this one: the cap is at least 1. The node goes with the task (one at a time:
        // the cap is fixed while the pool runs, so a finish pushes out at most one).
        item.expiredRecord = m_records.extract(m_finished.front());
        m_finished.pop_front();
    }
}

void TaskLedger::workerStarted(const WorkerInfo &info)
{
    QMutexLocker locker(&m_mutex);
    m_workers.append(info);
    ++m_stats.workersStarted;
}

void TaskLedger::workerChanged(const WorkerInfo &info)
{
    QMutexLocker locker(&m_mutex);
    for (WorkerInfo &known : m_workers) {
        if (known.pid == info.pid) {
            known = info;
            return;
        }
    }
}

void TaskLedger::workerRemoved(qint64 pid, bool crashed)
{
    QMutexLocker locker(&m_mutex);
    m_workers.removeIf([pid](const WorkerInfo &i) { return i.pid == pid; });
    if (crashed)
        ++m_stats.workersCrashed;
}

PoolStats TaskLedger::stats(qint64 queued) const
{
    QMutexLocker locker(&m_mutex);
    PoolStats s = m_stats;
    s.queued = queued;
    return s;
}

QList<WorkerInfo> TaskLedger::workers() const
{
    // A copy of each element, not of the list: the engine thread updates the list in place,
    // and a list shared with a caller's copy would be detached by whichever side writes first,
    // a hand-over that implicit sharing orders with a relaxed load only.
    QMutexLocker locker(&m_mutex);
    return QList<WorkerInfo>(m_workers.cbegin(), m_workers.cend());
}

bool TaskLedger::hasWorker(qint64 pid) const
{
    QMutexLocker locker(&m_mutex);
    return std::any_of(m_workers.cbegin(), m_workers.cend(),
                       [pid](const WorkerInfo &i) { return i.pid == pid; });
}

QList<TaskRecord> TaskLedger::records(quint64 changedSince) const
{
    QMutexLocker locker(&m_mutex);
    QList<TaskRecord> out;
    for (const auto &[id, r] : m_records)
        if (r.serial > changedSince)
            out.append(r.toRecord(id));
    return out;
}

QList<TaskRecord> TaskLedger::latestRecords(quint64 changedSince, qsizetype limit, bool *more) const
{
    QMutexLocker locker(&m_mutex);
    QList<TaskRecord> out;
    *more = false;
    // Newest first, and no further than needed: a busy pool changes mostly its newest tasks.
    for (auto it = m_records.crbegin(); it != m_records.crend(); ++it) {
        if (it->second.serial <= changedSince)
            continue;
        if (out.size() == limit) {
            *more = true;
            break;
        }
        out.append(it->second.toRecord(it->first));
    }
    return out;
}

std::optional<TaskRecord> TaskLedger::record(quint64 id) const
{
    QMutexLocker locker(&m_mutex);
    const auto it = m_records.find(id);
    if (it == m_records.end())
        return std::nullopt;
    return it->second.toRecord(id);
}

bool TaskLedger::isUnfinished(quint64 id) const
{
    QMutexLocker locker(&m_mutex);
    const auto it = m_records.find(id);
    return it != m_records.end()
           && (it->second.state == TaskState::Queued || it->second.state == TaskState::Running);
}

} // namespace procpool::detail
