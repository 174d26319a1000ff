// procpool — ProcessPoolManager, the registry and getOrCreateProcessManager().
//
//     procpool::ProcessPoolManager *manager = procpool::getOrCreateProcessManager("render");
//     manager->start(4, "component_render");
//     QFuture<QString> page = manager->submitTask(renderPage, url,
//                                                 procpool::TaskType("component_render"));
#pragma once

#include <procpool/errors.h>
#include <procpool/options.h>
#include <procpool/processpool.h>
#include <procpool/procpool_export.h>
#include <procpool/task.h>

#include <QtCore/QCborArray>
#include <QtCore/QFuture>
#include <QtCore/QFutureInterface>
#include <QtCore/QMap>
#include <QtCore/QMutex>
#include <QtCore/QObject>
#include <QtCore/QPromise>
#include <QtCore/QVariant>

#include <algorithm>
#include <memory>
#include <optional>
#include <tuple>
#include <utility>

namespace procpool {

class ProcessPoolManager;

//! The namespace used when getOrCreateProcessManager() is given no id.
inline constexpr char16_t defaultNamespace[] = u"default";

//! creator process id → namespace id → manager.
using RegistryMap = QMap<qint64, QMap<QString, ProcessPoolManager *>>;

namespace detail {
class ManagerRelay;

//! A Call frame under construction: the frame header's room and the head of
//! [taskName, [arguments]] for \a argumentCount arguments. The pool writes the header (length,
//! type, task id) when it queues the frame.
PROCPOOL_ENGINE_EXPORT QByteArray beginCallFrame(const QString &taskName, qsizetype argumentCount);
//! Appends one argument to a frame from beginCallFrame().
PROCPOOL_ENGINE_EXPORT void appendCallArgument(QByteArray &frame, const QCborValue &argument);

//! Where the engine delivers one task's outcome. Lives on the engine thread once submitted.
class PROCPOOL_ENGINE_EXPORT ResultSink
{
public:
    virtual ~ResultSink();
    //! Decodes \a result and keeps it for complete(); throws CodecError when it cannot. Apart
    //! from complete(), so that the engine counts a task once, as what it turned out to be,
    //! before its future finishes.
    virtual void decode(const QCborValue &result) = 0;
    //! Finishes the future with what decode() kept.
    virtual void complete() = 0;
    virtual void fail(const QException &error) = 0;
    virtual void progress(int value, int maximum, const QString &text) = 0;
    virtual bool isCanceled() const = 0;
    virtual void finishCanceled() = 0;
    //! Cancels the task's future, as QFuture::cancel() would (ProcessPool::cancelTask()).
    virtual void requestCancel() = 0;
    //! True when a running task should be stopped as cancelled (CancelPolicy); unlike
    //! isCanceled(), false for a chunk whose map already failed because of another chunk.
    virtual bool cancelRequested() const { return isCanceled(); }
};

template <typename R>
class PromiseSink final : public ResultSink
{
public:
    PromiseSink() { m_promise.start(); }
    QFuture<R> future() { return m_promise.future(); }
    void decode(const QCborValue &result) override
    {
        if constexpr (!std::is_void_v<R>)
            m_value.emplace(Codec<R>::decode(result));
    }
    void complete() override
    {
        if constexpr (!std::is_void_v<R>)
            m_promise.addResult(std::move(*m_value));
        m_promise.finish();
    }
    void fail(const QException &error) override
    {
        m_promise.setException(error);
        m_promise.finish();
    }
    void progress(int value, int maximum, const QString &text) override
    {
        m_promise.setProgressRange(0, maximum);
        m_promise.setProgressValueAndText(value, text);
    }
    bool isCanceled() const override { return m_promise.isCanceled(); }
    void finishCanceled() override { m_promise.finish(); }
    void requestCancel() override { m_promise.future().cancel(); }

private:
    struct Nothing
    {
    };
    QPromise<R> m_promise;
    std::optional<std::conditional_t<std::is_void_v<R>, Nothing, R>> m_value;
};

//! The one future of a map(): chunks report into it at their items' indexes, in any order.
//! Shared by the chunks' sinks; they may call it from the engine thread and (a broken pool)
//! from the submitting thread, hence the mutex.
template <typename R>
class MapState
{
public:
    explicit MapState(qsizetype items) : m_open(items)
    {
        m_interface.reportStarted();
        m_interface.setProgressRange(0, int(items));
        if (items == 0)
            m_interface.reportFinished();
    }
    ~MapState()
    {
        if (!m_interface.isFinished()) { // chunks dropped without an answer: never hang a waiter
            m_interface.reportCanceled();
            m_interface.reportFinished();
        }
    }
    QFuture<R> future() { return m_interface.future(); }
    bool isCanceled() const { return m_interface.isCanceled(); }
    bool cancelRequested() const
    {
        QMutexLocker locker(&m_mutex);
        return !m_failed && m_interface.isCanceled();
    }
    void deliver(qsizetype begin, qsizetype count, const QList<R> *results)
    {
        QMutexLocker locker(&m_mutex);
        if (m_interface.isFinished())
            return;
        if constexpr (!std::is_void_v<R>)
            m_interface.reportResults(*results, int(begin));
        m_done += count;
        m_interface.setProgressValue(int(m_done));
        if (m_done == m_open || m_interface.isCanceled())
            m_interface.reportFinished();
    }
    void fail(const QException &error)
    {
        QMutexLocker locker(&m_mutex);
        if (m_interface.isFinished())
            return;
        m_failed = true;
        m_interface.reportException(error);
        m_interface.reportFinished();
    }
    void requestCancel() { m_interface.cancel(); }
    void cancel()
    {
        QMutexLocker locker(&m_mutex);
        if (m_interface.isFinished())
            return;
        m_interface.reportCanceled();
        m_interface.reportFinished();
    }

private:
    mutable QMutex m_mutex;
    QFutureInterface<R> m_interface;
    const qsizetype m_open;
    qsizetype m_done = 0;
    bool m_failed = false;
};

//! The sink of one chunk of a map(): items [begin, begin + count).
template <typename R>
class ChunkSink final : public ResultSink
{
public:
    ChunkSink(std::shared_ptr<MapState<R>> state, qsizetype begin, qsizetype count)
        : m_state(std::move(state)), m_begin(begin), m_count(count)
    {
    }
    void decode(const QCborValue &result) override
    {
        if (!result.isArray() || result.toArray().size() != m_count)
            throw CodecError(QStringLiteral("expected an array of %1 results").arg(m_count));
        if constexpr (!std::is_void_v<R>) {
            const QCborArray array = result.toArray();
            m_values.reserve(m_count);
            for (const QCborValue &value : array)
                m_values.append(Codec<R>::decode(value));
        }
    }
    void complete() override
    {
        if constexpr (std::is_void_v<R>)
            m_state->deliver(m_begin, m_count, nullptr);
        else
            m_state->deliver(m_begin, m_count, &m_values);
    }
    void fail(const QException &error) override { m_state->fail(error); }
    void progress(int, int, const QString &) override {} // a map's progress counts items
    bool isCanceled() const override { return m_state->isCanceled(); }
    bool cancelRequested() const override { return m_state->cancelRequested(); }
    void finishCanceled() override { m_state->cancel(); }
    void requestCancel() override { m_state->requestCancel(); }

private:
    std::shared_ptr<MapState<R>> m_state;
    qsizetype m_begin;
    qsizetype m_count;
    QList<std::conditional_t<std::is_void_v<R>, int, R>> m_values; //!< decoded, not yet reported
};

template <typename T>
constexpr bool isSubmitOption =
    std::is_same_v<std::remove_cvref_t<T>, SubmitOptions> || std::is_same_v<std::remove_cvref_t<T>, TaskType>;

template <typename... Ts>
constexpr bool endsWithSubmitOptions = [] {
    if constexpr (sizeof...(Ts) == 0)
        return false;
    else
        return isSubmitOption<std::tuple_element_t<sizeof...(Ts) - 1, std::tuple<Ts...>>>;
}();

template <typename D, typename T>
QCborValue encodeAs(T &&value)
{
    if constexpr (std::is_same_v<std::remove_cvref_t<T>, D>)
        return Codec<D>::encode(value);
    else
        return Codec<D>::encode(D(std::forward<T>(value)));
}

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

    //! Submits \a task with its arguments; the last argument may be a TaskType or SubmitOptions:
    //!     manager->submitTask(add, 1, 2, procpool::TaskType("math"));
    //! Throws PoolNotRunning before start(), UnknownTaskError when the task type does not match.
    template <typename R, typename... Args, typename... Ts>
    QFuture<R> submitTask(const Task<R(Args...)> &task, Ts &&...arguments)
    {
        if constexpr (detail::endsWithSubmitOptions<Ts...>) {
            auto all = std::forward_as_tuple(std::forward<Ts>(arguments)...);
            return [&]<std::size_t... I>(std::index_sequence<I...>) {
                return submitWithOptions(task, SubmitOptions(std::get<sizeof...(Ts) - 1>(all)),
                                         std::get<I>(std::move(all))...);
            }(std::make_index_sequence<sizeof...(Ts) - 1>{});
        } else {
            return submitWithOptions(task, SubmitOptions(), std::forward<Ts>(arguments)...);
        }
    }

    //! Runs \a task once per item, in chunks (MapOptions::chunkSize items per frame), and
    //! returns one future with a result per item, in the items' order (resultAt(i),
    //! results()); its progress counts finished items. The first item that fails fails the
    //! future with that item's error and drops the chunks not yet started; cancel() drops
    //! queued chunks (running ones as CancelPolicy says). Throws as submitTask() does.
    template <typename R, typename T, typename U>
    QFuture<R> map(const Task<R(T)> &task, const QList<U> &items,
                   const MapOptions &options = MapOptions())
    {
        using D = std::decay_t<T>;
        SubmitOptions submit;
        submit.taskType = options.taskType;
        submit.timeout = options.timeout;
        submit.roomTimeout = options.roomTimeout;
        checkSubmission(submit);
        auto state = std::make_shared<detail::MapState<R>>(items.size());
        QFuture<R> future = state->future();
        const qsizetype chunk = mapChunkSize(items.size(), options.chunkSize);
        try {
            for (qsizetype begin = 0; begin < items.size(); begin += chunk) {
                const qsizetype count = std::min(chunk, items.size() - begin);
                QByteArray frame = detail::beginCallFrame(task.name(), count);
                QList<QByteArray> attachments;
                {
                    const detail::AttachmentScope scope(&attachments, nullptr);
                    for (qsizetype i = begin; i < begin + count; ++i)
                        detail::appendCallArgument(frame, detail::encodeAs<D>(items.at(i)));
                }
                enqueue(task.name(), std::move(frame), std::move(attachments),
                        std::make_unique<detail::ChunkSink<R>>(state, begin, count), submit,
                        true);
            }
        } catch (...) {
            state->cancel(); // chunks already queued are dropped
            throw;
        }
        return future;
    }

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
    qint64 creatorPid() const { return m_creatorPid; }
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
                                 Ts &&...arguments)
    {
        static_assert(sizeof...(Args) == sizeof...(Ts),
                      "procpool: wrong number of arguments for this task");
        checkSubmission(options);
        // The arguments go straight into the frame, without a QCborArray of them first.
        QList<QByteArray> attachments;
        QByteArray frame = detail::beginCallFrame(task.name(), qsizetype(sizeof...(Args)));
        {
            const detail::AttachmentScope scope(&attachments, nullptr);
            (detail::appendCallArgument(
                 frame, detail::encodeAs<std::decay_t<Args>>(std::forward<Ts>(arguments))),
             ...);
        }
        auto sink = std::make_unique<detail::PromiseSink<R>>();
        QFuture<R> future = sink->future();
        enqueue(task.name(), std::move(frame), std::move(attachments), std::move(sink), options);
        return future;
    }

    void checkSubmission(const SubmitOptions &options) const;
    //! \a frame: from detail::beginCallFrame(), with its arguments appended. \a chunk: they
    //! are a map()'s items, sent as one MapCall. \a attachments: the large byte arrays the
    //! arguments refer to (see codec.h).
    quint64 enqueue(const QString &taskName, QByteArray &&frame,
                    QList<QByteArray> &&attachments, std::unique_ptr<detail::ResultSink> sink,
                    const SubmitOptions &options, bool chunk = false);
    qsizetype mapChunkSize(qsizetype items, int requested) const;
    std::shared_ptr<detail::PoolCore> runningCore() const;

    friend class ManagerRegistry;
    friend ProcessPoolManager *getOrCreateProcessManager(const QString &, bool, bool);
    mutable QMutex m_mutex;
    const qint64 m_creatorPid;
    QString m_namespaceId;
    PoolOptions m_lastOptions; //!< of the last pool, while none runs (the pool's own otherwise)
    std::shared_ptr<detail::PoolCore> m_core;
    std::unique_ptr<ProcessPool> m_pool;
    //! Carries the engine thread's signals of its pools here (see ~ProcessPoolManager()).
    std::shared_ptr<detail::ManagerRelay> m_relay;
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

//! Removes a namespace's manager from the registry (see ManagerRegistry::remove()).
PROCPOOL_ENGINE_EXPORT bool removeProcessManager(const QString &id);

PROCPOOL_ENGINE_EXPORT QDebug operator<<(QDebug debug, const ProcessPoolManager *manager);

} // namespace procpool
