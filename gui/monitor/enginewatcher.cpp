#include "enginewatcher.h"

#include <procpool/inspection.h>

#include <QtCore/QDir>
#include <QtCore/QFileInfo>
#include <QtCore/QFile>
#include <QtCore/QMutex>
#include <QtCore/QScopedValueRollback>
#include <QtCore/QThread>

#include <csignal>
#include <exception>

namespace procpool::monitor {

namespace {

//! Adds the counters that only grow (not queued and running, which are levels).
void addCounters(PoolStats &into, const PoolStats &from)
{
    into.submitted += from.submitted;
    into.completed += from.completed;
    into.failed += from.failed;
    into.cancelled += from.cancelled;
    into.workersStarted += from.workersStarted;
    into.workersCrashed += from.workersCrashed;
}

//! The arguments process \a pid was started with, from /proc (empty once it is gone).
QStringList commandLine(qint64 pid)
{
    QFile file(QStringLiteral("/proc/%1/cmdline").arg(pid));
    if (!file.open(QIODevice::ReadOnly))
        return {};
    QStringList out;
    for (const QByteArray &part : file.readAll().split('\0'))
        out.append(QString::fromLocal8Bit(part));
    if (!out.isEmpty() && out.constLast().isEmpty())
        out.removeLast();
    return out;
}

//! Slots above bit 48 of a task uid; ids of one process stay below it.
constexpr int slotShift = 48;

} // namespace

QString ManagerView::displayState() const
{
    return stopping ? stateName(PoolState::Stopping) : stateName(state);
}

//! Receives the managers' signals on whatever thread emits them. Shared with the connections,
//! so that it outlives a watcher that is destroyed while an engine thread is inside a slot.
struct EngineWatcher::Sink
{
    //! Events kept between two polls; beyond it log lines are counted as dropped (a worker
    //! printing faster than anyone can read). Lifecycle events are always kept.
    static constexpr qsizetype maxPendingLogLines = 20000;

    QMutex mutex;
    bool closed = false;
    QList<EngineEvent> pending;
    qsizetype pendingLogLines = 0;
    quint64 dropped = 0;
    QSet<ProcessPoolManager *> watched;

    void push(EngineEvent &&event)
    {
        event.time = QDateTime::currentDateTime();
        QMutexLocker locker(&mutex);
        if (closed)
            return;
        if (event.kind == EngineEvent::Kind::WorkerLog) {
            if (pendingLogLines >= maxPendingLogLines) {
                ++dropped;
                return;
            }
            ++pendingLogLines;
        }
        pending.append(std::move(event));
    }

    static void watch(const std::shared_ptr<Sink> &sink, ProcessPoolManager *manager)
    {
        {
            QMutexLocker locker(&sink->mutex);
            if (sink->closed || sink->watched.contains(manager))
                return;
            sink->watched.insert(manager);
        }
        const QString ns = manager->namespaceId();
        // Runs on the engine thread: builds the event and appends it to the buffer.
        auto push = [sink, manager, ns](EngineEvent::Kind kind, qint64 pid, const QString &text,
                                        PoolState state = PoolState::Stopped, int exitCode = 0,
                                        int signal = 0) {
            EngineEvent e;
            e.kind = kind;
            e.manager = manager;
            e.key = quintptr(manager);
            e.namespaceId = ns;
            e.pid = pid;
            e.text = text;
            e.state = state;
            e.exitCode = exitCode;
            e.signal = signal;
            sink->push(std::move(e));
        };
        using Kind = EngineEvent::Kind;
        QObject::connect(
            manager, &ProcessPoolManager::stateChanged, manager,
            [push](PoolState state) { push(Kind::StateChanged, 0, QString(), state); },
            Qt::DirectConnection);
        QObject::connect(
            manager, &ProcessPoolManager::workerStarted, manager,
            [push](qint64 pid, const QString &name) { push(Kind::WorkerStarted, pid, name); },
            Qt::DirectConnection);
        QObject::connect(
            manager, &ProcessPoolManager::workerExited, manager,
            [push](qint64 pid, int exitCode, int signal, const QString &reason) {
                push(Kind::WorkerExited, pid, reason, PoolState::Stopped, exitCode, signal);
            },
            Qt::DirectConnection);
        QObject::connect(
            manager, &ProcessPoolManager::workerLog, manager,
            [push](qint64 pid, const QString &line) { push(Kind::WorkerLog, pid, line); },
            Qt::DirectConnection);
        QObject::connect(manager, &QObject::destroyed, [sink, manager] {
            QMutexLocker locker(&sink->mutex);
            sink->watched.remove(manager);
        });
    }
};

EngineWatcher::EngineWatcher(QObject *parent)
    : QObject(parent)
    , m_sink(std::make_shared<Sink>())
{
    m_timer.setInterval(100);
    connect(&m_timer, &QTimer::timeout, this, &EngineWatcher::poll);
    // A manager created on another thread is watched from that thread at once, so that not
    // even the first worker's start is missed; the poll picks up everything else.
    const std::shared_ptr<Sink> sink = m_sink;
    connect(
        ManagerRegistry::instance(), &ManagerRegistry::managerAdded, this,
        [sink](ProcessPoolManager *manager) { Sink::watch(sink, manager); },
        Qt::DirectConnection);
    m_timer.start();
    poll();
}

EngineWatcher::~EngineWatcher()
{
    {
        QMutexLocker locker(&m_sink->mutex);
        m_sink->closed = true;
        m_sink->pending.clear();
    }
    for (QThread *thread : std::as_const(m_stopThreads)) {
        // A stop(true) still draining: let it finish on its own rather than block here.
        thread->disconnect(this);
        thread->setParent(nullptr);
        connect(thread, &QThread::finished, thread, &QObject::deleteLater);
    }
}

void EngineWatcher::setInterval(int ms)
{
    m_timer.setInterval(std::max(20, ms));
}

void EngineWatcher::pollNow()
{
    poll();
}

const ManagerView *EngineWatcher::view(const ProcessPoolManager *manager) const
{
    for (const ManagerView &v : m_managers)
        if (v.manager == manager)
            return &v;
    return nullptr;
}

const ManagerView *EngineWatcher::viewByKey(quintptr key) const
{
    for (const ManagerView &v : m_managers)
        if (v.key == key)
            return &v;
    return nullptr;
}

RemoteProcess *EngineWatcher::attach(qint64 pid)
{
    if (RemoteProcess *existing = remote(pid))
        return existing;
    Attached attached;
    attached.process = new RemoteProcess(pid, interval(), this);
    attached.slot = m_nextSlot++;
    connect(attached.process, &RemoteProcess::statusChanged, this, &EngineWatcher::poll);
    m_attached.append(attached);
    poll();
    return attached.process;
}

void EngineWatcher::detach(qint64 pid)
{
    for (qsizetype i = 0; i < m_attached.size(); ++i) {
        if (m_attached.at(i).process->pid() != pid)
            continue;
        RemoteProcess *process = m_attached.takeAt(i).process;
        process->disconnect(this);
        poll(); // the views let go of it before it goes
        process->deleteLater();
        return;
    }
}

RemoteProcess *EngineWatcher::remote(qint64 pid) const
{
    for (const Attached &a : m_attached)
        if (a.process->pid() == pid)
            return a.process;
    return nullptr;
}

QList<ProcessView> EngineWatcher::processes() const
{
    QList<ProcessView> out;
    QSet<qint64> local;
    for (const ManagerView &v : m_managers)
        if (!v.remote && !local.contains(v.creatorPid)) {
            local.insert(v.creatorPid);
            out.append(ProcessView{v.creatorPid, nullptr});
        }
    for (const Attached &a : m_attached)
        out.append(ProcessView{a.process->pid(), a.process});
    return out;
}

quint64 EngineWatcher::uidOf(const ManagerView &view, quint64 id) const
{
    for (const Attached &a : m_attached)
        if (a.process == view.remote)
            return (a.slot << slotShift) | id;
    return id;
}

void EngineWatcher::readRemote(Attached &attached, QList<ManagerView> &views)
{
    RemoteProcess *process = attached.process;
    auto keyOf = [&](const QString &ns) {
        auto it = attached.keys.find(ns);
        if (it == attached.keys.end()) {
            it = attached.keys.insert(ns, m_nextRemoteKey);
            m_nextRemoteKey += 2; // odd: never the address of a manager
        }
        return *it;
    };
    for (const RemoteNamespace &ns : process->namespaces()) {
        ManagerView view;
        view.key = keyOf(ns.id);
        view.remote = process;
        view.creatorPid = process->pid();
        view.namespaceId = ns.id;
        view.registered = true;
        view.state = ns.state;
        view.hasPool = ns.hasPool;
        view.options = ns.options;
        view.stats = ns.stats;
        view.workers = ns.workers;
        view.description = QStringLiteral("namespace '%1' of process %2 (%3), %4")
                               .arg(ns.id).arg(process->pid())
                               .arg(QFileInfo(process->program()).fileName(), stateName(ns.state));
        views.append(std::move(view));
    }
    const RemoteChanges changes = process->takeChanges();
    const quint64 slot = attached.slot << slotShift;
    for (const auto &[ns, record] : changes.records)
        m_records.append(RecordUpdate{record, ns, nullptr, keyOf(ns), slot | record.id});
    for (const RemoteChanges::Line &line : changes.log) {
        EngineEvent e;
        e.kind = EngineEvent::Kind::WorkerLog;
        e.key = keyOf(line.namespaceId);
        e.namespaceId = line.namespaceId;
        e.time = line.at;
        e.pid = line.pid;
        e.text = line.text;
        m_events.append(std::move(e));
    }
}

void EngineWatcher::reattach()
{
    // A process that went away may come back: under the same pid once it opens its socket
    // again, or as a new process of the same program and arguments.
    if (m_reattachClock.isValid() && m_reattachClock.elapsed() < 2000)
        return;
    m_reattachClock.start();
    QList<qint64> candidates;
    for (const QString &name : QDir(inspectionDirectory()).entryList({QStringLiteral("*.sock")}, QDir::System)) {
        const qint64 pid = name.chopped(5).toLongLong();
        if (pid > 0 && pid != ProcessPoolManager::currentProcessId() && !remote(pid) && processRuns(pid))
            candidates.append(pid);
    }
    for (Attached &a : m_attached) {
        RemoteProcess *old = a.process;
        if (old->status() != RemoteProcess::Status::Exited)
            continue;
        qint64 next = 0;
        if (processRuns(old->pid())) {
            if (QFileInfo::exists(inspectionSocketPath(old->pid())))
                next = old->pid(); // same process, same task ids: the slot stays
        } else if (!old->program().isEmpty()) {
            for (qint64 pid : std::as_const(candidates)) {
                const QStringList line = commandLine(pid);
                if (QFile::symLinkTarget(QStringLiteral("/proc/%1/exe").arg(pid)) == old->program()
                    && line.mid(1) == old->arguments().mid(1)) {
                    next = pid;
                    a.slot = m_nextSlot++;
                    a.keys.clear();
                    candidates.removeAll(pid);
                    break;
                }
            }
        }
        if (!next)
            continue;
        a.process = new RemoteProcess(next, interval(), this);
        connect(a.process, &RemoteProcess::statusChanged, this, &EngineWatcher::poll);
        old->disconnect(this);
        old->deleteLater(); // after this poll, in which no view holds it any more
    }
}

bool EngineWatcher::isBeingStopped(const ProcessPoolManager *manager) const
{
    return m_stopThreads.contains(manager);
}

void EngineWatcher::stopPool(ProcessPoolManager *manager, StopKind kind)
{
    if (!manager || m_stopThreads.contains(manager))
        return;
    if (kind == StopKind::NoWait) {
        manager->stop(false); // returns at once; a draining pool reports Stopped by signal
        poll();
        return;
    }
    // stop(true) waits for the tasks, terminate() for the workers' exit: never on this thread.
    // The manager is not read while the helper runs (its pool goes away inside stop()).
    QThread *thread = QThread::create([manager, kind] {
        if (kind == StopKind::Wait)
            manager->stop(true);
        else
            manager->terminate();
    });
    thread->setObjectName(QStringLiteral("procpool-monitor-stop"));
    m_stopThreads.insert(manager, thread);
    connect(thread, &QThread::finished, this, [this, manager, thread] {
        m_stopThreads.remove(manager);
        thread->deleteLater();
        poll();
    });
    thread->start();
    poll();
}

void EngineWatcher::terminateAll()
{
    for (ProcessPoolManager *manager : ManagerRegistry::instance()->allInstances()) {
        if (!m_stopThreads.contains(manager) && manager->state() != PoolState::Stopped)
            manager->terminate();
    }
}

void EngineWatcher::readPool(ManagerView &view, PoolCursor &cursor)
{
    const ProcessPool *pool = nullptr;
    if (view.state != PoolState::Stopped) {
        try {
            pool = view.manager->getPool();
        } catch (const std::exception &) {
            pool = nullptr; // stopped between state() and getPool()
        }
    }
    if (pool != cursor.pool || (pool && cursor.restarted)) {
        // Another pool (or none): its counters join the totals of pools gone by.
        if (cursor.pool)
            addCounters(m_retired, cursor.lastStats);
        cursor.pool = pool;
        cursor.serial = 0;
        cursor.lastStats = PoolStats();
    }
    cursor.restarted = false;
    if (!pool)
        return;
    view.hasPool = true;
    view.stats = pool->stats();
    view.workers = pool->workers();
    cursor.lastStats = view.stats;
    const QList<TaskRecord> changed = pool->taskRecords(cursor.serial);
    m_records.reserve(m_records.size() + changed.size());
    for (const TaskRecord &record : changed) {
        cursor.serial = std::max(cursor.serial, record.serial);
        m_records.append(RecordUpdate{record, view.namespaceId, view.manager, view.key, record.id});
    }
}

void EngineWatcher::poll()
{
    if (m_polling) {
        // Asked again by a slot of polled(): the views have not consumed this poll's changes
        // yet, so poll once more when they have.
        QMetaObject::invokeMethod(this, &EngineWatcher::poll, Qt::QueuedConnection);
        return;
    }
    const QScopedValueRollback<bool> polling(m_polling, true);
    m_events.clear();
    m_records.clear();

    for (ProcessPoolManager *manager : ManagerRegistry::instance()->allInstances())
        Sink::watch(m_sink, manager);
    {
        QMutexLocker locker(&m_sink->mutex);
        m_events.swap(m_sink->pending);
        m_sink->pendingLogLines = 0;
        m_droppedEvents = m_sink->dropped;
    }
    for (const EngineEvent &e : std::as_const(m_events)) {
        if (e.kind != EngineEvent::Kind::StateChanged)
            continue;
        const auto it = m_cursors.find(e.manager);
        if (it != m_cursors.end()) {
            it->signalled = e.state;
            if (e.state == PoolState::Running)
                it->restarted = true; // a new pool, even if it happens to reuse the address
        }
    }

    const RegistryMap registry = ManagerRegistry::instance()->snapshot();
    QSet<const ProcessPoolManager *> registered;
    for (const auto &namespaces : registry)
        for (ProcessPoolManager *manager : namespaces)
            registered.insert(manager);

    QList<ManagerView> views;
    QSet<ProcessPoolManager *> alive;
    for (ProcessPoolManager *manager : ManagerRegistry::instance()->allInstances()) {
        alive.insert(manager);
        ManagerView view;
        view.manager = manager;
        view.key = quintptr(manager);
        view.creatorPid = manager->creatorPid();
        view.namespaceId = manager->namespaceId();
        view.registered = registered.contains(manager);
        view.options = manager->options();
        PoolCursor &cursor = m_cursors[manager];
        if (m_stopThreads.contains(manager)) {
            view.state = PoolState::Stopping;
            view.stopping = true;
        } else {
            view.state = manager->state();
            view.stopping = view.state == PoolState::Stopped && cursor.signalled == PoolState::Stopping;
            readPool(view, cursor);
        }
        view.description = manager->toString();
        views.append(view);
    }
    reattach();
    for (Attached &attached : m_attached)
        readRemote(attached, views);
    for (auto it = m_cursors.begin(); it != m_cursors.end();) {
        if (!alive.contains(it.key()))
            it = m_cursors.erase(it);
        else
            ++it;
    }
    m_managers = std::move(views);

    Totals t;
    t.managers = int(m_managers.size());
    PoolStats counted = m_retired;
    for (const ManagerView &v : std::as_const(m_managers)) {
        if (v.state == PoolState::Running)
            ++t.runningPools;
        if (!v.hasPool)
            continue;
        t.workers += int(v.workers.size());
        for (const WorkerInfo &w : v.workers)
            t.busyWorkers += w.state == WorkerState::Busy;
        t.queued += v.stats.queued;
        t.running += v.stats.running;
        addCounters(counted, v.stats);
    }
    t.submitted = counted.submitted;
    t.completed = counted.completed;
    t.failed = counted.failed;
    t.cancelled = counted.cancelled;
    t.workersCrashed = counted.workersCrashed;
    m_totals = t;
    Q_EMIT polled();
}

} // namespace procpool::monitor
