// procpool — what a worker says, read into the pool's state: its Hello, the attachments of an
// answer, a call's Progress and its answer (Result, MapResult or Error), and its output lines.
// The frames come from PoolCore::onOutput(), the loop's "route" step; every reader takes
// whatever bytes a worker sent (docs/architecture.md, "Trust model").
#include "poolcore_p.h"

#include "engine_p.h"
#include "workermessages_p.h"

#include <algorithm>
#include <optional>

namespace procpool::detail {

void PoolCore::handleFrame(PoolWorker *w, Frame &frame)
{
    if (!w->helloReceived) {
        if (frame.type != FrameType::Hello) {
            killWorker(w, PoolWorker::KillKind::Protocol,
                       QStringLiteral("worker %1 sent a %2 frame before its Hello")
                           .arg(w->name, QString::fromLatin1(frameTypeName(frame.type))));
            return;
        }
        handleHello(w, frame);
        return;
    }
    switch (frame.type) {
    case FrameType::Attachments:
        handleAttachments(w, frame);
        return;
    case FrameType::Result:
    case FrameType::MapResult:
    case FrameType::Error:
    case FrameType::Progress:
        handleOutcome(w, frame);
        return;
    default:
        killWorker(w, PoolWorker::KillKind::Protocol,
                   QStringLiteral("worker %1 sent an unexpected %2 frame")
                       .arg(w->name, QString::fromLatin1(frameTypeName(frame.type))));
    }
}

void PoolCore::handleHello(PoolWorker *w, const Frame &frame)
{
    HelloMessage hello;
    QString error;
    if (!parseHello(frame.body, &hello, &error)) {
        killWorker(w, PoolWorker::KillKind::Protocol,
                   QStringLiteral("worker %1 sent a malformed Hello: %2").arg(w->name, error));
        return;
    }
    if (hello.protocol != protocolVersion) {
        killWorker(w, PoolWorker::KillKind::Handshake,
                   QStringLiteral("protocol version mismatch: worker program '%1' speaks "
                                  "version %2, this procpool speaks version %3; rebuild the "
                                  "worker program against this procpool")
                       .arg(m_program)
                       .arg(hello.protocol)
                       .arg(protocolVersion));
        return;
    }
    if (w->remote) {
        w->info.reportedHost = hello.host;
        w->info.remotePid = hello.pid;
    }
    // The same tasks on both ends: a build that differs would fail call by call, if at all.
    // A worker of this program always matches; one of another program, the first to answer.
    if (m_catalogue.isEmpty())
        m_catalogue = hello.catalogue;
    if ((w->remote || !hello.catalogue.isEmpty()) && hello.catalogue != m_catalogue) {
        const QString where = w->remote ? m_options.hosts[w->hostIndex].describe()
                                        : QStringLiteral("this machine");
        killWorker(w, PoolWorker::KillKind::Handshake,
                   QStringLiteral("worker %1 on %2 runs a build of '%3' whose tasks differ from "
                                  "this one's (task catalogue %4 there, %5 here): install the "
                                  "same build there%6")
                       .arg(w->name, where,
                            w->remote && !m_options.hosts[w->hostIndex].program.isEmpty()
                                ? m_options.hosts[w->hostIndex].program
                                : m_program,
                            hello.catalogue.isEmpty() ? QStringLiteral("(none given)") : hello.catalogue,
                            m_catalogue,
                            w->remote ? QStringLiteral(", or name its path in WorkerHost::program")
                                      : QString()));
        return;
    }
    w->helloReceived = true;
    w->sharedMemory = w->toWorker && hello.sharedMemory;
    w->cancelFrames = hello.cancel;
    if (m_initializerBody.isEmpty()) {
        onReady(w);
        return;
    }
    // The handshake timer keeps running: a worker is ready once its initializer is done.
    w->initializing = true;
    w->initializerId = Engine::instance().nextTaskId();
    w->input.send(encodeFrame(FrameType::Call, w->initializerId, m_initializerBody));
}

void PoolCore::onReady(PoolWorker *w)
{
    w->initializing = false;
    w->stopHandshakeTimer();
    w->state = WorkerState::Idle;
    m_restarts.succeeded();
    if (w->hostIndex >= 0)
        m_hostStates[size_t(w->hostIndex)] = HostState{};
    updateInfo(w);
    frontChanged(w);
}

void PoolCore::handleAttachments(PoolWorker *w, Frame &frame)
{
    QString error;
    // Copied out, never used in place: the worker can still write its ring.
    if (!decodeAttachments(std::move(frame.body), w->fromWorker.get(), m_options.maxFrameSize,
                           Placement::Copy, &w->attachments, &error)) {
        killWorker(w, PoolWorker::KillKind::Protocol,
                   QStringLiteral("worker %1 sent a malformed Attachments frame: %2")
                       .arg(w->name, error));
        return;
    }
    w->attachmentsId = frame.id;
    w->ringsUsed = w->ringsUsed || w->fromWorker;
}

void PoolCore::handleOutcome(PoolWorker *w, const Frame &frame)
{
    auto violation = [&](const QString &what) {
        killWorker(w, PoolWorker::KillKind::Protocol,
                   QStringLiteral("worker %1 %2").arg(w->name, what));
    };
    // The attachments received just before belong to this outcome (and to nothing else).
    QList<QByteArray> attachments;
    if (w->attachmentsId != 0 && frame.type != FrameType::Progress) {
        if (w->attachmentsId != frame.id)
            return violation(QStringLiteral("sent attachments for task id %1 and then answered "
                                            "task id %2")
                                 .arg(w->attachmentsId)
                                 .arg(frame.id));
        attachments.swap(w->attachments);
        w->attachmentsId = 0;
    }
    if (w->initializing && frame.id == w->initializerId && frame.type != FrameType::Progress) {
        if (frame.type != FrameType::Error) {
            onReady(w);
            return;
        }
        ErrorMessage e;
        QString unreadable; // then the message says nothing more
        parseError(frame.body, &e, &unreadable);
        killWorker(w, PoolWorker::KillKind::Handshake,
                   QStringLiteral("initializer '%1' failed in worker %2: %3: %4")
                       .arg(m_options.initializer, w->name, e.type, e.message));
        return;
    }
    if (w->inFlight.empty() || w->inFlight.front()->id != frame.id)
        return violation(QStringLiteral("answered task id %1, which it was not running")
                             .arg(frame.id));
    WorkItem &current = *w->inFlight.front();
    const bool chunk = current.chunk;
    if ((frame.type == FrameType::Result && chunk) || (frame.type == FrameType::MapResult && !chunk))
        return violation(QStringLiteral("answered a %1 with a %2 frame")
                             .arg(QLatin1String(chunk ? "MapCall" : "Call"),
                                  QLatin1String(frameTypeName(frame.type))));
    QString error;
    if (current.cancelSent && current.sink->cancelRequested() && frame.type != FrameType::Progress) {
        // Cancelled and asked to stop (CancelPolicy::Ask, or dropped before it started):
        // whatever it answered, its future is cancelled. (A task asked by its soft time limit
        // ends as it answers.)
        std::unique_ptr<WorkItem> item = std::move(w->inFlight.front());
        w->inFlight.pop_front();
        frontChanged(w);
        updateInfo(w);
        finishTask(*item, TaskState::Cancelled);
        m_retired.push_back(std::move(item));
        retireIfDone(w);
        return;
    }
    if (frame.type == FrameType::Progress) {
        ProgressMessage p;
        if (!parseProgress(frame.body, &p, &error))
            return violation(QStringLiteral("sent a malformed Progress frame: %1").arg(error));
        m_ledger.progress(current, p.value, p.maximum, p.text);
        current.sink->progress(p.value, p.maximum, p.text);
        return;
    }
    if (frame.type == FrameType::Error) {
        ErrorMessage e;
        if (!parseError(frame.body, &e, &error))
            return violation(QStringLiteral("sent a malformed Error frame: %1").arg(error));
        if (e.kind == QLatin1String("cancelled"))
            return violation(QStringLiteral("said task id %1 was cancelled, which it was not "
                                            "asked").arg(frame.id));
        std::unique_ptr<WorkItem> item = std::move(w->inFlight.front());
        w->inFlight.pop_front();
        learnServiceTime(w, *item);
        frontChanged(w); // the next prefetched task starts now
        ++w->info.tasksFailed;
        updateInfo(w); // the worker's snapshot first: whoever sees the future sees it done
        const std::unique_ptr<TaskFailure> failure = e.failure(item->taskName);
        failAttempt(std::move(item), w->pid, *failure, e.recordText()); // retired by dispatch(), next
        retireIfDone(w);
        return;
    }
    QCborValue body;
    if (!parseBody(frame.body, &body, &error))
        return violation(QStringLiteral("sent a malformed %1 frame: %2")
                             .arg(QString::fromLatin1(frameTypeName(frame.type)), error));
    std::unique_ptr<WorkItem> item = std::move(w->inFlight.front());
    w->inFlight.pop_front();
    learnServiceTime(w, *item);
    frontChanged(w);
    // Decoded first, so that it is counted once, as what it turned out to be.
    std::optional<CodecError> undecodable;
    try {
        const AttachmentScope scope(nullptr, &attachments);
        item->sink->decode(body);
    } catch (const CodecError &e) {
        undecodable = CodecError(QStringLiteral("the result of task '%1' could not be "
                                                "decoded: %2")
                                     .arg(item->taskName, e.message()));
    }
    ++(undecodable ? w->info.tasksFailed : w->info.tasksDone);
    updateInfo(w);
    if (undecodable)
        finishTask(*item, TaskState::Failed, &*undecodable);
    else
        finishTask(*item, TaskState::Finished);
    m_retired.push_back(std::move(item));
    retireIfDone(w);
}

void PoolCore::onErrorOutput(PoolWorker *w)
{
    for (const PoolWorker::OutputLine &line : w->takeOutputLines(w->process->readAllStandardError()))
        routeOutput(w, line);
}

void PoolCore::routeOutput(PoolWorker *w, const PoolWorker::OutputLine &line)
{
    // Whatever id the worker wrote in its marker, its lines reach only the record of a task
    // that this very worker holds or ran (TaskLedger::output()).
    if (line.owner != 0) {
        // Usually the front; a prefetched one when the worker is ahead of the pool's reading.
        const auto held = std::find_if(w->inFlight.begin(), w->inFlight.end(),
                                       [&](const auto &item) { return item->id == line.owner; });
        m_ledger.output(line.owner, w->pid, line.text, held != w->inFlight.end());
        if (held != w->inFlight.end()) {
            QStringList &tail = (*held)->output; // for its crash report
            tail.append(line.text);
            if (tail.size() > PoolWorker::tailLines)
                tail.removeFirst();
        }
    }
    emitOutput(w, line.text);
}

void PoolCore::emitOutput(PoolWorker *w, const QString &line)
{
    if (w->droppedLines > 0)
        reportDroppedOutput(w, false);
    if (w->droppedLines > 0 || m_outputMeter->full()) {
        ++w->droppedLines;
        if (!m_outputTimer.isActive())
            m_outputTimer.start();
        return;
    }
    Q_EMIT workerLog(w->pid, line);
}

void PoolCore::reportDroppedOutput(PoolWorker *w, bool always)
{
    if (w->droppedLines == 0 || (!always && !m_outputMeter->hasRoom()))
        return;
    const quint64 dropped = std::exchange(w->droppedLines, 0);
    Q_EMIT workerLog(w->pid, QStringLiteral("procpool: %1 lines of this worker's output were "
                                            "dropped: the receivers of workerLog fell behind "
                                            "(at most %2 lines or %3 MiB wait for them)")
                                 .arg(dropped)
                                 .arg(OutputMeter::maxLines)
                                 .arg(OutputMeter::maxBytes / (1024 * 1024)));
}

} // namespace procpool::detail
