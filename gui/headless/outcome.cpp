#include "outcome.h"

#include <procpool/errors.h>

#include <QtCore/QJsonArray>

#include <algorithm>

namespace procpool::headless {

QString errorType(const std::exception &e)
{
#define PROCPOOL_ERROR_TYPE(T)                                                                     \
    if (dynamic_cast<const T *>(&e))                                                               \
        return QStringLiteral(#T);
    PROCPOOL_ERROR_TYPE(UnknownTaskError)
    PROCPOOL_ERROR_TYPE(PoolNotRunning)
    PROCPOOL_ERROR_TYPE(TaskException)
    PROCPOOL_ERROR_TYPE(WorkerCrashed)
    PROCPOOL_ERROR_TYPE(WorkerOutOfMemory)
    PROCPOOL_ERROR_TYPE(TaskTimeout)
    PROCPOOL_ERROR_TYPE(UnknownTaskName)
    PROCPOOL_ERROR_TYPE(CodecError)
    PROCPOOL_ERROR_TYPE(ProtocolError)
    PROCPOOL_ERROR_TYPE(PoolBroken)
    PROCPOOL_ERROR_TYPE(PoolStopped)
    PROCPOOL_ERROR_TYPE(TaskFailure)
#undef PROCPOOL_ERROR_TYPE
    return QStringLiteral("std::exception");
}

SubmitOptions submitOptions(const Job &job)
{
    SubmitOptions options;
    options.taskType = job.taskType;
    options.roomTimeout = std::chrono::milliseconds(0);
    options.priority = job.priority;
    if (job.attempts > 1)
        options.retry = RetryPolicy::attempts(job.attempts);
    return options;
}

void takeFailure(Outcome &o, const std::exception &e)
{
    o.state = Outcome::State::Failed;
    o.error = QString::fromUtf8(e.what());
    o.errorType = errorType(e);
    if (const auto *crash = dynamic_cast<const WorkerCrashed *>(&e))
        o.workerPid = crash->pid();
    else if (const auto *memory = dynamic_cast<const WorkerOutOfMemory *>(&e))
        o.workerPid = memory->pid();
    if (const auto *failure = dynamic_cast<const TaskFailure *>(&e)) {
        // The record, read next, says the same when the pool keeps one.
        o.attempts = failure->attempts();
        o.attemptErrors = failure->attemptErrors();
        if (!o.attemptErrors.isEmpty())
            o.attemptErrors.removeLast(); // this attempt's own: the error itself
    }
}

void takeRecord(Outcome &o, const TaskRecord &r)
{
    if (r.workerPid != 0)
        o.workerPid = r.workerPid;
    if (r.startedAt.isValid() && r.finishedAt.isValid())
        o.durationMs = r.startedAt.msecsTo(r.finishedAt);
    o.priority = r.priority;
    o.attempts = std::max(o.attempts, r.attempts);
    o.maxAttempts = r.maxAttempts;
    if (!r.attemptErrors.isEmpty())
        o.attemptErrors = r.attemptErrors;
    o.output = r.output;
}

QStringList attemptDetails(const Outcome &o)
{
    QStringList details;
    if (o.maxAttempts > 1 && o.attempts > 0)
        details.append(QStringLiteral("attempt %1 of %2").arg(o.attempts).arg(o.maxAttempts));
    if (o.priority != 0)
        details.append(QStringLiteral("priority %1").arg(o.priority));
    return details;
}

void addAttemptFields(QJsonObject &json, const Outcome &o)
{
    if (o.priority != 0)
        json.insert(QStringLiteral("priority"), o.priority);
    if (o.attempts > 1 || o.maxAttempts > 1) {
        json.insert(QStringLiteral("attempts"), o.attempts);
        json.insert(QStringLiteral("max_attempts"), o.maxAttempts);
    }
    if (!o.attemptErrors.isEmpty())
        json.insert(QStringLiteral("attempt_errors"), QJsonArray::fromStringList(o.attemptErrors));
    if (!o.output.isEmpty())
        json.insert(QStringLiteral("output"), o.output);
}

void addLimitFields(QJsonObject &json, const PoolOptions &o,
                    const QList<limittext::EnvironmentEntry> &environment)
{
    if (o.softMemoryLimit > 0)
        json.insert(QStringLiteral("soft_memory_limit"), o.softMemoryLimit);
    if (o.hardMemoryLimit > 0)
        json.insert(QStringLiteral("hard_memory_limit"), o.hardMemoryLimit);
    const PoolOptions::ResourceLimits &r = o.resourceLimits;
    if (r.niceValue > 0)
        json.insert(QStringLiteral("nice"), r.niceValue);
    if (!r.cpuAffinity.isEmpty()) {
        QJsonArray cpus;
        for (int cpu : r.cpuAffinity)
            cpus.append(cpu);
        json.insert(QStringLiteral("cpu_affinity"), cpus);
    }
    if (r.addressSpace > 0)
        json.insert(QStringLiteral("address_space_limit"), r.addressSpace);
    if (r.cpuSeconds > 0)
        json.insert(QStringLiteral("cpu_time_limit"), r.cpuSeconds);
    if (o.cgroup.memoryMax > 0)
        json.insert(QStringLiteral("pool_memory_limit"), o.cgroup.memoryMax);
    if (o.cgroup.cpuMax > 0)
        json.insert(QStringLiteral("pool_cpu_limit"), o.cgroup.cpuMax);
    if (!o.cgroup.parent.isEmpty())
        json.insert(QStringLiteral("cgroup_parent"), o.cgroup.parent);
    if (!environment.isEmpty()) {
        QJsonObject variables;
        for (const limittext::EnvironmentEntry &e : environment)
            variables.insert(e.name, e.value);
        json.insert(QStringLiteral("worker_environment"), variables);
    }
    if (o.cancelPolicy != PoolOptions::CancelPolicy::KillWorker)
        json.insert(QStringLiteral("cancel_policy"),
                    o.cancelPolicy == PoolOptions::CancelPolicy::Ask ? QStringLiteral("ask")
                                                                      : QStringLiteral("discard"));
}

namespace {

//! Bytes for a human, exactly: "512 MiB", "1536 MiB", "1000 bytes".
QString sizeText(qint64 bytes)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    QString unit = QStringLiteral("bytes");
    for (const char *u : units) {
        if (bytes < 1024 || bytes % 1024 != 0)
            break;
        bytes /= 1024;
        unit = QLatin1String(u);
    }
    return QStringLiteral("%1 %2").arg(bytes).arg(unit);
}

} // namespace

QStringList limitTexts(const PoolOptions &o, const QList<limittext::EnvironmentEntry> &environment)
{
    QStringList texts;
    if (o.softMemoryLimit > 0)
        texts.append(QStringLiteral("soft memory %1").arg(sizeText(o.softMemoryLimit)));
    if (o.hardMemoryLimit > 0)
        texts.append(QStringLiteral("hard memory %1").arg(sizeText(o.hardMemoryLimit)));
    const PoolOptions::ResourceLimits &r = o.resourceLimits;
    if (r.niceValue > 0)
        texts.append(QStringLiteral("nice %1").arg(r.niceValue));
    if (!r.cpuAffinity.isEmpty())
        texts.append(QStringLiteral("CPUs %1").arg(limittext::cpuListText(r.cpuAffinity)));
    if (r.addressSpace > 0)
        texts.append(QStringLiteral("address space %1").arg(sizeText(r.addressSpace)));
    if (r.cpuSeconds > 0)
        texts.append(QStringLiteral("CPU time %1 s").arg(r.cpuSeconds));
    if (o.cgroup.memoryMax > 0)
        texts.append(QStringLiteral("pool memory %1").arg(sizeText(o.cgroup.memoryMax)));
    if (o.cgroup.cpuMax > 0)
        texts.append(QStringLiteral("pool CPUs %1").arg(o.cgroup.cpuMax));
    if (!o.cgroup.parent.isEmpty())
        texts.append(QStringLiteral("cgroup parent %1").arg(o.cgroup.parent));
    for (const limittext::EnvironmentEntry &e : environment)
        texts.append(QStringLiteral("env %1").arg(e.text()));
    return texts;
}

} // namespace procpool::headless
