#include "procstat_p.h"

#include <QtCore/QFile>

#include <unistd.h>

namespace procpool::detail {

namespace {

QByteArray readSmallFile(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return file.read(4096);
}

} // namespace

qint64 ProcStatSampler::cpuTicks(const QByteArray &statLine)
{
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields are counted
    // from the last ')'. utime and stime are fields 14 and 15, i.e. the 12th and 13th after it.
    const qsizetype close = statLine.lastIndexOf(')');
    if (close < 0)
        return -1;
    const QList<QByteArray> fields = statLine.mid(close + 2).split(' ');
    if (fields.size() < 13)
        return -1;
    bool okUser = false, okSystem = false;
    const qint64 user = fields.at(11).toLongLong(&okUser);
    const qint64 system = fields.at(12).toLongLong(&okSystem);
    return okUser && okSystem ? user + system : -1;
}

qint64 ProcStatSampler::residentBytes(const QByteArray &statmLine, qint64 pageSize)
{
    const QList<QByteArray> fields = statmLine.trimmed().split(' ');
    if (fields.size() < 2)
        return -1;
    bool ok = false;
    const qint64 pages = fields.at(1).toLongLong(&ok);
    return ok ? pages * pageSize : -1;
}

qint64 ProcStatSampler::residentBytes(qint64 pid)
{
    static const qint64 pageSize = ::sysconf(_SC_PAGESIZE);
    return residentBytes(readSmallFile(QStringLiteral("/proc/%1/statm").arg(pid)), pageSize);
}

void ProcStatSampler::sample(const QList<qint64> &pids)
{
    if (!m_clock.isValid())
        m_clock.start();
    static const qint64 ticksPerSecond = ::sysconf(_SC_CLK_TCK);
    static const qint64 pageSize = ::sysconf(_SC_PAGESIZE);
    const qint64 now = m_clock.elapsed();
    QHash<qint64, Previous> previous;
    QHash<qint64, Usage> usage;
    for (qint64 pid : pids) {
        const QString dir = QStringLiteral("/proc/%1/").arg(pid);
        const qint64 ticks = cpuTicks(readSmallFile(dir + QStringLiteral("stat")));
        const qint64 resident = residentBytes(readSmallFile(dir + QStringLiteral("statm")), pageSize);
        Usage u;
        u.valid = ticks >= 0;
        u.residentBytes = std::max<qint64>(0, resident);
        const Previous before = m_previous.value(pid);
        if (ticks >= 0 && before.ticks >= 0 && now > before.atMs && ticksPerSecond > 0) {
            const double cpuSeconds = double(ticks - before.ticks) / double(ticksPerSecond);
            u.cpuPercent = std::max(0.0, 100.0 * cpuSeconds * 1000.0 / double(now - before.atMs));
        }
        usage.insert(pid, u);
        previous.insert(pid, Previous{ticks, now});
    }
    m_previous.swap(previous);
    m_usage.swap(usage);
}

} // namespace procpool::detail
