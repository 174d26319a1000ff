#include "poolcore_p.h"

#include "engine_p.h"

#include <QtCore/QCborArray>
#include <QtCore/QCborMap>
#include <QtCore/QCoreApplication>
#include <QtCore/QFileInfo>
#include <QtCore/QSocketNotifier>
#include <QtCore/QThread>

#include <algorithm>
#include <iterator>
#include <limits>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
#define PROCPOOL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PROCPOOL_TSAN 1
#endif
#endif
#ifdef PROCPOOL_TSAN
#include <sanitizer/tsan_interface.h>
#endif

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

//! A call another thread posts to a pool's engine thread. Qt's event queue orders everything
//! the posting thread did before posting it (down to building the pool, when it is the first
//! call to reach the engine thread), but it does so inside Qt, which ThreadSanitizer builds do
//! not instrument; there the hand-over is announced to it once the event is complete, which is
//! why this is an event of our own rather than QMetaObject::invokeMethod(), whose slot object
//! Qt builds after any announcement could be made. Other builds add nothing.
class PostedCall : public QEvent
{
public:
    static QEvent::Type eventType()
    {
        static const auto type = QEvent::Type(QEvent::registerEventType());
        return type;
    }
    explicit PostedCall(std::function<void()> call) : QEvent(eventType()), m_call(std::move(call)) {}
    void run() { m_call(); }

private:
    std::function<void()> m_call;
};

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

//! Lines of a worker's stderr kept for crash reports.
constexpr int stderrTailLines = 20;
constexpr qsizetype maxLogLineBytes = 64 * 1024; //!< longer output lines are cut into pieces
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

} // namespace

PoolCore::PoolCore(const PoolOptions &options, const QString &label)
    : m_options(options)
    , m_label(label)
    , m_program(options.startContext.resolvedProgram())
    , m_ownProgram(QFileInfo(m_program).canonicalFilePath()
                   == QFileInfo(StartContext().resolvedProgram()).canonicalFilePath())
    , m_maxWorkers(options.maxWorkers)
    , m_minWorkers(options.minWorkers)
{
    if (!options.initializer.isEmpty()) {
        QCborArray arguments;
        for (const QVariant &argument : options.initializerArguments)
            arguments.append(encodeVariant(argument));
        m_initializerBody = QCborArray{options.initializer, arguments}.toCborValue().toCbor();
    }
    m_clock.start();
    m_clockStartMs = QDateTime::currentMSecsSinceEpoch();
    m_sweepTimer = new QTimer(this); // moves to the engine thread with its parent
    m_sweepTimer->setInterval(cancelSweepIntervalMs);
    connect(m_sweepTimer, &QTimer::timeout, this, &PoolCore::sweepCancelled);
    m_restartTimer = new QTimer(this);
    m_restartTimer->setSingleShot(true);
    connect(m_restartTimer, &QTimer::timeout, this, &PoolCore::dispatch);
    m_outputTimer = new QTimer(this);
    m_outputTimer->setInterval(outputRetryMs);
    connect(m_outputTimer, &QTimer::timeout, this, [this] {
        bool waiting = false;
        for (const auto &w : m_workers) {
            reportDroppedOutput(w.get(), false);
            waiting = waiting || w->droppedLines > 0;
        }
        if (!waiting)
            m_outputTimer->stop();
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
    std::vector<std::unique_ptr<WorkItem>> reclaimed; // freed last, after every lock
    QString broken;
    bool wake = false;
    const quint64 id = item->id;
    RecordMap::node_type record;
    if (m_options.taskHistory > 0) {
        // The record's node is allocated here, outside the lock that the engine thread takes
        // for every task it starts and finishes.
        RecordMap one;
        StoredRecord &r = one[id];
        r.taskName = item->taskName;
        r.taskType = item->taskType;
        r.submittedMs = recordTimeMs();
        record = one.extract(one.begin());
    }
    {
        // Counted and recorded before the item can be dispatched: the engine thread may run
        // and finish a task before this thread comes back from m_mutex, and a record added
        // after its finish would stay "queued" for ever.
        QMutexLocker locker(&m_infoMutex);
        ++m_stats.submitted;
        if (record) {
            record.mapped().serial = ++m_recordSerial;
            // Ids grow, so the new record nearly always goes at the end.
            item->recordAt = m_records.insert(m_records.end(), std::move(record));
            item->record = &item->recordAt->second;
        }
    }
    {
        QMutexLocker locker(&m_mutex);
        reclaimed.swap(m_graveyard);
        if (reserved)
            --m_reservedRoom; // this task takes the place reserveRoom() held for it
        if (!m_accepting) {
            locker.unlock();
            QMutexLocker infoLocker(&m_infoMutex);
            m_records.erase(id);
            item->record = nullptr;
            --m_stats.submitted;
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
            // decides after taking the lock. The engine thread adopts it (counters, record,
            // timers) when it next runs, off the round trip's critical path.
            WorkerProcess *w = m_directIdle.back();
            m_directIdle.pop_back();
            {
                QMutexLocker infoLocker(&m_infoMutex); // running from here on, not queued
                ++m_stats.running;
            }
            item->sentNs = m_clock.nsecsElapsed();
            const QByteArray frame = item->frame;
            WorkItem *sent = item.get();
            w->handoff.push_back(std::move(item));
            w->hasHandoff.store(true, std::memory_order_release);
            sent->inputOffset = sendToWorker(w, frame, true);
            wake = true;
        } else {
            m_pending.push_back(std::move(item));
            wake = !m_saturated;
        }
    }
    if (!broken.isEmpty()) {
        {
            QMutexLocker locker(&m_infoMutex);
            ++m_stats.failed;
        }
        recordFinished(*item, TaskState::Failed, broken);
        item->sink->fail(PoolBroken(broken));
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
    auto *event = new PostedCall(std::move(call));
#ifdef PROCPOOL_TSAN
    __tsan_release(this);
#endif
    QCoreApplication::postEvent(this, event);
}

bool PoolCore::event(QEvent *e)
{
    if (e->type() != PostedCall::eventType())
        return QObject::event(e);
#ifdef PROCPOOL_TSAN
    __tsan_acquire(this);
#endif
    static_cast<PostedCall *>(e)->run();
    return true;
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
    // std::condition_variable_any releases and retakes m_mutex through QMutex's inline
    // functions, where ThreadSanitizer sees it; QWaitCondition does so inside Qt.
    QMutexLocker locker(&m_mutex);
    m_stoppedCondition.wait(m_mutex, [this] { return m_stopAnnounced; });
}

PoolState PoolCore::state() const
{
    QMutexLocker locker(&m_mutex);
    return m_state;
}

QList<WorkerInfo> PoolCore::workers() const
{
    // A copy of each element, not of the list: the engine thread updates m_infoSnapshot in
    // place, and a list shared with a caller's copy would be detached by whichever side writes
    // first, a hand-over that implicit sharing orders with a relaxed load only.
    QMutexLocker locker(&m_infoMutex);
    return QList<WorkerInfo>(m_infoSnapshot.cbegin(), m_infoSnapshot.cend());
}

PoolStats PoolCore::stats() const
{
    // A task moves between queued and running under m_mutex (with m_infoMutex taken inside
    // it, always in that order), so the two counts are read together here.
    QMutexLocker locker(&m_mutex);
    QMutexLocker infoLocker(&m_infoMutex);
    PoolStats s = m_stats;
    s.queued = qint64(m_pending.size());
    return s;
}

// ---- engine thread: dispatch -----------------------------------------------------------

void PoolCore::dispatch()
{
    m_dispatchPosted.store(false, std::memory_order_release);

    std::vector<std::pair<WorkerProcess *, std::vector<WorkItem *>>> writes;
    std::vector<std::unique_ptr<WorkItem>> cancelled;
    qsizetype remaining = 0;
    qint64 handedOut = 0;
    qsizetype starting = 0;
    for (const auto &w : m_workers)
        if ((!w->helloReceived || w->initializing) && !w->exited
            && w->killKind == WorkerProcess::KillKind::None)
            ++starting;
    std::vector<std::tuple<WorkerProcess *, qsizetype, bool>> adoptions;
    std::vector<std::unique_ptr<WorkItem>> retired; // freed last, after every lock
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
        // Hands out items until each ready worker holds \a depth of them. With automatic
        // prefetch, a worker holding a running and a prefetched task takes more only while the
        // work it has waiting is expected to take less than automaticPrefetchBudgetNs().
        const bool automatic = m_options.prefetch == PoolOptions::automaticPrefetch;
        const qint64 budget = automaticPrefetchBudgetNs();
        auto fill = [&](size_t depth) {
            for (const auto &w : m_workers) {
                if (m_pending.empty())
                    return;
                if (!isReady(w.get()))
                    continue;
                std::vector<WorkItem *> batch;
                while (w->inFlight.size() < depth && !m_pending.empty()
                       && (m_options.maxTasksPerWorker == 0
                           || w->handedOut < m_options.maxTasksPerWorker)) {
                    WorkItem &next = *m_pending.front();
                    const qint64 expected = expectedServiceNs(next);
                    if (automatic && w->inFlight.size() >= 2
                        && (expected < 0 || w->waitingNs + expected > budget))
                        break;
                    std::unique_ptr<WorkItem> item = std::move(m_pending.front());
                    m_pending.pop_front();
                    if (item->sink->isCanceled()) {
                        cancelled.push_back(std::move(item));
                        continue;
                    }
                    item->expectedNs = std::max<qint64>(expected, 0);
                    item->sentNs = m_clock.nsecsElapsed();
                    if (!w->inFlight.empty())
                        w->waitingNs += item->expectedNs;
                    batch.push_back(item.get()); // the frame is kept: a crash re-queues it
                    w->inFlight.push_back(std::move(item));
                    ++w->handedOut;
                    ++handedOut;
                }
                if (!batch.empty())
                    writes.emplace_back(w.get(), std::move(batch));
            }
        };
        // First every idle worker gets one task. Prefetch comes second, and only once no more
        // workers may start, leaving starting workers the share they will take: parallelism
        // before pipelining.
        fill(1);
        const bool canGrow = activeWorkerCount() < maxWorkers();
        const int prefetch = automatic ? automaticPrefetchMax : m_options.prefetch;
        const qsizetype reserved = starting * (automatic ? 2 : 1 + prefetch);
        if (!canGrow && prefetch > 0 && qsizetype(m_pending.size()) > reserved) {
            std::deque<std::unique_ptr<WorkItem>> kept;
            for (qsizetype i = 0; i < reserved; ++i) {
                kept.push_back(std::move(m_pending.back()));
                m_pending.pop_back();
            }
            fill(size_t(1 + prefetch));
            while (!kept.empty()) {
                m_pending.push_back(std::move(kept.back()));
                kept.pop_back();
            }
        }
        remaining = qsizetype(m_pending.size());
        if (handedOut || !cancelled.empty())
            roomChanged();
        // Every worker is full, the pool cannot grow, and some worker holds work: its next
        // answer runs dispatch() again, so submissions need not wake this thread until then.
        m_saturated = remaining > 0 && !canGrow
            && std::any_of(m_workers.begin(), m_workers.end(), [](const auto &w) {
                   return !w->inFlight.empty() && !w->exited
                       && w->killKind == WorkerProcess::KillKind::None;
               });
        // Workers left idle may take the next submission directly from its thread. Not with a
        // per-worker task limit (counted here, on the engine thread).
        if (remaining == 0 && m_state == PoolState::Running && m_options.maxTasksPerWorker == 0)
            for (const auto &w : m_workers)
                if (w->inFlight.empty() && isReady(w.get()) && w->inputFd >= 0)
                    m_directIdle.push_back(w.get());
        if (handedOut || !cancelled.empty()) {
            // Off the queue and counted in one step: stats() never sees a task in neither.
            QMutexLocker infoLocker(&m_infoMutex);
            m_stats.running += handedOut;
            m_stats.cancelled += cancelled.size();
        }
    }
    for (auto &[w, n, wasIdle] : adoptions)
        adopted(w, n, wasIdle);

    // Outside the lock: copying attachments into shared memory may take a while.
    for (auto &[w, items] : writes) {
        QByteArray batch;
        // items[unsent, upTo) start in batch; until it is sent, their inputOffset says where.
        size_t unsent = 0;
        auto send = [&, w = w, &items = items](size_t upTo) {
            const qint64 at = sendToWorker(w, std::exchange(batch, QByteArray()));
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
                    send(i + 1);
                    for (const QByteArray &part : a.inlineParts)
                        sendToWorker(w, part); // queued by reference, not copied
                }
            }
            batch += item->frame;
        }
        send(items.size());
        frontChanged(w);
        updateInfo(w);
    }
    for (auto &item : cancelled) {
        recordFinished(*item, TaskState::Cancelled);
        item->sink->finishCanceled();
    }

    // Start workers lazily: one for each queued task no starting worker will take, up to
    // maxWorkers; and always minWorkers of them while the pool runs.
    const bool running = m_state == PoolState::Running;
    while (((remaining > starting) || (running && activeWorkerCount() < m_minWorkers.load()))
           && activeWorkerCount() < maxWorkers() && m_state != PoolState::Broken
           && !m_restartTimer->isActive()) {
        spawnWorker();
        ++starting;
    }

    if (!m_sweepTimer->isActive() && (remaining > 0 || handedOut > 0))
        m_sweepTimer->start();
    checkStopped();
}

void PoolCore::spawnWorker()
{
    auto owned = std::make_unique<WorkerProcess>();
    WorkerProcess *w = owned.get();
    w->index = m_nextWorkerIndex++;
    const QString prefix = m_options.processNamePrefix.isEmpty() ? QStringLiteral("procpool")
                                                                 : m_options.processNamePrefix;
    w->name = QStringLiteral("%1-%2").arg(prefix).arg(w->index);
    w->decoder = std::make_unique<FrameDecoder>(m_options.maxFrameSize);

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

    auto *p = new ChildProcess(this);
    w->process = p;

    // The worker's standard input is a pipe of our own, so that a submitting thread can write
    // a Call to an idle worker itself. We keep its read end open too: a write to a worker that
    // died then fails neither with EPIPE nor with SIGPIPE in the application (the bytes are
    // dropped with the pipe when the exit is handled).
    int input[2] = {-1, -1};
    int inputError = 0;
    if (::pipe2(input, O_CLOEXEC) == 0) {
        if (input[0] <= STDERR_FILENO) { // dup2() onto itself would keep close-on-exec
            const int high = ::fcntl(input[0], F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
            inputError = errno;
            ::close(input[0]);
            input[0] = high;
        }
        ::fcntl(input[1], F_SETPIPE_SZ, 1024 * 1024); // room for a large inline attachment
        ::fcntl(input[1], F_SETFL, ::fcntl(input[1], F_GETFL) | O_NONBLOCK);
        w->inputFd = input[1];
        w->inputReadFd = input[0];
        w->writeNotifier = new QSocketNotifier(input[1], QSocketNotifier::Write, p);
        w->writeNotifier->setEnabled(false);
        connect(w->writeNotifier, &QSocketNotifier::activated, this, [this, w] { flushToWorker(w); });
    } else {
        inputError = errno;
        input[0] = input[1] = -1;
    }
    setup.input = input[0];

    connect(p, &ChildProcess::readyReadStandardOutput, this, [this, w] { onStdout(w); });
    connect(p, &ChildProcess::readyReadStandardError, this, [this, w] { onStderr(w); });
    connect(p, &ChildProcess::finished, this,
            [this, w](int code, QProcess::ExitStatus status) { onFinished(w, code, status); });
    connect(p, &ChildProcess::failedToStart, this, [this, w] { onStartFailed(w); });
    connect(p, &ChildProcess::started, this, [this, w](qint64 pid) { onStarted(w, pid); });

    w->taskTimer = new QTimer(p);
    w->taskTimer->setSingleShot(true);
    connect(w->taskTimer, &QTimer::timeout, this, [this, w] {
        if (w->inFlight.empty())
            return;
        killWorker(w, WorkerProcess::KillKind::Timeout,
                   QStringLiteral("task '%1' timed out after %2 ms")
                       .arg(w->inFlight.front()->taskName)
                       .arg(w->inFlight.front()->timeoutMs));
    });
    if (w->toWorker) {
        // A ring keeps its pages while the worker is busy, so that the next large payload
        // does not fault them in again; once the worker has been idle a while they go back.
        w->trimTimer = new QTimer(p);
        w->trimTimer->setSingleShot(true);
        w->trimTimer->setInterval(ringTrimDelayMs);
        connect(w->trimTimer, &QTimer::timeout, this, [this, w] {
            adoptHandoff(w); // and off m_directIdle: no task can reach it during the trim
            if (!w->inFlight.empty())
                return;
            if (!w->toWorker->trim()) {
                w->trimTimer->start(); // the worker still uses a call's bytes: later
                return;
            }
            w->fromWorker->trim();
            w->ringsUsed = false;
        });
    }
    w->idleTimer = new QTimer(p);
    w->idleTimer->setSingleShot(true);
    connect(w->idleTimer, &QTimer::timeout, this, [this, w] {
        if (w->inFlight.empty() && isReady(w) && activeWorkerCount() > m_minWorkers.load())
            retire(w);
    });

    w->handshakeTimer = new QTimer(p);
    w->handshakeTimer->setSingleShot(true);
    connect(w->handshakeTimer, &QTimer::timeout, this, [this, w] {
        killWorker(w, WorkerProcess::KillKind::Handshake,
                   QStringLiteral("worker %1 did not complete the handshake within %2 ms")
                       .arg(w->name)
                       .arg(m_options.handshakeTimeout.count()));
    });

    m_workers.push_back(std::move(owned));
    if (setup.input < 0) {
        w->killKind = WorkerProcess::KillKind::Handshake;
        w->killReason = QStringLiteral("cannot create the input channel of a worker: %1")
                            .arg(QString::fromLocal8Bit(std::strerror(inputError)));
        Q_EMIT workerLog(0, QStringLiteral("procpool: ") + w->killReason);
        removeWorker(w, -1, 0, StartFailure::Fatal);
        return;
    }
    // The handshake's time runs from here: it covers a fork server's own start too.
    w->handshakeTimer->start(int(m_options.handshakeTimeout.count()));
    p->start(setup); // may report started() or failedToStart() (which removes w) inside
}

void PoolCore::onStarted(WorkerProcess *w, qint64 pid)
{
    w->pid = pid;
    w->info.pid = w->pid;
    w->info.name = w->name;
    w->info.state = WorkerState::Starting;
    w->info.startedAt = QDateTime::currentDateTime();
    {
        QMutexLocker locker(&m_infoMutex);
        m_infoSnapshot.append(w->info);
        ++m_stats.workersStarted;
    }
    Q_EMIT workerStarted(w->pid, w->name);
}

// ---- engine thread: frames ---------------------------------------------------------------

void PoolCore::onStdout(WorkerProcess *w)
{
    // An answer to a task a submitting thread sent must find it in inFlight. (The flag is set
    // before the task is sent, so a worker's answer is never read before it.)
    if (w->hasHandoff.load(std::memory_order_acquire))
        adoptHandoff(w);
    QByteArray data = w->process->readAllStandardOutput();
    if (data.isEmpty() || w->killKind != WorkerProcess::KillKind::None)
        return;
    w->decoder->append(std::move(data));
    Frame frame;
    for (;;) {
        const auto status = w->decoder->next(&frame);
        if (status == FrameDecoder::Status::NeedMore)
            break;
        if (status == FrameDecoder::Status::Error) {
            killWorker(w, WorkerProcess::KillKind::Protocol,
                       QStringLiteral("worker %1 (pid %2) broke the protocol: %3")
                           .arg(w->name)
                           .arg(w->pid)
                           .arg(w->decoder->errorString()));
            return;
        }
        handleFrame(w, frame);
        if (w->killKind != WorkerProcess::KillKind::None)
            return;
    }
    dispatch();
}

void PoolCore::handleFrame(WorkerProcess *w, const Frame &frame)
{
    if (!w->helloReceived) {
        if (frame.type != FrameType::Hello) {
            killWorker(w, WorkerProcess::KillKind::Protocol,
                       QStringLiteral("worker %1 sent a %2 frame before its Hello")
                           .arg(w->name, QString::fromLatin1(frameTypeName(frame.type))));
            return;
        }
        handleHello(w, frame);
        return;
    }
    switch (frame.type) {
    case FrameType::Attachments: {
        QString error;
        // Copied out, never used in place: the worker can still write its ring.
        if (!decodeAttachments(frame.body, w->fromWorker.get(), m_options.maxFrameSize,
                               Placement::Copy, &w->attachments, &error)) {
            killWorker(w, WorkerProcess::KillKind::Protocol,
                       QStringLiteral("worker %1 sent a malformed Attachments frame: %2")
                           .arg(w->name, error));
            return;
        }
        w->attachmentsId = frame.id;
        w->ringsUsed = w->ringsUsed || w->fromWorker;
        return;
    }
    case FrameType::Result:
    case FrameType::MapResult:
    case FrameType::Error:
    case FrameType::Progress:
        handleOutcome(w, frame);
        return;
    default:
        killWorker(w, WorkerProcess::KillKind::Protocol,
                   QStringLiteral("worker %1 sent an unexpected %2 frame")
                       .arg(w->name, QString::fromLatin1(frameTypeName(frame.type))));
    }
}

void PoolCore::handleHello(WorkerProcess *w, const Frame &frame)
{
    QCborValue hello;
    QString error;
    if (!parseBody(frame.body, &hello, &error) || !hello.isMap()) {
        killWorker(w, WorkerProcess::KillKind::Protocol,
                   QStringLiteral("worker %1 sent a malformed Hello: %2")
                       .arg(w->name, error.isEmpty() ? QStringLiteral("not a map") : error));
        return;
    }
    const QCborMap map = hello.toMap();
    const qint64 version = integerOr(map.value(QStringLiteral("protocol")), -1);
    if (version != protocolVersion) {
        killWorker(w, WorkerProcess::KillKind::Handshake,
                   QStringLiteral("protocol version mismatch: worker program '%1' speaks "
                                  "version %2, this procpool speaks version %3; rebuild the "
                                  "worker program against this procpool")
                       .arg(m_program)
                       .arg(version)
                       .arg(protocolVersion));
        return;
    }
    w->helloReceived = true;
    w->sharedMemory = w->toWorker && map.value(QStringLiteral("shm")).toBool();
    if (!m_initializerBody.isEmpty()) {
        // The handshake timer keeps running: a worker is started once its initializer is done.
        w->initializing = true;
        w->initializerId = Engine::instance().nextTaskId();
        sendToWorker(w, encodeFrame(FrameType::Call, w->initializerId, m_initializerBody));
        return;
    }
    w->handshakeTimer->stop();
    w->state = WorkerState::Idle;
    startSucceeded();
    updateInfo(w);
    frontChanged(w);
}

void PoolCore::handleOutcome(WorkerProcess *w, const Frame &frame)
{
    // The attachments received just before belong to this outcome (and to nothing else).
    QList<QByteArray> attachments;
    if (w->attachmentsId != 0 && frame.type != FrameType::Progress) {
        if (w->attachmentsId != frame.id) {
            killWorker(w, WorkerProcess::KillKind::Protocol,
                       QStringLiteral("worker %1 sent attachments for task id %2 and then "
                                      "answered task id %3")
                           .arg(w->name)
                           .arg(w->attachmentsId)
                           .arg(frame.id));
            return;
        }
        attachments.swap(w->attachments);
        w->attachmentsId = 0;
    }
    if (w->initializing && frame.id == w->initializerId && frame.type != FrameType::Progress) {
        if (frame.type == FrameType::Error) {
            QCborValue error;
            QString parseError;
            parseBody(frame.body, &error, &parseError);
            const QCborMap e = error.toMap();
            killWorker(w, WorkerProcess::KillKind::Handshake,
                       QStringLiteral("initializer '%1' failed in worker %2: %3: %4")
                           .arg(m_options.initializer, w->name,
                                e.value(QStringLiteral("type")).toString(),
                                e.value(QStringLiteral("message")).toString()));
            return;
        }
        w->initializing = false;
        w->handshakeTimer->stop();
        w->state = WorkerState::Idle;
        startSucceeded();
        updateInfo(w);
        frontChanged(w);
        return;
    }
    if (w->inFlight.empty() || w->inFlight.front()->id != frame.id) {
        killWorker(w, WorkerProcess::KillKind::Protocol,
                   QStringLiteral("worker %1 answered task id %2, which it was not running")
                       .arg(w->name)
                       .arg(frame.id));
        return;
    }
    const bool chunk = w->inFlight.front()->chunk;
    if ((frame.type == FrameType::Result && chunk) || (frame.type == FrameType::MapResult && !chunk)) {
        killWorker(w, WorkerProcess::KillKind::Protocol,
                   QStringLiteral("worker %1 answered a %2 with a %3 frame")
                       .arg(w->name, QLatin1String(chunk ? "MapCall" : "Call"),
                            QLatin1String(frameTypeName(frame.type))));
        return;
    }
    QCborValue body;
    QString error;
    if (!parseBody(frame.body, &body, &error)) {
        killWorker(w, WorkerProcess::KillKind::Protocol,
                   QStringLiteral("worker %1 sent a malformed %2 frame: %3")
                       .arg(w->name, QString::fromLatin1(frameTypeName(frame.type)), error));
        return;
    }
    WorkItem &current = *w->inFlight.front();
    if (frame.type == FrameType::Progress) {
        const QCborArray p = body.toArray();
        auto toInt = [](const QCborValue &v) {
            return int(std::clamp<qint64>(integerOr(v, 0), std::numeric_limits<int>::min(),
                                          std::numeric_limits<int>::max()));
        };
        const int value = toInt(p.at(0));
        const int maximum = toInt(p.at(1));
        const QString text = p.at(2).toString();
        if (m_options.taskHistory > 0) {
            QMutexLocker locker(&m_infoMutex);
            if (StoredRecord *r = current.record) {
                r->progressValue = value;
                r->progressMaximum = maximum;
                r->progressText = text;
                r->serial = ++m_recordSerial;
            }
        }
        current.sink->progress(value, maximum, text);
        return;
    }

    std::unique_ptr<WorkItem> item = std::move(w->inFlight.front());
    w->inFlight.pop_front();
    learnServiceTime(w, *item);
    bool ok = frame.type == FrameType::Result || frame.type == FrameType::MapResult;
    // Counters first, so that whoever sees the future finish also sees it counted.
    {
        QMutexLocker locker(&m_infoMutex);
        --m_stats.running;
        ++(ok ? m_stats.completed : m_stats.failed);
    }
    QString errorText;
    if (!ok) {
        const QCborMap e = body.toMap();
        const QString type = e.value(QStringLiteral("type")).toString();
        errorText = e.value(QStringLiteral("message")).toString();
        if (e.value(QStringLiteral("kind")).toString() == QLatin1String("exception"))
            errorText = QStringLiteral("%1: %2").arg(type, errorText);
    }
    recordFinished(*item, ok ? TaskState::Finished : TaskState::Failed, errorText);
    frontChanged(w); // the next prefetched task starts now
    // The worker's snapshot before the future too: whoever sees it finish sees the worker done.
    ++(ok ? w->info.tasksDone : w->info.tasksFailed);
    updateInfo(w);
    if (ok) {
        try {
            const AttachmentScope scope(nullptr, &attachments);
            item->sink->deliver(body);
        } catch (const CodecError &e) {
            ok = false;
            {
                QMutexLocker locker(&m_infoMutex);
                --m_stats.completed;
                ++m_stats.failed;
            }
            --w->info.tasksDone;
            ++w->info.tasksFailed;
            updateInfo(w);
            recordFinished(*item, TaskState::Failed, e.message());
            item->sink->fail(CodecError(QStringLiteral("the result of task '%1' could not be "
                                                       "decoded: %2")
                                            .arg(item->taskName, e.message())));
        }
    } else {
        const QCborMap e = body.toMap();
        const QString kind = e.value(QStringLiteral("kind")).toString();
        const QString type = e.value(QStringLiteral("type")).toString();
        const QString message = e.value(QStringLiteral("message")).toString();
        if (kind == QLatin1String("unknown-task"))
            item->sink->fail(UnknownTaskName(item->taskName, {}));
        else if (kind == QLatin1String("codec"))
            item->sink->fail(CodecError(message));
        else if (kind == QLatin1String("protocol"))
            item->sink->fail(ProtocolError(message));
        else
            item->sink->fail(TaskException(item->taskName, type, message));
    }
    m_retired.push_back(std::move(item)); // freed by dispatch(), which follows
    retireIfDone(w);
}

// ---- engine thread: stderr, exits ------------------------------------------------------

void PoolCore::onStderr(WorkerProcess *w)
{
    w->stderrPartial += w->process->readAllStandardError();
    auto emitLine = [this, w](QByteArray line) {
        if (line.endsWith('\r'))
            line.chop(1);
        const QString text = QString::fromUtf8(line);
        w->stderrTail.append(text); // a crash report quotes it, dropped or not
        if (w->stderrTail.size() > stderrTailLines)
            w->stderrTail.removeFirst();
        emitOutput(w, text);
    };
    qsizetype start = 0;
    for (;;) {
        const qsizetype nl = w->stderrPartial.indexOf('\n', start);
        if (nl < 0)
            break;
        emitLine(w->stderrPartial.mid(start, nl - start));
        start = nl + 1;
    }
    // Output that never ends its line must not grow the buffer without bound: cut it.
    while (w->stderrPartial.size() - start >= maxLogLineBytes) {
        emitLine(w->stderrPartial.mid(start, maxLogLineBytes));
        start += maxLogLineBytes;
    }
    w->stderrPartial.remove(0, start);
}

void PoolCore::emitOutput(WorkerProcess *w, const QString &line)
{
    if (w->droppedLines > 0)
        reportDroppedOutput(w, false);
    if (w->droppedLines > 0 || m_outputMeter->full()) {
        ++w->droppedLines;
        if (!m_outputTimer->isActive())
            m_outputTimer->start();
        return;
    }
    Q_EMIT workerLog(w->pid, line);
}

void PoolCore::reportDroppedOutput(WorkerProcess *w, bool always)
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

void PoolCore::killWorker(WorkerProcess *w, WorkerProcess::KillKind kind, const QString &reason)
{
    if (w->killKind != WorkerProcess::KillKind::None)
        return;
    adoptHandoff(w); // and off m_directIdle: no submission may send to it from now on
    w->killKind = kind;
    w->killReason = reason;
    w->state = WorkerState::Exiting;
    if (kind != WorkerProcess::KillKind::Stopped)
        Q_EMIT workerLog(w->pid, QStringLiteral("procpool: ") + reason);
    w->process->kill();
}

void PoolCore::onStartFailed(WorkerProcess *w)
{
    const QString reason = QStringLiteral("cannot start worker program '%1': %2")
                               .arg(m_program, w->process->errorString());
    w->killKind = WorkerProcess::KillKind::Handshake;
    w->killReason = reason;
    Q_EMIT workerLog(0, QStringLiteral("procpool: ") + reason);
    removeWorker(w, -1, 0,
                 w->process->lostItsServer() ? StartFailure::Killed : StartFailure::Fatal);
}

void PoolCore::onFinished(WorkerProcess *w, int exitCode, QProcess::ExitStatus status)
{
    // Frames and lines written just before the exit still count.
    w->exited = true;
    if (w->killKind == WorkerProcess::KillKind::None)
        onStdout(w);
    onStderr(w);
    if (!w->stderrPartial.isEmpty()) {
        w->stderrPartial.append('\n');
        onStderr(w);
    }
    reportDroppedOutput(w, true);
    const int sig = status == QProcess::CrashExit ? exitCode : 0;
    const int code = status == QProcess::CrashExit ? -1 : exitCode;
    if (w->killKind == WorkerProcess::KillKind::None && !w->inFlight.empty()
        && w->decoder->bufferedBytes() > 0 && status == QProcess::NormalExit) {
        w->killKind = WorkerProcess::KillKind::Protocol;
        w->killReason = QStringLiteral("worker %1 (pid %2) exited in the middle of a frame "
                                       "(%3 bytes of a truncated frame)")
                            .arg(w->name)
                            .arg(w->pid)
                            .arg(w->decoder->bufferedBytes());
    }
    StartFailure startFailure = StartFailure::None;
    if ((!w->helloReceived || w->initializing) && w->killKind != WorkerProcess::KillKind::Stopped) {
        // Ended before it was ready, and not because the pool stopped. Killed from outside
        // (or along with its fork server): another start may well succeed. Anything else it
        // did itself (exited, crashed, broke the handshake), and would do again.
        const bool fromOutside = w->killKind == WorkerProcess::KillKind::None
                                 && (w->process->lostItsServer()
                                     || (sig != 0 && !ForkServer::isCrashSignal(sig)));
        startFailure = fromOutside ? StartFailure::Killed : StartFailure::Fatal;
    }
    removeWorker(w, code, sig, startFailure);
}

void PoolCore::startSucceeded()
{
    m_consecutiveStartFailures = 0;
    m_consecutiveStartKills = 0;
}

void PoolCore::startKilled(const QString &reason)
{
    m_lastStartFailure = reason;
    // Workers that end together count once: a fork server killed while it started four of
    // them is one kill, not four.
    if (m_restartTimer->isActive())
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
    m_restartTimer->start(delay);
}

void PoolCore::removeWorker(WorkerProcess *w, int exitCode, int sig, StartFailure startFailure)
{
    adoptHandoff(w); // tasks sent to it directly fail or go back to the queue like the rest
    w->handshakeTimer->stop();
    w->taskTimer->stop();
    w->idleTimer->stop();
    if (w->trimTimer)
        w->trimTimer->stop();
    QString reason;
    if (w->killKind != WorkerProcess::KillKind::None && w->killKind != WorkerProcess::KillKind::Stopped)
        reason = w->killReason;
    else if (w->retiring && exitCode == 0 && sig == 0)
        reason = QStringLiteral("retired");
    else
        reason = exitDescription(exitCode, sig);

    // Counters and snapshot first, so that whoever sees the task fail also sees the crash.
    const qint64 pid = w->pid;
    {
        QMutexLocker locker(&m_infoMutex);
        m_infoSnapshot.removeIf([pid](const WorkerInfo &i) { return i.pid == pid; });
        const bool deliberate = w->killKind == WorkerProcess::KillKind::Stopped
                                || w->killKind == WorkerProcess::KillKind::Timeout
                                || w->killKind == WorkerProcess::KillKind::Cancelled;
        if (!deliberate && startFailure == StartFailure::None && (sig != 0 || exitCode != 0))
            ++m_stats.workersCrashed;
    }

    // The running task fails; tasks it had prefetched but not started go back to the queue.
    // So does the first one if the worker died (of something other than us) before reading a
    // byte of it: it was sent to a worker that was already dying, and never ran.
    std::vector<std::unique_ptr<WorkItem>> failed;
    std::deque<std::unique_ptr<WorkItem>> requeue;
    if (!w->inFlight.empty()) {
        WorkItem &front = *w->inFlight.front();
        const qint64 consumed = inputConsumed(w);
        const bool unread = w->killKind == WorkerProcess::KillKind::None && !front.requeuedUnread
                            && front.inputOffset >= 0 && consumed >= 0
                            && consumed <= front.inputOffset;
        if (unread) {
            front.requeuedUnread = true;
        } else {
            failed.push_back(std::move(w->inFlight.front()));
            w->inFlight.pop_front();
        }
        if (w->killKind == WorkerProcess::KillKind::Stopped) {
            for (auto &item : w->inFlight)
                failed.push_back(std::move(item));
        } else {
            requeue = std::move(w->inFlight);
        }
        w->inFlight.clear();
    }
    for (auto &item : failed) {
        switch (w->killKind) {
        case WorkerProcess::KillKind::Stopped:
            failItem(*item, PoolStopped(QStringLiteral("the pool of %1 was stopped without "
                                                       "waiting; its worker was killed while "
                                                       "task '%2' ran")
                                            .arg(m_label, item->taskName)));
            break;
        case WorkerProcess::KillKind::Protocol:
            failItem(*item, ProtocolError(w->killReason));
            break;
        case WorkerProcess::KillKind::Timeout:
            failItem(*item, TaskTimeout(item->taskName, item->timeoutMs, w->pid));
            break;
        case WorkerProcess::KillKind::Cancelled: {
            {
                QMutexLocker locker(&m_infoMutex);
                --m_stats.running;
                ++m_stats.cancelled;
            }
            recordFinished(*item, TaskState::Cancelled);
            item->sink->finishCanceled();
            break;
        }
        default:
            failItem(*item, WorkerCrashed(item->taskName, w->pid, exitCode, sig, w->stderrTail));
        }
    }
    for (const auto &item : requeue)
        recordRequeued(*item);
    if (!requeue.empty()) {
        QMutexLocker locker(&m_mutex);
        QMutexLocker infoLocker(&m_infoMutex);
        m_stats.running -= qint64(requeue.size()); // counted again when handed out again
        while (!requeue.empty()) {
            m_pending.push_front(std::move(requeue.back()));
            requeue.pop_back();
        }
    }

    closeInput(w);
    ChildProcess *p = w->process;
    QObject::disconnect(p, nullptr, this, nullptr);
    p->deleteLater();
    const auto it = std::find_if(m_workers.begin(), m_workers.end(),
                                 [w](const auto &o) { return o.get() == w; });
    m_workers.erase(it); // w is gone from here on

    Q_EMIT workerExited(pid, sig ? -1 : exitCode, sig, reason);

    if (startFailure == StartFailure::Killed) {
        startKilled(reason);
    } else if (startFailure == StartFailure::Fatal) {
        m_lastStartFailure = reason;
        if (++m_consecutiveStartFailures >= maxConsecutiveStartFailures) {
            becomeBroken(QStringLiteral("%1 workers in a row failed to start; the last one: %2")
                             .arg(m_consecutiveStartFailures)
                             .arg(reason));
        }
    }
    postDispatch(); // queued: a start failure inside spawnWorker() must not recurse
}

void PoolCore::failItem(WorkItem &item, const QException &error)
{
    {
        QMutexLocker locker(&m_infoMutex);
        --m_stats.running;
        ++m_stats.failed;
    }
    recordFinished(item, TaskState::Failed, QString::fromUtf8(error.what()));
    item.sink->fail(error);
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
    {
        QMutexLocker locker(&m_infoMutex);
        m_stats.failed += pending.size();
    }
    for (auto &item : pending) {
        recordFinished(*item, TaskState::Failed, message);
        item->sink->fail(PoolBroken(message));
    }
    Q_EMIT stateChanged(PoolState::Broken);
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
    if (!dropped.empty()) {
        {
            QMutexLocker locker(&m_infoMutex);
            m_stats.failed += dropped.size();
        }
        for (auto &item : dropped) {
            const PoolStopped error(QStringLiteral("the pool of %1 was stopped before task "
                                                   "'%2' started")
                                        .arg(m_label, item->taskName));
            recordFinished(*item, TaskState::Failed, error.message());
            item->sink->fail(error);
        }
    }
    if (mode == StopMode::Kill) {
        for (const auto &w : m_workers)
            killWorker(w.get(), WorkerProcess::KillKind::Stopped, QString());
    }
    dispatch();
    checkStopped();
}

void PoolCore::checkStopped()
{
    bool pendingEmpty;
    {
        QMutexLocker locker(&m_mutex);
        if (!m_stopRequested || m_state == PoolState::Stopped)
            return;
        pendingEmpty = m_pending.empty();
    }
    if (!pendingEmpty)
        return; // keep draining; dispatch() replaces workers as needed
    for (const auto &w : m_workers) {
        if (w->inFlight.empty() && !w->shutdownSent && w->killKind == WorkerProcess::KillKind::None)
            retire(w.get());
    }
    if (!m_workers.empty())
        return;
    {
        QMutexLocker locker(&m_mutex);
        m_state = PoolState::Stopped;
    }
    m_sweepTimer->stop();
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

void PoolCore::sweepCancelled()
{
    std::vector<std::unique_ptr<WorkItem>> cancelled;
    bool idle;
    {
        QMutexLocker locker(&m_mutex);
        for (auto it = m_pending.begin(); it != m_pending.end();) {
            if ((*it)->sink->isCanceled()) {
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
    if (!cancelled.empty()) {
        {
            QMutexLocker locker(&m_infoMutex);
            m_stats.cancelled += cancelled.size();
        }
        for (auto &item : cancelled) {
            recordFinished(*item, TaskState::Cancelled);
            item->sink->finishCanceled();
        }
    }
    if (m_options.cancelPolicy == PoolOptions::CancelPolicy::KillWorker) {
        for (const auto &w : m_workers) {
            if (!w->inFlight.empty() && w->inFlight.front()->sink->cancelRequested())
                killWorker(w.get(), WorkerProcess::KillKind::Cancelled,
                           QStringLiteral("task '%1' was cancelled while running")
                               .arg(w->inFlight.front()->taskName));
        }
    }
    if (idle && std::all_of(m_workers.begin(), m_workers.end(),
                            [](const auto &w) { return w->inFlight.empty(); }))
        m_sweepTimer->stop();
}

void PoolCore::updateInfo(WorkerProcess *w)
{
    if (w->state == WorkerState::Idle || w->state == WorkerState::Busy)
        w->state = w->inFlight.empty() ? WorkerState::Idle : WorkerState::Busy;
    w->info.state = w->state;
    w->info.currentTask = w->inFlight.empty() ? QString() : w->inFlight.front()->taskName;
    QMutexLocker locker(&m_infoMutex);
    for (WorkerInfo &info : m_infoSnapshot) {
        if (info.pid == w->pid) {
            info = w->info;
            return;
        }
    }
}

// ---- engine thread: worker lifetime ---------------------------------------------------

bool PoolCore::isReady(const WorkerProcess *w) const
{
    return w->helloReceived && !w->initializing && !w->shutdownSent && !w->retiring && !w->exited
           && w->killKind == WorkerProcess::KillKind::None;
}

int PoolCore::activeWorkerCount() const
{
    // Workers on their way out do not count: their replacement may start at once.
    return int(std::count_if(m_workers.begin(), m_workers.end(), [](const auto &w) {
        return !w->retiring && !w->exited && w->killKind == WorkerProcess::KillKind::None;
    }));
}

qint64 PoolCore::expectedServiceNs(const WorkItem &item) const
{
    const auto &table = item.chunk ? m_chunkServiceNs : m_serviceNs;
    const auto it = table.constFind(item.taskName);
    return it == table.cend() ? -1 : *it;
}

void PoolCore::learnServiceTime(WorkerProcess *w, const WorkItem &item)
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

void PoolCore::frontChanged(WorkerProcess *w)
{
    w->taskTimer->stop();
    if (w->trimTimer && w->ringsUsed) {
        if (w->inFlight.empty())
            w->trimTimer->start();
        else
            w->trimTimer->stop();
    }
    if (w->inFlight.empty()) {
        const std::chrono::milliseconds idle = m_options.idleTimeout;
        if (idle.count() > 0 && isReady(w))
            w->idleTimer->start(idle);
        return;
    }
    w->idleTimer->stop();
    recordStarted(w);
    if (const qint64 limit = w->inFlight.front()->timeoutMs; limit > 0)
        w->taskTimer->start(int(std::min<qint64>(limit, std::numeric_limits<int>::max())));
}

qsizetype PoolCore::adoptHandoffLocked(WorkerProcess *w)
{
    m_directIdle.erase(std::remove(m_directIdle.begin(), m_directIdle.end(), w),
                       m_directIdle.end());
    const qsizetype n = qsizetype(w->handoff.size());
    for (auto &item : w->handoff)
        w->inFlight.push_back(std::move(item));
    w->handoff.clear();
    w->hasHandoff.store(false, std::memory_order_relaxed);
    return n;
}

void PoolCore::adoptHandoff(WorkerProcess *w)
{
    const bool wasIdle = w->inFlight.empty();
    qsizetype n;
    {
        QMutexLocker locker(&m_mutex);
        n = adoptHandoffLocked(w);
    }
    adopted(w, n, wasIdle);
}

void PoolCore::adopted(WorkerProcess *w, qsizetype count, bool wasIdle)
{
    if (count == 0)
        return;
    w->handedOut += int(count); // counted as running when it was handed over (enqueue())
    if (wasIdle)
        frontChanged(w); // its record says running, its time limit starts
    updateInfo(w);
    if (!m_sweepTimer->isActive())
        m_sweepTimer->start();
}

qint64 PoolCore::sendToWorker(WorkerProcess *w, const QByteArray &bytes, bool now)
{
    QMutexLocker locker(&w->outMutex);
    if (w->inputFd < 0)
        return -1;
    const qint64 at = w->bytesQueued;
    if (bytes.isEmpty())
        return at;
    w->bytesQueued += bytes.size();
    const bool first = w->outQueue.empty();
    w->outQueue.push_back(bytes);
    if (!(now && first)) {
        // Sent when the engine thread next finds the pipe writable: whatever else this turn
        // of its event loop queues for the worker goes in the same system call.
        if (first && QThread::currentThread() == thread())
            w->writeNotifier->setEnabled(true);
        return at;
    }
    const ssize_t n = ::write(w->inputFd, bytes.constData(), size_t(bytes.size()));
    if (n == bytes.size()) {
        w->outQueue.pop_front();
        return at;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        w->outQueue.clear(); // not expected (we hold a reader); the worker's exit is handled
        return at;
    }
    w->outOffset = std::max<ssize_t>(n, 0);
    // The rest when the pipe has room: a frame larger than the pipe's buffer (a long string,
    // say; byte arrays that large go through the rings, but not on this path).
    const int index = w->index;
    postToEngine([this, index] {
        for (const auto &worker : m_workers)
            if (worker->index == index)
                flushToWorker(worker.get());
    });
    return at;
}

qint64 PoolCore::inputConsumed(WorkerProcess *w)
{
    QMutexLocker locker(&w->outMutex);
    int unread = 0; // still in the pipe: we keep its read end open, so its bytes outlive the worker
    if (w->inputReadFd < 0 || ::ioctl(w->inputReadFd, FIONREAD, &unread) != 0)
        return -1;
    qint64 queued = -qint64(w->outOffset);
    for (const QByteArray &bytes : w->outQueue)
        queued += bytes.size();
    return w->bytesQueued - queued - unread;
}

void PoolCore::flushToWorker(WorkerProcess *w)
{
    QMutexLocker locker(&w->outMutex);
    while (!w->outQueue.empty() && w->inputFd >= 0) {
        const QByteArray &front = w->outQueue.front();
        const ssize_t n = ::write(w->inputFd, front.constData() + w->outOffset,
                                  size_t(front.size() - w->outOffset));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            w->writeNotifier->setEnabled(true); // the worker is behind: on when it has read
            return;
        }
        if (n < 0) {
            w->outQueue.clear(); // not expected (we hold a reader); the worker's exit is handled
            break;
        }
        w->outOffset += n;
        if (w->outOffset == front.size()) {
            w->outQueue.pop_front();
            w->outOffset = 0;
        }
    }
    if (w->writeNotifier)
        w->writeNotifier->setEnabled(false);
    if (w->closeAfterSend && w->outQueue.empty() && w->inputFd >= 0) {
        ::close(w->inputFd); // the worker reads end of input (its notifier stays disabled)
        w->inputFd = -1;
    }
}

void PoolCore::closeInput(WorkerProcess *w)
{
    QMutexLocker locker(&w->outMutex);
    delete w->writeNotifier; // before the descriptor: a notifier must never outlive its fd
    w->writeNotifier = nullptr;
    if (w->inputFd >= 0)
        ::close(w->inputFd);
    if (w->inputReadFd >= 0)
        ::close(w->inputReadFd);
    w->inputFd = w->inputReadFd = -1;
    w->outQueue.clear();
}

void PoolCore::retire(WorkerProcess *w)
{
    if (w->shutdownSent || w->exited)
        return;
    adoptHandoff(w);
    w->retiring = true;
    if (!w->inFlight.empty())
        return; // a submitting thread handed it a task meanwhile: it retires after that one
    w->shutdownSent = true;
    w->state = WorkerState::Exiting;
    w->idleTimer->stop();
    if (w->helloReceived)
        sendToWorker(w, encodeFrame(FrameType::Shutdown, 0));
    {
        QMutexLocker locker(&w->outMutex);
        w->closeAfterSend = true; // the worker then reads end of input
    }
    flushToWorker(w);
    updateInfo(w);
}

void PoolCore::retireIfDone(WorkerProcess *w)
{
    const bool usedUp = m_options.maxTasksPerWorker > 0 && w->handedOut >= m_options.maxTasksPerWorker;
    const bool surplus = w->retiring;
    if ((usedUp || surplus) && w->inFlight.empty())
        retire(w);
    else if (usedUp)
        w->retiring = true; // no new work; it exits after what it holds
}

void PoolCore::applyResize()
{
    // Shrink: idle workers first, then busy ones once their work is done.
    int excess = activeWorkerCount() - maxWorkers();
    for (const auto &w : m_workers) {
        if (excess <= 0)
            break;
        if (!w->retiring && !w->exited && w->killKind == WorkerProcess::KillKind::None
            && w->inFlight.empty()) {
            retire(w.get());
            --excess;
        }
    }
    for (const auto &w : m_workers) {
        if (excess <= 0)
            break;
        if (!w->retiring && !w->exited && w->killKind == WorkerProcess::KillKind::None) {
            w->retiring = true;
            updateInfo(w.get());
            --excess;
        }
    }
    dispatch(); // grow, if work waits
}

// ---- task records ------------------------------------------------------------------------

TaskRecord StoredRecord::toRecord(quint64 id) const
{
    auto time = [](qint64 ms) {
        return ms ? QDateTime::fromMSecsSinceEpoch(ms, Qt::UTC) : QDateTime();
    };
    TaskRecord r;
    r.id = id;
    r.serial = serial;
    r.taskName = taskName;
    r.taskType = taskType;
    r.state = state;
    r.workerPid = workerPid;
    r.submittedAt = time(submittedMs);
    r.startedAt = time(startedMs);
    r.finishedAt = time(finishedMs);
    r.progressValue = progressValue;
    r.progressMaximum = progressMaximum;
    r.progressText = progressText;
    r.error = error;
    return r;
}

void PoolCore::recordStarted(WorkerProcess *w)
{
    if (m_options.taskHistory <= 0 || w->inFlight.empty())
        return;
    QMutexLocker locker(&m_infoMutex);
    StoredRecord *r = w->inFlight.front()->record;
    if (r && r->state == TaskState::Queued) {
        r->state = TaskState::Running;
        r->workerPid = w->pid;
        r->startedMs = recordTimeMs();
        r->serial = ++m_recordSerial;
    }
}

void PoolCore::recordFinished(WorkItem &item, TaskState state, const QString &error)
{
    if (m_options.taskHistory <= 0 || !item.record)
        return;
    const qint64 now = recordTimeMs();
    QMutexLocker locker(&m_infoMutex);
    StoredRecord *r = item.record;
    const bool first = r->finishedMs == 0; // a result that fails to decode finishes it twice
    r->state = state;
    r->error = error;
    r->finishedMs = now;
    r->serial = ++m_recordSerial;
    if (!first)
        return;
    m_finished.push_back(item.recordAt);
    while (m_finished.size() > size_t(m_options.taskHistory)) {
        // Never this one: the cap is at least 1. The node goes with the task (one at a time:
        // the cap is fixed while the pool runs, so a finish pushes out at most one).
        item.expiredRecord = m_records.extract(m_finished.front());
        m_finished.pop_front();
    }
}

void PoolCore::recordRequeued(const WorkItem &item)
{
    if (m_options.taskHistory <= 0 || !item.record)
        return;
    QMutexLocker locker(&m_infoMutex);
    StoredRecord *r = item.record;
    r->state = TaskState::Queued;
    r->workerPid = 0;
    r->startedMs = 0;
    r->serial = ++m_recordSerial;
}

QList<TaskRecord> PoolCore::taskRecords(quint64 changedSince) const
{
    QMutexLocker locker(&m_infoMutex);
    QList<TaskRecord> out;
    for (const auto &[id, r] : m_records)
        if (r.serial > changedSince)
            out.append(r.toRecord(id));
    return out;
}

std::optional<TaskRecord> PoolCore::taskRecord(quint64 id) const
{
    QMutexLocker locker(&m_infoMutex);
    const auto it = m_records.find(id);
    if (it == m_records.end())
        return std::nullopt;
    return it->second.toRecord(id);
}

bool PoolCore::cancelTask(quint64 id)
{
    {
        QMutexLocker locker(&m_infoMutex);
        const auto it = m_records.find(id);
        if (it == m_records.end()
            || (it->second.state != TaskState::Queued && it->second.state != TaskState::Running))
            return false;
    }
    postToEngine([this, id] {
        auto matches = [id](const std::unique_ptr<WorkItem> &item) { return item->id == id; };
        {
            QMutexLocker locker(&m_mutex);
            const auto it = std::find_if(m_pending.begin(), m_pending.end(), matches);
            if (it != m_pending.end())
                (*it)->sink->requestCancel();
        }
        for (const auto &w : m_workers) {
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
    {
        QMutexLocker locker(&m_infoMutex);
        if (std::none_of(m_infoSnapshot.cbegin(), m_infoSnapshot.cend(),
                         [pid](const WorkerInfo &i) { return i.pid == pid; }))
            return false;
    }
    postToEngine([this, pid] {
        for (const auto &w : m_workers) {
            if (w->pid == pid) {
                Q_EMIT workerLog(pid, QStringLiteral("procpool: killing worker %1 (pid %2) "
                                                     "on request")
                                          .arg(w->name)
                                          .arg(pid));
                adoptHandoff(w.get()); // and off m_directIdle, as in killWorker()
                w->process->kill(); // handled exactly like a crash
                return;
            }
        }
    });
    return true;
}

} // namespace procpool::detail
