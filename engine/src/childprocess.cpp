#include "childprocess_p.h"

#include "forkserverclient_p.h"

#include "descriptors_p.h"
#include "forkprotocol_p.h"
#include "frame_p.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace procpool::detail {


bool isCrashSignal(int signal)
{
    switch (signal) {
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE:
    case SIGABRT:
    case SIGSYS:
    case SIGTRAP:
        return true;
    default:
        return false;
    }
}

ChildProcess::ChildProcess(QObject *parent) : QObject(parent) {}

ChildProcess::~ChildProcess()
{
    if (m_server)
        m_server->forget(this);
    if (!m_finished && m_pidfd >= 0)
        ::syscall(SYS_pidfd_send_signal, m_pidfd, SIGKILL, nullptr, 0); // as ~QProcess does
    for (const int fd : {m_out, m_err, m_pidfd}) {
        if (fd >= 0)
            ::close(fd);
    }
}

void ChildProcess::start(const Setup &setup)
{
    m_setup = setup;
    ForkServer *server =
        setup.method == StartMethod::ForkServer ? ForkServer::forSetup(setup) : nullptr;
    if (!server) {
        startExec();
        return;
    }
    m_server = server;
    server->spawn(this);
}

void ChildProcess::startExec()
{
    m_server = nullptr;
    auto *p = new QProcess(this);
    m_process = p;
    p->setProgram(m_setup.program);
    p->setArguments(m_setup.arguments);
    if (!m_setup.workingDirectory.isEmpty())
        p->setWorkingDirectory(m_setup.workingDirectory);
    QProcessEnvironment env = m_setup.environment;
    for (const auto &[name, value] : m_setup.workerEnvironment)
        env.insert(QString::fromLatin1(name), QString::fromUtf8(value));
    if (!m_setup.launcher)
        env.insert(QStringLiteral("PROCPOOL_PARENT_PID"), QString::number(::getpid()));
    if (m_setup.rings[0] >= 0)
        env.insert(QStringLiteral("PROCPOOL_SHM"),
                   QStringLiteral("%1,%2").arg(m_setup.rings[0]).arg(m_setup.rings[1]));
    p->setProcessEnvironment(env);
    p->setStandardInputFile(QProcess::nullDevice());

    const bool daemon = m_setup.daemon;
    const pid_t parent = ::getpid();
    const int input = m_setup.input;
    // Besides 0, 1 and 2, the worker inherits these and nothing else. The rings are
    // close-on-exec everywhere else; this worker alone inherits them.
    const std::array<int, 2> inherited{m_setup.rings[0], m_setup.rings[1]};
    p->setChildProcessModifier([daemon, parent, input, inherited] {
        // Runs in the child between fork and exec: async-signal-safe calls only.
        if (input < 0 || ::dup2(input, STDIN_FILENO) < 0)
            ::_exit(126);
        // Qt has made its dup2()s onto 0, 1 and 2 by now. Everything else is marked
        // close-on-exec rather than closed: Qt's own pipe that reports a failed exec must work
        // until the exec.
        if (!inheritOnly(inherited.data(), int(inherited.size())))
            ::_exit(126);
        ::setpgid(0, 0); // a terminal's Ctrl-C goes to the application, not to its workers
        if (daemon)
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent)
            ::_exit(127); // the parent died before PDEATHSIG was armed
    });

    connect(p, &QProcess::readyReadStandardOutput, this, &ChildProcess::readyReadStandardOutput);
    connect(p, &QProcess::readyReadStandardError, this, &ChildProcess::readyReadStandardError);
    connect(p, &QProcess::finished, this, &ChildProcess::finish);
    connect(p, &QProcess::errorOccurred, this, [this](QProcess::ProcessError error) {
        if (error != QProcess::FailedToStart)
            return;
        m_error = m_process->errorString();
        m_finished = true;
        Q_EMIT failedToStart();
    });
    p->start(QIODevice::ReadOnly);
    if (p->state() == QProcess::NotRunning)
        return; // failedToStart() was emitted inside start()
    m_pid = p->processId();
    Q_EMIT started(m_pid);
}

void ChildProcess::forked(qint64 pid, int pidfd)
{
    m_server = nullptr;
    m_pid = pid;
    m_pidfd = pidfd;
    m_outNotifier->setEnabled(true);
    m_errNotifier->setEnabled(true);
    Q_EMIT started(pid);
}

void ChildProcess::forkFailed()
{
    // The server could not fork or watch it (out of processes, an old kernel), or the request
    // could not reach it: exec then, which reports its own failure (with its own errno) if the
    // system cannot start a process at all.
    for (int *fd : {&m_out, &m_err}) {
        if (*fd >= 0)
            ::close(*fd);
        *fd = -1;
    }
    delete m_outNotifier;
    delete m_errNotifier;
    m_outNotifier = m_errNotifier = nullptr;
    startExec();
}

void ChildProcess::exited(int waitStatus)
{
    if (WIFSIGNALED(waitStatus))
        finish(WTERMSIG(waitStatus), QProcess::CrashExit);
    else
        finish(WEXITSTATUS(waitStatus), QProcess::NormalExit);
}

void ChildProcess::serverGone(bool beforeFork)
{
    m_server = nullptr;
    m_serverLost = true;
    if (beforeFork) {
        // Not retried here with a new server: the old one may have forked the worker after
        // all, and that orphan holds this worker's input. The pool starts a replacement with
        // channels of its own and closes these, which ends the orphan.
        m_error = QStringLiteral("its fork server exited before it started the worker");
        m_finished = true;
        Q_EMIT failedToStart();
        return;
    }
    if (m_finished)
        return;
    // Nobody can tell its status any more; its pidfd still tells when it ends.
    m_exitNotifier = new QSocketNotifier(m_pidfd, QSocketNotifier::Read, this);
    connect(m_exitNotifier, &QSocketNotifier::activated, this, [this] {
        m_exitNotifier->setEnabled(false);
        finish(-1, QProcess::NormalExit);
    });
}

void ChildProcess::finish(int exitCode, QProcess::ExitStatus status)
{
    if (m_finished)
        return;
    m_finished = true;
    Q_EMIT finished(exitCode, status);
}

QByteArray ChildProcess::readFrom(int &fd, QSocketNotifier *notifier)
{
    QByteArray out;
    if (fd < 0)
        return out;
    // What is there now, in one read: the notifier fires again for what comes later. Once the
    // child has finished, everything it wrote (a grandchild may keep the pipe open: no EOF).
    for (;;) {
        int available = 0;
        if (::ioctl(fd, FIONREAD, &available) < 0 || available <= 0)
            available = 4096; // nothing, or the end: read() tells which
        const qsizetype old = out.size();
        out.resize(old + available);
        const ssize_t got = ::read(fd, out.data() + old, size_t(available));
        out.resize(old + std::max<ssize_t>(got, 0));
        if (got < 0 && errno == EINTR)
            continue;
        if (got == 0 || (got < 0 && errno != EAGAIN)) {
            notifier->setEnabled(false); // the end: the worker (and its children) closed it
            ::close(fd);
            fd = -1;
            break;
        }
        if (got < 0 || !m_finished)
            break;
    }
    return out;
}

QByteArray ChildProcess::readAllStandardOutput()
{
    return m_process ? m_process->readAllStandardOutput() : readFrom(m_out, m_outNotifier);
}

QByteArray ChildProcess::readAllStandardError()
{
    return m_process ? m_process->readAllStandardError() : readFrom(m_err, m_errNotifier);
}

void ChildProcess::terminate()
{
    if (m_finished)
        return;
    if (m_process)
        m_process->terminate();
    else if (m_pidfd >= 0)
        ::syscall(SYS_pidfd_send_signal, m_pidfd, SIGTERM, nullptr, 0);
    else
        kill();
}

void ChildProcess::kill()
{
    if (m_finished)
        return;
    if (m_process) {
        m_process->kill();
    } else if (m_pidfd >= 0) {
        ::syscall(SYS_pidfd_send_signal, m_pidfd, SIGKILL, nullptr, 0);
    } else if (m_server) {
        // Not forked yet: the server kills it if it forks it after all. For the engine it
        // ended now, as a killed process does.
        m_server->forget(this);
        m_server = nullptr;
        QMetaObject::invokeMethod(this, [this] { finish(SIGKILL, QProcess::CrashExit); },
                                  Qt::QueuedConnection);
    }
}

} // namespace procpool::detail
