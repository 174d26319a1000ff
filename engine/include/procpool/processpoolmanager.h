// procpool — ProcessPoolManager, the registry and getOrCreateProcessManager().
//
//     procpool::ProcessPoolManager *manager = procpool::getOrCreateProcessManager("render");
//     manager->start(4, "component_render");
//     QFuture<QString> page = manager->submitTask(renderPage, url,
//                                                 procpool::TaskType("component_render"));
#pragma once

#include <procpool/errors.h>
#include <procpool/mapstream.h>
#include <procpool/options.h>
#include <procpool/processpool.h>
#include <procpool/procpool_export.h>
#include <procpool/task.h>

#include <QtCore/QFuture>
#include <QtCore/QMap>
#include <QtCore/QObject>
#include <QtCore/QVariant>

#include <concepts>
#include <memory>
#include <ranges>
#include <type_traits>

namespace procpool {

class ProcessPoolManager;

//! The namespace used when getOrCreateProcessManager() is given no id.
inline constexpr char16_t defaultNamespace[] = u"default";

//! creator process id → namespace id → manager.
using RegistryMap = QMap<qint64, QMap<QString, ProcessPoolManager *>>;

namespace detail {
class ManagerRelay;
struct RegistryAccess;
class ResultSink;
} // namespace detail

//! Owns at most one running ProcessPool at a time and guards it with an optional task type.
//!
//! Thread-safe: start(), stop() and submitTask() may be called from any thread. Results are
//! delivered on procpool's engine thread, so a QFuture continuation without a context object
//! runs there; give .then() a context (or QtFuture::Launch::Async) for heavy continuations.
class PROCPOOL_ENGINE_EXPORT ProcessPoolManager : public QObject
{
    Q_OBJECT
    Q_PROPERTY(QString namespaceId READ namespaceId CONSTANT)
    Q_PROPERTY(qint64 creatorPid READ creatorPid CONSTANT)
    Q_PROPERTY(bool running READ isRunning NOTIFY stateChanged)

public:
    //! A manager owned by the process \a creatorPid (default: this process).
    explicit ProcessPoolManager(qint64 creatorPid = currentProcessId(), QObject *parent = nullptr);
    explicit ProcessPoolManager(QObject *parent);
    //! Stops the pool first: a non-daemon pool finishes its tasks, a daemon pool is killed.
    ~ProcessPoolManager() override;

    //! Starts the pool, ready to accept tasks; the seed's parameters in the seed's order.
    //! Throws PoolAlreadyRunning when a pool is already active or running, and
    //! std::invalid_argument for an option out of range.
    void start(int maxWorkers, const QString &taskType = QString(), bool daemon = false,
               const QString &processNamePrefix = QString(),
               const StartContext &startContext = StartContext());
    void start(const PoolOptions &options);

    //! Shuts the pool down; new submissions are refused at once.
    //! Non-daemon pool: every task already submitted still runs to completion; \a wait decides
    //! whether stop() returns before (false) or after (true) that and the workers' exit.
    //! Daemon pool: queued tasks are dropped (their futures fail with PoolStopped); with
    //! \a wait the tasks the workers already hold finish first, without it the workers are
    //! killed at once and those futures fail with PoolStopped too.
    //! After stop(), start() may be called again.
    void stop(bool wait = true);
    //! Starts stopping the pool and returns at once: stop(false), named for what it does.
    void requestStop();

    //! Submits \a task with its arguments; the last argument may be a TaskType or SubmitOptions:
    //!     manager->submitTask(add, 1, 2, procpool::TaskType("math"));
    //! Throws PoolNotRunning before start(), UnknownTaskError when the task type does not match.
    template <typename R, typename... Args, typename... Ts>
    QFuture<R> submitTask(const Task<R(Args...)> &task, Ts &&...arguments);

    //! Runs \a task once per item, in chunks (MapOptions::chunkSize items per frame), and
    //! returns one future with a result per item, in the items' order (resultAt(i),
    //! results()); its progress counts finished items. The first item that fails fails the
    //! future with that item's error and drops the chunks not yet started; cancel() drops
    //! queued chunks (running ones as CancelPolicy says). Throws as submitTask() does.
    template <typename R, typename T, typename U>
    QFuture<R> map(const Task<R(T)> &task, const QList<U> &items,
                   const MapOptions &options = MapOptions());

    //! Runs \a task over items taken lazily from an input range (an endless
    //! std::views::iota(0), a generator, a view over a file ...), one task per item: at most
    //! \a window items are submitted and not yet taken by the caller, and the range's next item
    //! is taken only when the caller takes a result (MapStream::next()). Memory stays bounded
    //! by the window, for the items and for the results. This call takes and submits the first
    //! \a window items (fewer when the range has fewer).
    //!
    //! The range is held as std::views::all() holds it: a view, and a range passed as an rvalue,
    //! are copied or moved into the stream, which owns them; a range passed as an lvalue is
    //! referred to and must outlive the stream (so must \a task, as a task declared at namespace
    //! scope does). It is read on the calling thread only. Should this manager be deleted first,
    //! next() throws PoolNotRunning where it would submit. Each item is converted to the task's
    //! parameter type when it is taken and submitted as submitTask(task, item, options) would
    //! submit it; an item that cannot be sent (CodecError: it does not encode, or its call is over
    //! PoolOptions::maxFrameSize) fails at its place in the stream instead of throwing. For tiny
    //! items that are all known up front, map() is faster: it sends them in chunks.
    //!
    //! Throws std::invalid_argument for \a window < 1, and otherwise as submitTask() does
    //! (PoolNotRunning, UnknownTaskError, QueueFull); the items submitted until then are
    //! cancelled.
    template <typename R, typename T, std::ranges::input_range Range>
        requires(!std::is_void_v<R>) && std::ranges::viewable_range<Range>
                && std::constructible_from<std::decay_t<T>, std::ranges::range_reference_t<Range>>
    MapStream<R> mapStream(const Task<R(T)> &task, Range &&items, int window,
                           const SubmitOptions &options = SubmitOptions());

    //! Untyped submission by task name (what the monitor and headless mode use). Arguments are
    //! checked against the task's declared types when this program knows the task; an unknown
    //! name throws UnknownTaskName here when the workers run this program, and fails the
    //! future with UnknownTaskName when they run another program that does not know it.
    QFuture<QVariant> submitTask(const QString &taskName, const QVariantList &arguments,
                                 const SubmitOptions &options = SubmitOptions());

    //! A submission with its id, for monitors that follow it in ProcessPool::taskRecords().
    struct TrackedTask
    {
        quint64 id = 0;
        QFuture<QVariant> future;
    };
    //! Like the untyped submitTask(), and also returns the task's id.
    TrackedTask submitTracked(const QString &taskName, const QVariantList &arguments,
                              const SubmitOptions &options = SubmitOptions());

    //! Grows or shrinks the running pool to at most \a maxWorkers workers. Growing starts
    //! workers as work needs them; shrinking retires idle workers at once and busy ones after
    //! their current task. Throws PoolNotRunning before start(), std::invalid_argument for
    //! \a maxWorkers < 1 (minWorkers is lowered to fit).
    void resize(int maxWorkers);

    //! Stops the pool at once, whatever its kind: workers are killed, and every task that has
    //! not finished fails with PoolStopped. Returns when the workers are gone.
    void terminate();

    //! The running pool. Throws PoolNotRunning before start() and after stop().
    ProcessPool *getPool() const;

    bool isRunning() const;
    PoolState state() const;
    qint64 creatorPid() const;
    //! The registry namespace this manager is filed under (empty when not in the registry).
    QString namespaceId() const;
    //! The options of the running pool, or of the last one.
    PoolOptions options() const;

    //! `<ProcessPoolManager namespace='render' creator=4242 state=running max_workers=4 ...>`
    QString toString() const;

    //! Every manager alive in this process, in creation order.
    static QList<ProcessPoolManager *> allInstances();
    //! A copy of the registry: creator pid → namespace → manager.
    static RegistryMap registry();

    static qint64 currentProcessId();

Q_SIGNALS:
    void stateChanged(procpool::PoolState state);
    void workerStarted(qint64 pid, const QString &name);
    //! \a exitCode is -1 when \a signal ended the worker; \a reason is a readable summary.
    void workerExited(qint64 pid, int exitCode, int signal, const QString &reason);
    //! A line a worker printed to stdout or stderr, or one of procpool's about a worker
    //! (starting with "procpool: "). Emitted on procpool's engine thread. The lines a pool lets
    //! wait for this manager's thread are bounded (10,000 lines or 8 MiB, counted until that
    //! thread has run the events queued with them): beyond that a worker's lines are dropped,
    //! and once the thread has caught up a line "procpool: N lines of this worker's output
    //! were dropped" says how many. A crash report quotes the last lines all the same.
    void workerLog(qint64 pid, const QString &line);

private:
    template <typename R, typename... Args, typename... Ts>
    QFuture<R> submitWithOptions(const Task<R(Args...)> &task, const SubmitOptions &options,
                                 Ts &&...arguments);

    void checkSubmission(const SubmitOptions &options) const;
    //! \a frame: from detail::beginCallFrame(), with its arguments appended. \a chunk: they
    //! are a map()'s items, sent as one MapCall. \a attachments: the large byte arrays the
    //! arguments refer to (see codec.h).
    quint64 enqueue(const QString &taskName, QByteArray &&frame,
                    QList<QByteArray> &&attachments, std::unique_ptr<detail::ResultSink> sink,
                    const SubmitOptions &options, bool chunk = false);
    qsizetype mapChunkSize(qsizetype items, int requested) const;
    std::shared_ptr<detail::PoolCore> runningCore() const;

    //! Filed under namespace \a id of the registry (by getOrCreateProcessManager()).
    void setNamespaceId(const QString &id);

    friend class ManagerRegistry;
    friend struct detail::RegistryAccess;
    friend ProcessPoolManager *getOrCreateProcessManager(const QString &, bool, bool);
    struct Private;
    std::unique_ptr<Private> d;
};

//! The process-wide registry of managers, as a QObject that announces changes.
class PROCPOOL_ENGINE_EXPORT ManagerRegistry : public QObject
{
    Q_OBJECT
public:
    static ManagerRegistry *instance();

    RegistryMap snapshot() const;
    QList<ProcessPoolManager *> allInstances() const;
    //! Removes (and deletes) the registry's manager for \a id in this process; a running pool
    //! is stopped first as stop(false) would. Returns false when there is none.
    bool remove(const QString &id);

Q_SIGNALS:
    void managerAdded(procpool::ProcessPoolManager *manager);
    //! Emitted before the manager is deleted, or when forceCreate replaced it.
    void managerRemoved(procpool::ProcessPoolManager *manager);

private:
    friend class ProcessPoolManager;
    friend struct detail::RegistryAccess;
    friend ProcessPoolManager *getOrCreateProcessManager(const QString &, bool, bool);
    ManagerRegistry();
    ~ManagerRegistry() override;
    void track(ProcessPoolManager *manager);
    void untrack(ProcessPoolManager *manager);

    struct Private;
    std::unique_ptr<Private> d;
};

//! Retrieves or creates the manager of namespace \a id for the current process.
//!  - no id: the default namespace; the same id always gives the same manager;
//!  - \a strictlyGet and no such manager: throws ManagerNotFound;
//!  - \a forceCreate: a new manager replaces that namespace's one (the others are untouched;
//!    the replaced manager keeps running and stays valid until the process exits);
//!  - both flags: throws std::invalid_argument.
PROCPOOL_ENGINE_EXPORT ProcessPoolManager *
getOrCreateProcessManager(const QString &id = QString(), bool forceCreate = false,
                          bool strictlyGet = false);

//! How getOrCreateProcessManager() treats the namespace's existing manager.
enum class ManagerLookup {
    GetOrCreate, //!< the existing manager, or a new one
    ForceCreate, //!< a new manager, which replaces the existing one (forceCreate)
    StrictlyGet, //!< the existing manager; ManagerNotFound when there is none (strictlyGet)
};

//! getOrCreateProcessManager(id, forceCreate, strictlyGet) with the two flags as one choice:
//!     getOrCreateProcessManager("render", procpool::ManagerLookup::StrictlyGet);
PROCPOOL_ENGINE_EXPORT ProcessPoolManager *getOrCreateProcessManager(const QString &id,
                                                                     ManagerLookup lookup);

//! Removes a namespace's manager from the registry (see ManagerRegistry::remove()).
PROCPOOL_ENGINE_EXPORT bool removeProcessManager(const QString &id);

PROCPOOL_ENGINE_EXPORT QDebug operator<<(QDebug debug, const ProcessPoolManager *manager);

} // namespace procpool

#include <procpool/detail/processpoolmanager_impl.h>
