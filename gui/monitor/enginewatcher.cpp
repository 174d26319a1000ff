#include "enginewatcher.h"

#include <QtCore/QMutex>
#include <QtCore/QScopedValueRollback>
#include <QtCore/QThread>

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
        m_records.append(RecordUpdate{record, view.namespaceId, view.manager});
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
