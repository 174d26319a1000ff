// procpool — one client's connection to the inspection server (inspectionserver.cpp).
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QObject>
#include <QtCore/QSocketNotifier>

#include <cerrno>
#include <functional>
#include <sys/socket.h>
#include <unistd.h>

namespace procpool::detail {

//! One client's end of a connection: a non-blocking socket with an output buffer of its own,
//! so that what waits for a slow client is counted exactly (queuedBytes()).
class Peer : public QObject
{
public:
    Peer(int fd, QObject *parent)
        : QObject(parent), m_fd(fd), m_read(fd, QSocketNotifier::Read, this),
          m_write(fd, QSocketNotifier::Write, this)
    {
        m_write.setEnabled(false);
        connect(&m_read, &QSocketNotifier::activated, this, [this] {
            if (readable)
                readable();
        });
        connect(&m_write, &QSocketNotifier::activated, this, [this] {
            flush();
            if (queuedBytes() == 0 && !m_closed && drained)
                drained();
        });
    }
    ~Peer() override { ::close(m_fd); }

    //! Called when bytes arrived, when the connection ended (once, later, from the event loop),
    //! and when a backlog was written out.
    std::function<void()> readable, closed, drained;

    //! Appends what arrived to \a into; the end of the connection is reported through closed.
    void readAvailable(QByteArray *into)
    {
        char buffer[65536];
        for (;;) {
            const ssize_t n = ::read(m_fd, buffer, sizeof buffer);
            if (n > 0) {
                into->append(buffer, n);
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n == 0 || errno != EAGAIN)
                shut();
            return;
        }
    }

    void write(const QByteArray &bytes)
    {
        if (m_closed || m_closing)
            return;
        m_output += bytes;
        flush();
    }

    qint64 queuedBytes() const { return m_output.size() - m_written; }

    //! Stops or resumes reading: a client whose answers are not read is not heard either.
    void setReading(bool on)
    {
        if (!m_closed && !m_closing)
            m_read.setEnabled(on);
    }

    //! Hangs up once what is queued is written.
    void closeAfterWriting()
    {
        m_closing = true;
        m_read.setEnabled(false);
        if (queuedBytes() == 0)
            shut();
    }

private:
    void flush()
    {
        while (queuedBytes() > 0 && !m_closed) {
            const ssize_t n = ::send(m_fd, m_output.constData() + m_written, size_t(queuedBytes()), MSG_NOSIGNAL);
            if (n > 0) {
                m_written += n;
            } else if (n < 0 && errno == EINTR) {
                continue;
            } else if (n < 0 && errno == EAGAIN) {
                m_write.setEnabled(true);
                return;
            } else {
                shut();
                return;
            }
        }
        m_output.clear();
        m_written = 0;
        m_write.setEnabled(false);
        if (m_closing)
            shut();
    }

    void shut()
    {
        if (m_closed)
            return;
        m_closed = true;
        m_read.setEnabled(false);
        m_write.setEnabled(false);
        ::shutdown(m_fd, SHUT_RDWR);
        // Later: the caller may be in the middle of using this client.
        QMetaObject::invokeMethod(this, [this] {
            if (closed)
                closed();
        }, Qt::QueuedConnection);
    }

    const int m_fd;
    QSocketNotifier m_read;
    QSocketNotifier m_write;
    QByteArray m_output;
    qint64 m_written = 0; //!< of m_output, already sent
    bool m_closing = false;
    bool m_closed = false;
};

} // namespace procpool::detail
