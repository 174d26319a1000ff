// procpool — PoolWorker: the pool's record of one worker process (engine thread only).
//
// What the pool knows of the worker and holds for it: its process (ChildProcess), its input
// (WorkerInput), the frames it sent (FrameDecoder), its shared-memory rings, the tasks it holds
// (inFlight: the front runs, the rest are prefetched), the tail of its output for crash reports,
// its place in its life (starting, ready, retiring, killed), and its timers: the handshake,
// the running task's time limit, idleness, and the rings' trim. The timers only report
// (signals); what follows is PoolCore's decision.
#pragma once

#include "attachments_p.h"
#include "childprocess_p.h"
#include "frame_p.h"
#include "workerinput_p.h"
#include "workitem_p.h"

#include <procpool/options.h>

#include <QtCore/QObject>
#include <QtCore/QStringList>
#include <QtCore/QTimer>

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <vector>

namespace procpool::detail {

class PoolWorker : public QObject
{
    Q_OBJECT
public:
    //! Why the pool killed it, if it did.
    enum class KillKind { None, Protocol, Stopped, Handshake, Timeout, Cancelled, OutOfMemory,
                          GroupOutOfMemory };

    PoolWorker(int index, const QString &name, qint64 maxFrameSize, QObject *parent = nullptr);
    ~PoolWorker() override;

    //! Creates its channels (input pipe, shared-memory rings as \a options ask) and its
    //! process object, and returns how to start \a program as it; the process is started by
    //! the caller once it has connected to it. False, and why, when its input cannot be made.
    //! \a onHost: it runs on another host (no shared memory).
    bool prepare(const PoolOptions &options, const QString &program, bool onHost,
                 ChildProcess::Setup *setup, QString *error);

    // ---- where it is in its life ----
    //! Takes tasks: said hello, initialised, not leaving, not killed.
    bool isReady() const
    {
        return helloReceived && !initializing && !shutdownSent && !retiring && !exited
               && killKind == KillKind::None;
    }
    //! Counts against maxWorkers: alive and not on its way out (its replacement may start).
    bool isActive() const { return !retiring && !exited && killKind == KillKind::None; }
    //! Active, but not ready yet (handshake or initializer).
    bool isStarting() const
    {
        return (!helloReceived || initializing) && !exited && killKind == KillKind::None;
    }
    //! Alive and holding tasks.
    bool isBusy() const { return !inFlight.empty() && !exited && killKind == KillKind::None; }

    // ---- timers ----
    void startHandshakeTimer(std::chrono::milliseconds limit);
    void stopHandshakeTimer() { m_handshake.stop(); }
    //! Its front task changed: its time limit runs from now; the idle timer (\a idleTimeout,
    //! 0: none) and the rings' trim run while it holds nothing.
    void frontChanged(std::chrono::milliseconds idleTimeout);
    void stopTimers();
    //! Asks for the trim again later (the rings were still in use).
    void retryTrim() { m_trim.start(); }

    //! A line of its output, and the call it belongs to (0: none known).
    struct OutputLine
    {
        quint64 owner = 0;
        QString text;
    };
    //! Splits what arrived on its output into whole lines, cutting any longer than
    //! maxLineBytes; keeps the last of them for crash reports (stderrTail). A line that marks
    //! the beginning of a call (outputMarker, then the call's id) is not a line: it sets
    //! outputOwner, the owner of the lines after it.
    QList<OutputLine> takeOutputLines(const QByteArray &arrived);
    //! Ends the last, unterminated line (the worker has exited).
    QList<OutputLine> takeLastOutputLine();

    ChildProcess *process = nullptr;
    qint64 pid = 0;
    const int index;
    const QString name;
    int slot = 0; //!< the lowest no other live worker held when it started
    int hostIndex = -1; //!< its entry in PoolOptions::hosts; -1: no hosts given
    bool remote = false; //!< on another host: started through a launcher, streams only
    QString hostName;    //!< PoolOptions::hosts' host of a remote worker, for messages
    WorkerState state = WorkerState::Starting;
    bool helloReceived = false;
    bool shutdownSent = false;
    bool exited = false; //!< its end was seen: frames still count, new work must not go here
    bool retiring = false;     //!< takes no new work; exits once what it holds is done
    bool initializing = false; //!< running PoolOptions::initializer; takes no work yet
    quint64 initializerId = 0;
    int handedOut = 0; //!< tasks given to it, for maxTasksPerWorker
    FrameDecoder decoder;
    WorkerInput input;
    //! Tasks a submitting thread sent it directly, not yet in inFlight (under the pool's
    //! queue lock).
    std::vector<std::unique_ptr<WorkItem>> handoff;
    std::atomic<bool> hasHandoff{false}; //!< handoff is not empty: checked without the lock
    std::unique_ptr<SharedRing> toWorker;   //!< attachments of calls (the pool writes)
    std::unique_ptr<SharedRing> fromWorker; //!< attachments of results (the pool reads)
    bool sharedMemory = false;              //!< the worker mapped them (its Hello says so)
    bool cancelFrames = false;              //!< it understands Cancel frames (its Hello says so)
    //! CancelPolicy::Ask: when it got SIGTERM for a task that did not stop (PoolCore's clock;
    //! 0: not).
    qint64 terminatedNs = 0;
    bool ringsUsed = false;                 //!< attachments went through them since the trim
    quint64 attachmentsId = 0;              //!< the Attachments frame just received, for
    QList<QByteArray> attachments;          //!< the outcome frame that follows it
    std::deque<std::unique_ptr<WorkItem>> inFlight; //!< front: running; rest: prefetched
    QStringList stderrTail;  //!< its last lines of output, for crash reports
    //! The task its output belongs to now (the worker marks where each call begins); 0: none.
    quint64 outputOwner = 0;
    qint64 residentBytes = 0; //!< last read, with a memory limit
    quint64 droppedLines = 0; //!< output lines not emitted since the last count (OutputMeter)
    QString killReason;
    KillKind killKind = KillKind::None;
    qint64 waitingNs = 0;    //!< expected time of its prefetched (not running) tasks
    qint64 lastAnswerNs = 0; //!< when its last answer arrived (PoolCore's clock)
    WorkerInfo info;

    //! Lines of output kept for crash reports.
    static constexpr int tailLines = 20;
    //! Longer output lines are cut into pieces of this size.
    static constexpr qsizetype maxLineBytes = 64 * 1024;

Q_SIGNALS:
    void handshakeExpired();
    void taskExpired();
    //! The running task passed its soft time limit.
    void softLimitPassed();
    void idleExpired();
    //! Idle for a while with the rings used: time to give their pages back.
    void trimDue();

private:
    //! Appends \a line to \a lines, or takes it as a marker.
    void keepLine(QByteArrayView line, QList<OutputLine> *lines);

    QTimer m_handshake;
    QTimer m_task;  //!< armed while the running task has a time limit
    QTimer m_softTask; //!< armed while the running task has a soft time limit
    QTimer m_idle;  //!< armed while idle above minWorkers
    QTimer m_trim;  //!< armed while idle with the rings used
    QByteArray m_partial; //!< an unterminated last line of output
};

} // namespace procpool::detail
