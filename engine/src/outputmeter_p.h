// procpool — how much of its workers' output a pool lets wait for delivery.
//
// Worker output reaches the application as ProcessPoolManager::workerLog, one emission per
// line on the engine thread. A receiver on another thread gets one queued event per line,
// which lives in this process until that thread runs it: a worker printing faster than that
// thread takes its lines would grow the application without bound. So the pool counts what it
// emitted against what the manager's thread has caught up with: an acknowledgement posted to
// the manager after the lines runs after every event queued before it. Beyond a bound of lines
// or bytes not yet caught up with, the pool drops worker lines instead of emitting them, and
// says how many once there is room again (see PoolCore::emitOutput()).
#pragma once

#include <QtCore/QtGlobal>

#include <atomic>
#include <functional>

namespace procpool::detail {

class OutputMeter
{
public:
    //! Lines and bytes emitted but not caught up with, from which worker lines are dropped:
    //! ample for a receiver that keeps up (it acknowledges within one turn of its event loop),
    //! a few megabytes for one that does not.
    static constexpr quint64 maxLines = 10000;
    static constexpr quint64 maxBytes = 8 * 1024 * 1024;

    struct Mark
    {
        quint64 lines;
        quint64 bytes;
    };
    //! Posts an acknowledgement of \a mark to the manager's thread, which calls acknowledge()
    //! with it (set once, before the pool starts).
    using Poster = std::function<void(Mark)>;
    void setPoster(Poster poster) { m_post = std::move(poster); }

    // Engine thread.
    //! No more worker lines now.
    bool full() const { return behind(maxLines, maxBytes); }
    //! Room again, with hysteresis: lines are dropped in runs, not every other one.
    bool hasRoom() const { return !behind(maxLines / 2, maxBytes / 2); }
    //! Counts one line of \a bytes, emitted just before; asks for an acknowledgement unless
    //! one is on its way.
    void emitted(qsizetype bytes)
    {
        m_lines.fetch_add(1, std::memory_order_release);
        m_bytes.fetch_add(quint64(bytes), std::memory_order_release);
        if (!m_pending.exchange(true, std::memory_order_acq_rel))
            m_post(current());
    }

    // The manager's thread.
    void acknowledge(Mark mark)
    {
        m_ackedLines.store(mark.lines, std::memory_order_release);
        m_ackedBytes.store(mark.bytes, std::memory_order_release);
        // Lines emitted since the mark were posted before this runs: acknowledge them too,
        // or a flood that ended would stay unacknowledged. The second look closes the gap
        // between the first and giving up the pending flag, in which emitted() saw it set.
        if (m_lines.load(std::memory_order_acquire) != mark.lines) {
            m_post(current());
            return;
        }
        m_pending.store(false, std::memory_order_release);
        if (m_lines.load(std::memory_order_acquire) != mark.lines
            && !m_pending.exchange(true, std::memory_order_acq_rel))
            m_post(current());
    }

private:
    Mark current() const
    {
        return Mark{m_lines.load(std::memory_order_acquire), m_bytes.load(std::memory_order_acquire)};
    }
    bool behind(quint64 lines, quint64 bytes) const
    {
        return m_lines.load(std::memory_order_relaxed) - m_ackedLines.load(std::memory_order_acquire)
                   >= lines
               || m_bytes.load(std::memory_order_relaxed) - m_ackedBytes.load(std::memory_order_acquire)
                      >= bytes;
    }

    Poster m_post;
    std::atomic<quint64> m_lines{0}; //!< written by the engine thread
    std::atomic<quint64> m_bytes{0};
    std::atomic<quint64> m_ackedLines{0};
    std::atomic<quint64> m_ackedBytes{0};
    std::atomic<bool> m_pending{false}; //!< an acknowledgement is on its way
};

} // namespace procpool::detail
