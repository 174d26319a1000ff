#include "inspectionencoding_p.h"

#include <procpool/task.h>

#include "tasktable_p.h"

#include <algorithm>

namespace procpool::detail {

namespace {

//! Milliseconds since the epoch, UTC; 0 for a time not reached.
qint64 epochMs(const QDateTime &t)
{
    return t.isValid() ? t.toMSecsSinceEpoch() : 0;
}

//! The memory and resource limits of \a o that are set, into \a m (absent: the default).
void encodeLimits(const PoolOptions &o, QCborMap &m)
{
    const PoolOptions defaults;
    if (o.softMemoryLimit != 0)
        m.insert(QStringLiteral("softMemoryLimit"), o.softMemoryLimit);
    if (o.hardMemoryLimit != 0)
        m.insert(QStringLiteral("hardMemoryLimit"), o.hardMemoryLimit);
    if (o.memoryCheckInterval != defaults.memoryCheckInterval)
        m.insert(QStringLiteral("memoryCheckIntervalMs"), qint64(o.memoryCheckInterval.count()));
    const PoolOptions::ResourceLimits &r = o.resourceLimits;
    if (r.addressSpace != 0)
        m.insert(QStringLiteral("addressSpace"), r.addressSpace);
    if (r.cpuSeconds != 0)
        m.insert(QStringLiteral("cpuSeconds"), r.cpuSeconds);
    if (r.niceValue != 0)
        m.insert(QStringLiteral("niceValue"), r.niceValue);
    if (!r.cpuAffinity.isEmpty()) {
        QCborArray cpus;
        for (int cpu : r.cpuAffinity)
            cpus.append(cpu);
        m.insert(QStringLiteral("cpuAffinity"), cpus);
    }
    const PoolOptions::ControlGroup &g = o.cgroup;
    if (g.memoryMax != 0)
        m.insert(QStringLiteral("cgroupMemoryMax"), g.memoryMax);
    if (g.cpuMax != 0)
        m.insert(QStringLiteral("cgroupCpuMax"), g.cpuMax);
    if (!g.parent.isEmpty())
        m.insert(QStringLiteral("cgroupParent"), g.parent);
}

//! PoolOptions::hosts: each host's name, slots and launcher ("local", "ssh", "slurm" or
//! "command", with its options or command), and its program when it names one.
QCborArray encodeHosts(const QList<WorkerHost> &hosts)
{
    QCborArray out;
    for (const WorkerHost &h : hosts) {
        QString launcher;
        switch (h.launcher.kind) {
        case Launcher::Kind::Local: launcher = QStringLiteral("local"); break;
        case Launcher::Kind::Ssh: launcher = QStringLiteral("ssh"); break;
        case Launcher::Kind::Slurm: launcher = QStringLiteral("slurm"); break;
        case Launcher::Kind::Command: launcher = QStringLiteral("command"); break;
        }
        QCborMap m{{QStringLiteral("host"), h.host},
                   {QStringLiteral("workers"), h.workers},
                   {QStringLiteral("launcher"), launcher}};
        if (!h.launcher.arguments.isEmpty())
            m.insert(QStringLiteral("options"), QCborArray::fromStringList(h.launcher.arguments));
        if (!h.program.isEmpty())
            m.insert(QStringLiteral("program"), h.program);
        out.append(m);
    }
    return out;
}

} // namespace

void encodeAttempts(const TaskRecord &r, int impliedAttempts, QCborMap &m)
{
    if (r.priority != 0)
        m.insert(QStringLiteral("priority"), r.priority);
    if (r.attempts != impliedAttempts)
        m.insert(QStringLiteral("attempts"), r.attempts);
    if (r.maxAttempts != 1)
        m.insert(QStringLiteral("maxAttempts"), r.maxAttempts);
    if (!r.attemptErrors.isEmpty())
        m.insert(QStringLiteral("attemptErrors"), QCborArray::fromStringList(r.attemptErrors));
    if (!r.output.isEmpty())
        m.insert(QStringLiteral("output"), r.output);
}

QString isoTime(const QDateTime &t)
{
    return t.isValid() ? t.toUTC().toString(Qt::ISODateWithMs) : QString();
}

QCborMap encodeOptions(const PoolOptions &o)
{
    QCborMap m{{QStringLiteral("maxWorkers"), o.maxWorkers},
               {QStringLiteral("taskType"), o.taskType},
               {QStringLiteral("daemon"), o.daemon},
               {QStringLiteral("processNamePrefix"), o.processNamePrefix},
               {QStringLiteral("prefetch"), o.prefetch},
               {QStringLiteral("minWorkers"), o.minWorkers},
               {QStringLiteral("maxQueued"), o.maxQueued},
               {QStringLiteral("maxTasksPerWorker"), o.maxTasksPerWorker},
               {QStringLiteral("taskTimeoutMs"), qint64(o.taskTimeout.count())},
               {QStringLiteral("idleTimeoutMs"), qint64(o.idleTimeout.count())},
               {QStringLiteral("sharedMemory"), o.sharedMemory},
               {QStringLiteral("program"), o.startContext.resolvedProgram()}};
    encodeLimits(o, m);
    if (!o.hosts.isEmpty())
        m.insert(QStringLiteral("hosts"), encodeHosts(o.hosts));
    return m;
}

QCborMap encodeStats(const PoolStats &s)
{
    return QCborMap{{QStringLiteral("queued"), s.queued},
                    {QStringLiteral("running"), s.running},
                    {QStringLiteral("submitted"), qint64(s.submitted)},
                    {QStringLiteral("completed"), qint64(s.completed)},
                    {QStringLiteral("failed"), qint64(s.failed)},
                    {QStringLiteral("cancelled"), qint64(s.cancelled)},
                    {QStringLiteral("workersStarted"), qint64(s.workersStarted)},
                    {QStringLiteral("workersCrashed"), qint64(s.workersCrashed)}};
}

QCborArray encodeWorkers(const QList<WorkerInfo> &workers)
{
    QCborArray out;
    for (const WorkerInfo &w : workers) {
        QCborMap m{{QStringLiteral("pid"), w.pid},
                   {QStringLiteral("name"), w.name},
                   {QStringLiteral("state"), stateName(w.state)},
                   {QStringLiteral("currentTask"), w.currentTask},
                   {QStringLiteral("tasksDone"), qint64(w.tasksDone)},
                   {QStringLiteral("tasksFailed"), qint64(w.tasksFailed)},
                   {QStringLiteral("startedAt"), isoTime(w.startedAt)},
                   {QStringLiteral("slot"), w.slot}};
        // Where it runs, for a worker of a host: absent on this machine.
        if (!w.host.isEmpty())
            m.insert(QStringLiteral("host"), w.host);
        if (!w.reportedHost.isEmpty())
            m.insert(QStringLiteral("reportedHost"), w.reportedHost);
        if (w.remotePid != 0)
            m.insert(QStringLiteral("remotePid"), w.remotePid);
        out.append(m);
    }
    return out;
}

QCborArray encodeRecords(const QList<TaskRecord> &records, quint64 *serial)
{
    QCborArray out;
    for (const TaskRecord &r : records) {
        *serial = std::max(*serial, r.serial);
        QCborMap m{{QStringLiteral("id"), qint64(r.id)},
                   {QStringLiteral("serial"), qint64(r.serial)},
                   {QStringLiteral("task"), r.taskName},
                   {QStringLiteral("state"), stateName(r.state)},
                   {QStringLiteral("workerPid"), r.workerPid},
                   {QStringLiteral("submittedMs"), epochMs(r.submittedAt)},
                   {QStringLiteral("startedMs"), epochMs(r.startedAt)},
                   {QStringLiteral("finishedMs"), epochMs(r.finishedAt)}};
        if (!r.taskType.isEmpty())
            m.insert(QStringLiteral("taskType"), r.taskType);
        if (r.progressMaximum > 0 || !r.progressText.isEmpty()) {
            m.insert(QStringLiteral("progress"), r.progressValue);
            m.insert(QStringLiteral("progressMaximum"), r.progressMaximum);
            m.insert(QStringLiteral("progressText"), r.progressText);
        }
        if (!r.error.isEmpty())
            m.insert(QStringLiteral("error"), r.error);
        // "attempts": left out when the start time implies it, 1 once started, 0 before.
        encodeAttempts(r, r.startedAt.isValid() ? 1 : 0, m);
        out.append(m);
    }
    return out;
}

QCborArray encodeCatalogue()
{
    QCborArray out;
    for (const QString &name : registeredTaskNames()) {
        const auto entry = findTask(name);
        if (!entry)
            continue;
        QCborArray arguments;
        for (const QMetaType &type : entry->argumentTypes)
            arguments.append(QString::fromLatin1(type.name()));
        out.append(QCborMap{{QStringLiteral("name"), name},
                            {QStringLiteral("description"), entry->description},
                            {QStringLiteral("arguments"), arguments},
                            {QStringLiteral("result"), entry->resultType.isValid()
                                                           ? QString::fromLatin1(entry->resultType.name())
                                                           : QStringLiteral("void")}});
    }
    return out;
}

QCborValue encodeValue(const QVariant &value)
{
    const QCborValue encoded = QCborValue::fromVariant(value);
    if (!encoded.isUndefined() || !value.isValid())
        return encoded;
    return QCborMap{{QStringLiteral("type"), QString::fromLatin1(value.metaType().name())},
                    {QStringLiteral("text"), value.toString()}};
}

} // namespace procpool::detail
