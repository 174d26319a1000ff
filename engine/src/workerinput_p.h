// procpool — a worker's standard input, as the pool writes it.
//
// A pipe of the pool's own rather than QProcess's channel, for two reasons: a submitting
// thread can write a Call to an idle worker itself (the direct hand-off, see PoolCore), and
// the pool keeps the pipe's read end open too, so a write to a worker that died fails neither
// with EPIPE nor with SIGPIPE, and what the worker never read can be measured (FIONREAD).
//
// Bytes are queued in order and written without blocking: at once when asked and nothing is
// queued before them, otherwise when the engine thread next finds the pipe writable, so that
// what one turn of its event loop queues goes in one write(). Everything is under one mutex:
// the engine thread and submitting threads both write.
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QMutex>
#include <QtCore/QString>

#include <deque>

class QObject;
class QSocketNotifier;

namespace procpool::detail {

class WorkerInput
{
public:
    WorkerInput() = default;
    ~WorkerInput();
    WorkerInput(const WorkerInput &) = delete;
    WorkerInput &operator=(const WorkerInput &) = delete;

    //! Engine thread: creates the pipe, with its write notifier a child of \a parent. The
    //! read end (childEnd()) is above 2, so that the child's dup2() onto 0 clears its
    //! close-on-exec flag. False, and why, when it cannot.
    bool open(QObject *parent, QString *error);
    //! The read end, for the worker to inherit as its standard input.
    int childEnd() const { return m_readFd; }

    //! Any thread: queues \a bytes; writes them at once when \a now and nothing is queued
    //! before them. Returns where they start in the worker's input; -1 when it is closed.
    qint64 send(const QByteArray &bytes, bool now = false);
    //! Engine thread: writes what is queued, as far as the pipe takes it.
    void flush();
    //! Ends the worker's input once everything queued is written (it then reads end of input).
    void closeWhenSent();
    //! Closes both ends and drops what is queued.
    void close();
    //! Bytes of its input the worker has read: everything queued, minus what is still queued
    //! here and what is still in the pipe. -1 when that cannot be known.
    qint64 consumed();

private:
    void flushLocked();

    QMutex m_mutex;
    int m_writeFd = -1;                   //!< non-blocking
    int m_readFd = -1;                    //!< the worker's end, kept open here
    QSocketNotifier *m_notifier = nullptr; //!< engine thread: on while bytes wait
    std::deque<QByteArray> m_queue;        //!< not written yet, in order
    qsizetype m_offset = 0;                //!< of m_queue.front() already written
    qint64 m_total = 0;                    //!< every byte ever queued
    bool m_closeWhenSent = false;
};

} // namespace procpool::detail
