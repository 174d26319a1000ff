#include "poolcore_p.h"

#include "dispatchpolicy_p.h"
#include "engine_p.h"
#include "postedcall_p.h"
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

//! Workers that fail to start this many times in a row break the pool instead of being
//! replaced again: enough to ride out one unlucky start, few enough that a missing program
//! or a worker that dies at start-up is reported within moments rather than fork-storming.
constexpr int maxConsecutiveStartFailures = 3;
//! Workers killed from outside while starting (or whose fork server was) are started again,
//! after a delay that doubles from restartDelayFirstMs up to restartDelayMaxMs, the way a
//! service manager restarts a unit; the first goes at once. Only this many such kills in a
//! row, with no worker started in between (about 12 s of trying), break the pool: something
//! keeps killing them, and the queued tasks should not wait for ever.
constexpr int maxConsecutiveStartKills = 16;
constexpr int restartDelayFirstMs = 50;
constexpr int restartDelayMaxMs = 1000;

//! How often queued futures are checked for QFuture::cancel(). Cancellation has no callback
//! in QFuture, so it is polled; the cost is one atomic load per queued task per sweep.
constexpr int cancelSweepIntervalMs = 100;
//! Most finished tasks kept for submitting threads to free (see dispatch()).
constexpr size_t graveyardMax = 4096;
//! While output lines are being dropped, how often the pool looks whether the receivers have
//! caught up, to say how many it dropped even if the worker prints nothing more.
constexpr int outputRetryMs = 100;

QString exitDescription(int exitCode, int sig)
{
    if (sig)
        return QStringLiteral("killed by %1").arg(signalName(sig));
    if (exitCode < 0) // its fork server, the only one who could tell, was gone
        return QStringLiteral("exited (its exit status is unknown)");
    return QStringLiteral("exited with code %1").arg(exitCode);
}

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
    , m_maxWorkers(options.maxWorkers)
    , m_minWorkers(options.minWorkers)
    , m_ledger(options.taskHistory)
    , m_sweepTimer(this) // children: they move to the engine thread with the pool
    , m_restartTimer(this)
    , m_outputTimer(this)
{
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
            m_pending.push_back(std::move(item));
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

void PoolCore::requestStop(StopMode mode)
{
    {
        QMutexLocker locker(&m_mutex);
        if (m_state == PoolState::Stopped)
            return;
        m_accepting = false;
        m_stopRequested = true;
        m_stopMode = std::max(m_stopMode, mode);
        roomChanged(); // waiting submissions learn that the pool no longer takes tasks
    }
    postToEngine([this] { applyStop(); });
}

void PoolCore::waitStopped()
{
    // std::condition_variable_any releases and retakes m_mutex through its inline functions,
    // where ThreadSanitizer sees it; QWaitCondition does so inside Qt.
    QMutexLocker locker(&m_mutex);
    m_stoppedCondition.wait(m_mutex, [this] { return m_stopAnnounced; });
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
    return m_ledger.stats(qint64(m_pending.size()));
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

bool PoolCore::killWorkerByPid(qint64 pid)
{
    if (!m_ledger.hasWorker(pid))
        return false;
    postToEngine([this, pid] {
        for (const auto &w : m_workers) {
            if (w->pid == pid) {
                withdraw(w.get()); // as in killWorker()
                Q_EMIT workerLog(pid, QStringLiteral("procpool: killing worker %1 (pid %2) "
                                                     "on request")
                                          .arg(w->name)
                                          .arg(pid));
                w->process->kill(); // handled exactly like a crash
                return;
            }
        }
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
    if (!w->inFlight.empty())
        m_ledger.started(*w->inFlight.front(), w->pid);
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
    QByteArray data = w->process->readAllStandardOutput();
    if (data.isEmpty() || w->killKind != PoolWorker::KillKind::None)
        return;
    w->decoder.append(std::move(data));
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

void PoolCore::handleFrame(PoolWorker *w, const Frame &frame)
{
    if (!w->helloReceived) {
        if (frame.type != FrameType::Hello) {
            killWorker(w, PoolWorker::KillKind::Protocol,
                       QStringLiteral("worker %1 sent a %2 frame before its Hello")
                           .arg(w->name, QString::fromLatin1(frameTypeName(frame.type))));
            return;
        }
        handleHello(w, frame);
        return;
    }
    switch (frame.type) {
    case FrameType::Attachments:
        handleAttachments(w, frame);
        return;
    case FrameType::Result:
    case FrameType::MapResult:
    case FrameType::Error:
    case FrameType::Progress:
        handleOutcome(w, frame);
        return;
    default:
        killWorker(w, PoolWorker::KillKind::Protocol,
                   QStringLiteral("worker %1 sent an unexpected %2 frame")
                       .arg(w->name, QString::fromLatin1(frameTypeName(frame.type))));
    }
}

void PoolCore::handleHello(PoolWorker *w, const Frame &frame)
{
    HelloMessage hello;
    QString error;
    if (!parseHello(frame.body, &hello, &error)) {
        killWorker(w, PoolWorker::KillKind::Protocol,
                   QStringLiteral("worker %1 sent a malformed Hello: %2").arg(w->name, error));
        return;
    }
    if (hello.protocol != protocolVersion) {
        killWorker(w, PoolWorker::KillKind::Handshake,
                   QStringLiteral("protocol version mismatch: worker program '%1' speaks "
                                  "version %2, this procpool speaks version %3; rebuild the "
                                  "worker program against this procpool")
                       .arg(m_program)
                       .arg(hello.protocol)
                       .arg(protocolVersion));
        return;
    }
    w->helloReceived = true;
    w->sharedMemory = w->toWorker && hello.sharedMemory;
    if (m_initializerBody.isEmpty()) {
        onReady(w);
        return;
    }
    // The handshake timer keeps running: a worker is ready once its initializer is done.
    w->initializing = true;
    w->initializerId = Engine::instance().nextTaskId();
    w->input.send(encodeFrame(FrameType::Call, w->initializerId, m_initializerBody));
}

void PoolCore::onReady(PoolWorker *w)
{
    w->initializing = false;
    w->stopHandshakeTimer();
    w->state = WorkerState::Idle;
    startSucceeded();
    updateInfo(w);
    frontChanged(w);
}

void PoolCore::handleAttachments(PoolWorker *w, const Frame &frame)
{
    QString error;
    // Copied out, never used in place: the worker can still write its ring.
    if (!decodeAttachments(frame.body, w->fromWorker.get(), m_options.maxFrameSize,
                           Placement::Copy, &w->attachments, &error)) {
        killWorker(w, PoolWorker::KillKind::Protocol,
                   QStringLiteral("worker %1 sent a malformed Attachments frame: %2")
                       .arg(w->name, error));
        return;
    }
    w->attachmentsId = frame.id;
    w->ringsUsed = w->ringsUsed || w->fromWorker;
}

void PoolCore::handleOutcome(PoolWorker *w, const Frame &frame)
{
    auto violation = [&](const QString &what) {
        killWorker(w, PoolWorker::KillKind::Protocol,
                   QStringLiteral("worker %1 %2").arg(w->name, what));
    };
    // The attachments received just before belong to this outcome (and to nothing else).
    QList<QByteArray> attachments;
    if (w->attachmentsId != 0 && frame.type != FrameType::Progress) {
        if (w->attachmentsId != frame.id)
            return violation(QStringLiteral("sent attachments for task id %1 and then answered "
                                            "task id %2")
                                 .arg(w->attachmentsId)
                                 .arg(frame.id));
        attachments.swap(w->attachments);
        w->attachmentsId = 0;
    }
    if (w->initializing && frame.id == w->initializerId && frame.type != FrameType::Progress) {
        if (frame.type != FrameType::Error) {
            onReady(w);
            return;
        }
        ErrorMessage e;
        QString unreadable; // then the message says nothing more
        parseError(frame.body, &e, &unreadable);
        killWorker(w, PoolWorker::KillKind::Handshake,
                   QStringLiteral("initializer '%1' failed in worker %2: %3: %4")
                       .arg(m_options.initializer, w->name, e.type, e.message));
        return;
    }
    if (w->inFlight.empty() || w->inFlight.front()->id != frame.id)
        return violation(QStringLiteral("answered task id %1, which it was not running")
                             .arg(frame.id));
    WorkItem &current = *w->inFlight.front();
    const bool chunk = current.chunk;
    if ((frame.type == FrameType::Result && chunk) || (frame.type == FrameType::MapResult && !chunk))
        return violation(QStringLiteral("answered a %1 with a %2 frame")
                             .arg(QLatin1String(chunk ? "MapCall" : "Call"),
                                  QLatin1String(frameTypeName(frame.type))));
    QString error;
    if (frame.type == FrameType::Progress) {
        ProgressMessage p;
        if (!parseProgress(frame.body, &p, &error))
            return violation(QStringLiteral("sent a malformed Progress frame: %1").arg(error));
        m_ledger.progress(current, p.value, p.maximum, p.text);
        current.sink->progress(p.value, p.maximum, p.text);
        return;
    }
    if (frame.type == FrameType::Error) {
        ErrorMessage e;
        if (!parseError(frame.body, &e, &error))
            return violation(QStringLiteral("sent a malformed Error frame: %1").arg(error));
        std::unique_ptr<WorkItem> item = std::move(w->inFlight.front());
        w->inFlight.pop_front();
        learnServiceTime(w, *item);
        frontChanged(w); // the next prefetched task starts now
        ++w->info.tasksFailed;
        updateInfo(w); // the worker's snapshot first: whoever sees the future sees it done
        finishTask(*item, TaskState::Failed, e.failure(item->taskName).get(), e.recordText());
        m_retired.push_back(std::move(item)); // freed by dispatch(), which follows
        retireIfDone(w);
        return;
    }
    QCborValue body;
    if (!parseBody(frame.body, &body, &error))
        return violation(QStringLiteral("sent a malformed %1 frame: %2")
                             .arg(QString::fromLatin1(frameTypeName(frame.type)), error));
    std::unique_ptr<WorkItem> item = std::move(w->inFlight.front());
    w->inFlight.pop_front();
    learnServiceTime(w, *item);
    frontChanged(w);
    // Decoded first, so that it is counted once, as what it turned out to be.
    std::optional<CodecError> undecodable;
    try {
        const AttachmentScope scope(nullptr, &attachments);
        item->sink->decode(body);
    } catch (const CodecError &e) {
        undecodable = CodecError(QStringLiteral("the result of task '%1' could not be "
                                                "decoded: %2")
                                     .arg(item->taskName, e.message()));
    }
    ++(undecodable ? w->info.tasksFailed : w->info.tasksDone);
    updateInfo(w);
    if (undecodable)
        finishTask(*item, TaskState::Failed, &*undecodable);
    else
        finishTask(*item, TaskState::Finished);
    m_retired.push_back(std::move(item));
    retireIfDone(w);
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

void PoolCore::onErrorOutput(PoolWorker *w)
{
    for (const QString &line : w->takeOutputLines(w->process->readAllStandardError()))
        emitOutput(w, line);
}

void PoolCore::emitOutput(PoolWorker *w, const QString &line)
{
    if (w->droppedLines > 0)
        reportDroppedOutput(w, false);
    if (w->droppedLines > 0 || m_outputMeter->full()) {
        ++w->droppedLines;
        if (!m_outputTimer.isActive())
            m_outputTimer.start();
        return;
    }
    Q_EMIT workerLog(w->pid, line);
}

void PoolCore::reportDroppedOutput(PoolWorker *w, bool always)
{
    if (w->droppedLines == 0 || (!always && !m_outputMeter->hasRoom()))
        return;
    const quint64 dropped = std::exchange(w->droppedLines, 0);
    Q_EMIT workerLog(w->pid, QStringLiteral("procpool: %1 lines of this worker's output were "
                                            "dropped: the receivers of workerLog fell behind "
                                            "(at most %2 lines or %3 MiB wait for them)")
                                 .arg(dropped)
                                 .arg(OutputMeter::maxLines)
                                 .arg(OutputMeter::maxBytes / (1024 * 1024)));
}

void PoolCore::sweepCancelled()
{
    std::vector<std::unique_ptr<WorkItem>> cancelled;
    bool idle;
    {
        QMutexLocker locker(&m_mutex);
        for (auto it = m_pending.begin(); it != m_pending.end();) {
            if ((*it)->sink->isCanceled()) {
                m_ledger.finished(**it, TaskState::Cancelled); // off the queue and counted at once
                cancelled.push_back(std::move(*it));
                it = m_pending.erase(it);
            } else {
                ++it;
            }
        }
        if (!cancelled.empty())
            roomChanged();
        idle = m_pending.empty();
    }
    for (auto &item : cancelled)
        item->sink->finishCanceled();
    if (m_options.cancelPolicy == PoolOptions::CancelPolicy::KillWorker) {
        for (const auto &w : m_workers) {
            if (!w->inFlight.empty() && w->inFlight.front()->sink->cancelRequested())
                killWorker(w.get(), PoolWorker::KillKind::Cancelled,
                           QStringLiteral("task '%1' was cancelled while running")
                               .arg(w->inFlight.front()->taskName));
        }
    }
    if (idle && std::all_of(m_workers.begin(), m_workers.end(),
                            [](const auto &w) { return w->inFlight.empty(); }))
        m_sweepTimer.stop();
}

// ---- engine thread: workers ---------------------------------------------------------------

void PoolCore::spawnWorker()
{
    if (m_state == PoolState::Broken || m_restartTimer.isActive())
        return; // a start that failed just now decided otherwise
    const QString prefix = m_options.processNamePrefix.isEmpty() ? QStringLiteral("procpool")
                                                                 : m_options.processNamePrefix;
    const int index = m_nextWorkerIndex++;
    // A child too: should the engine thread end before its deferred deletion, the pool's
    // deletion takes it along.
    auto owned = std::make_unique<PoolWorker>(index, QStringLiteral("%1-%2").arg(prefix).arg(index),
                                              m_options.maxFrameSize, this);
    PoolWorker *w = owned.get();

    ChildProcess::Setup setup;
    const StartContext &ctx = m_options.startContext;
    setup.program = m_program;
    setup.arguments = ctx.arguments;
    setup.workingDirectory = ctx.workingDirectory;
    setup.environment = ctx.environment.isEmpty() ? QProcessEnvironment::systemEnvironment()
                                                  : ctx.environment;
    setup.workerEnvironment = {
        {QByteArrayLiteral("PROCPOOL_WORKER"), QByteArray::number(protocolVersion)},
        {QByteArrayLiteral("PROCPOOL_WORKER_NAME"), w->name.toUtf8()},
        {QByteArrayLiteral("PROCPOOL_MAX_FRAME"), QByteArray::number(m_options.maxFrameSize)}};
    setup.daemon = m_options.daemon;
    setup.method = ctx.method;
    setup.serverHandshakeMs = int(m_options.handshakeTimeout.count());
    if (m_options.sharedMemory) {
        const int toWorker = SharedRing::createFile();
        const int fromWorker = toWorker < 0 ? -1 : SharedRing::createFile();
        if (fromWorker >= 0) {
            const qint64 ringMax = SharedRing::headerSize + m_options.maxFrameSize;
            w->toWorker = std::make_unique<SharedRing>(toWorker, ringMax);
            w->fromWorker = std::make_unique<SharedRing>(fromWorker, ringMax);
            setup.rings[0] = toWorker;
            setup.rings[1] = fromWorker;
        } else if (toWorker >= 0) {
            ::close(toWorker); // no memfd here: everything goes through the pipes
        }
    }
    QString inputError;
    const bool inputOpen = w->input.open(w, &inputError);
    setup.input = w->input.childEnd();

    // Every event of this worker enters through enter(), which first takes in what submitting
    // threads handed it directly.
    auto *p = new ChildProcess(w);
    w->process = p;
    connect(p, &ChildProcess::readyReadStandardOutput, this, [this, w] {
        enter(w);
        onOutput(w);
    });
    connect(p, &ChildProcess::readyReadStandardError, this, [this, w] { onErrorOutput(w); });
    connect(p, &ChildProcess::finished, this, [this, w](int code, QProcess::ExitStatus status) {
        enter(w);
        onFinished(w, code, status);
    });
    connect(p, &ChildProcess::failedToStart, this, [this, w] {
        enter(w);
        onStartFailed(w);
    });
    connect(p, &ChildProcess::started, this, [this, w](qint64 pid) { onStarted(w, pid); });
    connect(w, &PoolWorker::handshakeExpired, this, [this, w] {
        killWorker(w, PoolWorker::KillKind::Handshake,
                   QStringLiteral("worker %1 did not complete the handshake within %2 ms")
                       .arg(w->name)
                       .arg(m_options.handshakeTimeout.count()));
    });
    connect(w, &PoolWorker::taskExpired, this, [this, w] {
        enter(w);
        killWorker(w, PoolWorker::KillKind::Timeout,
                   QStringLiteral("task '%1' timed out after %2 ms")
                       .arg(w->inFlight.front()->taskName)
                       .arg(w->inFlight.front()->timeoutMs));
    });
    connect(w, &PoolWorker::idleExpired, this, [this, w] {
        enter(w);
        if (w->inFlight.empty() && w->isReady() && activeWorkerCount() > m_minWorkers.load())
            retire(w);
    });
    connect(w, &PoolWorker::trimDue, this, [this, w] {
        withdraw(w); // no task may reach it during the trim (dispatch() lists it again)
        trimRings(w);
    });

    m_workers.push_back(std::move(owned));
    if (!inputOpen) {
        w->killKind = PoolWorker::KillKind::Handshake;
        w->killReason = QStringLiteral("cannot create the input channel of a worker: %1")
                            .arg(inputError);
        Q_EMIT workerLog(0, QStringLiteral("procpool: ") + w->killReason);
        removeWorker(w, -1, 0, StartFailure::Fatal);
        return;
    }
    // The handshake's time runs from here: it covers a fork server's own start too.
    w->startHandshakeTimer(m_options.handshakeTimeout);
    p->start(setup); // may report started() or failedToStart() (which removes w) inside
}

void PoolCore::onStarted(PoolWorker *w, qint64 pid)
{
    w->pid = pid;
    w->info.pid = pid;
    w->info.name = w->name;
    w->info.state = WorkerState::Starting;
    w->info.startedAt = QDateTime::currentDateTime();
    m_ledger.workerStarted(w->info);
    Q_EMIT workerStarted(w->pid, w->name);
}

void PoolCore::killWorker(PoolWorker *w, PoolWorker::KillKind kind, const QString &reason)
{
    if (w->killKind != PoolWorker::KillKind::None)
        return;
    withdraw(w); // no submission may send to it from now on
    w->killKind = kind;
    w->killReason = reason;
    w->state = WorkerState::Exiting;
    if (kind != PoolWorker::KillKind::Stopped)
        Q_EMIT workerLog(w->pid, QStringLiteral("procpool: ") + reason);
    w->process->kill();
}

void PoolCore::onStartFailed(PoolWorker *w)
{
    const QString reason = QStringLiteral("cannot start worker program '%1': %2")
                               .arg(m_program, w->process->errorString());
    w->killKind = PoolWorker::KillKind::Handshake;
    w->killReason = reason;
    Q_EMIT workerLog(0, QStringLiteral("procpool: ") + reason);
    removeWorker(w, -1, 0,
                 w->process->lostItsServer() ? StartFailure::Killed : StartFailure::Fatal);
}

void PoolCore::onFinished(PoolWorker *w, int exitCode, QProcess::ExitStatus status)
{
    // Frames and lines written just before the exit still count.
    w->exited = true;
    if (w->killKind == PoolWorker::KillKind::None)
        onOutput(w);
    onErrorOutput(w);
    for (const QString &line : w->takeLastOutputLine())
        emitOutput(w, line);
    reportDroppedOutput(w, true);
    const int sig = status == QProcess::CrashExit ? exitCode : 0;
    const int code = status == QProcess::CrashExit ? -1 : exitCode;
    if (w->killKind == PoolWorker::KillKind::None && !w->inFlight.empty()
        && w->decoder.bufferedBytes() > 0 && status == QProcess::NormalExit) {
        w->killKind = PoolWorker::KillKind::Protocol;
        w->killReason = QStringLiteral("worker %1 (pid %2) exited in the middle of a frame "
                                       "(%3 bytes of a truncated frame)")
                            .arg(w->name)
                            .arg(w->pid)
                            .arg(w->decoder.bufferedBytes());
    }
    StartFailure startFailure = StartFailure::None;
    if ((!w->helloReceived || w->initializing) && w->killKind != PoolWorker::KillKind::Stopped) {
        // Ended before it was ready, and not because the pool stopped. Killed from outside
        // (or along with its fork server): another start may well succeed. Anything else it
        // did itself (exited, crashed, broke the handshake), and would do again.
        const bool fromOutside = w->killKind == PoolWorker::KillKind::None
                                 && (w->process->lostItsServer()
                                     || (sig != 0 && !ForkServer::isCrashSignal(sig)));
        startFailure = fromOutside ? StartFailure::Killed : StartFailure::Fatal;
    }
    removeWorker(w, code, sig, startFailure);
}

void PoolCore::removeWorker(PoolWorker *w, int exitCode, int sig, StartFailure startFailure)
{
    withdraw(w); // tasks sent to it directly fail or go back to the queue like the rest
    w->stopTimers();
    QString reason;
    if (w->killKind != PoolWorker::KillKind::None && w->killKind != PoolWorker::KillKind::Stopped)
        reason = w->killReason;
    else if (w->retiring && exitCode == 0 && sig == 0)
        reason = QStringLiteral("retired");
    else
        reason = exitDescription(exitCode, sig);

    // The snapshot first, so that whoever sees a task fail also sees the crash.
    const qint64 pid = w->pid;
    const bool deliberate = w->killKind == PoolWorker::KillKind::Stopped
                            || w->killKind == PoolWorker::KillKind::Timeout
                            || w->killKind == PoolWorker::KillKind::Cancelled;
    m_ledger.workerRemoved(pid, !deliberate && startFailure == StartFailure::None
                                    && (sig != 0 || exitCode != 0));
    settleTasksOf(w, exitCode, sig);

    w->input.close();
    QObject::disconnect(w->process, nullptr, this, nullptr);
    QObject::disconnect(w, nullptr, this, nullptr);
    const auto it = std::find_if(m_workers.begin(), m_workers.end(),
                                 [w](const auto &o) { return o.get() == w; });
    // Later: this may run inside a signal of its process.
    it->release()->deleteLater();
    m_workers.erase(it); // w is gone from here on

    Q_EMIT workerExited(pid, sig ? -1 : exitCode, sig, reason);

    if (startFailure == StartFailure::Killed) {
        startKilled(reason);
    } else if (startFailure == StartFailure::Fatal) {
        if (++m_consecutiveStartFailures >= maxConsecutiveStartFailures) {
            becomeBroken(QStringLiteral("%1 workers in a row failed to start; the last one: %2")
                             .arg(m_consecutiveStartFailures)
                             .arg(reason));
        }
    }
    postDispatch(); // queued: a start failure inside spawnWorker() must not recurse
}

void PoolCore::settleTasksOf(PoolWorker *w, int exitCode, int sig)
{
    if (w->inFlight.empty())
        return;
    // The running task fails; tasks it had prefetched but not started go back to the queue.
    // So does the first one if the worker died (of something other than us) before reading a
    // byte of it: it was sent to a worker that was already dying, and never ran.
    std::vector<std::unique_ptr<WorkItem>> failed;
    WorkItem &front = *w->inFlight.front();
    const qint64 consumed = w->input.consumed();
    const bool unread = w->killKind == PoolWorker::KillKind::None && !front.requeuedUnread
                        && front.inputOffset >= 0 && consumed >= 0
                        && consumed <= front.inputOffset;
    if (unread) {
        front.requeuedUnread = true;
    } else {
        failed.push_back(std::move(w->inFlight.front()));
        w->inFlight.pop_front();
    }
    std::deque<std::unique_ptr<WorkItem>> requeue;
    if (w->killKind == PoolWorker::KillKind::Stopped) {
        for (auto &item : w->inFlight)
            failed.push_back(std::move(item));
    } else {
        requeue = std::move(w->inFlight);
    }
    w->inFlight.clear();
    for (auto &item : failed) {
        switch (w->killKind) {
        case PoolWorker::KillKind::Stopped: {
            const PoolStopped error(QStringLiteral("the pool of %1 was stopped without waiting; "
                                                   "its worker was killed while task '%2' ran")
                                        .arg(m_label, item->taskName));
            finishTask(*item, TaskState::Failed, &error);
            break;
        }
        case PoolWorker::KillKind::Protocol: {
            const ProtocolError error(w->killReason);
            finishTask(*item, TaskState::Failed, &error);
            break;
        }
        case PoolWorker::KillKind::Timeout: {
            const TaskTimeout error(item->taskName, item->timeoutMs, w->pid);
            finishTask(*item, TaskState::Failed, &error);
            break;
        }
        case PoolWorker::KillKind::Cancelled:
            finishTask(*item, TaskState::Cancelled);
            break;
        default: {
            const WorkerCrashed error(item->taskName, w->pid, exitCode, sig, w->stderrTail);
            finishTask(*item, TaskState::Failed, &error);
        }
        }
        m_retired.push_back(std::move(item));
    }
    if (!requeue.empty()) {
        QMutexLocker locker(&m_mutex); // back in the queue and counted so in one step
        while (!requeue.empty()) {
            m_ledger.requeued(*requeue.back());
            m_pending.push_front(std::move(requeue.back()));
            requeue.pop_back();
        }
    }
}

void PoolCore::startSucceeded()
{
    m_consecutiveStartFailures = 0;
    m_consecutiveStartKills = 0;
}

void PoolCore::startKilled(const QString &reason)
{
    // Workers that end together count once: a fork server killed while it started four of
    // them is one kill, not four.
    if (m_restartTimer.isActive())
        return;
    if (++m_consecutiveStartKills >= maxConsecutiveStartKills) {
        becomeBroken(QStringLiteral("%1 workers in a row were killed before they were ready; "
                                    "the last one: %2")
                         .arg(m_consecutiveStartKills)
                         .arg(reason));
        return;
    }
    const int delay = m_consecutiveStartKills == 1
                          ? 0
                          : std::min(restartDelayMaxMs,
                                     restartDelayFirstMs << std::min(m_consecutiveStartKills - 2, 16));
    Q_EMIT workerLog(0, QStringLiteral("procpool: a worker was killed before it was ready (%1); "
                                       "starting another in %2 ms")
                            .arg(reason)
                            .arg(delay));
    m_restartTimer.start(delay);
}

void PoolCore::retire(PoolWorker *w)
{
    if (w->shutdownSent || w->exited)
        return;
    withdraw(w);
    w->retiring = true;
    if (!w->inFlight.empty())
        return; // a submitting thread handed it a task meanwhile: it retires after that one
    w->shutdownSent = true;
    w->state = WorkerState::Exiting;
    w->stopTimers();
    if (w->helloReceived)
        w->input.send(encodeFrame(FrameType::Shutdown, 0));
    w->input.closeWhenSent(); // the worker then reads end of input
    updateInfo(w);
}

void PoolCore::retireIfDone(PoolWorker *w)
{
    const bool usedUp = m_options.maxTasksPerWorker > 0 && w->handedOut >= m_options.maxTasksPerWorker;
    if ((usedUp || w->retiring) && w->inFlight.empty())
        retire(w);
    else if (usedUp)
        w->retiring = true; // no new work; it exits after what it holds
}

void PoolCore::trimRings(PoolWorker *w)
{
    if (!w->inFlight.empty() || !w->toWorker)
        return;
    if (!w->toWorker->trim()) {
        w->retryTrim(); // the worker still uses a call's bytes: later
        return;
    }
    w->fromWorker->trim();
    w->ringsUsed = false;
}

void PoolCore::applyResize()
{
    // Shrink: idle workers first, then busy ones once their work is done.
    int excess = activeWorkerCount() - maxWorkers();
    for (const auto &w : m_workers) {
        if (excess <= 0)
            break;
        if (w->isActive() && w->inFlight.empty()) {
            retire(w.get());
            --excess;
        }
    }
    for (const auto &w : m_workers) {
        if (excess <= 0)
            break;
        if (w->isActive()) {
            w->retiring = true;
            updateInfo(w.get());
            --excess;
        }
    }
    dispatch(); // grow, if work waits
}

int PoolCore::activeWorkerCount() const
{
    // Workers on their way out do not count: their replacement may start at once.
    return int(std::count_if(m_workers.begin(), m_workers.end(),
                             [](const auto &w) { return w->isActive(); }));
}

// ---- engine thread: stopping ------------------------------------------------------------

void PoolCore::applyStop()
{
    std::deque<std::unique_ptr<WorkItem>> dropped;
    StopMode mode;
    bool announce = false;
    {
        QMutexLocker locker(&m_mutex);
        mode = m_stopMode;
        if (m_state == PoolState::Running) {
            m_state = PoolState::Stopping;
            announce = true;
        }
        if (mode >= StopMode::DropQueued)
            dropped.swap(m_pending);
        roomChanged();
    }
    if (announce)
        Q_EMIT stateChanged(PoolState::Stopping);
    for (auto &item : dropped) {
        const PoolStopped error(QStringLiteral("the pool of %1 was stopped before task '%2' "
                                               "started")
                                    .arg(m_label, item->taskName));
        finishTask(*item, TaskState::Failed, &error);
    }
    if (mode == StopMode::Kill) {
        for (const auto &w : m_workers)
            killWorker(w.get(), PoolWorker::KillKind::Stopped, QString());
    }
    dispatch();
    checkStopped();
}

void PoolCore::checkStopped()
{
    {
        QMutexLocker locker(&m_mutex);
        if (!m_stopRequested || m_state == PoolState::Stopped || !m_pending.empty())
            return; // still draining: dispatch() replaces workers as needed
    }
    for (const auto &w : m_workers) {
        if (w->inFlight.empty() && !w->shutdownSent && w->killKind == PoolWorker::KillKind::None)
            retire(w.get());
    }
    if (!m_workers.empty())
        return;
    {
        QMutexLocker locker(&m_mutex);
        m_state = PoolState::Stopped;
    }
    m_sweepTimer.stop();
    Q_EMIT stateChanged(PoolState::Stopped);
    {
        // Only now may a stop() that waits return: a start() after it announces Running after
        // this Stopped, never before it.
        QMutexLocker locker(&m_mutex);
        m_stopAnnounced = true;
        m_stoppedCondition.notify_all();
    }
    QMetaObject::invokeMethod(
        this, [this] { Engine::instance().release(this); }, Qt::QueuedConnection);
}

void PoolCore::becomeBroken(const QString &reason)
{
    const QString message = QStringLiteral("the process pool of %1 is broken: %2. Fix the cause, "
                                           "then stop() and start() the pool again")
                                .arg(m_label, reason);
    std::deque<std::unique_ptr<WorkItem>> pending;
    {
        QMutexLocker locker(&m_mutex);
        if (m_state == PoolState::Broken)
            return;
        m_state = PoolState::Broken;
        m_brokenReason = message;
        pending.swap(m_pending);
        roomChanged();
    }
    const PoolBroken error(message);
    for (auto &item : pending)
        finishTask(*item, TaskState::Failed, &error);
    Q_EMIT stateChanged(PoolState::Broken);
}

} // namespace procpool::detail
