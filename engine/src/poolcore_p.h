// procpool — PoolCore: one running pool.
//
//  caller thread(s)              engine thread                              worker process
//  submitTask() ─► WorkItem ─► queue ─► dispatch() ─► Call frames ─► stdin ─► run task
//                  (frame encoded          (dispatch::plan())                  │
//                   by the caller)                                             ▼
//  QFuture ◄─ ResultSink ◄─ finishTask() ◄─ route ◄─ Result / Error / Progress ◄─ stdout
//
// On the engine thread it is a short loop: enqueue (any thread) → dispatch → route each
// worker's frames → finish each task once → stop. The parts it drives: PoolWorker (the pool's
// record of one worker, with its timers), WorkerInput (that worker's input pipe), TaskLedger
// (counters, task records, worker snapshots), dispatch::plan() (which task goes where),
// workermessages_p.h (reading what a worker says) and OutputMeter (bounding its output).
#pragma once

#include "adaptivemutex_p.h"
#include "controlgroup_p.h"
#include "outputmeter_p.h"
#include "poolworker_p.h"
#include "restartpolicy_p.h"
#include "taskledger_p.h"
#include "tuning_p.h"
#include "workitem_p.h"

#include <procpool/options.h>

#include <QtCore/QElapsedTimer>
#include <QtCore/QHash>
#include <QtCore/QObject>
#include <QtCore/QProcess>
#include <QtCore/QTimer>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace procpool::detail {

//! How a pool stops. Ordered: a later request may only escalate.
enum class StopMode {
    Drain,      //!< run every submitted task, then let the workers exit
    DropQueued, //!< fail queued tasks with PoolStopped; let workers finish what they hold
    Kill,       //!< kill the workers now; fail everything unfinished with PoolStopped
};

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
    //! Changes the worker limit of the running pool.
    void resize(int maxWorkers);

    //! The options as they are now (maxWorkers and minWorkers as resized).
    PoolOptions options() const;
    //! The options that never change while the pool runs, without a copy. Its maxWorkers and
    //! minWorkers are not kept here (see maxWorkers(), options()).
    const PoolOptions &fixedOptions() const { return m_options; }
    int maxWorkers() const { return m_maxWorkers.load(std::memory_order_relaxed); }
    PoolState state() const;
    PoolStats stats() const;
    QList<WorkerInfo> workers() const { return m_ledger.workers(); }
    QList<TaskRecord> taskRecords(quint64 changedSince) const;
    QList<TaskRecord> latestTaskRecords(quint64 changedSince, qsizetype limit, bool *more) const
    {
        return m_ledger.latestRecords(changedSince, limit, more);
    }
    std::optional<TaskRecord> taskRecord(quint64 id) const { return m_ledger.record(id); }
    //! True when the workers run this very program, whose task table is then authoritative.
    bool runsOwnProgram() const { return m_ownProgram; }
    //! SIGKILLs worker \a pid as a crash would; false if not ours.
    bool killWorkerByPid(qint64 pid);
    bool cancelTask(quint64 id);
    //! What the relay of workerLog counts and acknowledges (see outputmeter_p.h).
    const std::shared_ptr<OutputMeter> &outputMeter() const { return m_outputMeter; }
    //! Takes the pool's control group, before the pool runs; removed with the pool.
    void adoptControlGroup(std::unique_ptr<ControlGroup> group)
    {
        m_cgroupDirectories = group ? group->directories() : QStringList();
        m_cgroup = std::move(group);
    }
    //! The group's directories as the pool started with them (the group is gone once stopped).
    QStringList controlGroupDirectories() const { return m_cgroupDirectories; }

protected:
    bool event(QEvent *e) override;

Q_SIGNALS:
    void stateChanged(procpool::PoolState state);
    void workerStarted(qint64 pid, const QString &name);
    void workerExited(qint64 pid, int exitCode, int signal, const QString &reason);
    void workerLog(qint64 pid, const QString &line);

private:
    //! Why a worker that ended had not started: not at all, for a cause that another start
    //! cannot fix (counted toward a broken pool), or killed from outside (started again later).
    enum class StartFailure { None, Fatal, Killed };

    //! From any thread: runs \a call on the engine thread (see postedcall_p.h).
    void postToEngine(std::function<void()> call);
    //! With maxQueued: waits up to \a timeoutMs (<0: no limit) for room in the queue and
    //! reserves it (enqueue() takes the reservation); throws QueueFull when none came. False,
    //! at once, when the pool no longer accepts tasks (the caller then reports why).
    bool reserveRoom(qint64 timeoutMs);
    //! Wakes submissions waiting for room (m_mutex held): the queue shrank, or the pool no
    //! longer accepts tasks.
    void roomChanged();

    // ---- engine thread: the loop ----
    void dispatch();
    //! Writes \a items, just handed to \a w, into its input, their attachments into its ring.
    void send(PoolWorker *w, const std::vector<WorkItem *> &items);
    //! Moves the tasks submitting threads handed to \a w into its inFlight (m_mutex held) and
    //! takes it off the direct hand-off list; returns how many.
    qsizetype adoptHandoffLocked(PoolWorker *w);
    //! Where every event of a worker enters: the tasks submitting threads handed \a w
    //! directly join its inFlight first (withdraw()), so that nothing below sees a worker
    //! holding tasks it does not know of. Free when there are none.
    void enter(PoolWorker *w);
    //! Takes in what was handed to \a w directly, and takes it off the direct hand-off list:
    //! for a worker about to stop taking tasks (killed, retired, gone, its rings trimmed).
    void withdraw(PoolWorker *w);
    void adopted(PoolWorker *w, qsizetype count, bool wasIdle);
    void onOutput(PoolWorker *w);
    void onErrorOutput(PoolWorker *w);
    void handleFrame(PoolWorker *w, Frame &frame); //!< may take the frame's body
    void handleHello(PoolWorker *w, const Frame &frame);
    void handleAttachments(PoolWorker *w, Frame &frame);
    void handleOutcome(PoolWorker *w, const Frame &frame);
    //! Counts and records \a item as finished (\a state, with \a error when it failed), then
    //! completes its future: the one place a task ends. A Finished task was decoded before.
    void finishTask(WorkItem &item, TaskState state, const TaskFailure *error = nullptr,
                    const QString &recordText = QString());
    //! \a item's attempt failed with \a error: it runs again later if its retry policy says
    //! so, otherwise it fails with every attempt's error. Either way the pool no longer holds
    //! it here: it waits for its retry, or it is retired. \a pid: the worker it ran on.
    void failAttempt(std::unique_ptr<WorkItem> item, qint64 pid, const TaskFailure &error,
                     const QString &recordText = QString());
    //! Engine thread: moves the retries whose delay has passed into the queue.
    void releaseRetries();
    //! Puts \a item in the queue by its priority (m_mutex held): after the tasks of its
    //! priority, or before them when \a ahead (a task going back, which was at the head).
    void queueLocked(std::unique_ptr<WorkItem> item, bool ahead);
    void sweepCancelled();
    //! Sends \a w a Cancel frame for \a item, which it holds: \a drop, it skips the call if it
    //! has not started it; otherwise (a soft time limit) the call only learns it was asked.
    void askToCancel(PoolWorker *w, WorkItem &item, bool drop = true);
    //! CancelPolicy::Ask for \a w's running task, cancelled: asks, then SIGTERM, then SIGKILL,
    //! each after PoolOptions::cancelGrace.
    void stopCancelledTask(PoolWorker *w);
    //! The task at the front of \a w's queue changed: timers, its record, the worker's snapshot.
    void frontChanged(PoolWorker *w);
    void updateInfo(PoolWorker *w);

    // ---- engine thread: workers ----
    void spawnWorker();
    //! The lowest slot no worker in m_workers holds (PoolOptions::workerEnvironment) and, with
    //! PoolOptions::hosts, whose host is not set aside; -1: none.
    int freeSlot() const;
    //! The entry of PoolOptions::hosts that \a slot belongs to; -1: no hosts, or past them.
    int hostOfSlot(int slot) const;
    //! Makes \a setup start the worker on \a host through its launcher.
    void throughLauncher(const WorkerHost &host, ChildProcess::Setup *setup) const;
    //! A worker of PoolOptions::hosts entry \a index failed to start: that host is set aside
    //! for a while (the others serve); the pool breaks once every host keeps failing.
    void hostFailed(int index, const QString &reason);
    //! Arms m_hostTimer for the first set-aside host to come back, if any.
    void armHostTimer();
    //! PoolOptions::workerEnvironment's variables for \a slot, into \a setup; false (and why)
    //! when one is not a valid variable.
    bool addWorkerEnvironment(int slot, ChildProcess::Setup *setup, QString *error) const;
    void onStarted(PoolWorker *w, qint64 pid);
    //! PoolOptions::resourceLimits on \a w's process; false (and why) when one could not be set.
    bool applyResourceLimits(PoolWorker *w, QString *error);
    //! PoolOptions::softMemoryLimit and hardMemoryLimit: reads every worker's resident size.
    void checkMemory();
    //! One line \a w printed: its owner's record keeps it, and it is emitted.
    void routeOutput(PoolWorker *w, const PoolWorker::OutputLine &line);
    void onReady(PoolWorker *w);
    void onFinished(PoolWorker *w, int exitCode, QProcess::ExitStatus status);
    void onStartFailed(PoolWorker *w);
    void killWorker(PoolWorker *w, PoolWorker::KillKind kind, const QString &reason);
    void removeWorker(PoolWorker *w, int exitCode, int signal, StartFailure startFailure);
    //! What becomes of the tasks \a w held when it ended.
    void settleTasksOf(PoolWorker *w, int exitCode, int signal);
    //! A worker failed to start: a restart later, or a broken pool (RestartPolicy).
    void startFailed(RestartPolicy::Cause cause, const QString &reason);
    void retire(PoolWorker *w);
    void retireIfDone(PoolWorker *w);
    void trimRings(PoolWorker *w);
    void applyResize();
    int activeWorkerCount() const;
    //! Emits one line of \a w's output, or drops it while the receivers are behind.
    void emitOutput(PoolWorker *w, const QString &line);
    //! Says how many lines of \a w's output were dropped, if any; \a always: even while the
    //! receivers are still behind (the worker is leaving).
    void reportDroppedOutput(PoolWorker *w, bool always);
    //! How long a task like \a item keeps a worker busy, as measured so far; -1: not known.
    qint64 expectedServiceNs(const WorkItem &item) const;
    void learnServiceTime(PoolWorker *w, const WorkItem &item);

    // ---- engine thread: stopping ----
    void applyStop();
    void checkStopped();
    void becomeBroken(const QString &reason);

    const PoolOptions m_options; //!< maxWorkers and minWorkers: see m_maxWorkers, m_minWorkers
    const QString m_label;       //!< "namespace 'x'", for messages
    const QString m_program;
    const bool m_ownProgram;
    std::atomic<int> m_maxWorkers;
    std::atomic<int> m_minWorkers;
    TaskLedger m_ledger;
    const std::shared_ptr<OutputMeter> m_outputMeter = std::make_shared<OutputMeter>();

    // Shared with submitting threads, under m_mutex.
    mutable AdaptiveMutex m_mutex;
    std::condition_variable_any m_stoppedCondition;
    std::condition_variable_any m_roomCondition; //!< maxQueued: room in m_pending
    std::deque<std::unique_ptr<WorkItem>> m_pending; //!< by priority, then submission order
    //! Failed attempts waiting for their retry, by when they are due (m_clock); counted as
    //! queued.
    std::multimap<qint64, std::unique_ptr<WorkItem>> m_retryWaiting;
    int m_reservedRoom = 0; //!< places in m_pending promised to submissions on their way
    int m_roomWaiters = 0;
    PoolState m_state = PoolState::Running;
    bool m_accepting = true;
    bool m_stopRequested = false;
    bool m_stopAnnounced = false; //!< Stopped was emitted: waitStopped() returns
    StopMode m_stopMode = StopMode::Drain;
    QString m_brokenReason;
    std::atomic<bool> m_dispatchPosted{false};
    bool m_saturated = false; //!< dispatch() will run again on its own (see there)
    //! Idle workers a submitting thread may hand a task to directly (see enqueue()).
    std::vector<PoolWorker *> m_directIdle;
    //! Finished tasks for the next submission to free (see dispatch()).
    std::vector<std::unique_ptr<WorkItem>> m_graveyard;

    // Engine thread only.
    std::vector<std::unique_ptr<WorkItem>> m_retired; //!< finished since the last dispatch()
    std::vector<std::unique_ptr<PoolWorker>> m_workers;
    QTimer m_sweepTimer;   //!< while tasks are queued or run: QFuture::cancel() is polled
    QTimer m_restartTimer; //!< active: no worker starts until it fires
    QTimer m_outputTimer;  //!< while lines were dropped: reports them once there is room
    QTimer m_retryTimer;   //!< armed for the first retry due
    QTimer m_memoryTimer;  //!< with a memory limit: reads the workers' resident size
    std::unique_ptr<ControlGroup> m_cgroup; //!< PoolOptions::cgroup; removed once stopped
    QStringList m_cgroupDirectories;        //!< set before the pool runs, then constant
    int m_nextWorkerIndex = 1;
    QByteArray m_initializerBody; //!< encoded [name, args] of PoolOptions::initializer
    RestartPolicy m_restarts;
    //! PoolOptions::hosts: each host's failed starts in a row, and until when it is set aside.
    struct HostState
    {
        int failures = 0;
        qint64 asideUntilNs = 0; //!< m_clock
        QString lastError;
    };
    std::vector<HostState> m_hostStates;
    QTimer m_hostTimer; //!< armed for the first set-aside host to come back
    static constexpr int hostFirstDelayMs = 500;
    static constexpr int hostMaxDelayMs = 30000;
    //! The task catalogue workers must have (catalogueFingerprint()): this program's, or, for
    //! another program, the first hello's. Empty until known.
    QString m_catalogue;
    // Automatic prefetch: measured service time per task name (calls and map chunks apart).
    QElapsedTimer m_clock;
    QHash<QString, qint64> m_serviceNs;
    QHash<QString, qint64> m_chunkServiceNs;
};

} // namespace procpool::detail
