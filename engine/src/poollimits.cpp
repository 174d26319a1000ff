// procpool — the limits a pool puts on its workers: the resource limits set on each process
// as soon as it exists (PoolOptions::resourceLimits), and the memory limits the pool enforces
// by reading every worker's resident size (PoolOptions::softMemoryLimit, hardMemoryLimit).
#include "poolcore_p.h"

#include "procstat_p.h"

#include <QtCore/QDir>

#include <cerrno>
#include <sched.h>
#include <sys/resource.h>

namespace procpool::detail {

namespace {

QString mebibytes(qint64 bytes)
{
    return QString::number(double(bytes) / (1024 * 1024), 'f', 1);
}

//! The threads of process \a pid: nice values and CPU affinity belong to each thread.
QList<pid_t> threadsOf(qint64 pid)
{
    QList<pid_t> threads;
    const QStringList names =
        QDir(QStringLiteral("/proc/%1/task").arg(pid)).entryList(QDir::Dirs | QDir::NoDotAndDotDot);
    for (const QString &name : names)
        threads.append(pid_t(name.toInt()));
    if (threads.isEmpty())
        threads.append(pid_t(pid));
    return threads;
}

//! Lowers \a resource of \a pid to \a soft and \a hard, never above the hard limit it has.
bool lowerLimit(qint64 pid, int resource, rlim_t soft, rlim_t hard)
{
    struct rlimit old {};
    if (::prlimit(pid_t(pid), __rlimit_resource(resource), nullptr, &old) != 0)
        return false;
    const struct rlimit limit {std::min(soft, old.rlim_max), std::min(hard, old.rlim_max)};
    return ::prlimit(pid_t(pid), __rlimit_resource(resource), &limit, nullptr) == 0;
}

} // namespace

bool PoolCore::applyResourceLimits(PoolWorker *w, QString *error)
{
    const PoolOptions::ResourceLimits &limits = m_options.resourceLimits;
    auto failed = [&](const char *what) {
        *error = QStringLiteral("cannot set %1 on worker %2 (pid %3): %4")
                     .arg(QLatin1String(what), w->name)
                     .arg(w->pid)
                     .arg(QString::fromLocal8Bit(std::strerror(errno)));
        return false;
    };
    if (limits.addressSpace > 0) {
        const auto bytes = rlim_t(limits.addressSpace);
        // The hard limit too: task code cannot raise it again.
        if (!lowerLimit(w->pid, RLIMIT_AS, bytes, bytes))
            return failed("its address-space limit (RLIMIT_AS)");
    }
    if (limits.cpuSeconds > 0) {
        // SIGXCPU at the limit, SIGKILL a second later should the task ignore it.
        const auto seconds = rlim_t(limits.cpuSeconds);
        if (!lowerLimit(w->pid, RLIMIT_CPU, seconds, seconds + 1))
            return failed("its CPU-time limit (RLIMIT_CPU)");
    }
    if (limits.niceValue > 0 || !limits.cpuAffinity.isEmpty()) {
        cpu_set_t cpus;
        CPU_ZERO(&cpus);
        for (const int cpu : limits.cpuAffinity)
            CPU_SET(cpu, &cpus);
        for (const pid_t thread : threadsOf(w->pid)) {
            if (limits.niceValue > 0) {
                errno = 0;
                const int current = ::getpriority(PRIO_PROCESS, id_t(thread));
                // At least this nice: a worker that inherited a higher one keeps it.
                if (errno == 0 && current < limits.niceValue
                    && ::setpriority(PRIO_PROCESS, id_t(thread), limits.niceValue) != 0)
                    return failed("its nice value");
            }
            if (!limits.cpuAffinity.isEmpty() && ::sched_setaffinity(thread, sizeof cpus, &cpus) != 0)
                return failed("its CPU affinity");
        }
    }
    return true;
}

void PoolCore::checkMemory()
{
    const qint64 soft = m_options.softMemoryLimit;
    const qint64 hard = m_options.hardMemoryLimit;
    bool retired = false;
    for (const auto &worker : m_workers) {
        PoolWorker *w = worker.get();
        if (w->pid <= 0 || w->exited || w->killKind != PoolWorker::KillKind::None)
            continue;
        const qint64 resident = ProcStatSampler::residentBytes(w->pid);
        if (resident < 0)
            continue; // gone: its end is on its way
        w->residentBytes = resident;
        enter(w);
        const QString task = w->inFlight.empty()
                                 ? QString()
                                 : QStringLiteral(" while task '%1' ran").arg(w->inFlight.front()->taskName);
        if (hard > 0 && resident > hard) {
            killWorker(w, PoolWorker::KillKind::OutOfMemory,
                       QStringLiteral("worker %1 (pid %2) grew to %3 MiB resident%4, past the "
                                      "hard memory limit of %5 MiB; it was killed")
                           .arg(w->name)
                           .arg(w->pid)
                           .arg(mebibytes(resident), task, mebibytes(hard)));
            continue;
        }
        if (soft > 0 && resident > soft && !w->retiring && !w->shutdownSent) {
            Q_EMIT workerLog(w->pid, QStringLiteral("procpool: worker %1 (pid %2) is at %3 MiB "
                                                    "resident%4, over the soft memory limit of "
                                                    "%5 MiB; it takes no more tasks and exits "
                                                    "after those it holds")
                                         .arg(w->name)
                                         .arg(w->pid)
                                         .arg(mebibytes(resident), task, mebibytes(soft)));
            w->retiring = true;
            retireIfDone(w);
            retired = true;
        }
    }
    if (retired)
        postDispatch(); // its replacement may start now
}

} // namespace procpool::detail
