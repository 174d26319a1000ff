// procpool — the ledger of a pool's tasks: the counters (PoolStats), a record per task
// (TaskRecord) and a snapshot per worker (WorkerInfo), for monitors that read them from any
// thread while the engine thread writes them.
//
// A task moves Queued → Running → finished (or back to Queued when its worker died before
// reading it), and the ledger moves its counts with it: each step is one call here, and a task
// is finished, and counted as finished, exactly once.
#pragma once

#include <procpool/options.h>

#include <QtCore/QElapsedTimer>
#include <QtCore/QList>
#include <QtCore/QString>

#include "adaptivemutex_p.h"

#include <deque>
#include <map>
#include <optional>
#include <vector>

namespace procpool::detail {

struct WorkItem;

//! A task record as the ledger keeps it: TaskRecord with its times in milliseconds since the
//! epoch (0: not yet), made into QDateTime only when a monitor asks (toRecord()).
struct StoredRecord
{
    quint64 serial = 0;
    QString taskName;
    QString taskType;
    TaskState state = TaskState::Queued;
    qint64 workerPid = 0;
    qint64 submittedMs = 0, startedMs = 0, finishedMs = 0;
    int progressValue = 0, progressMaximum = 0;
    QString progressText;
    QString error;
    int priority = 0;
    int attempts = 0;
    int maxAttempts = 1;
    QStringList attemptErrors;
    QString output; //!< the tail of its output, at most maxOutputChars
    //! The workers its earlier attempts ran on (workerPid is the last one's): the lines of an
    //! attempt may arrive after its answer, and after the task went back to the queue for
    //! another attempt. Empty, and free, for a task run once.
    QList<qint64> earlierWorkers;

    //! Most characters of a task's output its record keeps (the last ones, whole lines).
    static constexpr qsizetype maxOutputChars = 4096;

    TaskRecord toRecord(quint64 id) const;
};
using RecordMap = std::map<quint64, StoredRecord>;

class TaskLedger
{
public:
    //! \a history: finished records kept (PoolOptions::taskHistory); 0 keeps none.
    explicit TaskLedger(int history);

    // ---- a task's steps ----
    //! Any thread: counts a new task and records it as queued. Before it can be dispatched:
    //! the engine thread may run and finish it before the submitting thread goes on.
    void submitted(WorkItem &item);
    //! Any thread: takes back submitted(), for a submission refused after all.
    void withdrawn(WorkItem &item);
    //! Handed to a worker: running from now on. Under the pool's queue lock, so that stats()
    //! sees each task either queued or running.
    void handedOut(WorkItem *const *items, std::size_t count);
    void handedOut(WorkItem &item) { WorkItem *one = &item; handedOut(&one, 1); }
    //! Engine thread: back to the queue (its worker died before reading it). Under the queue
    //! lock, as handedOut().
    void requeued(WorkItem &item);
    //! Engine thread: its worker began to run it.
    void started(WorkItem &item, qint64 pid);
    //! Engine thread: its attempt failed with \a error and it waits to run again: no longer
    //! running, its record queued again and keeping the error.
    void retrying(WorkItem &item, const QString &error);
    //! Engine thread: task \a id printed \a line while it ran on worker \a pid: its record
    //! keeps a tail, if it still has a record and an attempt of it ran on that worker, or
    //! \a heldThere says that worker holds it now (it may begin a prefetched task before the
    //! pool has read the answer to the one before).
    void output(quint64 id, qint64 pid, const QString &line, bool heldThere);
    void progress(WorkItem &item, int value, int maximum, const QString &text);
    //! Finished as \a state (Finished, Failed or Cancelled), whether it ran or not; \a error
    //! for Failed. Once per task.
    void finished(WorkItem &item, TaskState state, const QString &error = QString());

    // ---- workers ----
    void workerStarted(const WorkerInfo &info);
    void workerChanged(const WorkerInfo &info);
    //! \a crashed: it ended unexpectedly after it had started (PoolStats::workersCrashed).
    void workerRemoved(qint64 pid, bool crashed);

    // ---- any thread ----
    //! The counters, with \a queued as the queue holds now.
    PoolStats stats(qint64 queued) const;
    QList<WorkerInfo> workers() const;
    bool hasWorker(qint64 pid) const;
    QList<TaskRecord> records(quint64 changedSince) const;
    //! Of the records changed since \a changedSince, the \a limit of the newest tasks, newest
    //! first; \a more says whether there were others. It stops once it has them, so that a
    //! frequent reader of a busy pool holds the lock the engine thread needs only briefly.
    QList<TaskRecord> latestRecords(quint64 changedSince, qsizetype limit, bool *more) const;
    std::optional<TaskRecord> record(quint64 id) const;
    //! Queued or running (the task exists and is not finished).
    bool isUnfinished(quint64 id) const;

private:
    //! Not running any more, and its record queued again (m_mutex held).
    void backToQueueLocked(WorkItem &item);
    qint64 nowMs() const { return m_clockStartMs + m_clock.nsecsElapsed() / 1000000; }

    const int m_history;
    //! Record times come from a monotonic clock started beside the wall clock, so they stay in
    //! order even if the system clock is set while the pool runs.
    QElapsedTimer m_clock;
    qint64 m_clockStartMs = 0;
    mutable AdaptiveMutex m_mutex;
    PoolStats m_stats;
    QList<WorkerInfo> m_workers;
    RecordMap m_records;                        //!< by id: submission order
    std::deque<RecordMap::iterator> m_finished; //!< finished records, oldest first (the cap)
    quint64 m_serial = 0;
};

} // namespace procpool::detail
