// procpool — PoolCore: one running pool, living on the engine thread.
//
//  caller thread(s)              engine thread                              worker process
//  submitTask() ─► WorkItem ─► m_pending ─► dispatch() ─► Call frames ─► stdin ─► run task
//                  (frame encoded          (idle worker,                      │
//                   by the caller)          prefetch depth)                    ▼
//  QFuture ◄─ ResultSink ◄─ onFrame() ◄─ Result / Error / Progress frames ◄─ protocol fd
//
// The items a caller hands over (WorkItem) keep their name at every hop: pending in the
// parent, in flight on a worker (WorkerProcess::inFlight), and delivered to the sink.
#pragma once

#include "attachments_p.h"
#include "childprocess_p.h"
#include "frame_p.h"
#include "outputmeter_p.h"
#include "tuning_p.h"

#include <procpool/options.h>
#include <procpool/processpoolmanager.h>

#include <QtCore/QElapsedTimer>
#include <QtCore/QHash>
#include <QtCore/QMutex>
#include <QtCore/QObject>
#include <QtCore/QProcess>
#include <QtCore/QSocketNotifier>
#include <QtCore/QTimer>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <pthread.h>
#include <vector>

namespace procpool::detail {

//! The pool's two locks are taken by submitting threads and by the engine thread for a few
//! dozen instructions at a time, thousands of times a second. QMutex sleeps in the kernel at
//! the first contention, and the holder then pays a system call to wake it; glibc's adaptive
//! mutex spins briefly first, which is what such short sections want.
class AdaptiveMutex
{
public:
    AdaptiveMutex()
    {
        pthread_mutexattr_t attributes;
        pthread_mutexattr_init(&attributes);
        pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_ADAPTIVE_NP);
        pthread_mutex_init(&m_mutex, &attributes);
        pthread_mutexattr_destroy(&attributes);
    }
    ~AdaptiveMutex() { pthread_mutex_destroy(&m_mutex); }
    Q_DISABLE_COPY_MOVE(AdaptiveMutex)
    void lock() noexcept { pthread_mutex_lock(&m_mutex); }
    void unlock() noexcept { pthread_mutex_unlock(&m_mutex); }
    bool try_lock() noexcept { return pthread_mutex_trylock(&m_mutex) == 0; }

private:
    pthread_mutex_t m_mutex;
};

//! A task record as the pool keeps it: TaskRecord with its times in milliseconds since the
//! epoch (0: not yet), made into QDateTime only when a monitor asks (toRecord()).
struct StoredRecord
{
    quint64 serial = 0;
    QString taskName;
    QString taskType;
    TaskState state = TaskState::Queued;
    qint64 workerPid = 0;
    qint64 submittedMs = 0, startedMs = 0, finishedMs = 0;
    int progressValue = 0, progressMaximum = 0;
    QString progressText;
    QString error;

    TaskRecord toRecord(quint64 id) const;
};
using RecordMap = std::map<quint64, StoredRecord>;

//! One submitted task, from submitTask() until its future finishes.
struct WorkItem
{
    quint64 id = 0;
    QString taskName;
    QString taskType;
    qint64 timeoutMs = 0; //!< 0: no limit
    qint64 roomTimeoutMs = -1; //!< how long to wait for room in a full queue; <0: no limit
    QByteArray frame; //!< the encoded Call (or MapCall) frame, built on the submitting thread
    QList<QByteArray> attachments; //!< its large byte arrays, sent beside it (shared, not copied)
    bool chunk = false; //!< a MapCall: answered by MapResult instead of Result
    qint64 sentNs = 0;     //!< when it was written to its worker (PoolCore::m_clock)
    qint64 expectedNs = 0; //!< how long it was expected to take then (0: not known)
    //! Where its first byte sits in its worker's input (WorkerProcess::bytesQueued then); -1
    //! before it is sent.
    qint64 inputOffset = -1;
    //! Went back to the queue once already because its worker died before reading any of it:
    //! the next such death fails it, so a worker that always dies that way cannot keep a task
    //! going round for ever.
    bool requeuedUnread = false;
    std::unique_ptr<ResultSink> sink;
    //! Its record (under PoolCore::m_infoMutex), while it has one: kept until it finished.
    StoredRecord *record = nullptr;
    RecordMap::iterator recordAt; //!< where record sits in PoolCore::m_records
    //! The oldest finished record, which this task's finish pushed out of the history; freed
    //! with the task, on the thread that allocated it (see PoolCore::dispatch()).
    RecordMap::node_type expiredRecord;
};

//! How a pool stops. Ordered: a later request may only escalate.
enum class StopMode {
    Drain,      //!< run every submitted task, then let the workers exit
    DropQueued, //!< fail queued tasks with PoolStopped; let workers finish what they hold
    Kill,       //!< kill the workers now; fail everything unfinished with PoolStopped
};

//! One worker process and its side of the protocol.
struct WorkerProcess
{
    ChildProcess *process = nullptr;
    qint64 pid = 0;
    int index = 0;
    QString name;
    WorkerState state = WorkerState::Starting;
    bool helloReceived = false;
    bool shutdownSent = false;
    bool exited = false; //!< QProcess::finished seen: frames still count, new work must not go here
    bool retiring = false;     //!< takes no new work; exits once what it holds is done
    bool initializing = false; //!< running PoolOptions::initializer; takes no work yet
    quint64 initializerId = 0;
    int handedOut = 0;         //!< tasks given to it, for maxTasksPerWorker
    std::unique_ptr<FrameDecoder> decoder;
    // Its standard input: a pipe of ours (stdout and stderr are the ChildProcess's). Written by the
    // engine thread, and by a submitting thread that hands a task straight to an idle worker
    // (PoolCore::enqueue()); the queue is under outMutex.
    int inputFd = -1;     //!< the write end (non-blocking)
    int inputReadFd = -1; //!< the worker's end, kept open here so that writes never see EPIPE
    QSocketNotifier *writeNotifier = nullptr; //!< engine thread: sends what is queued
    QMutex outMutex;
    std::deque<QByteArray> outQueue; //!< bytes not sent yet, in order
    qsizetype outOffset = 0;         //!< of outQueue.front() already sent
    qint64 bytesQueued = 0;          //!< all bytes ever queued for it, sent or not
    bool closeAfterSend = false;     //!< end its input once outQueue is sent
    //! Tasks a submitting thread sent it directly, not yet in inFlight (under m_mutex).
    std::vector<std::unique_ptr<WorkItem>> handoff;
    std::atomic<bool> hasHandoff{false}; //!< handoff is not empty: lets onStdout() skip m_mutex
    std::unique_ptr<SharedRing> toWorker;   //!< attachments of calls (we write)
    std::unique_ptr<SharedRing> fromWorker; //!< attachments of results (we read)
    bool sharedMemory = false;              //!< the worker mapped them (its Hello says so)
    quint64 attachmentsId = 0;              //!< the Attachments frame just received, for
    QList<QByteArray> attachments;          //!< the outcome frame that follows it
    std::deque<std::unique_ptr<WorkItem>> inFlight; //!< front: running; rest: prefetched
    QStringList stderrTail;                          //!< last lines, for crash reports
    QByteArray stderrPartial;                        //!< an unterminated last line
    quint64 droppedLines = 0; //!< output lines not emitted since the last marker (OutputMeter)
    QString killReason;                              //!< why we killed it, if we did
    enum class KillKind { None, Protocol, Stopped, Handshake, Timeout, Cancelled } killKind =
        KillKind::None;
    QTimer *handshakeTimer = nullptr;
    QTimer *taskTimer = nullptr; //!< armed while the running task has a time limit
    QTimer *idleTimer = nullptr; //!< armed while idle above minWorkers
    QTimer *trimTimer = nullptr; //!< armed while idle: then the rings' memory is given back
    bool ringsUsed = false;      //!< attachments went through the rings since the last trim
    qint64 waitingNs = 0;    //!< expected time of its prefetched (not running) tasks
    qint64 lastAnswerNs = 0; //!< when its last answer arrived (PoolCore::m_clock)
    WorkerInfo info;
};

//! Automatic prefetch (PoolOptions::automaticPrefetch): at most this many prefetched tasks;
//! the time budget is automaticPrefetchBudgetNs() (tuning_p.h).
inline constexpr int automaticPrefetchMax = 64;
//! How long a worker stays idle before its shared-memory rings give their pages back.
inline constexpr int ringTrimDelayMs = 2000;
//! Most finished tasks kept for submitting threads to free (PoolCore::dispatch()).
inline constexpr size_t graveyardMax = 4096;

class PoolCore : public QObject
{
    Q_OBJECT
public:
    PoolCore(const PoolOptions &options, const QString &label);
    ~PoolCore() override;

    // ---- any thread ----
    //! Queues \a item; throws PoolNotRunning once stopping, and QueueFull when the queue is
    //! full for longer than the item may wait. A broken pool fails it at once.
    void enqueue(std::unique_ptr<WorkItem> item);
    void requestStop(StopMode mode);
    //! Makes the engine thread look at the queue (and start minWorkers) soon.
    void postDispatch();
    //! Blocks until every worker has exited and every future is finished.
    void waitStopped();

    PoolOptions options() const;
    //! The options as started (maxWorkers/minWorkers not updated by resize()); no copy.
    const PoolOptions &startOptions() const { return m_options; }
    int maxWorkers() const { return m_maxWorkers.load(std::memory_order_relaxed); }
    //! From any thread: changes the worker limit of the running pool.
    void resize(int maxWorkers);
    PoolState state() const;
    QList<WorkerInfo> workers() const;
    PoolStats stats() const;
    //! True when the workers run this very program, whose task table is then authoritative.
    bool runsOwnProgram() const { return m_ownProgram; }
    //! What the relay of workerLog counts and acknowledges (see outputmeter_p.h).
    const std::shared_ptr<OutputMeter> &outputMeter() const { return m_outputMeter; }
    QList<TaskRecord> taskRecords(quint64 changedSince) const;
    std::optional<TaskRecord> taskRecord(quint64 id) const;
    //! SIGKILLs worker \a pid (from any thread) as a crash would; false if not ours.
    bool killWorkerByPid(qint64 pid);
    bool cancelTask(quint64 id);

protected:
    bool event(QEvent *e) override;

Q_SIGNALS:
    void stateChanged(procpool::PoolState state);
    void workerStarted(qint64 pid, const QString &name);
    void workerExited(qint64 pid, int exitCode, int signal, const QString &reason);
    void workerLog(qint64 pid, const QString &line);

private:
    //! From any thread: runs \a call on the engine thread (see PostedCall).
    void postToEngine(std::function<void()> call);
    //! With maxQueued: waits up to \a timeoutMs (<0: no limit) for room in m_pending and
    //! reserves it for the task being submitted (enqueue() takes the reservation); throws
    //! QueueFull when none came. False, at once, when the pool no longer accepts tasks (the
    //! caller then reports why).
    bool reserveRoom(qint64 timeoutMs);
    //! Wakes submissions waiting for room (m_mutex held): call when m_pending shrank or the
    //! pool stopped accepting.
    void roomChanged();

    // ---- engine thread ----
    void dispatch();
    void spawnWorker();
    void onStdout(WorkerProcess *w);
    //! Any thread (the caller holds m_mutex when it is not the engine thread): queues \a bytes
    //! for the worker; sends them at once when \a now and nothing is queued before them,
    //! otherwise when the engine thread next finds the pipe writable. Returns where they start
    //! in the worker's input, -1 when its input is closed.
    qint64 sendToWorker(WorkerProcess *w, const QByteArray &bytes, bool now = false);
    //! How many bytes of its input \a w has read; -1 when that cannot be known.
    qint64 inputConsumed(WorkerProcess *w);
    void flushToWorker(WorkerProcess *w);
    void closeInput(WorkerProcess *w);
    //! Moves tasks submitting threads handed to \a w into its inFlight (m_mutex held) and
    //! takes it off m_directIdle; returns how many.
    qsizetype adoptHandoffLocked(WorkerProcess *w);
    //! The same, then the bookkeeping of those tasks (counters, record, timers).
    void adoptHandoff(WorkerProcess *w);
    void adopted(WorkerProcess *w, qsizetype count, bool wasIdle);
    void onStderr(WorkerProcess *w);
    //! Emits one line of \a w's output, or drops it while the receivers are behind.
    void emitOutput(WorkerProcess *w, const QString &line);
    //! Says how many lines of \a w's output were dropped, if any; \a always: even while the
    //! receivers are still behind (the worker is leaving).
    void reportDroppedOutput(WorkerProcess *w, bool always);
    void onStarted(WorkerProcess *w, qint64 pid);
    void onFinished(WorkerProcess *w, int exitCode, QProcess::ExitStatus status);
    void onStartFailed(WorkerProcess *w);
    void handleFrame(WorkerProcess *w, const Frame &frame);
    void handleHello(WorkerProcess *w, const Frame &frame);
    void handleOutcome(WorkerProcess *w, const Frame &frame);
    void killWorker(WorkerProcess *w, WorkerProcess::KillKind kind, const QString &reason);
    //! Why a worker that ended had not started: not at all, for a cause that another start
    //! cannot fix (counted toward a broken pool), or killed from outside (started again later).
    enum class StartFailure { None, Fatal, Killed };
    void removeWorker(WorkerProcess *w, int exitCode, int signal, StartFailure startFailure);
    //! After a worker was killed while starting: the next start waits a little longer each
    //! time, and after too many in a row the pool is broken.
    void startKilled(const QString &reason);
    void startSucceeded();
    void applyStop();
    void checkStopped();
    void becomeBroken(const QString &reason);
    void sweepCancelled();
    void failItem(WorkItem &item, const QException &error);
    void updateInfo(WorkerProcess *w);
    void setState(PoolState state);
    void frontChanged(WorkerProcess *w);
    //! How long a task like \a item keeps a worker busy, as measured so far; -1: not known.
    qint64 expectedServiceNs(const WorkItem &item) const;
    void learnServiceTime(WorkerProcess *w, const WorkItem &item);
    void retire(WorkerProcess *w);
    void retireIfDone(WorkerProcess *w);
    void applyResize();
    int activeWorkerCount() const;
    bool isReady(const WorkerProcess *w) const;
    // Task records (for monitors), under m_infoMutex.
    void recordStarted(WorkerProcess *w);
    void recordFinished(WorkItem &item, TaskState state, const QString &error = QString());
    //! Wall-clock milliseconds for task records, from the pool's monotonic clock.
    qint64 recordTimeMs() const { return m_clockStartMs + m_clock.nsecsElapsed() / 1000000; }
    void recordRequeued(const WorkItem &item);

    const PoolOptions m_options;
    const QString m_label; //!< "namespace 'x'", for messages
    const QString m_program;
    const bool m_ownProgram;

    // Shared with submitting threads, under m_mutex.
    mutable AdaptiveMutex m_mutex;
    std::condition_variable_any m_stoppedCondition;
    std::condition_variable_any m_roomCondition; //!< maxQueued: room in m_pending
    int m_reservedRoom = 0; //!< places in m_pending promised to submissions on their way
    int m_roomWaiters = 0;
    std::deque<std::unique_ptr<WorkItem>> m_pending;
    PoolState m_state = PoolState::Running;
    bool m_accepting = true;
    bool m_stopRequested = false;
    bool m_stopAnnounced = false; //!< Stopped was emitted: waitStopped() returns
    StopMode m_stopMode = StopMode::Drain;
    QString m_brokenReason;
    std::atomic<bool> m_dispatchPosted{false};
    bool m_saturated = false; //!< dispatch() will run again on its own (see there)
    //! Idle workers a submitting thread may hand a task to directly (see enqueue()).
    std::vector<WorkerProcess *> m_directIdle;
    //! Finished tasks for the next submission to free (see dispatch()).
    std::vector<std::unique_ptr<WorkItem>> m_graveyard;
    std::atomic<int> m_maxWorkers;
    std::atomic<int> m_minWorkers;

    //! Engine thread: tasks finished since the last dispatch(), not freed yet.
    std::vector<std::unique_ptr<WorkItem>> m_retired;

    // Snapshot for monitors, under m_infoMutex.
    mutable AdaptiveMutex m_infoMutex;
    QList<WorkerInfo> m_infoSnapshot;
    PoolStats m_stats;
    RecordMap m_records;                        //!< by id: submission order
    std::deque<RecordMap::iterator> m_finished; //!< finished records, oldest first (the cap)
    quint64 m_recordSerial = 0;

    // Engine thread only.
    std::vector<std::unique_ptr<WorkerProcess>> m_workers;
    QTimer *m_sweepTimer = nullptr;
    int m_nextWorkerIndex = 1;
    QByteArray m_initializerBody; //!< encoded [name, args] of PoolOptions::initializer
    int m_consecutiveStartFailures = 0;
    int m_consecutiveStartKills = 0;
    QTimer *m_restartTimer = nullptr; //!< active: no worker starts until it fires
    const std::shared_ptr<OutputMeter> m_outputMeter = std::make_shared<OutputMeter>();
    QTimer *m_outputTimer = nullptr; //!< while lines were dropped: reports them once there is room
    QString m_lastStartFailure;
    // Automatic prefetch: measured service time per task name (calls and map chunks apart).
    QElapsedTimer m_clock;
    qint64 m_clockStartMs = 0; //!< the wall clock when m_clock started
    QHash<QString, qint64> m_serviceNs;
    QHash<QString, qint64> m_chunkServiceNs;
};

} // namespace procpool::detail
