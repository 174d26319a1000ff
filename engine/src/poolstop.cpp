// procpool — how a pool stops: asked from any thread (requestStop(), waitStopped()), carried
// out on the engine thread (applyStop(), checkStopped()), and how it breaks (becomeBroken()).
#include "poolcore_p.h"

#include "engine_p.h"

namespace procpool::detail {

// ---- any thread ----------------------------------------------------------------------------

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
        if (mode >= StopMode::DropQueued) {
            dropped.swap(m_pending);
            for (auto &[due, item] : m_retryWaiting)
                dropped.push_back(std::move(item));
            m_retryWaiting.clear();
        }
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
        if (!m_stopRequested || m_state == PoolState::Stopped || !m_pending.empty()
            || !m_retryWaiting.empty())
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
    m_memoryTimer.stop();
    m_cgroup.reset(); // empty now: a stop() that waits returns with the group gone
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
        for (auto &[due, item] : m_retryWaiting)
            pending.push_back(std::move(item));
        m_retryWaiting.clear();
        roomChanged();
    }
    const PoolBroken error(message);
    for (auto &item : pending)
        finishTask(*item, TaskState::Failed, &error);
    Q_EMIT stateChanged(PoolState::Broken);
}

} // namespace procpool::detail
