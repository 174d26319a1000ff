// procpool — CPU and memory of processes, read from /proc: the pool's memory limits, and the
// monitor's worker table.
#pragma once

#include <procpool/procpool_export.h>

#include <QtCore/QElapsedTimer>
#include <QtCore/QHash>
#include <QtCore/QList>

namespace procpool::detail {

//! Samples /proc/PID/stat and /proc/PID/statm. CPU % is measured between two samples
//! (100 % = one core busy); the first sample of a process reports 0.
class PROCPOOL_ENGINE_EXPORT ProcStatSampler
{
public:
    struct Usage
    {
        double cpuPercent = 0;
        qint64 residentBytes = 0;
        bool valid = false; //!< the process could be read
    };

    //! Reads the processes \a pids and forgets every other one.
    void sample(const QList<qint64> &pids);
    Usage usage(qint64 pid) const { return m_usage.value(pid); }

    //! Parses the utime + stime fields (clock ticks) of a /proc/PID/stat line; -1 if malformed.
    static qint64 cpuTicks(const QByteArray &statLine);
    //! Parses the resident pages of a /proc/PID/statm line, in bytes; -1 if malformed.
    static qint64 residentBytes(const QByteArray &statmLine, qint64 pageSize);
    //! The resident size of process \a pid now, in bytes; -1 when it cannot be read.
    static qint64 residentBytes(qint64 pid);

private:
    struct Previous
    {
        qint64 ticks = -1;
        qint64 atMs = 0;
    };
    QElapsedTimer m_clock;
    QHash<qint64, Previous> m_previous;
    QHash<qint64, Usage> m_usage;
};

} // namespace procpool::detail
