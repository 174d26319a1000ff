// procpool — WorkItem: one submitted task, from submitTask() until its future finishes.
//
// The same item travels the whole way: queued in the parent (PoolCore's queue), in flight on
// a worker (PoolWorker::inFlight; the front runs, the rest are prefetched), and finished,
// then freed on the thread that allocated it where it can be (see PoolCore::dispatch()).
#pragma once

#include "taskledger_p.h"

#include <procpool/processpoolmanager.h>

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QString>
#include <QtCore/QStringList>

#include <memory>

namespace procpool::detail {

struct WorkItem
{
    quint64 id = 0;
    QString taskName;
    QString taskType;
    qint64 timeoutMs = 0;      //!< 0: no limit
    qint64 softTimeoutMs = 0;  //!< when it is asked to stop; 0: never
    qint64 roomTimeoutMs = -1; //!< how long to wait for room in a full queue; <0: no limit
    QByteArray frame; //!< the encoded Call (or MapCall) frame, built on the submitting thread
    QList<QByteArray> attachments; //!< its large byte arrays, sent beside it (shared, not copied)
    bool chunk = false; //!< a MapCall: answered by MapResult instead of Result
    int priority = 0;   //!< SubmitOptions::priority: the queue is ordered by it
    //! SubmitOptions::retry when it allows more than one attempt; null otherwise.
    std::shared_ptr<const RetryPolicy> retry;
    int attempts = 0;    //!< times a worker began to run it
    bool begun = false;  //!< this attempt began (is or was at the front of its worker)
    bool cancelSent = false; //!< its worker was sent a Cancel frame for it
    qint64 cancelAskedNs = 0; //!< when, or when it became the running task since
    QStringList attemptErrors; //!< the errors of its failed attempts, oldest first
    //! The last lines it printed while it ran (engine thread), for a crash report.
    QStringList output;
    qint64 sentNs = 0;     //!< when it was written to its worker (PoolCore's clock)
    qint64 expectedNs = 0; //!< how long it was expected to take then (0: not known)
    //! Where its first byte sits in its worker's input (WorkerInput::send()); -1 before it is
    //! sent.
    qint64 inputOffset = -1;
    //! Went back to the queue once already because its worker died before reading any of it:
    //! the next such death fails it, so a worker that always dies that way cannot keep a task
    //! going round for ever.
    bool requeuedUnread = false;
    std::unique_ptr<ResultSink> sink;

    // The ledger's (TaskLedger, under its lock).
    bool running = false; //!< counted as running (handed to a worker), not as queued
    bool finished = false;
    //! Its record, while it has one: kept until it finished.
    StoredRecord *record = nullptr;
    RecordMap::iterator recordAt; //!< where record sits in the ledger's records
    //! The oldest finished record, which this task's finish pushed out of the history; freed
    //! with the task, on the thread that allocated it.
    RecordMap::node_type expiredRecord;
};

} // namespace procpool::detail
