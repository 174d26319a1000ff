#include <procpool/processpool.h>

#include "poolcore_p.h"

#include <QtCore/QFile>

#include <algorithm>
#include <stdexcept>

#include <sched.h>

namespace procpool {

QString StartContext::resolvedProgram() const
{
    if (!program.isEmpty())
        return program;
    // Not QCoreApplication::applicationFilePath(): workers and plain programs have no app.
    return QFile::symLinkTarget(QStringLiteral("/proc/self/exe"));
}

void PoolOptions::validate() const
{
    auto invalid = [](const char *message) { throw std::invalid_argument(message); };
    const int workers = hosts.isEmpty() ? maxWorkers : hostSlots();
    if (hosts.isEmpty() && maxWorkers <= 0)
        invalid("procpool: maxWorkers must be at least 1");
    for (const WorkerHost &host : hosts) {
        if (host.workers < 1 || host.workers > 4096)
            invalid("procpool: each of hosts needs 1 to 4096 slots");
        if (host.launcher.kind == Launcher::Kind::Ssh && host.host.trimmed().isEmpty())
            invalid("procpool: an ssh host needs a host name (hosts[].host)");
        if (host.launcher.kind == Launcher::Kind::Command && host.launcher.arguments.isEmpty())
            invalid("procpool: a command launcher needs its command (hosts[].launcher.arguments)");
        if (!host.isLocal() && host.host.startsWith(u'-'))
            invalid("procpool: a host name cannot start with '-'");
    }
    if (prefetch < 0 && prefetch != automaticPrefetch)
        invalid("procpool: prefetch must not be negative (except automaticPrefetch, -1)");
    if (maxFrameSize < 1024)
        invalid("procpool: maxFrameSize must be at least 1024 bytes");
    if (handshakeTimeout.count() <= 0)
        invalid("procpool: handshakeTimeout must be positive");
    if (minWorkers < 0 || minWorkers > workers)
        invalid("procpool: minWorkers must be between 0 and maxWorkers (with hosts: their slots)");
    if (idleTimeout.count() < 0)
        invalid("procpool: idleTimeout must not be negative (0 keeps idle workers)");
    if (taskTimeout.count() < 0)
        invalid("procpool: taskTimeout must not be negative (0 means no limit)");
    if (maxTasksPerWorker < 0)
        invalid("procpool: maxTasksPerWorker must not be negative (0 means no limit)");
    if (taskHistory < 0)
        invalid("procpool: taskHistory must not be negative");
    if (maxQueued < 0)
        invalid("procpool: maxQueued must not be negative (0 means no bound)");
    if (!startContext.program.isNull() && startContext.program.trimmed().isEmpty())
        invalid("procpool: startContext.program is blank; leave it empty (null) to start this "
                "executable, or name a program");
    if (softMemoryLimit < 0 || hardMemoryLimit < 0)
        invalid("procpool: softMemoryLimit and hardMemoryLimit must not be negative (0 means "
                "no limit)");
    if (softMemoryLimit > 0 && hardMemoryLimit > 0 && softMemoryLimit > hardMemoryLimit)
        invalid("procpool: softMemoryLimit must not be above hardMemoryLimit");
    if (softTaskTimeout.count() < 0)
        invalid("procpool: softTaskTimeout must not be negative (0 means no limit)");
    if (cancelGrace.count() <= 0)
        invalid("procpool: cancelGrace must be positive");
    if (memoryCheckInterval.count() <= 0)
        invalid("procpool: memoryCheckInterval must be positive");
    if (resourceLimits.addressSpace < 0 || resourceLimits.cpuSeconds < 0)
        invalid("procpool: resourceLimits.addressSpace and cpuSeconds must not be negative (0 "
                "means inherited)");
    if (resourceLimits.niceValue < 0 || resourceLimits.niceValue > 19)
        invalid("procpool: resourceLimits.niceValue must be between 0 (inherited) and 19");
    for (const int cpu : resourceLimits.cpuAffinity) {
        if (cpu < 0 || cpu >= CPU_SETSIZE)
            invalid("procpool: resourceLimits.cpuAffinity names a CPU out of range");
    }
    if (cgroup.memoryMax < 0)
        invalid("procpool: cgroup.memoryMax must not be negative (0 means no limit)");
    // The kernel's CPU quota runs from 1 ms to a period of 100 ms times the CPUs asked for.
    if (!(cgroup.cpuMax == 0 || (cgroup.cpuMax >= 0.01 && cgroup.cpuMax <= 65536)))
        invalid("procpool: cgroup.cpuMax must be 0 (no limit) or between 0.01 and 65536 CPUs");
}

RetryPolicy RetryPolicy::attempts(int attempts)
{
    RetryPolicy policy;
    policy.maxAttempts = attempts;
    policy.onExceptions = QStringList{QStringLiteral("*")};
    return policy;
}

std::chrono::milliseconds RetryPolicy::delayBefore(int attempt) const
{
    double delay = double(initialDelay.count());
    for (int i = 2; i < attempt && delay < double(maxDelay.count()); ++i)
        delay *= backoffFactor;
    return std::chrono::milliseconds(qint64(std::min(delay, double(maxDelay.count()))));
}

void RetryPolicy::validate() const
{
    auto invalid = [](const char *message) { throw std::invalid_argument(message); };
    if (maxAttempts < 1)
        invalid("procpool: retry.maxAttempts must be at least 1 (1: no retry)");
    if (initialDelay.count() < 0 || maxDelay.count() < 0)
        invalid("procpool: retry delays must not be negative");
    if (!(backoffFactor >= 1.0))
        invalid("procpool: retry.backoffFactor must be at least 1");
    if (!(jitter >= 0.0 && jitter <= 1.0))
        invalid("procpool: retry.jitter must be between 0 and 1");
}

QString stateName(PoolState state)
{
    switch (state) {
    case PoolState::Stopped: return QStringLiteral("stopped");
    case PoolState::Running: return QStringLiteral("running");
    case PoolState::Stopping: return QStringLiteral("stopping");
    case PoolState::Broken: return QStringLiteral("broken");
    }
    return QString();
}

QString stateName(WorkerState state)
{
    switch (state) {
    case WorkerState::Starting: return QStringLiteral("starting");
    case WorkerState::Idle: return QStringLiteral("idle");
    case WorkerState::Busy: return QStringLiteral("busy");
    case WorkerState::Exiting: return QStringLiteral("exiting");
    case WorkerState::Crashed: return QStringLiteral("crashed");
    }
    return QString();
}

QString stateName(TaskState state)
{
    switch (state) {
    case TaskState::Queued: return QStringLiteral("queued");
    case TaskState::Running: return QStringLiteral("running");
    case TaskState::Finished: return QStringLiteral("finished");
    case TaskState::Failed: return QStringLiteral("failed");
    case TaskState::Cancelled: return QStringLiteral("cancelled");
    }
    return QString();
}

ProcessPool::ProcessPool(std::shared_ptr<detail::PoolCore> core)
    : m_core(std::move(core))
{
}

ProcessPool::~ProcessPool() = default;

PoolOptions ProcessPool::options() const { return m_core->options(); }

int ProcessPool::maxWorkers() const { return m_core->maxWorkers(); }

QString ProcessPool::processNamePrefix() const { return options().processNamePrefix; }

PoolState ProcessPool::state() const { return m_core->state(); }

QList<WorkerInfo> ProcessPool::workers() const { return m_core->workers(); }

PoolStats ProcessPool::stats() const { return m_core->stats(); }

QList<qint64> ProcessPool::workerPids() const
{
    QList<qint64> pids;
    for (const WorkerInfo &w : m_core->workers())
        pids.append(w.pid);
    return pids;
}

QStringList ProcessPool::cgroupDirectories() const { return m_core->controlGroupDirectories(); }

} // namespace procpool

namespace procpool {

QList<TaskRecord> ProcessPool::taskRecords(quint64 changedSince) const
{
    return m_core->taskRecords(changedSince);
}

std::optional<TaskRecord> ProcessPool::taskRecord(quint64 id) const
{
    return m_core->taskRecord(id);
}

bool ProcessPool::cancelTask(quint64 id)
{
    return m_core->cancelTask(id);
}

bool ProcessPool::killWorker(qint64 pid)
{
    return m_core->killWorkerByPid(pid);
}

} // namespace procpool
