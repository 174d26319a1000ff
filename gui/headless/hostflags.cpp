#include "hostflags.h"

#include <procpool/hosts.h>

namespace procpool::headless {
namespace {

//! The message of an exception of procpool/hosts.h, without its "procpool: " (the line that
//! shows it starts with one).
QString engineMessage(const std::exception &e)
{
    return QString::fromUtf8(e.what()).remove(QStringLiteral("procpool: "));
}

} // namespace

void addHostFlag(PoolSpec &pool, const QString &flag, const QString &value)
{
    if (flag != u"launcher")
        pool.hostSources.append({flag, value});
    else if (pool.launcher)
        throw UsageError(QStringLiteral("--launcher is given twice for namespace '%1'; one "
                                        "launcher reaches all of a pool's hosts")
                             .arg(pool.namespaceId));
    else
        pool.launcher = value;
}

void applyHostFlags(PoolSpec &pool)
{
    Launcher launcher = Launcher::ssh();
    if (pool.launcher) {
        try {
            launcher = Launcher::parse(*pool.launcher);
        } catch (const std::invalid_argument &e) {
            throw UsageError(QStringLiteral("--launcher: %1").arg(engineMessage(e)));
        }
    }
    QList<WorkerHost> hosts;
    for (const auto &[flag, value] : std::as_const(pool.hostSources)) {
        try {
            if (flag == u"host")
                hosts.append(parseHost(value, launcher));
            else
                hosts += readHostfile(value, launcher);
        } catch (const std::invalid_argument &e) {
            throw UsageError(QStringLiteral("--%1: %2").arg(flag, engineMessage(e)));
        }
    }
    if (hosts.isEmpty() && pool.launcher) {
        if (launcher.kind != Launcher::Kind::Slurm)
            throw UsageError(QStringLiteral("--launcher %1 says how to reach the hosts of --host "
                                            "and --hostfile; give them too (--launcher slurm "
                                            "alone takes the nodes of the Slurm allocation)")
                                 .arg(*pool.launcher));
        try {
            hosts = slurmAllocationHosts(launcher);
        } catch (const std::exception &e) {
            throw UsageError(QStringLiteral("--launcher slurm: %1").arg(engineMessage(e)));
        }
    }
    if (hosts.isEmpty())
        return;
    pool.options.hosts = hosts;
    if (pool.workersGiven)
        throw UsageError(QStringLiteral("namespace '%1': with --host or --hostfile the pool has as "
                                        "many workers as its hosts have slots (%2); leave "
                                        "--workers out")
                             .arg(pool.namespaceId)
                             .arg(pool.options.hostSlots()));
    pool.options.maxWorkers = pool.options.hostSlots();
}

} // namespace procpool::headless
