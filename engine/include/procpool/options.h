// procpool — plain value types: how a pool is configured, how a task is submitted, and the
// snapshots a monitor reads.
#pragma once

#include <procpool/procpool_export.h>

#include <QtCore/QDateTime>
#include <QtCore/QDebug>
#include <QtCore/QMetaType>
#include <QtCore/QProcessEnvironment>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QVariant>

#include <chrono>
#include <functional>
#include <utility>

namespace procpool {

//! How a pool starts its workers (the start methods of Python's multiprocessing).
enum class StartMethod {
    //! The program is started once as a fork server (kept until the application exits and
    //! shared by every pool with the same program, arguments, directory and environment),
    //! which forks each worker from itself: a worker is ready in a fraction of a millisecond
    //! instead of an exec and the loading of Qt. A program that does not answer as a fork
    //! server (one that does not call workerMain(), or another build) is started with Exec.
    //! Daemon workers die with their server, which dies with the application.
    ForkServer,
    //! Every worker is the program started anew (QProcess): no extra process, and each
    //! worker begins from a fresh exec of the program as it is on disk now.
    Exec,
};

//! Which program a pool starts as its workers: the seed's `mp_context`.
//!
//! The default (empty program) starts this application's own executable again in worker mode;
//! its main() must call procpool::workerMain(argc, argv) first. A pool may instead name a
//! dedicated worker program that links the same tasks and does the same.
struct PROCPOOL_ENGINE_EXPORT StartContext
{
    QString program;                  //!< empty: this executable
    QStringList arguments;            //!< passed to the worker program
    QProcessEnvironment environment;  //!< empty: inherit this process's environment
    QString workingDirectory;         //!< empty: inherit
    StartMethod method = StartMethod::ForkServer; //!< how each worker is started

    //! The program the pool will really start (resolves the empty default).
    QString resolvedProgram() const;
};

//! How a pool reaches the host of a WorkerHost: the command that carries a worker's standard
//! input and output there. A remote worker is always started with exec through it and talks
//! over those streams only (no shared memory, no fork server), so anything that runs a
//! command elsewhere and relays its streams can be a launcher. docs/remote.md.
struct PROCPOOL_ENGINE_EXPORT Launcher
{
    enum class Kind {
        Local, //!< this machine: no launcher
        //! `ssh -T -o BatchMode=yes ARGUMENTS HOST -- COMMAND`: the user's own OpenSSH, its
        //! configuration and keys. ARGUMENTS may add options (`-F FILE`, `-p PORT`, ...).
        Ssh,
        //! `srun --ntasks=1 --nodes=1 --exclusive --quiet --unbuffered --nodelist=HOST ARGUMENTS
        //! COMMAND`: one Slurm job step per worker, normally inside an allocation (`salloc`).
        Slurm,
        //! ARGUMENTS is the whole command, the worker's command line appended; each "{host}"
        //! in it becomes the host. The command must pass the worker's command line to a shell
        //! there, as ssh does (each word arrives quoted for sh).
        Command,
    };
    Kind kind = Kind::Local;
    QStringList arguments;

    static Launcher ssh(const QStringList &options = {}) { return {Kind::Ssh, options}; }
    static Launcher slurm(const QStringList &options = {}) { return {Kind::Slurm, options}; }
    static Launcher command(const QStringList &prefix) { return {Kind::Command, prefix}; }
    //! "ssh", "ssh -F FILE", "slurm" (or "srun …": its options), "local", or any other command,
    //! which becomes a Kind::Command prefix. Words split as QProcess::splitCommand() splits
    //! them (double quotes keep a word together). Throws std::invalid_argument for an empty
    //! text.
    static Launcher parse(const QString &text);
    //! "ssh", "slurm", "local" or the command, for messages.
    QString describe() const;
    friend bool operator==(const Launcher &, const Launcher &) = default;
};

//! A host of a pool's workers (PoolOptions::hosts): where, how many at once, and how to get
//! there.
struct PROCPOOL_ENGINE_EXPORT WorkerHost
{
    //! As the launcher knows it: an ssh destination ("user@node1", an alias of ~/.ssh/config)
    //! or a Slurm node name. Ignored by a Local launcher.
    QString host;
    int workers = 1; //!< its slots: workers on this host at once
    Launcher launcher;
    //! The worker program's path there. Empty: the same path as here (the same build must be
    //! installed at the same place; its task catalogue is checked at the handshake).
    QString program;

    static WorkerHost local(int workers) { return {QString(), workers, Launcher{}, QString()}; }
    bool isLocal() const { return launcher.kind == Launcher::Kind::Local; }
    //! "node1 (ssh)", "this machine", for messages.
    QString describe() const;
    friend bool operator==(const WorkerHost &, const WorkerHost &) = default;
};

//! Everything start() takes. The first five fields are the seed's parameters, in its order.
struct PROCPOOL_ENGINE_EXPORT PoolOptions
{
    int maxWorkers = 1;              //!< upper bound of worker processes; workers start lazily
    QString taskType;                //!< empty: any submission; otherwise only this type
    bool daemon = false;             //!< daemon workers die with the application
    QString processNamePrefix;       //!< workers are named PREFIX-1, PREFIX-2, ...
    StartContext startContext;       //!< which program to start as worker

    //! prefetch value: one task beyond the running one, and for tasks measured to be short,
    //! as many more (up to 64) as take about a millisecond in all.
    static constexpr int automaticPrefetch = -1;
    //! Tasks handed to a worker beyond the one it is running, or automaticPrefetch. Higher
    //! values hide the round-trip between two tasks (throughput); lower values keep queued
    //! tasks in the parent, where cancel() drops them at once and a crash re-queues fewer of
    //! them, and leave no task waiting behind a long one while another worker is free.
    int prefetch = automaticPrefetch;
    //! Largest frame either side may send, in bytes; larger frames are a protocol error. A
    //! call or a result whose encoding (large byte arrays included) is larger fails.
    qint64 maxFrameSize = qint64(512) * 1024 * 1024;
    //! Move large byte arrays (64 KiB and more) through shared memory: one anonymous memory
    //! file per direction and worker, sized up to twice the largest such payload; its pages
    //! go back to the system once the worker has been idle for 2 s. Off: they go through the
    //! pipes (slower).
    bool sharedMemory = true;
    //! How long a new worker may take to say hello before it counts as failed to start.
    std::chrono::milliseconds handshakeTimeout{30000};
    //! Workers started at start() and kept alive (replaced when they die); 0..maxWorkers.
    int minWorkers = 0;
    //! Idle workers above minWorkers exit after this long without work. 0: never.
    std::chrono::milliseconds idleTimeout{60000};
    //! Default time limit of one task; 0: none. Over it, the worker is killed and replaced,
    //! and the future fails with TaskTimeout. SubmitOptions::timeout overrides it.
    std::chrono::milliseconds taskTimeout{0};
    //! Default soft time limit of one task; 0: none. Past it, the running task is asked to stop
    //! (procpool::isCancellationRequested() turns true in it), and what it then returns or
    //! throws is its outcome; taskTimeout, if longer, still kills it should it run on.
    //! SubmitOptions::softTimeout overrides it.
    std::chrono::milliseconds softTaskTimeout{0};
    //! A worker that has run this many tasks exits cleanly and is replaced; 0: no limit.
    //! The defence against task code that leaks.
    int maxTasksPerWorker = 0;
    //! What QFuture::cancel() does to a task that is already running.
    enum class CancelPolicy {
        KillWorker,    //!< kill its worker (a replacement starts); the task stops at once
        DiscardResult, //!< let it run to its end and drop the result
        //! Ask the task to stop: procpool::isCancellationRequested() turns true in it, and the
        //! worker lives on if it returns. Still running after cancelGrace, its worker gets
        //! SIGTERM; still alive after another cancelGrace, SIGKILL.
        Ask,
    };
    CancelPolicy cancelPolicy = CancelPolicy::KillWorker;
    //! With CancelPolicy::Ask: how long a cancelled task has to stop before SIGTERM, and then
    //! before SIGKILL.
    std::chrono::milliseconds cancelGrace{2000};
    // A cancelled task a worker holds but has not started is dropped by the worker itself,
    // whatever the policy: the worker is not killed for it.
    //! A task run once in every new worker before it takes work (e.g. to load a model).
    //! If it throws, the worker counts as failed to start. Empty: none.
    QString initializer;
    QVariantList initializerArguments;

    //! Most tasks waiting in this process for a worker (queued, not yet handed to one); 0: no
    //! bound. A submission that finds the queue full waits for room as long as
    //! SubmitOptions::roomTimeout says, then throws QueueFull. Each chunk of a map() counts as
    //! one task. A bound keeps a producer faster than the workers from filling memory (a
    //! queued task costs about a kilobyte, its arguments aside).
    int maxQueued = 0;

    //! Resident size (bytes) above which a worker is retired once its current task has
    //! finished: it takes no more tasks and a fresh worker replaces it. 0: no limit. The
    //! defence against task code whose memory only grows (leaks, caches, fragmentation).
    qint64 softMemoryLimit = 0;
    //! Resident size (bytes) above which a worker is killed at once: its running task fails
    //! with WorkerOutOfMemory (which names the size and the limit), its prefetched tasks go
    //! back to the queue, and a fresh worker replaces it. 0: no limit.
    qint64 hardMemoryLimit = 0;
    //! How often the resident size of each worker is read from /proc while a memory limit is
    //! set. A task that allocates faster than this may overshoot the hard limit by what it
    //! allocates in one interval; resourceLimits.addressSpace is the limit that cannot be
    //! overshot.
    std::chrono::milliseconds memoryCheckInterval{100};

    //! Limits the pool applies to each worker process as soon as it exists, before it takes
    //! a task (prlimit(2), setpriority(2), sched_setaffinity(2) on the worker's pid). A worker
    //! of the same user may only be limited further, never freed from a limit it inherited.
    struct ResourceLimits
    {
        //! RLIMIT_AS in bytes: allocations past it fail inside the worker (std::bad_alloc, a
        //! TaskException the task may catch). 0: inherited.
        qint64 addressSpace = 0;
        //! RLIMIT_CPU in seconds of CPU time over the worker's life (SIGXCPU, then SIGKILL:
        //! WorkerCrashed). With maxTasksPerWorker it bounds a worker's share. 0: inherited.
        int cpuSeconds = 0;
        //! Nice value of the worker, 1..19 (lower priority than the application). 0: inherited.
        int niceValue = 0;
        //! CPUs the worker may run on. Empty: inherited.
        QList<int> cpuAffinity;
    };
    ResourceLimits resourceLimits;

    //! Limits on all of the pool's workers together, enforced by the kernel: the pool makes a
    //! control group of its own (cgroup v2; or the memory and cpu hierarchies of cgroup v1
    //! on hosts that still mount those) and puts each worker in it before it takes a task.
    //! Needs a cgroup this process may write: root, or a delegated cgroup (for instance
    //! `systemd-run --user --scope -p Delegate=yes APP`). Past memoryMax the kernel's OOM
    //! killer ends a worker; its task fails with WorkerOutOfMemory, which says so. Where no
    //! usable cgroup exists, start() fails with the reason. The group is removed at stop().
    struct ControlGroup
    {
        //! Bytes the workers may use together, swap included. 0: no limit.
        qint64 memoryMax = 0;
        //! CPUs the workers may use together (1.5: one and a half CPUs' time). 0: no limit.
        double cpuMax = 0;
        //! The cgroup under which the pool's group is made, as a path in the cgroup tree
        //! ("/user.slice/…") or in the file system ("/sys/fs/cgroup/…"). Empty: this
        //! process's own cgroup (with cgroup v2, a non-root cgroup that holds this process
        //! cannot give controllers to a child; name a delegated cgroup beside it instead).
        QString parent;

        bool enabled() const { return memoryMax > 0 || cpuMax > 0; }
    };
    ControlGroup cgroup;

    //! Variables set in each worker's environment, over the pool's, chosen by the worker's
    //! slot: 0 for the first worker, and each new worker takes the lowest slot no live worker
    //! holds, so that a replacement takes over the slot of the worker it replaces. For one GPU
    //! per worker:
    //!     options.workerEnvironment = [](int slot) {
    //!         return QList<std::pair<QString, QString>>{{"CUDA_VISIBLE_DEVICES", QString::number(slot)}};
    //!     };
    //! Slots stay below maxWorkers except while a leaving worker still runs beside its
    //! replacement. Called on procpool's engine thread before each worker starts; a name that
    //! is empty or holds '=' fails that worker's start. Empty: none.
    std::function<QList<std::pair<QString, QString>>(int slot)> workerEnvironment;

    //! Where the workers run. Empty: all on this machine, up to maxWorkers. Otherwise
    //! maxWorkers (and the limit of resize()) is the sum of the hosts' slots, each worker
    //! takes a free slot of a host, and a replacement takes over the slot (and so the host) of
    //! the worker it replaces. Local and remote hosts mix in one pool. A host whose worker
    //! fails to start is set aside for a delay that doubles with each failure in a row (from
    //! 500 ms up to 30 s) while the other hosts serve; the pool breaks only when every host
    //! has failed three times in a row. On remote hosts, sharedMemory, the fork server,
    //! resourceLimits, cgroup and the memory limits do not apply (docs/remote.md).
    QList<WorkerHost> hosts;
    //! The sum of the slots of hosts; 0 when hosts is empty.
    int hostSlots() const;

    //! Each task keeps the lines it printed (TaskRecord::output, a WorkerCrashed's quote), all
    //! of them by the time its future finishes: the worker marks in its output where each call
    //! begins, and the pool reads a worker's output before it acts on its answers. That costs
    //! a short write per call and a read per answer, which tasks of a few microseconds feel
    //! (docs/performance.md); off, the lines of such a pool are only its workers' log, and a
    //! crash report quotes a worker's last lines.
    bool taskOutput = true;

    //! Finished tasks whose TaskRecord is kept for monitors (ProcessPool::taskRecords());
    //! queued and running tasks are always kept. 0 keeps none (and costs nothing per task).
    int taskHistory = 10000;

    //! Throws std::invalid_argument naming the first option that is out of range.
    void validate() const;
};

//! When a failed task runs again (SubmitOptions::retry, MapOptions::retry). Each attempt
//! runs on a worker like the first, after a delay that grows from initialDelay by
//! backoffFactor up to maxDelay and is moved by up to ±jitter of itself at random, so that
//! tasks that failed together do not come back together.
struct PROCPOOL_ENGINE_EXPORT RetryPolicy
{
    //! Attempts in all, the first one included; 1: no retry.
    int maxAttempts = 1;
    std::chrono::milliseconds initialDelay{100};
    double backoffFactor = 2.0;
    std::chrono::milliseconds maxDelay{30000};
    double jitter = 0.2; //!< 0..1
    //! Which failures are retried: the worker died under the task (WorkerCrashed,
    //! WorkerOutOfMemory); the task outlived its time limit (TaskTimeout); the task threw an
    //! exception whose TaskException::typeName() is listed ("*": any type). Cancellation,
    //! a stopped or broken pool, and errors that another attempt cannot fix (unknown task,
    //! arguments that do not convert, a protocol error) are never retried.
    bool onWorkerCrash = true;
    bool onTimeout = true;
    QStringList onExceptions;

    //! \a attempts attempts with the default backoff, every kind of failure retried.
    static RetryPolicy attempts(int attempts);
    //! The delay before attempt \a attempt (2 for the first retry), jitter aside.
    std::chrono::milliseconds delayBefore(int attempt) const;
    //! Throws std::invalid_argument naming the first field that is out of range.
    void validate() const;
};

//! A task type for a submission, e.g. `procpool::TaskType("component_render")`.
struct PROCPOOL_ENGINE_EXPORT TaskType
{
    explicit TaskType(QString typeName) : name(std::move(typeName)) {}
    QString name;
};

//! Per-submission options; may be passed as the last argument of submitTask().
struct PROCPOOL_ENGINE_EXPORT SubmitOptions
{
    SubmitOptions() = default;
    SubmitOptions(const TaskType &type) : taskType(type.name) {} // NOLINT: implicit on purpose
    QString taskType; //!< must equal the pool's task type when the pool has one
    //! Time limit of this task: negative = the pool's PoolOptions::taskTimeout; 0 = none.
    std::chrono::milliseconds timeout{-1};
    //! Soft time limit of this task: negative = PoolOptions::softTaskTimeout; 0 = none.
    std::chrono::milliseconds softTimeout{-1};
    //! With PoolOptions::maxQueued, how long the submission waits for room in a full queue
    //! before it throws QueueFull: negative = as long as it takes, 0 = not at all. On procpool's
    //! engine thread (in a continuation without a context) it never waits: the engine thread
    //! is what makes room.
    std::chrono::milliseconds roomTimeout{-1};
    //! Among queued tasks, higher priorities are handed to workers first; within one priority,
    //! in submission order. Tasks already handed to a worker (prefetched) keep their place.
    int priority = 0;
    //! Whether and how a failed task runs again. The future fails only after the last attempt;
    //! its error's TaskFailure::attemptErrors() lists every attempt's error.
    RetryPolicy retry;
};

//! Options of ProcessPoolManager::map().
struct PROCPOOL_ENGINE_EXPORT MapOptions
{
    //! Items sent to a worker in one MapCall frame. 0: automatic, about eight chunks per
    //! worker (at least 1, at most 4096 items). Larger chunks cost less per item; smaller ones
    //! spread the work more evenly, report progress more often and lose less to a crash.
    int chunkSize = 0;
    QString taskType; //!< must equal the pool's task type when the pool has one
    //! Time limit of one chunk: negative = the pool's PoolOptions::taskTimeout; 0 = none.
    std::chrono::milliseconds timeout{-1};
    //! With PoolOptions::maxQueued: how long each chunk waits for room (see SubmitOptions).
    std::chrono::milliseconds roomTimeout{-1};
    int priority = 0;  //!< of every chunk (see SubmitOptions::priority)
    RetryPolicy retry; //!< of each chunk: a chunk that failed runs again as a whole
};

//! A pool's life: Stopped → Running → Stopping → Stopped. Broken: workers cannot be started.
enum class PoolState { Stopped, Running, Stopping, Broken };
PROCPOOL_ENGINE_EXPORT QString stateName(PoolState state);

enum class WorkerState { Starting, Idle, Busy, Exiting, Crashed };
PROCPOOL_ENGINE_EXPORT QString stateName(WorkerState state);

//! A snapshot of one worker process.
struct PROCPOOL_ENGINE_EXPORT WorkerInfo
{
    qint64 pid = 0;
    QString name;              //!< PREFIX-N, as in /proc/PID/comm (which keeps 15 bytes)
    WorkerState state = WorkerState::Starting;
    QString currentTask;       //!< name of the task it is running, if any
    quint64 tasksDone = 0;     //!< tasks finished with a result
    quint64 tasksFailed = 0;   //!< tasks that threw
    QDateTime startedAt;
    int slot = 0;              //!< its slot in the pool (see PoolOptions::workerEnvironment)
    //! Where it runs: empty on this machine, else the host of its PoolOptions::hosts entry.
    //! pid is then the launcher's (ssh's, srun's) pid here.
    QString host;
    //! On a remote host, the host name and pid its hello gave there (what it says of itself,
    //! shown, never acted on); empty and 0 on this machine.
    QString reportedHost;
    qint64 remotePid = 0;
};

enum class TaskState { Queued, Running, Finished, Failed, Cancelled };
PROCPOOL_ENGINE_EXPORT QString stateName(TaskState state);

//! What a monitor knows of one submitted task (see ProcessPool::taskRecords()).
struct PROCPOOL_ENGINE_EXPORT TaskRecord
{
    quint64 id = 0;            //!< unique in this process
    quint64 serial = 0;        //!< change counter: larger = changed later
    QString taskName;
    QString taskType;
    TaskState state = TaskState::Queued;
    qint64 workerPid = 0;      //!< the worker that ran (or runs) it; 0 while queued
    //! Wall-clock times, taken from a monotonic clock and the wall clock at the pool's start,
    //! so they stay in order even if the system clock is set while the pool runs.
    QDateTime submittedAt, startedAt, finishedAt;
    int progressValue = 0, progressMaximum = 0;
    QString progressText;
    QString error;             //!< the failure message, for Failed
    int priority = 0;          //!< SubmitOptions::priority
    int attempts = 0;          //!< times a worker began to run it (1 without a retry)
    int maxAttempts = 1;       //!< SubmitOptions::retry's maxAttempts
    //! The errors of the attempts that failed and were retried, oldest first.
    QStringList attemptErrors;
    //! The last lines (at most about 4 KiB) its worker printed to stdout or stderr while it
    //! ran this task, and only this task.
    QString output;
};

//! Counters of one pool since start(). Exact, updated as results arrive.
struct PROCPOOL_ENGINE_EXPORT PoolStats
{
    qint64 queued = 0;     //!< waiting in the parent for a worker
    qint64 running = 0;    //!< handed to a worker and not finished
    quint64 submitted = 0;
    quint64 completed = 0; //!< finished with a result
    quint64 failed = 0;    //!< finished with an error
    quint64 cancelled = 0; //!< dropped before they ran
    quint64 workersStarted = 0;
    quint64 workersCrashed = 0;
};

} // namespace procpool

Q_DECLARE_METATYPE(procpool::PoolState)
Q_DECLARE_METATYPE(procpool::WorkerState)
Q_DECLARE_METATYPE(procpool::TaskState)
