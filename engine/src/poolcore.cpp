#include "poolcore_p.h"

#include "dispatchpolicy_p.h"
#include "engine_p.h"
#include "postedcall_p.h"
#include "tasktable_p.h"
#include "workermessages_p.h"

#include <QtCore/QCborArray>
#include <QtCore/QCoreApplication>
#include <QtCore/QFileInfo>
#include <QtCore/QThread>

#include <algorithm>
#include <iterator>


namespace procpool::detail {

namespace {
std::atomic<qint64> g_prefetchBudgetNs{1'000'000};
} // namespace

qint64 automaticPrefetchBudgetNs()
{
    return g_prefetchBudgetNs.load(std::memory_order_relaxed);
}

void setAutomaticPrefetchBudgetNs(qint64 ns)
{
    g_prefetchBudgetNs.store(ns, std::memory_order_relaxed);
}

namespace {

//! How often queued futures are checked for QFuture::cancel(). Cancellation has no callback
//! in QFuture, so it is polled; the cost is one atomic load per queued task per sweep.
constexpr int cancelSweepIntervalMs = 100;
//! Most finished tasks kept for submitting threads to free (see dispatch()).
constexpr size_t graveyardMax = 4096;
//! While output lines are being dropped, how often the pool looks whether the receivers have
//! caught up, to say how many it dropped even if the worker prints nothing more.
constexpr int outputRetryMs = 100;

//! \a options without the sizes that resize() changes (kept apart, so they have one owner).
PoolOptions withoutSizes(PoolOptions options)
{
    options.maxWorkers = 0;
    options.minWorkers = 0;
    return options;
}

} // namespace

PoolCore::PoolCore(const PoolOptions &options, const QString &label)
    : m_options(withoutSizes(options))
    , m_label(label)
    , m_program(options.startContext.resolvedProgram())
    , m_ownProgram(QFileInfo(m_program).canonicalFilePath()
                   == QFileInfo(StartContext().resolvedProgram()).canonicalFilePath())
    , m_maxWorkers(options.hosts.isEmpty() ? options.maxWorkers : options.hostSlots())
    , m_minWorkers(options.minWorkers)
    , m_ledger(options.taskHistory)
    , m_sweepTimer(this) // children: they move to the engine thread with the pool
    , m_restartTimer(this)
    , m_outputTimer(this)
    , m_retryTimer(this)
    , m_memoryTimer(this)
    , m_hostStates(size_t(options.hosts.size()))
    , m_hostTimer(this)
{
    if (m_ownProgram)
        m_catalogue = catalogueFingerprint();
    m_hostTimer.setSingleShot(true);
    m_hostTimer.setTimerType(Qt::PreciseTimer); // never before the host's time has come
    connect(&m_hostTimer, &QTimer::timeout, this, &PoolCore::dispatch);
    if (!options.initializer.isEmpty()) {
        QCborArray arguments;
        for (const QVariant &argument : options.initializerArguments)
            arguments.append(encodeVariant(argument));
        m_initializerBody = QCborArray{options.initializer, arguments}.toCborValue().toCbor();
    }
    m_clock.start();
    m_sweepTimer.setInterval(cancelSweepIntervalMs);
    connect(&m_sweepTimer, &QTimer::timeout, this, &PoolCore::sweepCancelled);
    m_restartTimer.setSingleShot(true);
    connect(&m_restartTimer, &QTimer::timeout, this, &PoolCore::dispatch);
    m_retryTimer.setSingleShot(true);
    connect(&m_retryTimer, &QTimer::timeout, this, &PoolCore::releaseRetries);
    m_memoryTimer.setInterval(options.memoryCheckInterval);
    connect(&m_memoryTimer, &QTimer::timeout, this, &PoolCore::checkMemory);
    m_outputTimer.setInterval(outputRetryMs);
    connect(&m_outputTimer, &QTimer::timeout, this, [this] {
        bool waiting = false;
        for (const auto &w : m_workers) {
            reportDroppedOutput(w.get(), false);
            waiting = waiting || w->droppedLines > 0;
        }
        if (!waiting)
            m_outputTimer.stop();
    });
}

PoolCore::~PoolCore() = default;

PoolOptions PoolCore::options() const
{
    PoolOptions o = m_options;
    o.maxWorkers = m_maxWorkers.load(std::memory_order_relaxed);
    o.minWorkers = m_minWorkers.load(std::memory_order_relaxed);
    return o;
}

void PoolCore::resize(int maxWorkers)
{
    if (!m_options.hosts.isEmpty()) // no more workers than slots
        maxWorkers = std::min(maxWorkers, m_options.hostSlots());
    m_maxWorkers.store(maxWorkers, std::memory_order_relaxed);
    if (m_minWorkers.load(std::memory_order_relaxed) > maxWorkers)
        m_minWorkers.store(maxWorkers, std::memory_order_relaxed);
    postToEngine([this] { applyResize(); });
}

// ---- any thread ----------------------------------------------------------------------------

bool PoolCore::reserveRoom(qint64 timeoutMs)
{
    // The engine thread makes room: waiting there would wait for ever.
    if (Engine::instance().isEngineThread())
        timeoutMs = 0;
    QMutexLocker locker(&m_mutex);
    const auto room = [this] {
        return !m_accepting || m_state == PoolState::Broken
               || qsizetype(m_pending.size()) + m_reservedRoom < m_options.maxQueued;
    };
    if (!room()) {
        ++m_roomWaiters;
        bool found;
        if (timeoutMs < 0) {
            m_roomCondition.wait(m_mutex, room);
            found = true;
        } else {
            found = m_roomCondition.wait_for(m_mutex, std::chrono::milliseconds(timeoutMs), room);
        }
        --m_roomWaiters;
        if (!found)
            throw QueueFull(QStringLiteral("the queue of %1 holds its maximum of %2 tasks "
                                           "(PoolOptions::maxQueued)%3; wait for tasks to "
                                           "finish, give SubmitOptions::roomTimeout to wait for "
                                           "room, or allow a longer queue")
                                .arg(m_label)
                                .arg(m_options.maxQueued)
                                .arg(timeoutMs > 0
                                         ? QStringLiteral(" and none came within %1 ms").arg(timeoutMs)
                                         : QString()),
                            m_options.maxQueued);
    }
    if (!m_accepting || m_state == PoolState::Broken)
        return false;
    ++m_reservedRoom;
    return true;
}

void PoolCore::roomChanged()
{
    if (m_roomWaiters > 0)
        m_roomCondition.notify_all();
}

void PoolCore::enqueue(std::unique_ptr<WorkItem> item)
{
    // May throw QueueFull, before anything is counted.
    const bool reserved = m_options.maxQueued > 0 && reserveRoom(item->roomTimeoutMs);
    // Counted and recorded before the item can be dispatched: the engine thread may run and
    // finish a task before this thread comes back from m_mutex.
    m_ledger.submitted(*item);
    std::vector<std::unique_ptr<WorkItem>> reclaimed; // freed last, after every lock
    QString broken;
    bool wake = false;
    {
        QMutexLocker locker(&m_mutex);
        reclaimed.swap(m_graveyard);
        if (reserved)
            --m_reservedRoom; // this task takes the place reserveRoom() held for it
        if (!m_accepting) {
            locker.unlock();
            m_ledger.withdrawn(*item);
            throw PoolNotRunning(QStringLiteral("the process pool of %1 is stopping; call "
                                                "start() again before submitting")
                                     .arg(m_label));
        }
        if (m_state == PoolState::Broken) {
            broken = m_brokenReason;
        } else if (m_pending.empty() && !m_directIdle.empty() && item->attachments.isEmpty()
                   && m_state == PoolState::Running) {
            // An idle worker and nothing queued before this task: send it from this thread,
            // under m_mutex, so that it reaches the worker before anything the engine thread
            // decides after taking the lock. The engine thread adopts it (its record, timers)
            // when it next enters for that worker, off the round trip's critical path.
            PoolWorker *w = m_directIdle.back();
            m_directIdle.pop_back();
            m_ledger.handedOut(*item);
            item->sentNs = m_clock.nsecsElapsed();
            const QByteArray frame = item->frame;
            WorkItem *sent = item.get();
            w->handoff.push_back(std::move(item));
            w->hasHandoff.store(true, std::memory_order_release);
            sent->inputOffset = w->input.send(frame, true);
            wake = true;
        } else {
            queueLocked(std::move(item), false);
            wake = !m_saturated;
        }
    }
    if (!broken.isEmpty()) {
        finishTask(*item, TaskState::Failed, std::make_unique<PoolBroken>(broken).get());
        return;
    }
    if (wake)
        postDispatch();
}

void PoolCore::queueLocked(std::unique_ptr<WorkItem> item, bool ahead)
{
    const int p = item->priority;
    // Nearly always one priority: the end, or the head, without a search.
    if (!ahead && (m_pending.empty() || m_pending.back()->priority >= p)) {
        m_pending.push_back(std::move(item));
        return;
    }
    if (ahead && (m_pending.empty() || m_pending.front()->priority <= p)) {
        m_pending.push_front(std::move(item));
        return;
    }
    // The queue is ordered by priority, highest first.
    const auto at = ahead ? std::partition_point(m_pending.begin(), m_pending.end(),
                                                 [p](const auto &o) { return o->priority > p; })
                          : std::partition_point(m_pending.begin(), m_pending.end(),
                                                 [p](const auto &o) { return o->priority >= p; });
    m_pending.insert(at, std::move(item));
}

void PoolCore::postDispatch()
{
    // One queued call however many submissions arrive before the engine thread runs it.
    if (!m_dispatchPosted.exchange(true, std::memory_order_acq_rel))
        postToEngine([this] { dispatch(); });
}

void PoolCore::postToEngine(std::function<void()> call)
{
    postCall(this, std::move(call));
}

bool PoolCore::event(QEvent *e)
{
    return runPostedCall(e) || QObject::event(e);
}

PoolState PoolCore::state() const
{
    QMutexLocker locker(&m_mutex);
    return m_state;
}

PoolStats PoolCore::stats() const
{
    // A task leaves the queue and is counted as running (or finished) under m_mutex, so the
    // queue's length and the ledger's counts are read together here.
    QMutexLocker locker(&m_mutex);
    return m_ledger.stats(qint64(m_pending.size() + m_retryWaiting.size()));
}

QList<TaskRecord> PoolCore::taskRecords(quint64 changedSince) const
{
    return m_ledger.records(changedSince);
}

bool PoolCore::cancelTask(quint64 id)
{
    if (!m_ledger.isUnfinished(id))
        return false;
    postToEngine([this, id] {
        auto matches = [id](const std::unique_ptr<WorkItem> &item) { return item->id == id; };
        {
            QMutexLocker locker(&m_mutex);
            const auto it = std::find_if(m_pending.begin(), m_pending.end(), matches);
            if (it != m_pending.end())
                (*it)->sink->requestCancel();
            for (const auto &[due, item] : m_retryWaiting) {
                if (item->id == id)
                    item->sink->requestCancel();
            }
        }
        for (const auto &w : m_workers) {
            enter(w.get());
            const auto it = std::find_if(w->inFlight.begin(), w->inFlight.end(), matches);
            if (it != w->inFlight.end())
                (*it)->sink->requestCancel();
        }
        sweepCancelled(); // at once, rather than at the next periodic sweep
    });
    return true;
}

// ---- engine thread: dispatch -----------------------------------------------------------

void PoolCore::dispatch()
{
    m_dispatchPosted.store(false, std::memory_order_release);

    std::vector<std::pair<PoolWorker *, std::vector<WorkItem *>>> writes;
    std::vector<std::unique_ptr<WorkItem>> cancelled;
    std::vector<std::tuple<PoolWorker *, qsizetype, bool>> adoptions;
    std::vector<std::unique_ptr<WorkItem>> retired; // freed last, after every lock
    int toStart = 0;
    bool anyHandedOut = false;
    bool queuedLeft = false;
    {
        QMutexLocker locker(&m_mutex);
        // While tasks keep coming, finished ones are freed by the next submission, on the
        // submitting side: with glibc, memory that one thread only allocates and another only
        // frees goes through the arena's lock every time, and the two threads contend for it
        // (a system call to wake the other, each time); freed where it was allocated, it goes
        // to that thread's cache and serves its next submissions. When the queue runs dry the
        // engine frees them itself, so nothing is held once the burst is over.
        if (!m_pending.empty() && m_graveyard.size() + m_retired.size() <= graveyardMax) {
            std::move(m_retired.begin(), m_retired.end(), std::back_inserter(m_graveyard));
            m_retired.clear();
        } else {
            retired.swap(m_retired);
            std::move(m_graveyard.begin(), m_graveyard.end(), std::back_inserter(retired));
            m_graveyard.clear();
        }
        // Tasks submitting threads sent straight to idle workers join their inFlight first.
        m_directIdle.clear();
        for (const auto &w : m_workers) {
            const bool wasIdle = w->inFlight.empty();
            if (const qsizetype n = adoptHandoffLocked(w.get()))
                adoptions.emplace_back(w.get(), n, wasIdle);
        }
        if (m_state == PoolState::Stopped || m_state == PoolState::Broken) {
            locker.unlock();
            for (auto &[w, n, wasIdle] : adoptions)
                adopted(w, n, wasIdle);
            if (m_state == PoolState::Broken)
                checkStopped();
            return;
        }

        dispatch::State state;
        state.queued = m_pending.size();
        state.taskAt = [this](std::size_t i) {
            const WorkItem &item = *m_pending[i];
            return dispatch::Task{expectedServiceNs(item), item.sink->isCanceled()};
        };
        for (const auto &w : m_workers) {
            state.workers.push_back(dispatch::Worker{w->isReady(), w->isBusy(),
                                                     int(w->inFlight.size()), w->handedOut,
                                                     w->waitingNs});
            state.active += w->isActive();
            state.starting += w->isStarting();
        }
        dispatch::Limits limits;
        limits.maxWorkers = maxWorkers();
        limits.minWorkers = m_minWorkers.load(std::memory_order_relaxed);
        limits.prefetch = m_options.prefetch;
        limits.maxTasksPerWorker = m_options.maxTasksPerWorker;
        limits.budgetNs = automaticPrefetchBudgetNs();
        limits.running = m_state == PoolState::Running;
        limits.mayStart = !m_restartTimer.isActive();
        const dispatch::Plan plan = dispatch::plan(state, limits);

        // Off the queue and counted in one step: stats() never sees a task in neither.
        std::vector<std::vector<WorkItem *>> batches(m_workers.size());
        std::vector<WorkItem *> handedOut;
        for (const int to : plan.taken) {
            std::unique_ptr<WorkItem> item = std::move(m_pending.front());
            m_pending.pop_front();
            if (to < 0) {
                m_ledger.finished(*item, TaskState::Cancelled);
                cancelled.push_back(std::move(item));
                continue;
            }
            PoolWorker *w = m_workers[size_t(to)].get();
            item->expectedNs = std::max<qint64>(expectedServiceNs(*item), 0);
            item->sentNs = m_clock.nsecsElapsed();
            handedOut.push_back(item.get());
            batches[size_t(to)].push_back(item.get()); // the frame is kept: a crash re-queues it
            w->inFlight.push_back(std::move(item));
        }
        m_ledger.handedOut(handedOut.data(), handedOut.size());
        anyHandedOut = !handedOut.empty();
        for (size_t i = 0; i < m_workers.size(); ++i) {
            m_workers[i]->handedOut = plan.workers[i].handedOut;
            m_workers[i]->waitingNs = plan.workers[i].waitingNs;
            if (!batches[i].empty())
                writes.emplace_back(m_workers[i].get(), std::move(batches[i]));
        }
        if (!plan.taken.empty())
            roomChanged();
        m_saturated = plan.saturated;
        queuedLeft = !m_pending.empty();
        for (const int i : plan.directIdle)
            m_directIdle.push_back(m_workers[size_t(i)].get());
        toStart = plan.start;
    }
    for (auto &[w, n, wasIdle] : adoptions)
        adopted(w, n, wasIdle);
    // Outside the lock: copying attachments into shared memory may take a while.
    for (auto &[w, items] : writes)
        send(w, items);
    for (auto &item : cancelled)
        item->sink->finishCanceled();
    for (int i = 0; i < toStart; ++i)
        spawnWorker();

    if (!m_sweepTimer.isActive() && (queuedLeft || anyHandedOut))
        m_sweepTimer.start();
    checkStopped();
}

void PoolCore::send(PoolWorker *w, const std::vector<WorkItem *> &items)
{
    QByteArray batch;
    // items[unsent, upTo) start in batch; until it is sent, their inputOffset says where.
    size_t unsent = 0;
    auto flush = [&](size_t upTo) {
        const qint64 at = w->input.send(std::exchange(batch, QByteArray()));
        for (; unsent < upTo; ++unsent)
            items[unsent]->inputOffset = at < 0 ? -1 : at + items[unsent]->inputOffset;
    };
    for (size_t i = 0; i < items.size(); ++i) {
        WorkItem *item = items[i];
        item->inputOffset = batch.size();
        if (!item->attachments.isEmpty()) {
            w->ringsUsed = w->ringsUsed || w->sharedMemory;
            const EncodedAttachments a = encodeAttachments(
                item->id, item->attachments, w->sharedMemory ? w->toWorker.get() : nullptr);
            batch += a.head;
            if (!a.inlineParts.isEmpty()) {
                flush(i + 1);
                for (const QByteArray &part : a.inlineParts)
                    w->input.send(part); // queued by reference, not copied
            }
        }
        batch += item->frame;
    }
    flush(items.size());
    frontChanged(w);
    updateInfo(w);
}

qsizetype PoolCore::adoptHandoffLocked(PoolWorker *w)
{
    std::erase(m_directIdle, w);
    const qsizetype n = qsizetype(w->handoff.size());
    for (auto &item : w->handoff)
        w->inFlight.push_back(std::move(item));
    w->handoff.clear();
    w->hasHandoff.store(false, std::memory_order_relaxed);
    return n;
}

void PoolCore::enter(PoolWorker *w)
{
    // Set before a task is sent: a worker's answer is never read before its hand-off.
    if (w->hasHandoff.load(std::memory_order_acquire))
        withdraw(w);
}

void PoolCore::withdraw(PoolWorker *w)
{
    const bool wasIdle = w->inFlight.empty();
    qsizetype n;
    {
        QMutexLocker locker(&m_mutex);
        n = adoptHandoffLocked(w);
    }
    adopted(w, n, wasIdle);
}

void PoolCore::adopted(PoolWorker *w, qsizetype count, bool wasIdle)
{
    if (count == 0)
        return;
    w->handedOut += int(count); // counted as running when it was handed over (enqueue())
    if (wasIdle)
        frontChanged(w); // its record says running, its time limit starts
    updateInfo(w);
    if (!m_sweepTimer.isActive())
        m_sweepTimer.start();
}

void PoolCore::frontChanged(PoolWorker *w)
{
    w->frontChanged(m_options.idleTimeout);
    if (!w->inFlight.empty()) {
        WorkItem &front = *w->inFlight.front();
        if (!std::exchange(front.begun, true))
            ++front.attempts;
        if (front.cancelSent)
            front.cancelAskedNs = m_clock.nsecsElapsed(); // its grace runs from its start
        m_ledger.started(front, w->pid);
    }
}

void PoolCore::updateInfo(PoolWorker *w)
{
    if (w->state == WorkerState::Idle || w->state == WorkerState::Busy)
        w->state = w->inFlight.empty() ? WorkerState::Idle : WorkerState::Busy;
    w->info.state = w->state;
    w->info.currentTask = w->inFlight.empty() ? QString() : w->inFlight.front()->taskName;
    m_ledger.workerChanged(w->info);
}

qint64 PoolCore::expectedServiceNs(const WorkItem &item) const
{
    const auto &table = item.chunk ? m_chunkServiceNs : m_serviceNs;
    const auto it = table.constFind(item.taskName);
    return it == table.cend() ? -1 : *it;
}

void PoolCore::learnServiceTime(PoolWorker *w, const WorkItem &item)
{
    // The worker started this task when it had answered the previous one (or when it got it):
    // from then to now is how long one such task keeps a worker busy, round trip included
    // when nothing was prefetched.
    const qint64 now = m_clock.nsecsElapsed();
    const qint64 sample = now - std::max(item.sentNs, w->lastAnswerNs);
    w->lastAnswerNs = now;
    if (!w->inFlight.empty())
        w->waitingNs = std::max<qint64>(0, w->waitingNs - w->inFlight.front()->expectedNs);
    auto &table = item.chunk ? m_chunkServiceNs : m_serviceNs;
    auto it = table.find(item.taskName);
    if (it == table.end())
        table.insert(item.taskName, sample);
    else
        *it += (sample - *it) / 4; // a moving average that follows a change within a few tasks
}

// ---- engine thread: what workers say ---------------------------------------------------

void PoolCore::onOutput(PoolWorker *w)
{
    if (w->killKind != PoolWorker::KillKind::None) {
        w->process->discardStandardOutput(); // nothing it says counts any more
        return;
    }
    if (w->process->readStandardOutput(&w->decoder) == 0)
        return;
    // What a task printed was in the other pipe before its answer reached this one: taken in
    // now, before the answers just read are acted on, a task's record holds all its lines when
    // its future finishes. (Through a launcher, whose two streams cross the network apart,
    // the last lines may still come later.) Without task output, they are only the log's.
    if (m_options.taskOutput) {
        for (const PoolWorker::OutputLine &line :
             w->takeOutputLines(w->process->readAvailableStandardError()))
            routeOutput(w, line);
    }
    Frame frame;
    for (;;) {
        const auto status = w->decoder.next(&frame);
        if (status == FrameDecoder::Status::NeedMore)
            break;
        if (status == FrameDecoder::Status::Error) {
            killWorker(w, PoolWorker::KillKind::Protocol,
                       QStringLiteral("worker %1 (pid %2) broke the protocol: %3")
                           .arg(w->name)
                           .arg(w->pid)
                           .arg(w->decoder.errorString()));
            return;
        }
        handleFrame(w, frame);
        if (w->killKind != PoolWorker::KillKind::None)
            return;
    }
    dispatch(); // a worker that just answered gets its next task without another trip
}

void PoolCore::finishTask(WorkItem &item, TaskState state, const TaskFailure *error,
                          const QString &recordText)
{
    // Counted and recorded first: whoever sees the future finish sees it counted.
    m_ledger.finished(item, state,
                      error ? (recordText.isEmpty() ? QString::fromUtf8(error->what()) : recordText)
                            : QString());
    switch (state) {
    case TaskState::Finished:
        item.sink->complete();
        break;
    case TaskState::Cancelled:
        item.sink->finishCanceled();
        break;
    default:
        item.sink->fail(*error);
    }
}

} // namespace procpool::detail
