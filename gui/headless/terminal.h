// procpool headless mode — standard output and error: line-at-a-time writes with control
// characters escaped, a closed pipe noticed, and the decorations (progress bar, live table)
// only where a terminal shows them.
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QJsonObject>
#include <QtCore/QString>

namespace procpool::headless {

//! Whether newlines stay line breaks or are written out like the other control characters.
enum class Newlines { Keep, Escape };

//! \a text made harmless for a terminal: the characters it would act on, C0 controls but tab
//! (and newline, unless \a newlines says otherwise), DEL and C1 controls, are written out as
//! \xHH, so an escape sequence a task prints shows as text instead of moving the cursor,
//! recolouring or retitling the window. Everything else, non-ASCII text included, is kept.
QString escapeControls(const QString &text, Newlines newlines = Newlines::Keep);

//! \a json on one line. QJsonDocument escapes C0 controls but writes DEL and C1 controls as
//! they are; they become \u00HH escapes too, which a JSON reader decodes to the same text.
QString jsonLine(const QJsonObject &json);

class Terminal
{
public:
    Terminal();

    // The text given to writeLine(), diagnostic() and drawScreen() goes through
    // escapeControls(): whatever a task or a jobs line put in it, no control character but a
    // newline or a tab reaches the output.

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
