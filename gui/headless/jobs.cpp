#include "jobs.h"

#include "options.h"
#include "taskcall.h"

#include <QtCore/QFile>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QSet>
#include <QtCore/QSocketNotifier>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace procpool::headless {
namespace {

//! Where the string that opens at \a open (a quote) of valid JSON \a json ends: its closing quote.
qsizetype stringEnd(QByteArrayView json, qsizetype open)
{
    qsizetype i = open + 1;
    while (i < json.size() && json.at(i) != '"')
        i += json.at(i) == '\\' ? 2 : 1;
    return std::min(i, json.size() - 1);
}

//! The text of the JSON string \a quoted, escapes resolved.
QString decodedString(QByteArrayView quoted)
{
    if (!quoted.contains('\\'))
        return QString::fromUtf8(quoted.sliced(1, quoted.size() - 2));
    const QByteArray array = '[' + quoted.toByteArray() + ']';
    return QJsonDocument::fromJson(array).array().first().toString();
}

//! What the JSON reader leaves out of a job line: of a key given twice in one object it keeps
//! one value without a word, and a number only as closely as a double or a qint64 holds it.
struct JobText
{
    std::optional<QString> duplicateKey; //!< the first key given twice in one object
    QList<QByteArray> arguments;         //!< each element of the job's "args", as written
};

//! Reads the text of \a json, a valid JSON object.
JobText scanJobText(QByteArrayView json)
{
    struct Level
    {
        bool object = false;
        bool keyNext = false; //!< in an object: the next string is a key
        QString key;          //!< in an object: the key of the value being read
        QSet<QString> keys;
        bool arguments = false; //!< the job's "args" array
        qsizetype elementStart = 0;
    };
    JobText text;
    std::vector<Level> levels;
    // At a ',' or the closing bracket of the "args" array: one element ends.
    auto endElement = [&](qsizetype end) {
        Level &level = levels.back();
        if (!level.arguments)
            return;
        const QByteArrayView element = json.sliced(level.elementStart, end - level.elementStart);
        if (!element.trimmed().isEmpty())
            text.arguments.append(element.trimmed().toByteArray());
        level.elementStart = end + 1;
    };
    for (qsizetype i = 0; i < json.size(); ++i) {
        switch (json.at(i)) {
        case '{':
        case '[': {
            Level level;
            level.object = level.keyNext = json.at(i) == '{';
            level.arguments = !level.object && levels.size() == 1 && levels.back().key == u"args";
            level.elementStart = i + 1;
            levels.push_back(level);
            break;
        }
        case '}':
        case ']':
            if (!levels.empty()) {
                endElement(i);
                levels.pop_back();
            }
            break;
        case ',':
            if (!levels.empty()) {
                endElement(i);
                levels.back().keyNext = levels.back().object;
            }
            break;
        case '"': {
            const qsizetype end = stringEnd(json, i);
            if (!levels.empty() && levels.back().keyNext) {
                Level &level = levels.back();
                level.key = decodedString(json.sliced(i, end - i + 1));
                if (level.keys.contains(level.key)) {
                    text.duplicateKey = level.key;
                    return text;
                }
                level.keys.insert(level.key);
                level.keyNext = false;
            }
            i = end;
            break;
        }
        default: break;
        }
    }
    return text;
}

//! Reads the optional integer \a key of \a object into \a out; false (with \a error set) when it
//! is there and not a whole number from \a minimum to \a maximum.
bool integerField(const QJsonObject &object, const QString &key, int minimum, int maximum,
                  int *out, QString *error)
{
    const QJsonValue value = object.value(key);
    if (value.isUndefined() || value.isNull())
        return true;
    const double n = value.toDouble(std::nan(""));
    if (!value.isDouble() || n != std::floor(n) || n < minimum || n > maximum) {
        *error = QStringLiteral("\"%1\" must be an integer from %2 to %3, e.g. \"%1\": %4")
                     .arg(key)
                     .arg(minimum)
                     .arg(maximum)
                     .arg(std::max(minimum, std::min(maximum, 3)));
        return false;
    }
    *out = int(n);
    return true;
}

} // namespace

std::optional<Job> parseJob(const QByteArray &line, qint64 number, const QStringList &namespaces,
                            QString *error)
{
    if (line.trimmed().isEmpty())
        return std::nullopt;
    auto fail = [&](const QString &message) -> std::optional<Job> {
        *error = message;
        return std::nullopt;
    };
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(line, &parseError);
    if (parseError.error != QJsonParseError::NoError)
        return fail(QStringLiteral("not valid JSON: %1 at column %2")
                        .arg(parseError.errorString())
                        .arg(parseError.offset + 1));
    if (!document.isObject())
        return fail(QStringLiteral("expected a JSON object such as {\"task\": \"sleep\", "
                                   "\"args\": [100]}"));
    const JobText text = scanJobText(line);
    if (text.duplicateKey)
        return fail(QStringLiteral("key \"%1\" is given twice in one object, and which value "
                                   "counts is not defined; give each key once")
                        .arg(*text.duplicateKey));
    const QJsonObject object = document.object();
    static const QStringList known = {QStringLiteral("task"), QStringLiteral("args"),
                                      QStringLiteral("task_type"), QStringLiteral("namespace"),
                                      QStringLiteral("priority"), QStringLiteral("retries")};
    for (auto it = object.begin(); it != object.end(); ++it)
        if (!known.contains(it.key()))
            return fail(QStringLiteral("unknown field \"%1\" (a job has %2)")
                            .arg(it.key(), known.join(QStringLiteral(", "))));

    Job job;
    job.line = number;
    const QJsonValue task = object.value(QStringLiteral("task"));
    if (!task.isString() || task.toString().isEmpty())
        return fail(QStringLiteral("\"task\" must be a task name, e.g. \"task\": \"sleep\""));
    job.task = task.toString();
    const auto signature = findTask(job.task);
    if (!signature)
        return fail(QStringLiteral("there is no task '%1' (see --list-tasks)").arg(job.task));

    const QJsonValue args = object.value(QStringLiteral("args"));
    if (!args.isUndefined() && !args.isArray())
        return fail(QStringLiteral("\"args\" must be an array, e.g. \"args\": [100]"));
    const Arguments converted = argumentsFromJson(*signature, args.toArray(), text.arguments);
    if (!converted.error.isEmpty())
        return fail(converted.error);
    job.arguments = converted.values;

    for (const auto &[key, field] : {std::pair{QStringLiteral("task_type"), &job.taskType},
                                     std::pair{QStringLiteral("namespace"), &job.namespaceId}}) {
        const QJsonValue value = object.value(key);
        if (value.isUndefined() || value.isNull())
            continue;
        if (!value.isString())
            return fail(QStringLiteral("\"%1\" must be a string").arg(key));
        *field = value.toString();
    }
    if (!integerField(object, QStringLiteral("priority"), std::numeric_limits<int>::min(),
                      std::numeric_limits<int>::max(), &job.priority, error)
        || !integerField(object, QStringLiteral("retries"), 1, maxAttempts, &job.attempts, error))
        return std::nullopt;
    if (!job.namespaceId.isEmpty() && !namespaces.contains(job.namespaceId))
        return fail(QStringLiteral("namespace '%1' is not configured (configured: %2); add "
                                   "--namespace %1")
                        .arg(job.namespaceId, namespaces.join(QStringLiteral(", "))));
    return job;
}

LineReader::LineReader(QObject *parent) : QObject(parent) {}

LineReader::~LineReader()
{
    close();
}

bool LineReader::open(const QString &path, QString *error)
{
    if (path == u"-") {
        m_fd = STDIN_FILENO;
    } else {
        m_fd = ::open(QFile::encodeName(path).constData(), O_RDONLY | O_CLOEXEC);
        if (m_fd < 0) {
            *error = QStringLiteral("cannot open jobs file '%1': %2")
                         .arg(path, QString::fromLocal8Bit(std::strerror(errno)));
            return false;
        }
        m_ownFd = true;
    }
    struct stat st = {};
    m_regular = ::fstat(m_fd, &st) == 0 && S_ISREG(st.st_mode);
    if (!m_regular) {
        m_notifier = new QSocketNotifier(m_fd, QSocketNotifier::Read, this);
        m_notifier->setEnabled(false);
        connect(m_notifier, &QSocketNotifier::activated, this, &LineReader::onReadable);
    }
    return true;
}

void LineReader::close()
{
    delete m_notifier;
    m_notifier = nullptr;
    if (m_ownFd && m_fd >= 0)
        ::close(m_fd);
    m_fd = -1;
    m_ownFd = false;
    m_eof = true;
    m_buffer.clear();
    m_start = 0;
    m_scanned = 0;
    m_skipping = false;
}

bool LineReader::fill()
{
    if (m_start > 0 && m_start * 2 >= m_buffer.size()) {
        m_buffer.remove(0, m_start);
        m_start = 0;
    }
    char chunk[65536];
    for (;;) {
        const ssize_t n = ::read(m_fd, chunk, sizeof chunk);
        if (n > 0) {
            m_buffer.append(chunk, qsizetype(n));
            return true;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            m_error = QStringLiteral("reading the jobs failed: %1")
                          .arg(QString::fromLocal8Bit(std::strerror(errno)));
        else if (n < 0)
            return true; // nothing after all; wait for the next notification
        m_eof = true;
        return false;
    }
}

void LineReader::onReadable()
{
    m_notifier->setEnabled(false); // next() asks again when the caller wants more
    fill();
    Q_EMIT readyRead();
}

void LineReader::skipPastNewline()
{
    const qsizetype newline = m_buffer.indexOf('\n', m_start);
    if (newline < 0) {
        m_buffer.clear(); // all of it belongs to the over-long line
        m_start = 0;
        return;
    }
    m_start = newline + 1;
    m_skipping = false;
}

LineReader::Status LineReader::next(QByteArray *line, qint64 *number)
{
    for (;;) {
        if (m_fd < 0 && m_buffer.isEmpty())
            return m_error.isEmpty() ? Status::End : Status::Error;
        if (m_skipping)
            skipPastNewline();
        if (!m_skipping) {
            const qsizetype newline = m_buffer.indexOf('\n', m_start + m_scanned);
            const qsizetype end = newline >= 0 ? newline : m_buffer.size();
            if (end - m_start > maxLineLength) {
                // Numbered like any line, so the lines after it keep their numbers; what is
                // buffered of it goes now, the rest as it arrives, never more than a chunk.
                *number = ++m_lineNumber;
                m_skipping = true;
                m_scanned = 0;
                skipPastNewline();
                return Status::TooLong;
            }
            if (newline >= 0 || (m_eof && m_start < m_buffer.size())) {
                *line = m_buffer.mid(m_start, end - m_start);
                if (line->endsWith('\r'))
                    line->chop(1);
                m_start = newline >= 0 ? newline + 1 : m_buffer.size();
                m_scanned = 0;
                *number = ++m_lineNumber;
                return Status::Line;
            }
            m_scanned = end - m_start;
        }
        if (m_eof) {
            *number = m_lineNumber + 1;
            return m_error.isEmpty() ? Status::End : Status::Error;
        }
        if (!m_regular) {
            m_notifier->setEnabled(true);
            return Status::Pending;
        }
        fill();
    }
}

} // namespace procpool::headless
