// procpool — PoolCore's side of a worker's life: starting it, hearing that it started or
// failed to, retiring and killing it, and settling what it held when it ends. The loop in
// poolcore.cpp decides when; this decides how.
#include "poolcore_p.h"

#include <QtCore/QDateTime>

#include <algorithm>
#include <csignal>

namespace procpool::detail {

namespace {

QString exitDescription(int exitCode, int sig)
{
    if (sig)
        return QStringLiteral("killed by %1").arg(signalName(sig));
    if (exitCode < 0) // its fork server, the only one who could tell, was gone
        return QStringLiteral("exited (its exit status is unknown)");
    return QStringLiteral("exited with code %1").arg(exitCode);
}

} // namespace

void PoolCore::spawnWorker()
{
    if (m_state == PoolState::Broken || m_restartTimer.isActive())
        return; // a start that failed just now decided otherwise
    const int slot = freeSlot();
    if (slot < 0) {
        armHostTimer(); // the hosts of the free slots are set aside for now
        return;
    }
    const int hostIndex = hostOfSlot(slot);
    const WorkerHost *host = hostIndex >= 0 ? &m_options.hosts[size_t(hostIndex)] : nullptr;
    const bool remote = host && !host->isLocal();
    const QString prefix = m_options.processNamePrefix.isEmpty() ? QStringLiteral("procpool")
                                                                 : m_options.processNamePrefix;
    const int index = m_nextWorkerIndex++;
    // A child too: should the engine thread end before its deferred deletion, the pool's
    // deletion takes it along.
    auto owned = std::make_unique<PoolWorker>(index, QStringLiteral("%1-%2").arg(prefix).arg(index),
                                              m_options.maxFrameSize, this);
    PoolWorker *w = owned.get();

    ChildProcess::Setup setup;
    QString inputError;
    const bool prepared = w->prepare(m_options, m_program, remote, &setup, &inputError);
    ChildProcess *p = w->process;

    // Every event of this worker enters through enter(), which first takes in what submitting
    // threads handed it directly.
    connect(p, &ChildProcess::readyReadStandardOutput, this, [this, w] {
        enter(w);
        onOutput(w);
    });
    connect(p, &ChildProcess::readyReadStandardError, this, [this, w] {
        enter(w); // its lines may name a task handed to it directly (routeOutput())
        onErrorOutput(w);
    });
    connect(p, &ChildProcess::finished, this, [this, w](int code, QProcess::ExitStatus status) {
        enter(w);
        onFinished(w, code, status);
    });
    connect(p, &ChildProcess::failedToStart, this, [this, w] {
        enter(w);
        onStartFailed(w);
    });
    connect(p, &ChildProcess::started, this, [this, w](qint64 pid) { onStarted(w, pid); });
    connect(w, &PoolWorker::handshakeExpired, this, [this, w] {
        onErrorOutput(w); // what the launcher said so far belongs in the reason
        QString reason = QStringLiteral("worker %1 did not complete the handshake within %2 ms")
                             .arg(w->name)
                             .arg(m_options.handshakeTimeout.count());
        if (w->remote)
            reason += QStringLiteral(" on host %1").arg(m_options.hosts[w->hostIndex].describe());
        if (!w->stderrTail.isEmpty())
            reason += QStringLiteral("; its last output:\n  ") + w->stderrTail.join(QStringLiteral("\n  "));
        else if (w->remote)
            reason += QStringLiteral("; the launcher printed nothing (is the host reachable?)");
        killWorker(w, PoolWorker::KillKind::Handshake, reason);
    });
    connect(w, &PoolWorker::taskExpired, this, [this, w] {
        enter(w);
        killWorker(w, PoolWorker::KillKind::Timeout,
                   QStringLiteral("task '%1' timed out after %2 ms")
                       .arg(w->inFlight.front()->taskName)
                       .arg(w->inFlight.front()->timeoutMs));
    });
    connect(w, &PoolWorker::softLimitPassed, this, [this, w] {
        enter(w);
        WorkItem &task = *w->inFlight.front();
        if (!w->cancelFrames || task.cancelSent || w->killKind != PoolWorker::KillKind::None)
            return;
        Q_EMIT workerLog(w->pid, QStringLiteral("procpool: task '%1' passed its soft time limit "
                                                "of %2 ms; it is asked to stop")
                                     .arg(task.taskName)
                                     .arg(task.softTimeoutMs));
        askToCancel(w, task, false);
    });
    connect(w, &PoolWorker::idleExpired, this, [this, w] {
        enter(w);
        if (w->inFlight.empty() && w->isReady() && activeWorkerCount() > m_minWorkers.load())
            retire(w);
    });
    connect(w, &PoolWorker::trimDue, this, [this, w] {
        withdraw(w); // no task may reach it during the trim (dispatch() lists it again)
        trimRings(w);
    });

    w->slot = slot;
    w->hostIndex = hostIndex;
    w->remote = remote;
    if (remote)
        w->hostName = host->host;
    QString environmentError;
    const bool environed = prepared && addWorkerEnvironment(w->slot, &setup, &environmentError);
    if (environed && remote)
        throughLauncher(*host, &setup);
    m_workers.push_back(std::move(owned));
    if (prepared && !environed) {
        w->killKind = PoolWorker::KillKind::Handshake;
        w->killReason = environmentError;
        Q_EMIT workerLog(0, QStringLiteral("procpool: ") + w->killReason);
        removeWorker(w, -1, 0, StartFailure::Fatal);
        return;
    }
    if (!prepared) {
        w->killKind = PoolWorker::KillKind::Handshake;
        w->killReason = QStringLiteral("cannot create the input channel of a worker: %1")
                            .arg(inputError);
        Q_EMIT workerLog(0, QStringLiteral("procpool: ") + w->killReason);
        removeWorker(w, -1, 0, StartFailure::Fatal);
        return;
    }
    // The handshake's time runs from here: it covers a fork server's own start too.
    w->startHandshakeTimer(m_options.handshakeTimeout);
    p->start(setup); // may report started() or failedToStart() (which removes w) inside
}

bool PoolCore::addWorkerEnvironment(int slot, ChildProcess::Setup *setup, QString *error) const
{
    if (!m_options.workerEnvironment)
        return true;
    // A fork server takes a worker's environment in one message of forkMessageMax bytes.
    constexpr qsizetype maxBytes = 2048;
    qsizetype bytes = 0;
    for (const auto &[name, value] : m_options.workerEnvironment(slot)) {
        bytes += name.toLocal8Bit().size() + value.toLocal8Bit().size() + 2;
        if (bytes > maxBytes) {
            *error = QStringLiteral("PoolOptions::workerEnvironment gave slot %1 more than %2 "
                                    "bytes of variables; pass larger settings in a file the "
                                    "variables name")
                         .arg(slot)
                         .arg(maxBytes);
            return false;
        }
        if (name.isEmpty() || name.contains(u'=') || name.contains(QChar(0)) || value.contains(QChar(0))) {
            *error = QStringLiteral("PoolOptions::workerEnvironment gave slot %1 the variable "
                                    "'%2', which is not a valid environment variable name")
                         .arg(slot)
                         .arg(name);
            return false;
        }
        setup->workerEnvironment.append({name.toLocal8Bit(), value.toLocal8Bit()});
    }
    return true;
}

void PoolCore::onStarted(PoolWorker *w, qint64 pid)
{
    w->pid = pid;
    w->info.pid = pid;
    w->info.slot = w->slot;
    w->info.host = w->hostName;
    w->info.name = w->name;
    w->info.state = WorkerState::Starting;
    w->info.startedAt = QDateTime::currentDateTime();
    m_ledger.workerStarted(w->info);
    Q_EMIT workerStarted(w->pid, w->name);
    if (w->remote)
        return; // pid is the launcher's: limits, cgroup and memory are of this machine
    // Before its hello, so before it takes a task.
    QString error;
    if (!applyResourceLimits(w, &error) || (m_cgroup && !m_cgroup->add(pid, &error))) {
        killWorker(w, PoolWorker::KillKind::Handshake, error);
        return;
    }
    if ((m_options.softMemoryLimit > 0 || m_options.hardMemoryLimit > 0) && !m_memoryTimer.isActive())
        m_memoryTimer.start();
}

void PoolCore::killWorker(PoolWorker *w, PoolWorker::KillKind kind, const QString &reason)
{
    if (w->killKind != PoolWorker::KillKind::None)
        return;
    withdraw(w); // no submission may send to it from now on
    w->killKind = kind;
    w->killReason = reason;
    w->state = WorkerState::Exiting;
    if (kind != PoolWorker::KillKind::Stopped)
        Q_EMIT workerLog(w->pid, QStringLiteral("procpool: ") + reason);
    w->process->kill();
}

void PoolCore::onStartFailed(PoolWorker *w)
{
    const QString reason = QStringLiteral("cannot start worker program '%1': %2")
                               .arg(m_program, w->process->errorString());
    w->killKind = PoolWorker::KillKind::Handshake;
    w->killReason = reason;
    Q_EMIT workerLog(0, QStringLiteral("procpool: ") + reason);
    removeWorker(w, -1, 0,
                 w->process->lostItsServer() ? StartFailure::Killed : StartFailure::Fatal);
}

void PoolCore::onFinished(PoolWorker *w, int exitCode, QProcess::ExitStatus status)
{
    // Frames and lines written just before the exit still count.
    w->exited = true;
    if (w->killKind == PoolWorker::KillKind::None)
        onOutput(w);
    onErrorOutput(w);
    for (const PoolWorker::OutputLine &line : w->takeLastOutputLine())
        routeOutput(w, line);
    reportDroppedOutput(w, true);
    const int sig = status == QProcess::CrashExit ? exitCode : 0;
    const int code = status == QProcess::CrashExit ? -1 : exitCode;
    // Each OOM kill is claimed by the first SIGKILLed worker to end after it, even one the pool
    // was killing itself, so that it is never put on a later kill from outside.
    if (sig == SIGKILL && m_cgroup && m_cgroup->claimOomKill()
        && w->killKind == PoolWorker::KillKind::None) {
        w->killKind = PoolWorker::KillKind::GroupOutOfMemory;
        w->killReason = QStringLiteral("the kernel's OOM killer ended worker %1 (pid %2): the "
                                       "pool's workers together reached the %3 MiB memory limit "
                                       "of its cgroup %4")
                            .arg(w->name)
                            .arg(w->pid)
                            .arg(double(m_cgroup->memoryMax()) / (1024 * 1024), 0, 'f', 1)
                            .arg(m_cgroup->memoryDirectory());
        Q_EMIT workerLog(w->pid, QStringLiteral("procpool: ") + w->killReason);
    }
    if (w->killKind == PoolWorker::KillKind::None && !w->inFlight.empty()
        && w->decoder.bufferedBytes() > 0 && status == QProcess::NormalExit) {
        w->killKind = PoolWorker::KillKind::Protocol;
        w->killReason = QStringLiteral("worker %1 (pid %2) exited in the middle of a frame "
                                       "(%3 bytes of a truncated frame)")
                            .arg(w->name)
                            .arg(w->pid)
                            .arg(w->decoder.bufferedBytes());
    }
    StartFailure startFailure = StartFailure::None;
    if ((!w->helloReceived || w->initializing) && w->killKind != PoolWorker::KillKind::Stopped) {
        // Ended before it was ready, and not because the pool stopped. Killed from outside
        // (or along with its fork server): another start may well succeed. Anything else it
        // did itself (exited, crashed, broke the handshake), and would do again.
        const bool fromOutside = w->killKind == PoolWorker::KillKind::None
                                 && (w->process->lostItsServer()
                                     || (sig != 0 && !isCrashSignal(sig)));
        startFailure = fromOutside ? StartFailure::Killed : StartFailure::Fatal;
    }
    removeWorker(w, code, sig, startFailure);
}

void PoolCore::removeWorker(PoolWorker *w, int exitCode, int sig, StartFailure startFailure)
{
    withdraw(w); // tasks sent to it directly fail or go back to the queue like the rest
    w->stopTimers();
    QString reason;
    if (w->killKind != PoolWorker::KillKind::None && w->killKind != PoolWorker::KillKind::Stopped)
        reason = w->killReason;
    else if (w->retiring && exitCode == 0 && sig == 0)
        reason = QStringLiteral("retired");
    else
        reason = exitDescription(exitCode, sig);

    // A failed handshake's reason names the host already (handshakeExpired, handleHello).
    if (w->remote && w->killKind != PoolWorker::KillKind::Handshake) {
        // ssh exits with the worker's status, but with 255 both for a connection it lost (or
        // could not make) and for a worker a signal ended there; srun's status is the step's.
        reason = QStringLiteral("on host %1: %2").arg(m_options.hosts[w->hostIndex].describe(), reason);
        if (exitCode == 255 && m_options.hosts[w->hostIndex].launcher.kind == Launcher::Kind::Ssh
            && w->killKind == PoolWorker::KillKind::None)
            reason += QStringLiteral(" (ssh's code for a lost connection, or for a worker a signal ended there)");
        if (!w->helloReceived && !w->stderrTail.isEmpty()) // the launcher's own words
            reason += QStringLiteral(": ") + w->stderrTail.join(QStringLiteral(" / "));
    }
    // The snapshot first, so that whoever sees a task fail also sees the crash.
    const qint64 pid = w->pid;
    const int hostIndex = w->hostIndex;
    const bool deliberate = w->killKind == PoolWorker::KillKind::Stopped
                            || w->killKind == PoolWorker::KillKind::Timeout
                            || w->killKind == PoolWorker::KillKind::Cancelled
                            || w->killKind == PoolWorker::KillKind::OutOfMemory
                            || w->killKind == PoolWorker::KillKind::GroupOutOfMemory;
    m_ledger.workerRemoved(pid, !deliberate && startFailure == StartFailure::None
                                    && (sig != 0 || exitCode != 0));
    settleTasksOf(w, exitCode, sig);

    w->input.close();
    QObject::disconnect(w->process, nullptr, this, nullptr);
    QObject::disconnect(w, nullptr, this, nullptr);
    const auto it = std::find_if(m_workers.begin(), m_workers.end(),
                                 [w](const auto &o) { return o.get() == w; });
    // Later: this may run inside a signal of its process.
    it->release()->deleteLater();
    m_workers.erase(it); // w is gone from here on

    Q_EMIT workerExited(pid, sig ? -1 : exitCode, sig, reason);

    if (startFailure != StartFailure::None && hostIndex >= 0)
        hostFailed(hostIndex, reason);
    else if (startFailure != StartFailure::None)
        startFailed(startFailure == StartFailure::Killed ? RestartPolicy::Cause::Killed
                                                         : RestartPolicy::Cause::Fatal,
                    reason);
    postDispatch(); // queued: a start failure inside spawnWorker() must not recurse
}

void PoolCore::settleTasksOf(PoolWorker *w, int exitCode, int sig)
{
    if (w->inFlight.empty())
        return;
    // The running task fails; tasks it had prefetched but not started go back to the queue.
    // So does the first one if the worker died (of something other than us: the kernel's OOM
    // killer included) before reading a byte of it: it was sent to a worker that was already
    // dying, and never ran.
    std::vector<std::unique_ptr<WorkItem>> failed;
    WorkItem &front = *w->inFlight.front();
    const qint64 consumed = w->input.consumed();
    const bool unread = (w->killKind == PoolWorker::KillKind::None
                         || w->killKind == PoolWorker::KillKind::GroupOutOfMemory)
                        && !front.requeuedUnread
                        && front.inputOffset >= 0 && consumed >= 0
                        && consumed <= front.inputOffset;
    if (unread) {
        front.requeuedUnread = true;
    } else {
        failed.push_back(std::move(w->inFlight.front()));
        w->inFlight.pop_front();
    }
    std::deque<std::unique_ptr<WorkItem>> requeue;
    if (w->killKind == PoolWorker::KillKind::Stopped) {
        for (auto &item : w->inFlight)
            failed.push_back(std::move(item));
    } else {
        requeue = std::move(w->inFlight);
    }
    w->inFlight.clear();
    for (auto &item : failed) {
        switch (w->killKind) {
        case PoolWorker::KillKind::Stopped: {
            const PoolStopped error(QStringLiteral("the pool of %1 was stopped without waiting; "
                                                   "its worker was killed while task '%2' ran")
                                        .arg(m_label, item->taskName));
            finishTask(*item, TaskState::Failed, &error);
            m_retired.push_back(std::move(item));
            break;
        }
        case PoolWorker::KillKind::Cancelled:
            finishTask(*item, TaskState::Cancelled);
            m_retired.push_back(std::move(item));
            break;
        case PoolWorker::KillKind::Protocol:
            failAttempt(std::move(item), w->pid, ProtocolError(w->killReason));
            break;
        case PoolWorker::KillKind::Timeout: {
            const TaskTimeout error(item->taskName, item->timeoutMs, w->pid);
            failAttempt(std::move(item), w->pid, error);
            break;
        }
        case PoolWorker::KillKind::OutOfMemory: {
            const WorkerOutOfMemory error(item->taskName, w->pid, w->residentBytes,
                                          m_options.hardMemoryLimit);
            failAttempt(std::move(item), w->pid, error);
            break;
        }
        case PoolWorker::KillKind::GroupOutOfMemory: {
            const WorkerOutOfMemory error(item->taskName, w->pid, w->residentBytes,
                                          m_cgroup->memoryMax(), m_cgroup->memoryDirectory());
            failAttempt(std::move(item), w->pid, error);
            break;
        }
        default: {
            // The task's own lines when the worker marked them, else whatever it printed last.
            const WorkerCrashed error(item->taskName, w->remote && w->info.remotePid ? w->info.remotePid : w->pid,
                                      exitCode, sig,
                                      w->outputOwner == item->id ? item->output : w->stderrTail,
                                      w->hostName);
            failAttempt(std::move(item), w->pid, error);
        }
        }
    }
    if (!requeue.empty()) {
        QMutexLocker locker(&m_mutex); // back in the queue and counted so in one step
        while (!requeue.empty()) {
            WorkItem &item = *requeue.back();
            if (std::exchange(item.begun, false))
                --item.attempts; // it never ran: this attempt does not count
            item.cancelSent = false; // its next worker has not been asked
            m_ledger.requeued(item);
            queueLocked(std::move(requeue.back()), true);
            requeue.pop_back();
        }
    }
}

void PoolCore::startFailed(RestartPolicy::Cause cause, const QString &reason)
{
    const RestartPolicy::Decision d =
        m_restarts.failed(cause, reason, m_restartTimer.isActive());
    if (!d.brokenReason.isEmpty()) {
        becomeBroken(d.brokenReason);
        return;
    }
    if (d.restartDelayMs < 0)
        return;
    Q_EMIT workerLog(0, QStringLiteral("procpool: a worker was killed before it was ready (%1); "
                                       "starting another in %2 ms")
                            .arg(reason)
                            .arg(d.restartDelayMs));
    m_restartTimer.start(d.restartDelayMs);
}

void PoolCore::retire(PoolWorker *w)
{
    if (w->shutdownSent || w->exited)
        return;
    withdraw(w);
    w->retiring = true;
    if (!w->inFlight.empty())
        return; // a submitting thread handed it a task meanwhile: it retires after that one
    w->shutdownSent = true;
    w->state = WorkerState::Exiting;
    w->stopTimers();
    if (w->helloReceived)
        w->input.send(encodeFrame(FrameType::Shutdown, 0));
    w->input.closeWhenSent(); // the worker then reads end of input
    updateInfo(w);
}

void PoolCore::retireIfDone(PoolWorker *w)
{
    const bool usedUp = m_options.maxTasksPerWorker > 0 && w->handedOut >= m_options.maxTasksPerWorker;
    if ((usedUp || w->retiring) && w->inFlight.empty())
        retire(w);
    else if (usedUp)
        w->retiring = true; // no new work; it exits after what it holds
}

void PoolCore::trimRings(PoolWorker *w)
{
    if (!w->inFlight.empty() || !w->toWorker)
        return;
    if (!w->toWorker->trim()) {
        w->retryTrim(); // the worker still uses a call's bytes: later
        return;
    }
    w->fromWorker->trim();
    w->ringsUsed = false;
}

void PoolCore::applyResize()
{
    // Shrink: idle workers first, then busy ones once their work is done.
    int excess = activeWorkerCount() - maxWorkers();
    for (const auto &w : m_workers) {
        if (excess <= 0)
            break;
        if (w->isActive() && w->inFlight.empty()) {
            retire(w.get());
            --excess;
        }
    }
    for (const auto &w : m_workers) {
        if (excess <= 0)
            break;
        if (w->isActive()) {
            w->retiring = true;
            updateInfo(w.get());
            --excess;
        }
    }
    dispatch(); // grow, if work waits
}

int PoolCore::activeWorkerCount() const
{
    // Workers on their way out do not count: their replacement may start at once.
    return int(std::count_if(m_workers.begin(), m_workers.end(),
                             [](const auto &w) { return w->isActive(); }));
}

bool PoolCore::killWorkerByPid(qint64 pid)
{
    if (!m_ledger.hasWorker(pid))
        return false;
    postToEngine([this, pid] {
        for (const auto &w : m_workers) {
            if (w->pid == pid) {
                withdraw(w.get()); // as in killWorker()
                Q_EMIT workerLog(pid, QStringLiteral("procpool: killing worker %1 (pid %2) "
                                                     "on request")
                                          .arg(w->name)
                                          .arg(pid));
                w->process->kill(); // handled exactly like a crash
                return;
            }
        }
    });
    return true;
}

} // namespace procpool::detail
