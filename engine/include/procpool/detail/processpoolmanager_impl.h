// procpool — the machinery of ProcessPoolManager's templates: how a typed call becomes a frame
// and how its outcome reaches a QFuture. Included at the end of <procpool/processpoolmanager.h>;
// not an API of its own.
#pragma once

#include <procpool/detail/callframe.h>
#include <procpool/processpoolmanager.h>

#include <QtCore/QCborArray>
#include <QtCore/QFuture>
#include <QtCore/QFutureInterface>
#include <QtCore/QMutex>
#include <QtCore/QPointer>
#include <QtCore/QPromise>

#include <algorithm>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <tuple>
#include <utility>

namespace procpool {

namespace detail {

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

//! A sink that finishes a QPromise<R>: everything but how a result is decoded and kept.
template <typename R>
class PromiseSinkBase : public ResultSink
{
public:
    PromiseSinkBase() { m_promise.start(); }
    QFuture<R> future() { return m_promise.future(); }
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

protected:
    QPromise<R> m_promise;
};

//! The sink of a typed submission: the result decoded as R.
template <typename R>
class PromiseSink final : public PromiseSinkBase<R>
{
public:
    void decode(const QCborValue &result) override
    {
        if constexpr (!std::is_void_v<R>)
            m_value.emplace(Codec<R>::decode(result));
    }
    void complete() override
    {
        if constexpr (!std::is_void_v<R>)
            this->m_promise.addResult(std::move(*m_value));
        this->m_promise.finish();
    }

private:
    struct Nothing
    {
    };
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

//! The state of a mapStream(): the range, its iterator, the task and the manager, beside what
//! MapStreamState keeps. The range is held as std::views::all() would hold it (without making a
//! view of it): a view by value, a range passed as an lvalue by reference, one passed as an
//! rvalue moved in. Never moved once made, so the iterator always points into what it holds.
template <typename R, typename T, typename Range>
class RangeMapStream final : public MapStreamState<R>
{
    static constexpr bool byReference =
        std::is_lvalue_reference_v<Range> && !std::ranges::view<std::remove_cvref_t<Range>>;
    using Base = std::conditional_t<byReference, std::remove_reference_t<Range>,
                                    std::remove_cvref_t<Range>>;
    using Held = std::conditional_t<byReference, Base *, Base>;

public:
    using Item = std::decay_t<T>;

    RangeMapStream(ProcessPoolManager *manager, const Task<R(T)> &task, Range &&items,
                   const SubmitOptions &options, int window)
        : MapStreamState<R>(window, task.name())
        , m_manager(manager)
        , m_task(&task)
        , m_options(options)
        , m_held(hold(std::forward<Range>(items)))
        , m_next(std::ranges::begin(range()))
    {
    }

private:
    static Held hold(Range &&items)
    {
        if constexpr (byReference)
            return std::addressof(items);
        else
            return Held(std::forward<Range>(items));
    }
    Base &range()
    {
        if constexpr (byReference)
            return *m_held;
        else
            return m_held;
    }

    std::optional<QFuture<R>> submitNext() override
    {
        if (!m_taken) {
            if (m_next == std::ranges::end(range()))
                return std::nullopt;
            m_taken.emplace(*m_next);
            ++m_next;
        }
        std::optional<QFuture<R>> future = submit(*m_taken);
        m_taken.reset();
        return future;
    }

    QFuture<R> submit(const Item &item)
    {
        if (!m_manager)
            throw PoolNotRunning(QStringLiteral("the ProcessPoolManager of this map stream of "
                                                "task '%1' was deleted")
                                     .arg(m_task->name()));
        try {
            return m_manager->submitTask(*m_task, item, m_options);
        } catch (const TaskFailure &error) {
            // The item itself cannot be sent (CodecError): it fails at its place in the stream.
            QPromise<R> failed;
            failed.start();
            failed.setException(error);
            failed.finish();
            return failed.future();
        }
    }

    QPointer<ProcessPoolManager> m_manager;
    const Task<R(T)> *m_task;
    const SubmitOptions m_options;
    Held m_held;
    std::ranges::iterator_t<Base> m_next;
    std::optional<Item> m_taken; //!< taken from the range, not yet submitted
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

template <typename R, typename... Args, typename... Ts>
QFuture<R> ProcessPoolManager::submitTask(const Task<R(Args...)> &task, Ts &&...arguments)
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

template <typename R, typename T, typename U>
QFuture<R> ProcessPoolManager::map(const Task<R(T)> &task, const QList<U> &items,
                                   const MapOptions &options)
{
    using D = std::decay_t<T>;
    SubmitOptions submit;
    submit.taskType = options.taskType;
    submit.timeout = options.timeout;
    submit.roomTimeout = options.roomTimeout;
    submit.priority = options.priority;
    submit.retry = options.retry;
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

template <typename R, typename T, std::ranges::input_range Range>
    requires(!std::is_void_v<R>) && std::ranges::viewable_range<Range>
            && std::constructible_from<std::decay_t<T>, std::ranges::range_reference_t<Range>>
MapStream<R> ProcessPoolManager::mapStream(const Task<R(T)> &task, Range &&items, int window,
                                           const SubmitOptions &options)
{
    if (window < 1)
        throw std::invalid_argument(
            QStringLiteral("procpool: mapStream() needs a window of at least 1 item, not %1")
                .arg(window)
                .toStdString());
    checkSubmission(options); // before the range is touched
    auto state = std::make_unique<detail::RangeMapStream<R, T, Range>>(
        this, task, std::forward<Range>(items), options, window);
    state->fill(); // on a throw, the state's destructor cancels what was submitted
    return MapStream<R>(std::move(state));
}

template <typename R, typename... Args, typename... Ts>
QFuture<R> ProcessPoolManager::submitWithOptions(const Task<R(Args...)> &task,
                                                 const SubmitOptions &options, Ts &&...arguments)
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

} // namespace procpool
