// procpool — what the inspection server says of a process's pools, as CBOR (docs/inspection.md).
#pragma once

#include <procpool/options.h>

#include <QtCore/QCborArray>
#include <QtCore/QCborMap>
#include <QtCore/QCborValue>
#include <QtCore/QDateTime>
#include <QtCore/QList>
#include <QtCore/QVariant>

namespace procpool::detail {

//! ISO 8601 with milliseconds, UTC; empty for an invalid time.
QString isoTime(const QDateTime &t);
QCborMap encodeOptions(const PoolOptions &o);
QCborMap encodeStats(const PoolStats &s);
QCborArray encodeWorkers(const QList<WorkerInfo> &workers);
//! The retry state and output of \a r that differ from a task submitted plainly and run once,
//! into \a m: priority, attempts (left out when \a impliedAttempts), maxAttempts,
//! attemptErrors, output.
void encodeAttempts(const TaskRecord &r, int impliedAttempts, QCborMap &m);
//! \a records as CBOR, and in \a serial the largest serial among them.
QCborArray encodeRecords(const QList<TaskRecord> &records, quint64 *serial);
//! Every task this process links: name, description, argument and result types.
QCborArray encodeCatalogue();
//! A value for the client: CBOR where Qt can make it, otherwise the value as text.
QCborValue encodeValue(const QVariant &value);

} // namespace procpool::detail
