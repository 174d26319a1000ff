// procpool tests — helpers shared by the suites: process state from /proc, file gates that
// hold a task until the test lets it go, and thread-safe records of the signals that arrive on
// procpool's engine thread.
#pragma once

#include "testwait.h"

#include <procpool/processpoolmanager.h>

#include <QtCore/QAbstractEventDispatcher>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QList>
#include <QtCore/QMutex>
#include <QtCore/QObject>
#include <QtCore/QThread>

#include <memory>

#include <sys/syscall.h>
#include <unistd.h>

namespace faultsupport {

//! Built with ASan or TSan, whose shadow memory makes every process larger.
inline constexpr bool sanitized =
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
    true;
#else
    false;
#endif
#else
    false;
#endif

using procpool::tests::hangGuardMs;

inline QByteArray readFile(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

//! The state letter of /proc/PID/stat ('R', 'S', 'Z', ...); 0 when there is no such process.
inline char processState(qint64 pid)
{
    const QByteArray text = readFile(QStringLiteral("/proc/%1/stat").arg(pid));
    const qsizetype close = text.lastIndexOf(')'); // the command name may contain anything
    if (close < 0 || close + 2 >= text.size())
        return 0;
    return text.at(close + 2);
}

//! The parent pid of /proc/PID/stat; 0 when there is no such process.
inline qint64 parentPid(qint64 pid)
{
    const QByteArray text = readFile(QStringLiteral("/proc/%1/stat").arg(pid));
    const qsizetype close = text.lastIndexOf(')');
    if (close < 0)
        return 0;
    const QList<QByteArray> fields = text.mid(close + 2).split(' ');
    return fields.size() > 1 ? fields.at(1).toLongLong() : 0;
}

//! True while \a pid is a process that has not ended (zombies count as ended).
inline bool processAlive(qint64 pid)
{
    const char state = processState(pid);
    return state != 0 && state != 'Z' && state != 'X';
}

//! /proc/PID/comm: a worker's name (PREFIX-N, 15 bytes at most); empty when there is no such
//! process.
inline QString processComm(qint64 pid)
{
    return QString::fromUtf8(readFile(QStringLiteral("/proc/%1/comm").arg(pid))).trimmed();
}

//! Live processes (zombies aside) whose name starts with \a prefix.
inline QList<qint64> processesNamed(const QString &prefix)
{
    QList<qint64> pids;
    const QStringList entries = QDir(QStringLiteral("/proc")).entryList(QDir::Dirs);
    for (const QString &entry : entries) {
        bool ok = false;
        const qint64 pid = entry.toLongLong(&ok);
        if (ok && processComm(pid).startsWith(prefix) && processAlive(pid))
            pids.append(pid);
    }
    return pids;
}

//! Waits until \a pid has been seen asleep in nanosleep() or clock_nanosleep(); false if it
//! ends first or the wait times out. A worker runs its tasks on its main thread, the one
//! /proc/PID/syscall shows (its other thread waits in poll() for as long as its pool lives),
//! so for a worker given a task that sleeps, this tells that the task has started: the pool
//! counts a task as running once it is written to the worker's pipe, before the worker has
//! read it.
//! (Not a condition to poll with QTRY_VERIFY: a task that polls a gate is awake for a moment
//! between sleeps, and QTRY_VERIFY checks its condition once more at the end.)
inline bool waitUntilSleepingInTask(qint64 pid)
{
    QDeadlineTimer deadline(hangGuardMs);
    for (;;) {
        bool ok = false;
        const long call = readFile(QStringLiteral("/proc/%1/syscall").arg(pid)).split(' ').value(0).toLong(&ok);
        if (ok && (call == SYS_nanosleep || call == SYS_clock_nanosleep))
            return true;
        if (deadline.hasExpired() || !processAlive(pid))
            return false;
        QThread::msleep(1);
    }
}

//! The system call thread \a tid of this process is in (a SYS_ number); -1 while it runs or
//! when there is no such thread.
inline long threadSyscall(qint64 tid)
{
    bool ok = false;
    const long call = readFile(QStringLiteral("/proc/self/task/%1/syscall").arg(tid))
                          .split(' ')
                          .value(0)
                          .toLong(&ok);
    return ok ? call : -1;
}

//! Returns once procpool's engine thread \a engine has handled every event posted to it before
//! the call, and the events those posted in turn, two levels deep: a pool core that has stopped
//! posts its release, and the release posts the core's deletion. Three trips through its queue.
inline void drainEngineThread(QThread *engine)
{
    for (int trip = 0; trip < 3; ++trip)
        QMetaObject::invokeMethod(QAbstractEventDispatcher::instance(engine), [] {},
                                  Qt::BlockingQueuedConnection);
}

//! Children of this process, by state: every child when \a state is 0.
inline QList<qint64> childProcesses(char state = 0)
{
    QList<qint64> pids;
    const qint64 self = qint64(::getpid());
    const QStringList entries = QDir(QStringLiteral("/proc")).entryList(QDir::Dirs);
    for (const QString &entry : entries) {
        bool ok = false;
        const qint64 pid = entry.toLongLong(&ok);
        if (ok && parentPid(pid) == self && (state == 0 || processState(pid) == state))
            pids.append(pid);
    }
    return pids;
}

inline int entryCount(const char *dir)
{
    return int(QDir(QString::fromLatin1(dir)).entryList(QDir::AllEntries | QDir::NoDotAndDotDot).size());
}

//! Blocks the calling task until \a gate exists (0 when it appeared, -1 after the hang guard).
inline int waitForGate(const QString &gate)
{
    for (int waited = 0; waited < hangGuardMs; waited += 5) {
        if (QFile::exists(gate))
            return 0;
        QThread::msleep(5);
    }
    return -1;
}

inline bool touchFile(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::WriteOnly);
}

//! What one signal emitted on procpool's engine thread carried, mapped to a T per emission.
//! The slot shares its state with the recorder instead of pointing into the test: a signal
//! emitted after the test function returned (a pool stopped by the cleanup emits Stopping and
//! worker exits) or one still running while the recorder goes out of scope (disconnecting does
//! not wait for it) writes into memory that is still alive. No emission starts after the
//! recorder is gone.
template <typename T>
class SignalRecorder
{
public:
    template <typename Sender, typename Signal, typename Map>
    SignalRecorder(Sender *sender, Signal signal, Map map)
    {
        m_connection = QObject::connect(
            sender, signal, sender,
            [state = m_state, map](const auto &...args) {
                T value = map(args...);
                QMutexLocker locker(&state->mutex);
                state->values.append(std::move(value));
            },
            Qt::DirectConnection);
    }
    ~SignalRecorder()
    {
        QObject::disconnect(m_connection);
        // Orders the emissions that already ran before the state is freed here (Qt's own
        // bookkeeping of them is invisible to ThreadSanitizer); one still running holds its
        // own reference to the state and frees it itself.
        QMutexLocker locker(&m_state->mutex);
    }
    SignalRecorder(const SignalRecorder &) = delete;
    SignalRecorder &operator=(const SignalRecorder &) = delete;

    //! A copy of its own: a list sharing its data with the recorder's would be detached by
    //! whichever thread writes first, which Qt decides with a relaxed load (ThreadSanitizer
    //! reports that, rightly).
    QList<T> values() const
    {
        QMutexLocker locker(&m_state->mutex);
        return QList<T>(m_state->values.cbegin(), m_state->values.cend());
    }
    qsizetype count() const { return values().size(); }

private:
    struct State
    {
        QMutex mutex;
        QList<T> values;
    };
    std::shared_ptr<State> m_state = std::make_shared<State>();
    QMetaObject::Connection m_connection;
};

//! workerStarted / workerExited of one manager, recorded from the engine thread.
class WorkerEvents
{
public:
    struct Exit
    {
        qint64 pid;
        int exitCode;
        int signal;
        QString reason;
    };

    explicit WorkerEvents(procpool::ProcessPoolManager *manager)
        : m_started(manager, &procpool::ProcessPoolManager::workerStarted,
                    [](qint64 pid, const QString &) { return pid; })
        , m_exits(manager, &procpool::ProcessPoolManager::workerExited,
                  [](qint64 pid, int exitCode, int signal, const QString &reason) {
                      return Exit{pid, exitCode, signal, reason};
                  })
    {
    }

    QList<qint64> started() const { return m_started.values(); }
    QList<Exit> exits() const { return m_exits.values(); }
    qsizetype startedCount() const { return m_started.count(); }
    qsizetype exitCount() const { return m_exits.count(); }

private:
    SignalRecorder<qint64> m_started;
    SignalRecorder<Exit> m_exits;
};

} // namespace faultsupport
