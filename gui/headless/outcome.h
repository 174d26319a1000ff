// procpool headless mode — how one submission ended, and what a run reports of it beyond the
// result: the error's class, the attempts a retried task took, what it printed.
#pragma once

#include "jobs.h"
#include "limittext.h"

#include <procpool/options.h>

#include <QtCore/QJsonObject>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QVariant>

#include <exception>

namespace procpool::headless {

//! How one submission ended.
struct Outcome
{
    enum class State { Ok, Failed, Cancelled, Rejected } state = State::Ok;
    QVariant result;
    QString error;
    QString errorType; //!< the procpool exception class, e.g. "WorkerCrashed"
    qint64 workerPid = 0;
    qint64 durationMs = 0; //!< time on the worker; 0 when it never ran
    int priority = 0;
    int attempts = 0;    //!< times a worker began to run it; 0 when it never ran
    int maxAttempts = 1; //!< attempts allowed (--retries)
    QStringList attemptErrors; //!< the errors of the attempts before the last, oldest first
    QString output;            //!< the last lines its worker printed while it ran it
};

//! The procpool class of an error, e.g. "WorkerCrashed", for --json.
QString errorType(const std::exception &e);
//! The options \a job is submitted with. They never wait for room in a full queue: the event
//! loop must not block.
SubmitOptions submitOptions(const Job &job);
//! Takes the failure \a e of a task into \a o.
void takeFailure(Outcome &o, const std::exception &e);
//! Takes what the pool's record \a r says of a finished task into \a o.
void takeRecord(Outcome &o, const TaskRecord &r);
//! "attempt 2 of 3", "priority 5": what the text line of \a o adds to its details.
QStringList attemptDetails(const Outcome &o);
//! Adds priority, attempts, attempt errors and output to the --json object of \a o, each only
//! when it differs from a task run once with priority 0 that printed nothing.
void addAttemptFields(QJsonObject &json, const Outcome &o);
//! Adds the limits of \a o that are set (memory, resource and control-group limits), the
//! worker environment \a environment as written, and a cancel policy other than the default,
//! to a --list --json manager object.
void addLimitFields(QJsonObject &json, const PoolOptions &o,
                    const QList<limittext::EnvironmentEntry> &environment = {});
//! The same for a text line: "nice 10", "CPUs 0,2-3", "pool memory 8 GiB", …; empty when
//! nothing is set.
QStringList limitTexts(const PoolOptions &o, const QList<limittext::EnvironmentEntry> &environment = {});

} // namespace procpool::headless
