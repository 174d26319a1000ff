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

void addLimitFields(QJsonObject &json, const PoolOptions &o)
{
    if (o.softMemoryLimit > 0)
        json.insert(QStringLiteral("soft_memory_limit"), o.softMemoryLimit);
    if (o.hardMemoryLimit > 0)
        json.insert(QStringLiteral("hard_memory_limit"), o.hardMemoryLimit);
    if (o.cancelPolicy != PoolOptions::CancelPolicy::KillWorker)
        json.insert(QStringLiteral("cancel_policy"),
                    o.cancelPolicy == PoolOptions::CancelPolicy::Ask ? QStringLiteral("ask")
                                                                      : QStringLiteral("discard"));
}

} // namespace procpool::headless
