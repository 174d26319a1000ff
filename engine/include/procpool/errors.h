// procpool — errors.
//
// Two families, because they reach the caller in two different ways:
//
//  * Errors the caller causes synchronously (wrong task type, pool not started, manager not
//    found, duplicate task name) are thrown by the call itself, before anything is queued.
//    They derive from the standard exceptions so that plain C++ code can catch them.
//
//  * Failures that happen after submission (the task threw, the worker died, the task is
//    unknown to the worker program, the pool was stopped) fail the task's QFuture. They derive
//    from TaskFailure, a QException, so QFuture::result(), waitForFinished() and onFailed()
//    rethrow them with their type intact.
#pragma once

#include <procpool/procpool_export.h>

#include <QtCore/QException>
#include <QtCore/QString>
#include <QtCore/QStringList>

#include <stdexcept>

namespace procpool {

namespace detail {
class PoolCore;
} // namespace detail

// ---- thrown synchronously ---------------------------------------------------------------

//! getOrCreateProcessManager(id, strictlyGet = true) found no manager for \a id.
class PROCPOOL_ENGINE_EXPORT ManagerNotFound : public std::runtime_error
{
public:
    explicit ManagerNotFound(const QString &namespaceId);
    QString namespaceId() const { return m_namespaceId; }

private:
    QString m_namespaceId;
};

//! A submission named a task type the pool does not accept (or none, when the pool requires one).
class PROCPOOL_ENGINE_EXPORT UnknownTaskError : public std::runtime_error
{
public:
    UnknownTaskError(const QString &taskType, const QString &poolTaskType);
    //! The type the submission carried (empty: none).
    QString taskType() const { return m_taskType; }
    //! The only type the pool accepts.
    QString poolTaskType() const { return m_poolTaskType; }

private:
    QString m_taskType;
    QString m_poolTaskType;
};

//! submitTask() or getPool() on a manager whose pool is not running.
class PROCPOOL_ENGINE_EXPORT PoolNotRunning : public std::runtime_error
{
public:
    explicit PoolNotRunning(const QString &what);
};

//! A submission found the pool's queue full (PoolOptions::maxQueued) and no room came within
//! its SubmitOptions::roomTimeout.
class PROCPOOL_ENGINE_EXPORT QueueFull : public std::runtime_error
{
public:
    QueueFull(const QString &what, int maxQueued);
    int maxQueued() const { return m_maxQueued; }

private:
    int m_maxQueued;
};

//! start() on a manager whose pool is already running.
class PROCPOOL_ENGINE_EXPORT PoolAlreadyRunning : public std::runtime_error
{
public:
    explicit PoolAlreadyRunning(const QString &what);
};

//! Two procpool::Task objects were declared with the same name.
class PROCPOOL_ENGINE_EXPORT DuplicateTaskError : public std::logic_error
{
public:
    explicit DuplicateTaskError(const QString &taskName);
};

// ---- delivered through a failed QFuture --------------------------------------------------

//! Base of every failure a future can carry. what() is the full, human-readable message.
class PROCPOOL_ENGINE_EXPORT TaskFailure : public QException
{
public:
    explicit TaskFailure(const QString &message);
    const char *what() const noexcept override { return m_what.constData(); }
    QString message() const { return QString::fromUtf8(m_what); }
    //! With SubmitOptions::retry: the error of every attempt, oldest first, this one last;
    //! without retries, this one alone. what() names the earlier ones too.
    QStringList attemptErrors() const;
    //! How many attempts were made (1 without a retry).
    int attempts() const { return int(m_earlierAttempts.size()) + 1; }
    void raise() const override { throw *this; }
    TaskFailure *clone() const override { return new TaskFailure(*this); }

private:
    friend class detail::PoolCore;
    //! The errors of the attempts before this one; what() gains a summary of them.
    void setEarlierAttempts(const QStringList &errors);

    QByteArray m_what;
    QString m_message; //!< this attempt's own message
    QStringList m_earlierAttempts;
};

//! The task threw inside the worker. The worker lives on.
class PROCPOOL_ENGINE_EXPORT TaskException : public TaskFailure
{
public:
    TaskException(const QString &taskName, const QString &typeName, const QString &message);
    QString taskName() const { return m_taskName; }
    //! The demangled C++ type of the exception thrown in the worker, e.g. "std::out_of_range".
    QString typeName() const { return m_typeName; }
    //! Its what() text.
    QString originalMessage() const { return m_originalMessage; }
    void raise() const override { throw *this; }
    TaskException *clone() const override { return new TaskException(*this); }

private:
    QString m_taskName, m_typeName, m_originalMessage;
};

//! No task of this name is registered (in this program, or in the pool's worker program).
class PROCPOOL_ENGINE_EXPORT UnknownTaskName : public TaskFailure
{
public:
    UnknownTaskName(const QString &taskName, const QStringList &knownNames);
    QString taskName() const { return m_taskName; }
    void raise() const override { throw *this; }
    UnknownTaskName *clone() const override { return new UnknownTaskName(*this); }

private:
    QString m_taskName;
};

//! An argument or result could not be converted (wrong type, out of range, wrong arity).
class PROCPOOL_ENGINE_EXPORT CodecError : public TaskFailure
{
public:
    explicit CodecError(const QString &message);
    void raise() const override { throw *this; }
    CodecError *clone() const override { return new CodecError(*this); }
};

//! The worker running the task died: a signal, an exit, or a kill from outside.
class PROCPOOL_ENGINE_EXPORT WorkerCrashed : public TaskFailure
{
public:
    //! \a host: where it ran, for a worker on another host (PoolOptions::hosts); \a pid is
    //! then its pid there when its hello gave one, else its launcher's here.
    WorkerCrashed(const QString &taskName, qint64 pid, int exitCode, int signal,
                  const QStringList &lastStderrLines, const QString &host = QString());
    QString taskName() const { return m_taskName; }
    qint64 pid() const { return m_pid; }
    //! The exit code when the worker exited, -1 when a signal ended it.
    int exitCode() const { return m_exitCode; }
    //! The signal that ended the worker, 0 when it exited.
    int signal() const { return m_signal; }
    //! "SIGSEGV", "SIGKILL", ... or an empty string when the worker exited.
    QString signalName() const;
    QStringList lastStderrLines() const { return m_stderr; }
    //! The host it ran on; empty on this machine.
    QString host() const { return m_host; }
    void raise() const override { throw *this; }
    WorkerCrashed *clone() const override { return new WorkerCrashed(*this); }

private:
    QString m_taskName;
    qint64 m_pid;
    int m_exitCode;
    int m_signal;
    QStringList m_stderr;
    QString m_host;
};

//! The worker ran out of the memory it was given while it ran the task, and was replaced:
//! its resident size went past PoolOptions::hardMemoryLimit and the pool killed it, or the
//! pool's workers together reached PoolOptions::cgroup.memoryMax and the kernel's OOM killer
//! ended it (cgroup() then names the group).
class PROCPOOL_ENGINE_EXPORT WorkerOutOfMemory : public TaskFailure
{
public:
    WorkerOutOfMemory(const QString &taskName, qint64 pid, qint64 residentBytes,
                      qint64 limitBytes);
    //! Ended by the kernel's OOM killer in control group \a cgroup (a directory).
    WorkerOutOfMemory(const QString &taskName, qint64 pid, qint64 residentBytes,
                      qint64 limitBytes, const QString &cgroup);
    QString taskName() const { return m_taskName; }
    qint64 pid() const { return m_pid; }
    //! The worker's resident size read last, in bytes (0 when the pool never read it).
    qint64 residentBytes() const { return m_residentBytes; }
    //! The limit it went past: hardMemoryLimit, or the cgroup's memoryMax.
    qint64 limitBytes() const { return m_limitBytes; }
    //! The pool's control group whose limit the kernel enforced; empty for hardMemoryLimit.
    QString cgroup() const { return m_cgroup; }
    void raise() const override { throw *this; }
    WorkerOutOfMemory *clone() const override { return new WorkerOutOfMemory(*this); }

private:
    QString m_taskName;
    qint64 m_pid;
    qint64 m_residentBytes;
    qint64 m_limitBytes;
    QString m_cgroup;
};

//! The task ran longer than its timeout; its worker was killed and replaced.
class PROCPOOL_ENGINE_EXPORT TaskTimeout : public TaskFailure
{
public:
    TaskTimeout(const QString &taskName, qint64 timeoutMs, qint64 pid);
    QString taskName() const { return m_taskName; }
    qint64 timeoutMs() const { return m_timeoutMs; }
    qint64 pid() const { return m_pid; }
    void raise() const override { throw *this; }
    TaskTimeout *clone() const override { return new TaskTimeout(*this); }

private:
    QString m_taskName;
    qint64 m_timeoutMs;
    qint64 m_pid;
};

//! The worker broke the wire protocol (oversized, truncated or garbage frames) and was killed.
class PROCPOOL_ENGINE_EXPORT ProtocolError : public TaskFailure
{
public:
    explicit ProtocolError(const QString &message);
    void raise() const override { throw *this; }
    ProtocolError *clone() const override { return new ProtocolError(*this); }
};

//! The pool could not keep workers alive (program missing, handshake failed, ...).
class PROCPOOL_ENGINE_EXPORT PoolBroken : public TaskFailure
{
public:
    explicit PoolBroken(const QString &message);
    void raise() const override { throw *this; }
    PoolBroken *clone() const override { return new PoolBroken(*this); }
};

//! The pool was stopped before this task could finish (daemon pools, or stop(false) on one).
class PROCPOOL_ENGINE_EXPORT PoolStopped : public TaskFailure
{
public:
    explicit PoolStopped(const QString &message);
    void raise() const override { throw *this; }
    PoolStopped *clone() const override { return new PoolStopped(*this); }
};

//! The task's future was cancelled (QFuture::cancel(), ProcessPool::cancelTask()) before it
//! gave a result. A cancelled QFuture carries no exception; this one is thrown where results
//! are taken one by one in the items' order and a cancelled item has none to give
//! (MapStream::next()).
class PROCPOOL_ENGINE_EXPORT TaskCancelled : public TaskFailure
{
public:
    explicit TaskCancelled(const QString &taskName);
    QString taskName() const { return m_taskName; }
    void raise() const override { throw *this; }
    TaskCancelled *clone() const override { return new TaskCancelled(*this); }

private:
    QString m_taskName;
};

//! Returns "SIGSEGV" for SIGSEGV and so on; "signal N" for unnamed signals.
PROCPOOL_ENGINE_EXPORT QString signalName(int signal);

} // namespace procpool
