// procpool — one worker process as the engine thread sees it, however it was started.
//
// StartMethod::Exec starts the program with QProcess. StartMethod::ForkServer asks the
// program's fork server (started once per program, arguments, directory and environment, and
// kept for the rest of the engine thread's life) to fork it, and the server reports its exit.
// Either way the worker's standard output and error are pipes made here, read here directly:
// frames go from the kernel straight into the worker's FrameDecoder, and both pipes can be
// drained at any moment, so that a worker's lines can be taken in before the answer that
// follows them is acted on. Either way the engine sees the same signals.
#pragma once

#include <procpool/options.h>

#include <QtCore/QByteArray>
#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QObject>
#include <QtCore/QPointer>
#include <QtCore/QProcess>
#include <QtCore/QSocketNotifier>
#include <QtCore/QTimer>

#include <memory>
#include <vector>

namespace procpool::detail {

class ForkServer;
class FrameDecoder;

//! True for the signals a program raises on itself when it crashes (SIGSEGV, SIGABRT...),
//! false for those that come from outside (SIGKILL from a user or the OOM killer, SIGTERM).
bool isCrashSignal(int signal);

class ChildProcess : public QObject
{
    Q_OBJECT
public:
    struct Setup
    {
        QString program;
        QStringList arguments;
        QString workingDirectory;
        QProcessEnvironment environment; //!< the base: this process's or the StartContext's
        QList<std::pair<QByteArray, QByteArray>> workerEnvironment; //!< PROCPOOL_* of this worker
        int input = -1;              //!< becomes its standard input
        int rings[2] = {-1, -1};     //!< its shared-memory rings (to it, from it), or -1
        bool daemon = false;         //!< dies with this process (with its server)
        //! The program is a launcher (ssh, srun) that starts the worker elsewhere: the
        //! worker's variables are on its command line already, none are added here.
        bool launcher = false;
        StartMethod method = StartMethod::ForkServer;
        int serverHandshakeMs = 30000; //!< how long a new fork server may take to say hello
    };

    explicit ChildProcess(QObject *parent = nullptr);
    ~ChildProcess() override;

    //! Emits started() (inside this call or later) or failedToStart() (possibly inside).
    void start(const Setup &setup);
    qint64 pid() const { return m_pid; }
    QString errorString() const { return m_error; }
    //! Its fork server died before the worker said hello: before it forked the worker (then
    //! failedToStart()), or after (then the worker's end may have been the server's doing).
    //! Either way a new worker through a new server can succeed, unlike a program that fails.
    bool lostItsServer() const { return m_serverLost; }
    //! Reads what its standard output holds into \a decoder (everything, once it finished).
    //! Returns the number of bytes read.
    qsizetype readStandardOutput(FrameDecoder *decoder);
    //! Reads what its standard output holds and drops it.
    void discardStandardOutput();
    //! What its standard error holds now (everything, once it finished).
    QByteArray readAllStandardError();
    //! What its standard error holds now; nothing, without a read, when it holds nothing.
    QByteArray readAvailableStandardError();
    void kill();
    //! SIGTERM: the process may clean up (and may ignore it). Before it was forked: kill().
    void terminate();

Q_SIGNALS:
    void started(qint64 pid);
    void readyReadStandardOutput();
    void readyReadStandardError();
    //! exitCode is the signal for CrashExit, as with QProcess; -1 with NormalExit: the exit
    //! was seen but its status is unknown (the fork server that reaped it is gone).
    void finished(int exitCode, QProcess::ExitStatus status);
    void failedToStart();

private:
    friend class ForkServer;
    void startExec();
    // From the fork server:
    void forked(qint64 pid, int pidfd);
    void forkFailed();
    void exited(int waitStatus);
    void serverGone(bool beforeFork);
    void finish(int exitCode, QProcess::ExitStatus status);
    //! Makes the two output pipes, our ends non-blocking with their notifiers (disabled until
    //! there is a pid); the child's ends in \a childEnds, for the caller to close. False with
    //! m_error set if the system has no descriptors left.
    bool openOutputPipes(int childEnds[2]);
    //! Calls \a readSome(fd, bytesAvailable) for what \a fd holds, and on until its end once
    //! the child has finished; closes \a fd at its end.
    template<typename ReadSome>
    void readFrom(int &fd, QSocketNotifier *notifier, ReadSome readSome);

    Setup m_setup;
    QProcess *m_process = nullptr; //!< Exec
    QPointer<ForkServer> m_server; //!< ForkServer, until it answered for us
    int m_out = -1, m_err = -1;    //!< our ends of its stdout and stderr
    int m_pidfd = -1;
    QSocketNotifier *m_outNotifier = nullptr;
    QSocketNotifier *m_errNotifier = nullptr;
    QSocketNotifier *m_exitNotifier = nullptr; //!< only once its server is gone
    qint64 m_pid = 0;
    bool m_finished = false;
    bool m_serverLost = false;
    QString m_error;
};

} // namespace procpool::detail
