// procpool headless mode — jobs read as JSON Lines from a file or standard input, streamed.
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QObject>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QVariant>

#include <optional>

class QSocketNotifier;

namespace procpool::headless {

//! One job of a jobs stream, checked against the task's declared parameters.
struct Job
{
    qint64 line = 0;
    QString task;
    QVariantList arguments;
    QString taskType;
    QString namespaceId; //!< empty: the first pool
    int priority = 0;    //!< SubmitOptions::priority
    int attempts = 1;    //!< attempts in all (RetryPolicy::attempts); 1: no retry
};

//! Parses line \a number of a jobs stream. Returns nullopt for a blank line (skipped) and sets
//! \a error, naming what is wrong, for a malformed one. \a namespaces are the configured pools.
std::optional<Job> parseJob(const QByteArray &line, qint64 number, const QStringList &namespaces,
                            QString *error);

//! Reads lines from a file or a stream without ever holding more than a chunk beyond what the
//! caller has taken. A regular file is read on demand; a pipe or terminal is read when it is
//! readable, so the event loop never blocks on it.
class LineReader : public QObject
{
    Q_OBJECT
public:
    explicit LineReader(QObject *parent = nullptr);
    ~LineReader() override;

    //! Opens \a path ("-": standard input); false with \a error set when it cannot.
    bool open(const QString &path, QString *error);

    enum class Status { Line, TooLong, Pending, End, Error };
    //! The next line (without its newline) in \a line and its 1-based number. TooLong: line
    //! \a number is longer than maxLineLength; its bytes are dropped, and the next call goes on
    //! after it. Pending: wait for readyRead(). Error: errorString() says why reading cannot go
    //! on, \a number is the line it stopped in.
    Status next(QByteArray *line, qint64 *number);
    //! Stops reading: later next() calls return End.
    void close();
    QString errorString() const { return m_error; }

    //! Longest line accepted.
    static constexpr qsizetype maxLineLength = 16 * 1024 * 1024;

Q_SIGNALS:
    void readyRead();

private:
    bool fill(); //!< one read(); false at end of input or on error
    void onReadable();
    //! Drops the buffered bytes of an over-long line up to its newline, if it is there yet.
    void skipPastNewline();

    int m_fd = -1;
    bool m_ownFd = false;
    bool m_regular = false;
    bool m_eof = false;
    QByteArray m_buffer;
    qsizetype m_start = 0; //!< where the unread part of m_buffer begins
    //! Bytes after m_start known to hold no newline, so a long line is not searched again
    //! from its start after each read.
    qsizetype m_scanned = 0;
    bool m_skipping = false; //!< dropping the rest of an over-long line
    qint64 m_lineNumber = 0;
    QString m_error;
    QSocketNotifier *m_notifier = nullptr;
};

} // namespace procpool::headless
