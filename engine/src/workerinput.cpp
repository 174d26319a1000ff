#include "workerinput_p.h"

#include <QtCore/QObject>
#include <QtCore/QSocketNotifier>
#include <QtCore/QThread>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace procpool::detail {

namespace {
//! Room for a large inline attachment in one write (the system's limit for unprivileged
//! processes; fs.pipe-max-size may be lower, then the pipe keeps its size).
constexpr int pipeSize = 1024 * 1024;
} // namespace

WorkerInput::~WorkerInput()
{
    close();
}

bool WorkerInput::open(QObject *parent, QString *error)
{
    int ends[2] = {-1, -1};
    if (::pipe2(ends, O_CLOEXEC) != 0) {
        *error = QString::fromLocal8Bit(std::strerror(errno));
        return false;
    }
    if (ends[0] <= STDERR_FILENO) { // dup2() onto itself would keep close-on-exec
        const int high = ::fcntl(ends[0], F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        const int saved = errno;
        ::close(ends[0]);
        if (high < 0) {
            ::close(ends[1]);
            *error = QString::fromLocal8Bit(std::strerror(saved));
            return false;
        }
        ends[0] = high;
    }
    ::fcntl(ends[1], F_SETPIPE_SZ, pipeSize);
    ::fcntl(ends[1], F_SETFL, ::fcntl(ends[1], F_GETFL) | O_NONBLOCK);
    m_readFd = ends[0];
    m_writeFd = ends[1];
    m_notifier = new QSocketNotifier(m_writeFd, QSocketNotifier::Write, parent);
    m_notifier->setEnabled(false);
    QObject::connect(m_notifier, &QSocketNotifier::activated, m_notifier, [this] { flush(); });
    return true;
}

qint64 WorkerInput::send(const QByteArray &bytes, bool now)
{
    QMutexLocker locker(&m_mutex);
    if (m_writeFd < 0)
        return -1;
    const qint64 at = m_total;
    if (bytes.isEmpty())
        return at;
    m_total += bytes.size();
    const bool first = m_queue.empty();
    m_queue.push_back(bytes); // shared with the caller, not copied
    const bool engineThread = QThread::currentThread() == m_notifier->thread();
    if (now && first) {
        flushLocked(); // here and now, if the pipe takes it all
        if (m_queue.empty() || engineThread)
            return at;
    } else if (!first) {
        return at; // behind bytes that wait for the pipe: they bring these along
    } else if (engineThread) {
        m_notifier->setEnabled(true); // in this turn's write, once the pipe is writable
        return at;
    }
    // The rest when the pipe has room, from the engine thread (the notifier lives there; an
    // event for it goes with it, should the worker be gone first).
    QMetaObject::invokeMethod(m_notifier, [this] { flush(); }, Qt::QueuedConnection);
    return at;
}

void WorkerInput::flush()
{
    QMutexLocker locker(&m_mutex);
    flushLocked();
}

void WorkerInput::flushLocked()
{
    while (!m_queue.empty() && m_writeFd >= 0) {
        const QByteArray &front = m_queue.front();
        const ssize_t n = ::write(m_writeFd, front.constData() + m_offset,
                                  size_t(front.size() - m_offset));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            // The worker is behind: on again when it has read.
            if (QThread::currentThread() == m_notifier->thread())
                m_notifier->setEnabled(true);
            return;
        }
        if (n < 0) {
            m_queue.clear(); // not expected (we hold a reader); the worker's exit is handled
            break;
        }
        m_offset += n;
        if (m_offset == front.size()) {
            m_queue.pop_front();
            m_offset = 0;
        }
    }
    if (m_notifier && QThread::currentThread() == m_notifier->thread())
        m_notifier->setEnabled(false);
    if (m_closeWhenSent && m_queue.empty() && m_writeFd >= 0) {
        ::close(m_writeFd); // the worker reads end of input (the notifier stays off)
        m_writeFd = -1;
    }
}

void WorkerInput::closeWhenSent()
{
    QMutexLocker locker(&m_mutex);
    m_closeWhenSent = true;
    flushLocked();
}

void WorkerInput::close()
{
    QMutexLocker locker(&m_mutex);
    delete m_notifier; // before the descriptor: a notifier must never outlive its fd
    m_notifier = nullptr;
    for (int *fd : {&m_writeFd, &m_readFd}) {
        if (*fd >= 0)
            ::close(*fd);
        *fd = -1;
    }
    m_queue.clear();
}

qint64 WorkerInput::consumed()
{
    QMutexLocker locker(&m_mutex);
    int unread = 0; // still in the pipe: its read end is ours too, so its bytes outlive the worker
    if (m_readFd < 0 || ::ioctl(m_readFd, FIONREAD, &unread) != 0)
        return -1;
    qint64 queued = -qint64(m_offset);
    for (const QByteArray &bytes : m_queue)
        queued += bytes.size();
    return m_total - queued - unread;
}

} // namespace procpool::detail
