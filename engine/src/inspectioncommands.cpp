#include "inspectioncommands_p.h"

#include <procpool/processpool.h>
#include <procpool/processpoolmanager.h>
#include <procpool/task.h>

#include "registryaccess_p.h"

#include <stdexcept>

namespace procpool::detail {

namespace {

//! The limits a start request gives, over the pool's last options \a o.
void applyLimits(const InspectionRequest::StartLimits &l, PoolOptions &o)
{
    if (l.softMemoryLimit)
        o.softMemoryLimit = *l.softMemoryLimit;
    if (l.hardMemoryLimit)
        o.hardMemoryLimit = *l.hardMemoryLimit;
    if (l.addressSpace)
        o.resourceLimits.addressSpace = *l.addressSpace;
    if (l.cpuSeconds)
        o.resourceLimits.cpuSeconds = int(*l.cpuSeconds);
    if (l.niceValue)
        o.resourceLimits.niceValue = int(*l.niceValue);
    if (l.cpuAffinity)
        o.resourceLimits.cpuAffinity = *l.cpuAffinity;
    if (l.cgroupMemoryMax)
        o.cgroup.memoryMax = *l.cgroupMemoryMax;
    if (l.cgroupCpuMax)
        o.cgroup.cpuMax = *l.cgroupCpuMax;
    if (l.cgroupParent)
        o.cgroup.parent = *l.cgroupParent;
}

} // namespace

std::optional<ProcessPoolManager::TrackedTask>
runInspectionCommand(const InspectionRequest &r, const std::optional<QList<WorkerHost>> &hosts)
{
    using Op = InspectionRequest::Op;
    ProcessPoolManager *m = RegistryAccess::find(r.namespaceId);
    if (r.op == Op::Start) {
        if (!m)
            m = getOrCreateProcessManager(r.namespaceId);
        PoolOptions options = m->options();
        if (hosts)
            options.hosts = *hosts;
        else if (!options.hosts.isEmpty() && r.workers != options.hostSlots())
            throw std::invalid_argument(
                QStringLiteral("namespace '%1' runs its workers on %2 host(s), %3 slots in all: "
                               "give 'hosts' (an empty array for this machine alone), or "
                               "'workers' %3")
                    .arg(r.namespaceId)
                    .arg(options.hosts.size())
                    .arg(options.hostSlots())
                    .toStdString());
        options.maxWorkers = int(r.workers);
        applyLimits(r.limits, options);
        m->start(options); // validates: a soft memory limit above the hard one is refused here
        return std::nullopt;
    }
    if (!m)
        throw std::invalid_argument(QStringLiteral("there is no namespace '%1' in this process")
                                        .arg(r.namespaceId).toStdString());
    switch (r.op) {
    case Op::Stop:
        m->requestStop();
        break;
    case Op::StopNow:
        if (ProcessPool *pool = m->getPool())
            for (const TaskRecord &t : pool->taskRecords())
                if (t.state == TaskState::Queued)
                    pool->cancelTask(t.id);
        m->requestStop();
        break;
    case Op::Terminate:
        m->terminate();
        break;
    case Op::Resize:
        m->resize(int(r.workers));
        break;
    case Op::Submit: {
        const QList<QMetaType> types = taskArgumentTypes(r.taskName);
        if (isTaskRegistered(r.taskName) && types.size() != r.arguments.size())
            throw std::invalid_argument(QStringLiteral("task '%1' takes %2 arguments, not %3")
                                            .arg(r.taskName).arg(types.size()).arg(r.arguments.size())
                                            .toStdString());
        QVariantList arguments;
        for (qsizetype i = 0; i < r.arguments.size(); ++i) {
            QVariant v = r.arguments.at(i).toVariant();
            if (i < types.size() && v.metaType() != types.at(i) && !v.convert(types.at(i)))
                throw std::invalid_argument(QStringLiteral("argument %1 of task '%2' must be a %3")
                                                .arg(i + 1).arg(r.taskName, QString::fromLatin1(types.at(i).name()))
                                                .toStdString());
            arguments.append(v);
        }
        SubmitOptions options;
        options.taskType = r.taskType;
        options.priority = int(r.priority);
        if (r.retries > 1)
            options.retry = RetryPolicy::attempts(int(r.retries));
        // Never wait for room in a bounded queue: this is the application's own thread.
        options.roomTimeout = std::chrono::milliseconds(0);
        return m->submitTracked(r.taskName, arguments, options);
    }
    default:
        break;
    }
    return std::nullopt;
}

} // namespace procpool::detail
