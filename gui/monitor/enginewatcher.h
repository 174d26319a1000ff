// procpool monitor — EngineWatcher: the one place the monitor reads the engine.
//
// A QTimer polls the registry, every pool's workers(), stats() and taskRecords(changedSince)
// at a bounded rate (10 Hz by default). The managers' signals (emitted on the engine thread)
// are connected directly to a mutex-protected buffer, never to the GUI event loop, so a
// chatty worker or a pool finishing tens of thousands of tasks a second costs the GUI one
// drain per tick. After each poll the watcher emits polled(); models read what changed.
//
// Other processes' pools join through their inspection sockets (attach()): each is a
// RemoteProcess, read at the same rate, and shown in the same views. A view's key tells the
// pools apart: a local manager's address, or an odd number for a remote namespace.
#pragma once

#include "remoteprocess.h"

#include <procpool/processpoolmanager.h>

#include <QtCore/QDateTime>
#include <QtCore/QElapsedTimer>
#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QObject>
#include <QtCore/QSet>
#include <QtCore/QTimer>

#include <memory>

class QThread;

namespace procpool::monitor {

//! What the monitor shows of one manager after a poll.
struct ManagerView
{
    ProcessPoolManager *manager = nullptr; //!< null for a remote namespace
    quintptr key = 0;                      //!< identity: quintptr(manager), or odd when remote
    RemoteProcess *remote = nullptr;       //!< the process a remote namespace lives in
    qint64 creatorPid = 0;
    QString namespaceId;   //!< empty for a manager outside the registry
    bool registered = false;
    PoolState state = PoolState::Stopped;
    bool stopping = false; //!< a stop was requested and the pool is still draining
    bool hasPool = false;  //!< the running pool could be read (stats, workers)
    PoolOptions options;
    PoolStats stats;
    QList<WorkerInfo> workers;
    QString description; //!< ProcessPoolManager::toString() at the time of the poll

    //! "stopped", "running", "stopping" or "broken", as the monitor shows it.
    QString displayState() const;
};

//! Something a manager announced on the engine thread, in arrival order.
struct EngineEvent
{
    enum class Kind { WorkerStarted, WorkerExited, WorkerLog, StateChanged };
    Kind kind = Kind::WorkerLog;
    ProcessPoolManager *manager = nullptr; //!< only for lookups; may be gone by now
    quintptr key = 0;                      //!< the ManagerView::key of its pool
    QString namespaceId;
    QDateTime time;
    qint64 pid = 0;
    int exitCode = 0;
    int signal = 0;
    PoolState state = PoolState::Stopped;
    QString text; //!< worker name, exit reason or log line
};

//! A task record that changed since the previous poll, with the namespace it belongs to.
struct RecordUpdate
{
    TaskRecord record;
    QString namespaceId;
    ProcessPoolManager *manager = nullptr;
    quintptr key = 0; //!< the ManagerView::key of its pool
    //! Unique among every attached process: the task id here, the process's slot above bit 48
    //! for a remote task (task ids are unique within one process only).
    quint64 uid = 0;
};

//! A process whose pools the monitor shows: this one, or one it attached to.
struct ProcessView
{
    qint64 pid = 0;
    RemoteProcess *remote = nullptr; //!< null for this process
};

//! Totals over every pool of the process, including pools that have been stopped since the
//! monitor started (exact: taken from PoolStats).
struct Totals
{
    int managers = 0;
    int runningPools = 0;
    int workers = 0;
    int busyWorkers = 0;
    qint64 queued = 0;
    qint64 running = 0;
    quint64 completed = 0;
    quint64 failed = 0;
    quint64 cancelled = 0;
    quint64 submitted = 0;
    quint64 workersCrashed = 0;
};

class EngineWatcher : public QObject
{
    Q_OBJECT
public:
    explicit EngineWatcher(QObject *parent = nullptr);
    ~EngineWatcher() override;

    //! Poll period; 100 ms (10 updates a second) by default.
    void setInterval(int ms);
    int interval() const { return m_timer.interval(); }
    //! Polls at once (also used by tests to avoid waiting for the timer).
    void pollNow();

    const QList<ManagerView> &managers() const { return m_managers; }
    const ManagerView *view(const ProcessPoolManager *manager) const;
    const ManagerView *viewByKey(quintptr key) const;

    //! Shows the pools of process \a pid, through its inspection socket; the attachment (an
    //! existing one too). Its status says when it cannot be reached.
    RemoteProcess *attach(qint64 pid);
    //! Stops showing process \a pid.
    void detach(qint64 pid);
    RemoteProcess *remote(qint64 pid) const;
    //! This process (when it has managers) and every attached one, in attach order.
    QList<ProcessView> processes() const;
    //! The uid of task \a id of the pool \a view (RecordUpdate::uid).
    quint64 uidOf(const ManagerView &view, quint64 id) const;
    //! Events and changed task records gathered by the last poll.
    const QList<EngineEvent> &events() const { return m_events; }
    const QList<RecordUpdate> &records() const { return m_records; }
    const Totals &totals() const { return m_totals; }
    //! Log lines dropped because workers printed faster than the monitor drains.
    quint64 droppedEvents() const { return m_droppedEvents; }

    //! Stops \a manager's pool without blocking the calling (GUI) thread: stop(true) or
    //! terminate() run on a helper thread, and the manager shows "stopping" meanwhile.
    enum class StopKind { Wait, NoWait, Terminate };
    void stopPool(ProcessPoolManager *manager, StopKind kind);
    //! True while a stopPool() helper thread works on \a manager.
    bool isBeingStopped(const ProcessPoolManager *manager) const;
    //! Kills every pool at once (used when the application quits).
    void terminateAll();

Q_SIGNALS:
    void polled();

private:
    struct Sink;
    struct PoolCursor
    {
        const ProcessPool *pool = nullptr;
        quint64 serial = 0;
        PoolState signalled = PoolState::Stopped;
        bool restarted = false; //!< a Running announcement arrived since the last read
        PoolStats lastStats; //!< of the pool last seen, added to the totals when it goes
    };
    struct Attached
    {
        RemoteProcess *process = nullptr;
        quint64 slot = 0;
        QHash<QString, quintptr> keys; //!< namespace → ManagerView::key
    };
    void watch(ProcessPoolManager *manager);
    void poll();
    void readPool(ManagerView &view, PoolCursor &cursor);
    void readRemote(Attached &attached, QList<ManagerView> &views);
    void reattach();

    QTimer m_timer;
    std::shared_ptr<Sink> m_sink;
    QSet<ProcessPoolManager *> m_watched;
    QHash<ProcessPoolManager *, PoolCursor> m_cursors;
    QHash<const ProcessPoolManager *, QThread *> m_stopThreads;
    QList<ManagerView> m_managers;
    QList<Attached> m_attached;
    quintptr m_nextRemoteKey = 1;
    quint64 m_nextSlot = 1;
    QElapsedTimer m_reattachClock;
    QList<EngineEvent> m_events;
    QList<RecordUpdate> m_records;
    Totals m_totals;
    PoolStats m_retired; //!< counters of pools that have stopped since the monitor started
    quint64 m_droppedEvents = 0;
    bool m_polling = false;
};

} // namespace procpool::monitor
