// procpool tests — helpers shared by the fault, chaos and hygiene suites: process state from
// /proc, file gates that hold a task until the test lets it go, and a thread-safe record of
// the worker signals (which arrive on procpool's engine thread).
#pragma once

#include <procpool/processpoolmanager.h>

#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QList>
#include <QtCore/QMutex>
#include <QtCore/QObject>
#include <QtCore/QThread>

#include <unistd.h>

namespace faultsupport {

//! Upper bound of every wait in these suites: a hang guard, never a performance expectation.
inline constexpr int hangGuardMs = 180000;

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

//! workerStarted / workerExited of one manager, recorded from the engine thread.
class WorkerEvents : public QObject
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
    {
        connect(manager, &procpool::ProcessPoolManager::workerStarted, this,
                [this](qint64 pid, const QString &) {
                    QMutexLocker locker(&m_mutex);
                    m_started.append(pid);
                },
                Qt::DirectConnection);
        connect(manager, &procpool::ProcessPoolManager::workerExited, this,
                [this](qint64 pid, int exitCode, int signal, const QString &reason) {
                    QMutexLocker locker(&m_mutex);
                    m_exits.append({pid, exitCode, signal, reason});
                },
                Qt::DirectConnection);
    }

    QList<qint64> started() const
    {
        QMutexLocker locker(&m_mutex);
        return m_started;
    }
    QList<Exit> exits() const
    {
        QMutexLocker locker(&m_mutex);
        return m_exits;
    }
    qsizetype startedCount() const { return started().size(); }
    qsizetype exitCount() const { return exits().size(); }

private:
    mutable QMutex m_mutex;
    QList<qint64> m_started;
    QList<Exit> m_exits;
};

} // namespace faultsupport
