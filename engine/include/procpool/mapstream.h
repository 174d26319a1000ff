// procpool — MapStream<R>: the results of ProcessPoolManager::mapStream(), taken one by one in
// the items' order while at most a window of items is submitted and not yet taken.
//
//     procpool::MapStream<int> squares = manager->mapStream(square, std::views::iota(0), 8);
//     while (std::optional<int> value = squares.next())
//         use(*value); // each next() takes one result and submits one more item
#pragma once

#include <procpool/errors.h>

#include <QtCore/QFuture>
#include <QtCore/QString>

#include <cstddef>
#include <deque>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace procpool {

class ProcessPoolManager;

namespace detail {

//! What a MapStream owns, on the heap so that the handle may move freely: the futures of the
//! items in flight, oldest first, and (in the subclass ProcessPoolManager::mapStream() makes)
//! the range, its iterator, the task and the manager. Used from one thread.
template <typename R>
class MapStreamState
{
public:
    MapStreamState(int window, const QString &taskName) : m_window(window), m_taskName(taskName)
    {
    }
    //! Cancels what is still in flight.
    virtual ~MapStreamState() { cancel(); }
    MapStreamState(const MapStreamState &) = delete;
    MapStreamState &operator=(const MapStreamState &) = delete;

    //! Takes and submits items until the window is full or the range has ended. Throws what
    //! submitNext() throws; the items submitted before stay in flight.
    void fill()
    {
        while (!m_ended && qsizetype(m_inFlight.size()) < m_window) {
            std::optional<QFuture<R>> future = submitNext();
            if (!future) {
                m_ended = true;
                break;
            }
            m_inFlight.push_back(std::move(*future));
        }
    }

    std::optional<R> next()
    {
        if (m_inFlight.empty())
            return std::nullopt;
        QFuture<R> head = m_inFlight.front();
        std::exception_ptr failure;
        try {
            head.waitForFinished(); // rethrows the item's error, which is kept for below
        } catch (...) {
            failure = std::current_exception();
        }
        m_inFlight.pop_front();
        try {
            fill();
        } catch (...) {
            // The next item could not be submitted (PoolNotRunning, QueueFull, ...): the result
            // stays at the head, and the next call gives it after submitting that item again.
            m_inFlight.push_front(std::move(head));
            throw;
        }
        if (failure)
            std::rethrow_exception(failure);
        if (head.isCanceled() || head.resultCount() == 0)
            throw TaskCancelled(m_taskName);
        return head.result();
    }

    QFuture<R> head() const { return m_inFlight.empty() ? QFuture<R>() : m_inFlight.front(); }
    bool atEnd() const { return m_inFlight.empty(); }
    qsizetype inFlight() const { return qsizetype(m_inFlight.size()); }
    int window() const { return m_window; }

    void cancel()
    {
        m_ended = true;
        for (QFuture<R> &future : m_inFlight)
            future.cancel();
        m_inFlight.clear();
    }

protected:
    //! Takes the next item from the range and submits it; std::nullopt at the range's end.
    //! When the submission throws, the item stays taken and the next call submits it again.
    virtual std::optional<QFuture<R>> submitNext() = 0;

private:
    std::deque<QFuture<R>> m_inFlight; //!< submitted and not yet taken, in the items' order
    const int m_window;
    const QString m_taskName;
    bool m_ended = false; //!< the range has no more items, or cancel() was called
};

} // namespace detail

//! The results of ProcessPoolManager::mapStream(): a task run over the items of a range taken
//! lazily, with at most window() items submitted and not yet taken. Results come in the items'
//! order, one per item; taking one takes the range's next item and submits it, so memory
//! stays bounded by the window, for the items and for the results.
//!
//! Move-only, and used from one thread at a time: the range is read only inside mapStream()
//! and next(), on the thread that calls them, never on procpool's engine thread. Destroying
//! the stream (or assigning another to it) cancels what is still in flight, as cancel() does.
//! A moved-from or default-constructed stream is at its end.
//!
//!     for (const QString &page : manager->mapStream(render, urls, 16))
//!         write(page); // rethrows a failed item's error, as next() does
template <typename R>
class MapStream
{
    static_assert(!std::is_void_v<R>, "procpool: a MapStream needs a task with a result");

public:
    class iterator;

    MapStream() = default;
    MapStream(MapStream &&) noexcept = default;
    MapStream &operator=(MapStream &&) noexcept = default;
    MapStream(const MapStream &) = delete;
    MapStream &operator=(const MapStream &) = delete;
    ~MapStream() = default;

    //! Blocks until the next result in the items' order is there and takes it; then takes one
    //! more item from the range and submits it, keeping the window full. Returns std::nullopt
    //! after the last result and after cancel().
    //!
    //! When that item's task failed, rethrows its error as QFuture::result() would (the
    //! TaskFailure subclass its future carries: TaskException, WorkerCrashed, TaskTimeout ...);
    //! the stream stays usable and the following call gives the next item's result. An item
    //! whose future was cancelled on its own (head().cancel(), ProcessPool::cancelTask())
    //! throws TaskCancelled the same way.
    //!
    //! When the item that should follow cannot be submitted (PoolNotRunning, QueueFull), throws
    //! that error and takes nothing: the result stays at the head and the item stays taken, and
    //! the next call submits the item again before it gives the result (or call cancel()).
    std::optional<R> next() { return d ? d->next() : std::nullopt; }

    //! The future of the next result, not taken: event-driven code can watch it (a
    //! QFutureWatcher, or .then() with a context object) and call next() once it has finished,
    //! which then does not block. An invalid future at the end.
    QFuture<R> head() const { return d ? d->head() : QFuture<R>(); }

    //! True when next() has no more results to give: every item has been taken, or cancel().
    bool atEnd() const { return !d || d->atEnd(); }

    //! Items submitted and not yet taken: window() while the range has items.
    qsizetype inFlight() const { return d ? d->inFlight() : 0; }

    //! The most items in flight at once, as given to mapStream().
    int window() const { return d ? d->window() : 0; }

    //! Cancels every future in flight (as QFuture::cancel() does: a queued task is dropped, a
    //! running one is stopped as PoolOptions::cancelPolicy says) and takes no more items;
    //! next() returns std::nullopt from then on.
    void cancel()
    {
        if (d)
            d->cancel();
    }

    //! An input iterator over the results that calls next(): begin() takes the first result,
    //! each ++ the following one, and both rethrow what next() throws. It refers to the stream's
    //! state, not to the handle, so it stays valid when the stream is moved.
    iterator begin() { return iterator(d.get()); }
    std::default_sentinel_t end() const { return std::default_sentinel; }

private:
    friend class ProcessPoolManager;
    explicit MapStream(std::unique_ptr<detail::MapStreamState<R>> state) : d(std::move(state)) {}

    std::unique_ptr<detail::MapStreamState<R>> d;
};

template <typename R>
class MapStream<R>::iterator
{
public:
    using iterator_concept = std::input_iterator_tag;
    using iterator_category = std::input_iterator_tag;
    using value_type = R;
    using difference_type = std::ptrdiff_t;
    using reference = const R &;
    using pointer = const R *;

    iterator() = default;

    const R &operator*() const { return *m_current; }
    const R *operator->() const { return &*m_current; }
    iterator &operator++()
    {
        advance();
        return *this;
    }
    void operator++(int) { advance(); }

    friend bool operator==(const iterator &it, std::default_sentinel_t) { return !it.m_current; }

private:
    friend class MapStream;
    explicit iterator(detail::MapStreamState<R> *state) : m_state(state) { advance(); }
    void advance()
    {
        m_current.reset(); // at the end should next() throw
        if (m_state)
            m_current = m_state->next();
    }

    detail::MapStreamState<R> *m_state = nullptr;
    std::optional<R> m_current;
};

} // namespace procpool
