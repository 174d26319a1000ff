#include <procpool/errors.h>

#include <csignal>
#include <cstring>

namespace procpool {

namespace {
std::string utf8(const QString &s) { return s.toStdString(); }
QString quoted(const QString &s) { return s.isEmpty() ? QStringLiteral("none") : u'\'' + s + u'\''; }
} // namespace

ManagerNotFound::ManagerNotFound(const QString &namespaceId)
    : std::runtime_error(utf8(
        QStringLiteral("no ProcessPoolManager for namespace '%1' in this process; create it with "
                       "getOrCreateProcessManager(\"%1\") or call without strictlyGet")
            .arg(namespaceId)))
    , m_namespaceId(namespaceId)
{
}

UnknownTaskError::UnknownTaskError(const QString &taskType, const QString &poolTaskType)
    : std::runtime_error(utf8(
        QStringLiteral("task type %1 is not accepted by this pool, which only runs tasks of type "
                       "'%2'; submit with procpool::TaskType(\"%2\"), or use a pool started "
                       "with that task type (or with none)")
            .arg(quoted(taskType), poolTaskType)))
    , m_taskType(taskType)
    , m_poolTaskType(poolTaskType)
{
}

PoolNotRunning::PoolNotRunning(const QString &what)
    : std::runtime_error(utf8(what))
{
}

QueueFull::QueueFull(const QString &what, int maxQueued)
    : std::runtime_error(utf8(what)), m_maxQueued(maxQueued)
{
}

PoolAlreadyRunning::PoolAlreadyRunning(const QString &what)
    : std::runtime_error(utf8(what))
{
}

DuplicateTaskError::DuplicateTaskError(const QString &taskName)
    : std::logic_error(utf8(
        QStringLiteral("procpool: a task named '%1' is already registered; every "
                       "procpool::Task needs a unique name")
            .arg(taskName)))
{
}

TaskFailure::TaskFailure(const QString &message)
    : m_what(message.toUtf8())
    , m_message(message)
{
}

QStringList TaskFailure::attemptErrors() const
{
    return m_earlierAttempts + QStringList{m_message};
}

void TaskFailure::setEarlierAttempts(const QStringList &errors)
{
    m_earlierAttempts = errors;
    QString what = m_message;
    if (!errors.isEmpty()) {
        what += QStringLiteral(" (attempt %1 of %1; earlier attempts failed:").arg(errors.size() + 1);
        for (qsizetype i = 0; i < errors.size(); ++i)
            what += QStringLiteral(" %1. %2").arg(i + 1).arg(errors[i]);
        what += u')';
    }
    m_what = what.toUtf8();
}

TaskException::TaskException(const QString &taskName, const QString &typeName,
                             const QString &message)
    : TaskFailure(QStringLiteral("task '%1' threw %2: %3").arg(taskName, typeName, message))
    , m_taskName(taskName)
    , m_typeName(typeName)
    , m_originalMessage(message)
{
}

UnknownTaskName::UnknownTaskName(const QString &taskName, const QStringList &knownNames)
    : TaskFailure(QStringLiteral("no task named '%1' is registered in the worker program%2; "
                                 "declare a procpool::Task with that name in code linked into it")
                      .arg(taskName,
                           knownNames.isEmpty()
                               ? QString()
                               : QStringLiteral(" (known: %1)").arg(knownNames.join(u", "))))
    , m_taskName(taskName)
{
}

CodecError::CodecError(const QString &message)
    : TaskFailure(message)
{
}

static QString crashMessage(const QString &taskName, qint64 pid, int exitCode, int sig,
                            const QStringList &lines, const QString &host)
{
    QString m = host.isEmpty()
                    ? QStringLiteral("worker %1 running task '%2' ").arg(pid).arg(taskName)
                    : QStringLiteral("worker %1 on host %2 running task '%3' ").arg(pid).arg(host, taskName);
    if (sig != 0)
        m += QStringLiteral("was killed by %1").arg(signalName(sig));
    else
        m += QStringLiteral("exited with code %1").arg(exitCode);
    if (!lines.isEmpty())
        m += QStringLiteral("; its last output:\n  ") + lines.join(QStringLiteral("\n  "));
    return m;
}

WorkerCrashed::WorkerCrashed(const QString &taskName, qint64 pid, int exitCode, int sig,
                             const QStringList &lastStderrLines, const QString &host)
    : TaskFailure(crashMessage(taskName, pid, exitCode, sig, lastStderrLines, host))
    , m_taskName(taskName)
    , m_pid(pid)
    , m_exitCode(sig != 0 ? -1 : exitCode)
    , m_signal(sig)
    , m_stderr(lastStderrLines)
    , m_host(host)
{
}

QString WorkerCrashed::signalName() const
{
    return m_signal ? procpool::signalName(m_signal) : QString();
}

WorkerOutOfMemory::WorkerOutOfMemory(const QString &taskName, qint64 pid, qint64 residentBytes,
                                     qint64 limitBytes)
    : TaskFailure(QStringLiteral("task '%1' made its worker (pid %2) grow to %3 MiB resident, "
                                 "past the pool's hard memory limit of %4 MiB; the worker was "
                                 "killed and replaced. Raise PoolOptions::hardMemoryLimit if "
                                 "the task needs that much, or find what it keeps")
                      .arg(taskName)
                      .arg(pid)
                      .arg(double(residentBytes) / (1024 * 1024), 0, 'f', 1)
                      .arg(double(limitBytes) / (1024 * 1024), 0, 'f', 1))
    , m_taskName(taskName)
    , m_pid(pid)
    , m_residentBytes(residentBytes)
    , m_limitBytes(limitBytes)
{
}

WorkerOutOfMemory::WorkerOutOfMemory(const QString &taskName, qint64 pid, qint64 residentBytes,
                                     qint64 limitBytes, const QString &cgroup)
    : TaskFailure(QStringLiteral("task '%1' ran when the kernel's OOM killer ended its worker "
                                 "(pid %2): the pool's workers together reached the memory "
                                 "limit of %3 MiB of its cgroup %4 (its memory events count the "
                                 "kill). The worker was replaced. Raise "
                                 "PoolOptions::cgroup.memoryMax if the tasks need that much")
                      .arg(taskName)
                      .arg(pid)
                      .arg(double(limitBytes) / (1024 * 1024), 0, 'f', 1)
                      .arg(cgroup))
    , m_taskName(taskName)
    , m_pid(pid)
    , m_residentBytes(residentBytes)
    , m_limitBytes(limitBytes)
    , m_cgroup(cgroup)
{
}

TaskTimeout::TaskTimeout(const QString &taskName, qint64 timeoutMs, qint64 pid)
    : TaskFailure(QStringLiteral("task '%1' did not finish within its timeout of %2 ms; its "
                                 "worker (pid %3) was killed and replaced. Raise the timeout "
                                 "(PoolOptions::taskTimeout or SubmitOptions::timeout) if the "
                                 "task needs longer")
                      .arg(taskName)
                      .arg(timeoutMs)
                      .arg(pid))
    , m_taskName(taskName)
    , m_timeoutMs(timeoutMs)
    , m_pid(pid)
{
}

ProtocolError::ProtocolError(const QString &message) : TaskFailure(message) {}
PoolBroken::PoolBroken(const QString &message) : TaskFailure(message) {}
PoolStopped::PoolStopped(const QString &message) : TaskFailure(message) {}

TaskCancelled::TaskCancelled(const QString &taskName)
    : TaskFailure(QStringLiteral("task '%1' was cancelled before it gave a result (its future "
                                 "was cancelled)")
                      .arg(taskName))
    , m_taskName(taskName)
{
}

QString signalName(int sig)
{
    if (const char *abbrev = sigabbrev_np(sig))
        return QStringLiteral("SIG") + QString::fromLatin1(abbrev);
    return QStringLiteral("signal %1").arg(sig);
}

} // namespace procpool
