// procpool — what becomes of a task that failed or was cancelled: another attempt after its
// delay (RetryPolicy), or its end; the sweep that finds cancelled futures; and the steps of
// CancelPolicy::Ask (ask, SIGTERM, SIGKILL). Engine thread.
#include "poolcore_p.h"

#include <QtCore/QRandomGenerator>

#include <algorithm>
#include <iterator>
#include <limits>

namespace procpool::detail {

namespace {

//! Whether \a policy retries a task that failed with \a error.
bool retries(const RetryPolicy &policy, const TaskFailure &error)
{
    if (dynamic_cast<const WorkerCrashed *>(&error) || dynamic_cast<const WorkerOutOfMemory *>(&error))
        return policy.onWorkerCrash;
    if (dynamic_cast<const TaskTimeout *>(&error))
        return policy.onTimeout;
    if (const auto *e = dynamic_cast<const TaskException *>(&error)) {
        return policy.onExceptions.contains(QStringLiteral("*"))
               || policy.onExceptions.contains(e->typeName());
    }
    return false;
}

} // namespace

void PoolCore::failAttempt(std::unique_ptr<WorkItem> item, qint64 pid, const TaskFailure &error,
                           const QString &recordText)
{
    const QString text = recordText.isEmpty() ? error.message() : recordText;
    const bool again = item->retry && item->attempts < item->retry->maxAttempts
                       && !item->sink->isCanceled() && retries(*item->retry, error);
    if (!again) {
        if (item->attemptErrors.isEmpty()) {
            finishTask(*item, TaskState::Failed, &error, recordText);
        } else {
            // The error the caller catches is this attempt's, and it names the others.
            const std::unique_ptr<TaskFailure> last(error.clone());
            last->setEarlierAttempts(item->attemptErrors);
            finishTask(*item, TaskState::Failed, last.get(), QString::fromUtf8(last->what()));
        }
        m_retired.push_back(std::move(item));
        return;
    }
    const RetryPolicy &policy = *item->retry;
    double delayMs = double(policy.delayBefore(item->attempts + 1).count());
    if (policy.jitter > 0)
        delayMs *= 1.0 + policy.jitter * (2.0 * QRandomGenerator::global()->generateDouble() - 1.0);
    delayMs = std::min(delayMs, double(std::numeric_limits<int>::max())); // a QTimer's range
    Q_EMIT workerLog(pid, QStringLiteral("procpool: task '%1' (id %2) failed on attempt %3 of %4; "
                                       "it runs again in %5 ms: %6")
                            .arg(item->taskName)
                            .arg(item->id)
                            .arg(item->attempts)
                            .arg(policy.maxAttempts)
                            .arg(qint64(delayMs))
                            .arg(text));
    item->attemptErrors.append(text);
    item->begun = false;
    item->inputOffset = -1;
    item->requeuedUnread = false;
    item->output.clear();
    m_ledger.retrying(*item, text);
    const qint64 due = m_clock.nsecsElapsed() + qint64(delayMs * 1e6);
    {
        QMutexLocker locker(&m_mutex);
        m_retryWaiting.emplace(due, std::move(item));
    }
    if (!m_retryTimer.isActive() || m_retryTimer.remainingTime() > int(delayMs))
        m_retryTimer.start(int(delayMs));
    if (!m_sweepTimer.isActive())
        m_sweepTimer.start(); // a cancel while it waits is seen
}

void PoolCore::releaseRetries()
{
    const qint64 now = m_clock.nsecsElapsed();
    qint64 nextNs = -1;
    {
        QMutexLocker locker(&m_mutex);
        auto it = m_retryWaiting.begin();
        for (; it != m_retryWaiting.end() && it->first <= now; it = m_retryWaiting.erase(it))
            queueLocked(std::move(it->second), false);
        if (it != m_retryWaiting.end())
            nextNs = it->first;
    }
    if (nextNs >= 0)
        m_retryTimer.start(int(std::min<qint64>((nextNs - now) / 1000000 + 1,
                                                std::numeric_limits<int>::max())));
    dispatch();
}

void PoolCore::sweepCancelled()
{
    std::vector<std::unique_ptr<WorkItem>> cancelled;
    bool idle;
    {
        QMutexLocker locker(&m_mutex);
        for (auto it = m_pending.begin(); it != m_pending.end();) {
            if ((*it)->sink->isCanceled()) {
                m_ledger.finished(**it, TaskState::Cancelled); // off the queue and counted at once
                cancelled.push_back(std::move(*it));
                it = m_pending.erase(it);
            } else {
                ++it;
            }
        }
        for (auto it = m_retryWaiting.begin(); it != m_retryWaiting.end();) {
            if (it->second->sink->isCanceled()) {
                m_ledger.finished(*it->second, TaskState::Cancelled);
                cancelled.push_back(std::move(it->second));
                it = m_retryWaiting.erase(it);
            } else {
                ++it;
            }
        }
        if (!cancelled.empty())
            roomChanged();
        idle = m_pending.empty() && m_retryWaiting.empty();
    }
    for (auto &item : cancelled)
        item->sink->finishCanceled();
    for (const auto &worker : m_workers) {
        PoolWorker *w = worker.get();
        enter(w);
        if (w->inFlight.empty() || w->exited)
            continue;
        // Held but not started: the worker drops it when it comes to it, and lives on.
        if (w->cancelFrames && w->killKind == PoolWorker::KillKind::None) {
            for (auto it = std::next(w->inFlight.begin()); it != w->inFlight.end(); ++it) {
                if (!(*it)->cancelSent && (*it)->sink->cancelRequested())
                    askToCancel(w, **it);
            }
        }
        if (!w->inFlight.front()->sink->cancelRequested())
            continue;
        switch (m_options.cancelPolicy) {
        case PoolOptions::CancelPolicy::KillWorker:
            killWorker(w, PoolWorker::KillKind::Cancelled,
                       QStringLiteral("task '%1' was cancelled while running")
                           .arg(w->inFlight.front()->taskName));
            break;
        case PoolOptions::CancelPolicy::DiscardResult:
            break;
        case PoolOptions::CancelPolicy::Ask:
            stopCancelledTask(w);
            break;
        }
    }
    if (idle && std::all_of(m_workers.begin(), m_workers.end(),
                            [](const auto &w) { return w->inFlight.empty(); }))
        m_sweepTimer.stop();
}

void PoolCore::askToCancel(PoolWorker *w, WorkItem &item, bool drop)
{
    item.cancelSent = true;
    item.cancelAskedNs = m_clock.nsecsElapsed();
    w->input.send(drop ? encodeFrame(FrameType::Cancel, item.id)
                       : encodeFrame(FrameType::Cancel, item.id, QCborValue(QStringLiteral("ask"))));
}

void PoolCore::stopCancelledTask(PoolWorker *w)
{
    WorkItem &task = *w->inFlight.front();
    const qint64 now = m_clock.nsecsElapsed();
    const qint64 graceNs = qint64(m_options.cancelGrace.count()) * 1000000;
    if (w->killKind != PoolWorker::KillKind::None) {
        if (w->terminatedNs != 0 && now - w->terminatedNs >= graceNs) {
            w->terminatedNs = 0; // once
            Q_EMIT workerLog(w->pid, QStringLiteral("procpool: worker %1 (pid %2) is still alive "
                                                    "%3 ms after SIGTERM; killing it")
                                         .arg(w->name)
                                         .arg(w->pid)
                                         .arg(m_options.cancelGrace.count()));
            w->process->kill();
        }
        return;
    }
    if (!task.cancelSent && w->cancelFrames) {
        askToCancel(w, task);
        return;
    }
    if (w->cancelFrames && now - task.cancelAskedNs < graceNs)
        return;
    // It did not stop when asked (or cannot be asked): its own handler may clean up.
    withdraw(w);
    w->killKind = PoolWorker::KillKind::Cancelled;
    w->killReason = QStringLiteral("task '%1' was cancelled and did not stop within %2 ms; its "
                                   "worker %3 (pid %4) got SIGTERM")
                        .arg(task.taskName)
                        .arg(m_options.cancelGrace.count())
                        .arg(w->name)
                        .arg(w->pid);
    w->state = WorkerState::Exiting;
    w->terminatedNs = now;
    Q_EMIT workerLog(w->pid, QStringLiteral("procpool: ") + w->killReason);
    w->process->terminate();
}

} // namespace procpool::detail
