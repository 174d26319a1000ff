// procpool headless mode — standard output and error: line-at-a-time writes, a closed pipe
// noticed, and the decorations (progress bar, live table) only where a terminal shows them.
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QString>

namespace procpool::headless {

class Terminal
{
public:
    Terminal();

    //! Writes one line to standard output at once. False once standard output is closed
    //! (EPIPE or any other write error); later calls do nothing.
    bool writeLine(const QString &line);
    bool outputClosed() const { return m_outputClosed; }

    //! Writes one line to standard error, around the progress bar when there is one.
    void diagnostic(const QString &line);

    bool stdoutIsTerminal() const { return m_stdoutTty; }
    bool stderrIsTerminal() const { return m_stderrTty; }
    //! Columns and rows of the terminal on standard output (80×24 when unknown).
    int columns() const;
    int rows() const;

    //! The progress bar line on standard error; empty removes it. Only with a terminal there.
    void setProgress(const QString &line);
    //! Redraws the whole screen of standard output (--watch); the alternate screen is used
    //! from the first call until leaveScreen().
    void drawScreen(const QString &text);
    void leaveScreen();

private:
    static bool writeAll(int fd, const QByteArray &bytes);
    void clearProgress();

    bool m_stdoutTty;
    bool m_stderrTty;
    bool m_outputClosed = false;
    bool m_onScreen = false;
    QString m_progress;
};

} // namespace procpool::headless
