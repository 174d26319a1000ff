// procpool — where a pool's workers run: each worker's slot, the host of PoolOptions::hosts
// that slot belongs to, the launcher's command line that starts it there, and the hosts set
// aside after failed starts.
#include "poolcore_p.h"

#include "hosts_p.h"

#include <algorithm>
#include <limits>

namespace procpool::detail {

int PoolCore::freeSlot() const
{
    const qint64 now = m_clock.nsecsElapsed();
    for (int slot = 0;; ++slot) {
        if (std::any_of(m_workers.cbegin(), m_workers.cend(),
                        [slot](const auto &w) { return w->slot == slot; }))
            continue;
        if (m_options.hosts.isEmpty())
            return slot;
        const int host = hostOfSlot(slot);
        if (host < 0)
            return -1; // past the last host's slots: a leaving worker still holds one
        if (m_hostStates[size_t(host)].asideUntilNs <= now)
            return slot;
    }
}

int PoolCore::hostOfSlot(int slot) const
{
    for (qsizetype i = 0; i < m_options.hosts.size(); ++i) {
        slot -= m_options.hosts[i].workers;
        if (slot < 0)
            return int(i);
    }
    return -1;
}

void PoolCore::throughLauncher(const WorkerHost &host, ChildProcess::Setup *setup) const
{
    // Nothing of this machine's environment goes there but the worker's own variables.
    QList<std::pair<QByteArray, QByteArray>> environment = setup->workerEnvironment;
    if (m_options.daemon) // no parent-death signal reaches another host
        environment.append({QByteArrayLiteral("PROCPOOL_DAEMON"), QByteArrayLiteral("1")});
    const LaunchCommand command = launchCommand(host, m_program, setup->arguments, environment,
                                                setup->workingDirectory);
    setup->program = command.program;
    setup->arguments = command.arguments;
    setup->workingDirectory.clear();
    setup->environment = QProcessEnvironment::systemEnvironment(); // the launcher's: ssh's keys
    setup->workerEnvironment.clear();
    setup->launcher = true;
    setup->method = StartMethod::Exec;
}

void PoolCore::hostFailed(int index, const QString &reason)
{
    HostState &host = m_hostStates[size_t(index)];
    ++host.failures;
    host.lastError = reason;
    const int delayMs = std::min(hostFirstDelayMs << std::min(host.failures - 1, 16), hostMaxDelayMs);
    host.asideUntilNs = m_clock.nsecsElapsed() + qint64(delayMs) * 1000000;
    const WorkerHost &spec = m_options.hosts[index];
    if (std::all_of(m_hostStates.cbegin(), m_hostStates.cend(),
                    [](const HostState &h) { return h.failures >= RestartPolicy::maxFatal; })) {
        QStringList reasons;
        for (qsizetype i = 0; i < m_options.hosts.size(); ++i)
            reasons.append(QStringLiteral("%1: %2").arg(m_options.hosts[i].describe(),
                                                        m_hostStates[size_t(i)].lastError));
        becomeBroken(QStringLiteral("no host could start a worker, each failed %1 times in a row "
                                    "(%2)")
                         .arg(RestartPolicy::maxFatal)
                         .arg(reasons.join(QStringLiteral("; "))));
        return;
    }
    Q_EMIT workerLog(0, QStringLiteral("procpool: host %1 is set aside for %2 ms after %3 failed "
                                       "start(s) in a row; the other hosts go on. Last: %4")
                            .arg(spec.describe())
                            .arg(delayMs)
                            .arg(host.failures)
                            .arg(reason));
    armHostTimer();
}

void PoolCore::armHostTimer()
{
    const qint64 now = m_clock.nsecsElapsed();
    qint64 nextNs = std::numeric_limits<qint64>::max();
    for (const HostState &h : m_hostStates) {
        if (h.asideUntilNs > now)
            nextNs = std::min(nextNs, h.asideUntilNs);
    }
    if (nextNs != std::numeric_limits<qint64>::max())
        m_hostTimer.start(int((nextNs - now) / 1000000) + 1);
}

} // namespace procpool::detail
