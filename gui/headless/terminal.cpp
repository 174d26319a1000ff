#include "terminal.h"

#include <QtCore/QJsonDocument>
#include <QtCore/QStringList>

#include <algorithm>
#include <cerrno>
#include <sys/ioctl.h>
#include <unistd.h>

namespace procpool::headless {
namespace {

bool isDelOrC1(char16_t c)
{
    return c >= 0x7f && c <= 0x9f;
}

//! \a text with each character for which \a escape holds written as \a prefix followed by
//! its code in \a digits hexadecimal digits.
template <typename Predicate>
QString escaped(const QString &text, Predicate escape, QLatin1String prefix, int digits)
{
    const auto needsEscape = [&](QChar c) { return escape(c.unicode()); };
    if (std::none_of(text.cbegin(), text.cend(), needsEscape))
        return text; // the usual case: nothing to copy
    QString out;
    out.reserve(text.size() + 16);
    for (const QChar c : text) {
        if (needsEscape(c))
            out += prefix + QStringLiteral("%1").arg(uint(c.unicode()), digits, 16, QChar(u'0'));
        else
            out += c;
    }
    return out;
}

} // namespace

QString escapeControls(const QString &text, Newlines newlines)
{
    return escaped(
        text,
        [newlines](char16_t c) {
            if (c == u'\t' || (c == u'\n' && newlines == Newlines::Keep))
                return false;
            return c < 0x20 || isDelOrC1(c);
        },
        QLatin1String("\\x"), 2);
}

QString jsonLine(const QJsonObject &json)
{
    // Outside its strings JSON text is printable ASCII, and inside them \u00HH is the character.
    return escaped(QString::fromUtf8(QJsonDocument(json).toJson(QJsonDocument::Compact)),
                   isDelOrC1, QLatin1String("\\u"), 4);
}

Terminal::Terminal()
    : m_stdoutTty(::isatty(STDOUT_FILENO) == 1)
    , m_stderrTty(::isatty(STDERR_FILENO) == 1)
{
}

bool Terminal::writeAll(int fd, const QByteArray &bytes)
{
    const char *data = bytes.constData();
    qsizetype left = bytes.size();
    while (left > 0) {
        const ssize_t n = ::write(fd, data, size_t(left));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        data += n;
        left -= n;
    }
    return true;
}

bool Terminal::writeLine(const QString &line)
{
    if (m_outputClosed)
        return false;
    const bool sameTerminal = m_stdoutTty && !m_progress.isEmpty();
    if (sameTerminal)
        clearProgress();
    if (!writeAll(STDOUT_FILENO, (escapeControls(line) + u'\n').toUtf8()))
        m_outputClosed = true;
    if (sameTerminal)
        writeAll(STDERR_FILENO, m_progress.toUtf8());
    return !m_outputClosed;
}

void Terminal::diagnostic(const QString &line)
{
    if (!m_progress.isEmpty())
        clearProgress();
    writeAll(STDERR_FILENO, (escapeControls(line) + u'\n').toUtf8());
    if (!m_progress.isEmpty())
        writeAll(STDERR_FILENO, m_progress.toUtf8());
}

void Terminal::clearProgress()
{
    writeAll(STDERR_FILENO, QByteArrayLiteral("\r\033[K"));
}

void Terminal::setProgress(const QString &line)
{
    if (!m_stderrTty)
        return;
    if (!m_progress.isEmpty() || !line.isEmpty())
        clearProgress();
    m_progress = line.left(std::max(10, columns() - 1));
    if (!m_progress.isEmpty())
        writeAll(STDERR_FILENO, m_progress.toUtf8());
}

int Terminal::columns() const
{
    struct winsize size = {};
    return ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0 ? size.ws_col : 80;
}

int Terminal::rows() const
{
    struct winsize size = {};
    return ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_row > 0 ? size.ws_row : 24;
}

void Terminal::drawScreen(const QString &text)
{
    if (!m_stdoutTty || m_outputClosed)
        return;
    QByteArray bytes;
    if (!m_onScreen)
        bytes += "\033[?1049h\033[?25l"; // alternate screen, cursor hidden
    m_onScreen = true;
    bytes += "\033[H";
    const QStringList lines = text.split(u'\n');
    const int width = columns();
    const int height = rows();
    for (qsizetype i = 0; i < lines.size() && i < height; ++i) {
        bytes += escapeControls(lines.at(i)).left(width).toUtf8();
        bytes += "\033[K";
        if (i + 1 < lines.size() && i + 1 < height)
            bytes += "\r\n";
    }
    bytes += "\033[J";
    if (!writeAll(STDOUT_FILENO, bytes))
        m_outputClosed = true;
}

void Terminal::leaveScreen()
{
    if (!m_onScreen)
        return;
    m_onScreen = false;
    writeAll(STDOUT_FILENO, QByteArrayLiteral("\033[?25h\033[?1049l"));
}

} // namespace procpool::headless
