#include "childprocess_p.h"

#include "forkserverclient_p.h"

#include "descriptors_p.h"
#include "forkprotocol_p.h"
#include "frame_p.h"

#include <QtCore/QMetaObject>

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

bool ChildProcess::openOutputPipes(int childEnds[2])
{
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) {
        m_error = QStringLiteral("could not make its output pipe: %1").arg(qt_error_string(errno));
        return false;
    }
    if (::pipe2(err, O_CLOEXEC) != 0) {
        m_error = QStringLiteral("could not make its output pipe: %1").arg(qt_error_string(errno));
        ::close(out[0]);
        ::close(out[1]);
        return false;
    }
    // An application that closed its standard streams gets them back from pipe2(): the
    // child's ends must not be among 0-2, where exec's set-up puts other descriptors.
    for (int *end : {&out[1], &err[1]}) {
        if (*end > STDERR_FILENO)
            continue;
        const int high = ::fcntl(*end, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        if (high < 0) {
            m_error = QStringLiteral("could not make its output pipe: %1").arg(qt_error_string(errno));
            for (const int fd : {out[0], out[1], err[0], err[1]})
                ::close(fd);
            return false;
        }
        ::close(*end);
        *end = high;
    }
    for (const int fd : {out[0], err[0]})
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    m_out = out[0];
    m_err = err[0];
    childEnds[0] = out[1];
    childEnds[1] = err[1];
    m_outNotifier = new QSocketNotifier(m_out, QSocketNotifier::Read, this);
    m_errNotifier = new QSocketNotifier(m_err, QSocketNotifier::Read, this);
    m_outNotifier->setEnabled(false); // until it has a pid
    m_errNotifier->setEnabled(false);
    connect(m_outNotifier, &QSocketNotifier::activated, this,
            &ChildProcess::readyReadStandardOutput);
    connect(m_errNotifier, &QSocketNotifier::activated, this,
            &ChildProcess::readyReadStandardError);
    return true;
}

void ChildProcess::startExec()
{
    m_server = nullptr;
    int output[2];
    if (!openOutputPipes(output)) {
        m_finished = true;
        QMetaObject::invokeMethod(this, &ChildProcess::failedToStart, Qt::QueuedConnection);
        return;
    }
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
    // Qt opens /dev/null for all three; the modifier puts our pipes in their place.
    p->setStandardInputFile(QProcess::nullDevice());
    p->setStandardOutputFile(QProcess::nullDevice());
    p->setStandardErrorFile(QProcess::nullDevice());

    const bool daemon = m_setup.daemon;
    const pid_t parent = ::getpid();
    const std::array<int, 3> streams{m_setup.input, output[0], output[1]};
    // Besides 0, 1 and 2, the worker inherits these and nothing else. The rings are
    // close-on-exec everywhere else; this worker alone inherits them.
    const std::array<int, 2> inherited{m_setup.rings[0], m_setup.rings[1]};
    p->setChildProcessModifier([daemon, parent, streams, inherited] {
        // Runs in the child between fork and exec: async-signal-safe calls only.
        if (streams[0] < 0)
            ::_exit(126);
        for (int i = 0; i < 3; ++i) {
            if (::dup2(streams[size_t(i)], i) < 0)
                ::_exit(126);
        }
        // Qt made its dup2()s onto 0, 1 and 2 before this. Everything else is marked
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

    connect(p, &QProcess::finished, this, &ChildProcess::finish);
    connect(p, &QProcess::errorOccurred, this, [this](QProcess::ProcessError error) {
        if (error != QProcess::FailedToStart)
            return;
        m_error = m_process->errorString();
        m_finished = true;
        Q_EMIT failedToStart();
    });
    p->start(QIODevice::ReadOnly);
    ::close(output[0]);
    ::close(output[1]);
    if (p->state() == QProcess::NotRunning)
        return; // failedToStart() was emitted inside start()
    m_pid = p->processId();
    m_outNotifier->setEnabled(true);
    m_errNotifier->setEnabled(true);
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
    delete m_outNotifier;
    delete m_errNotifier;
    m_outNotifier = m_errNotifier = nullptr;
    for (int *fd : {&m_out, &m_err}) {
        if (*fd >= 0)
            ::close(*fd);
        *fd = -1;
    }
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

template<typename ReadSome>
void ChildProcess::readFrom(int &fd, QSocketNotifier *notifier, ReadSome readSome)
{
    if (fd < 0)
        return;
    // What is there now, in one read: the notifier fires again for what comes later. Once the
    // child has finished, everything it wrote (a grandchild may keep the pipe open: no EOF).
    for (;;) {
        int available = 0;
        if (::ioctl(fd, FIONREAD, &available) < 0 || available <= 0)
            available = 4096; // nothing, or the end: read() tells which
        ssize_t got;
        do {
            got = readSome(fd, qsizetype(available));
        } while (got < 0 && errno == EINTR);
        if (got == 0 || (got < 0 && errno != EAGAIN)) {
            notifier->setEnabled(false); // the end: the worker (and its children) closed it
            ::close(fd);
            fd = -1;
            return;
        }
        if (got < 0 || !m_finished)
            return;
    }
}

qsizetype ChildProcess::readStandardOutput(FrameDecoder *decoder)
{
    qsizetype total = 0;
    readFrom(m_out, m_outNotifier, [decoder, &total](int fd, qsizetype available) {
        const ssize_t got = decoder->readFrom(fd, available);
        total += std::max<ssize_t>(got, 0);
        return got;
    });
    return total;
}

void ChildProcess::discardStandardOutput()
{
    readFrom(m_out, m_outNotifier, [](int fd, qsizetype available) {
        char buffer[65536];
        return ::read(fd, buffer, size_t(std::min<qsizetype>(available, sizeof buffer)));
    });
}

QByteArray ChildProcess::readAvailableStandardError()
{
    // One read() where there is a line or two, as there is before most answers (the call's
    // marker line); the rest, if any, as readFrom() reads it.
    QByteArray out;
    if (m_err < 0)
        return out;
    char buffer[4096];
    ssize_t got;
    do {
        got = ::read(m_err, buffer, sizeof buffer);
    } while (got < 0 && errno == EINTR);
    if (got <= 0)
        return out; // nothing (EAGAIN) or the end, which the notifier reports in turn
    out = QByteArray(buffer, got);
    if (size_t(got) == sizeof buffer)
        out += readAllStandardError();
    return out;
}

QByteArray ChildProcess::readAllStandardError()
{
    QByteArray out;
    readFrom(m_err, m_errNotifier, [&out](int fd, qsizetype available) {
        const qsizetype old = out.size();
        out.resize(old + available);
        const ssize_t got = ::read(fd, out.data() + old, size_t(available));
        out.resize(old + std::max<ssize_t>(got, 0));
        return got;
    });
    return out;
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
