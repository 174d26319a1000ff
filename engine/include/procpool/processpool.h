// procpool — ProcessPool: the running pool of a ProcessPoolManager (what getPool() returns).
#pragma once

#include <procpool/options.h>
#include <procpool/procpool_export.h>

#include <QtCore/QList>

#include <memory>
#include <optional>

namespace procpool {

namespace detail {
class PoolCore;
}

//! A running pool of worker processes. Obtained from ProcessPoolManager::getPool(); valid
//! until the manager's stop() returns. Every function is thread-safe and never blocks on a
//! worker: it reads a snapshot the engine thread keeps up to date.
class PROCPOOL_ENGINE_EXPORT ProcessPool
{
public:
    ~ProcessPool();
    ProcessPool(const ProcessPool &) = delete;
    ProcessPool &operator=(const ProcessPool &) = delete;

    //! The options the pool was started with; maxWorkers reflects resize().
    PoolOptions options() const;
    int maxWorkers() const;
    QString taskType() const { return options().taskType; }
    bool isDaemon() const { return options().daemon; }
    QString processNamePrefix() const;

    PoolState state() const;
    QList<WorkerInfo> workers() const;
    PoolStats stats() const;
    //! The pid of every worker process currently alive.
    QList<qint64> workerPids() const;
    //! The directories of the pool's control group (PoolOptions::cgroup): one with cgroup v2,
    //! the memory and the cpu one with cgroup v1. Empty without a group.
    QStringList cgroupDirectories() const;

    //! Records of the queued and running tasks and the last PoolOptions::taskHistory finished
    //! ones whose serial is greater than \a changedSince, in submission order. Pass the
    //! largest serial seen so far to get only what changed since (cheap to poll).
    QList<TaskRecord> taskRecords(quint64 changedSince = 0) const;
    //! The record of task \a id, if it is still kept.
    std::optional<TaskRecord> taskRecord(quint64 id) const;

    //! Sends SIGKILL to worker \a pid of this pool, as a crash would (its running task fails
    //! with WorkerCrashed, a replacement starts). Returns false when it is not this pool's.
    bool killWorker(qint64 pid);

    //! Cancels task \a id (a TaskRecord id) as QFuture::cancel() on its future would, for
    //! monitors that hold only the id: a queued task is dropped; a running one is handled by
    //! the pool's cancel policy. Returns false when the task is not queued or running.
    bool cancelTask(quint64 id);

private:
    friend class ProcessPoolManager;
    explicit ProcessPool(std::shared_ptr<detail::PoolCore> core);
    std::shared_ptr<detail::PoolCore> m_core;
};

} // namespace procpool
