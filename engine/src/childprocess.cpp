#include "childprocess_p.h"

#include "descriptors_p.h"
#include "forkserver_p.h"
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

namespace {

//! The fork servers of this engine thread (touched on that thread only). Never destroyed at
//! exit: objects of the engine thread must not be deleted from another one; Engine::shutdown()
//! closes them on their thread, and without it the servers die with the thread.
std::vector<std::unique_ptr<ForkServer>> &servers()
{
    static auto *list = new std::vector<std::unique_ptr<ForkServer>>;
    return *list;
}

QStringList sortedEnvironment(const QProcessEnvironment &environment)
{
    QStringList entries = environment.toStringList();
    entries.sort();
    return entries;
}

} // namespace

// ---- ChildProcess ----------------------------------------------------------------------

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

// ---- ForkServer ------------------------------------------------------------------------

ForkServer *ForkServer::forSetup(const ChildProcess::Setup &setup)
{
    auto &list = servers();
    // Most recently used first: a program that changes its environment between pools gets a
    // server for each environment, and only the last few of those are kept.
    for (auto it = list.begin(); it != list.end(); ++it) {
        if ((*it)->matches(setup)) {
            std::rotate(list.begin(), it, it + 1);
            return list.front()->m_state == State::Unusable ? nullptr : list.front().get();
        }
    }
    list.push_back(std::unique_ptr<ForkServer>(new ForkServer(setup)));
    std::rotate(list.begin(), list.end() - 1, list.end());
    ForkServer *server = list.front().get();
    server->start();
    // Beyond the most recent few, servers without workers go (those with workers stay: their
    // exit reports, and the lives of their daemon workers, depend on them).
    qsizetype kept = 0;
    std::erase_if(list, [&kept](const std::unique_ptr<ForkServer> &s) {
        return ++kept > maxKeptForkServers && !s->hasChildren();
    });
    return server->m_state == State::Unusable ? nullptr : server;
}

bool ForkServer::hasChildren() const
{
    auto alive = [](const QPointer<ChildProcess> &c) { return !c.isNull(); };
    return std::any_of(m_waiting.begin(), m_waiting.end(), alive)
           || std::any_of(m_requested.begin(), m_requested.end(), alive)
           || std::any_of(m_running.begin(), m_running.end(), alive);
}

void ForkServer::closeAll()
{
    servers().clear();
}

bool ForkServer::isCrashSignal(int signal)
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

ForkServer::ForkServer(const ChildProcess::Setup &setup)
    : m_program(setup.program)
    , m_arguments(setup.arguments)
    , m_workingDirectory(setup.workingDirectory)
    , m_environment(sortedEnvironment(setup.environment))
{
    m_helloTimer.setSingleShot(true);
    m_helloTimer.setInterval(setup.serverHandshakeMs);
    connect(&m_helloTimer, &QTimer::timeout, this, &ForkServer::unusable);
}

ForkServer::~ForkServer()
{
    if (m_control >= 0)
        ::close(m_control); // the server exits when it sees the hang-up
    if (m_process) {
        QObject::disconnect(m_process, nullptr, this, nullptr);
        if (m_process->state() != QProcess::NotRunning && !m_process->waitForFinished(1000))
            m_process->kill(); // and ~QProcess waits
    }
    abandonChildren();
}

void ForkServer::abandonChildren()
{
    // Not forked yet: they failed to start. Forked: their pidfds will tell when they end.
    for (const auto &child : std::exchange(m_waiting, {}))
        if (child)
            child->serverGone(true);
    for (const auto &child : std::exchange(m_requested, {}))
        if (child)
            child->serverGone(true);
    for (const auto &child : std::exchange(m_running, {}))
        if (child)
            child->serverGone(false);
}

bool ForkServer::matches(const ChildProcess::Setup &setup) const
{
    return m_program == setup.program && m_arguments == setup.arguments
           && m_workingDirectory == setup.workingDirectory
           && m_environment == sortedEnvironment(setup.environment);
}

void ForkServer::start()
{
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        m_state = State::Unusable;
        return;
    }
    m_control = pair[0];
    const int serverEnd = pair[1];
    m_process = new QProcess(this);
    m_process->setProgram(m_program);
    m_process->setArguments(m_arguments);
    if (!m_workingDirectory.isEmpty())
        m_process->setWorkingDirectory(m_workingDirectory);
    QProcessEnvironment env;
    for (const QString &entry : std::as_const(m_environment)) {
        const qsizetype equals = entry.indexOf(QLatin1Char('='));
        env.insert(entry.left(equals), entry.mid(equals + 1));
    }
    env.insert(QStringLiteral("PROCPOOL_FORK_SERVER"), QString::number(serverEnd));
    m_process->setProcessEnvironment(env);
    m_process->setStandardInputFile(QProcess::nullDevice());
    m_process->setStandardOutputFile(QProcess::nullDevice());
    m_process->setProcessChannelMode(QProcess::ForwardedErrorChannel);
    const pid_t parent = ::getpid();
    m_process->setChildProcessModifier([serverEnd, parent] {
        // Between fork and exec: async-signal-safe calls only. The server keeps its end of the
        // socket and nothing of the application's: whatever it holds, its workers would too.
        const int inherited[] = {serverEnd};
        if (!inheritOnly(inherited, int(std::size(inherited))))
            ::_exit(126);
        ::setpgid(0, 0);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL); // it must never outlive the engine thread
        if (::getppid() != parent)
            ::_exit(127);
    });
    connect(m_process, &QProcess::errorOccurred, this, [this](QProcess::ProcessError error) {
        if (error == QProcess::FailedToStart)
            unusable();
    });
    connect(m_process, &QProcess::finished, this, &ForkServer::serverFinished);
    m_process->start(QIODevice::ReadOnly);
    ::close(serverEnd);
    if (m_state == State::Unusable)
        return;
    m_notifier = new QSocketNotifier(m_control, QSocketNotifier::Read, this);
    connect(m_notifier, &QSocketNotifier::activated, this, &ForkServer::readMessages);
    m_helloTimer.start();
}

void ForkServer::spawn(ChildProcess *child)
{
    // Our ends of its output are read from the moment it is forked; theirs go to the server.
    if (m_state == State::Ready)
        send(child);
    else
        m_waiting.emplace_back(child);
}

void ForkServer::forget(ChildProcess *child)
{
    std::erase(m_waiting, QPointer<ChildProcess>(child));
    for (auto *map : {&m_requested, &m_running}) {
        for (auto it = map->begin(); it != map->end(); ++it) {
            if (it.value() == child)
                it.value() = nullptr; // its answer still comes; it then goes nowhere
        }
    }
}

void ForkServer::send(ChildProcess *child)
{
    const ChildProcess::Setup &s = child->m_setup;
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) {
        child->forkFailed();
        return;
    }
    if (::pipe2(err, O_CLOEXEC) != 0) {
        ::close(out[0]);
        ::close(out[1]);
        child->forkFailed();
        return;
    }
    for (const int fd : {out[0], err[0]})
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    child->m_out = out[0];
    child->m_err = err[0];
    child->m_outNotifier = new QSocketNotifier(out[0], QSocketNotifier::Read, child);
    child->m_errNotifier = new QSocketNotifier(err[0], QSocketNotifier::Read, child);
    child->m_outNotifier->setEnabled(false); // until it has a pid
    child->m_errNotifier->setEnabled(false);
    connect(child->m_outNotifier, &QSocketNotifier::activated, child,
            &ChildProcess::readyReadStandardOutput);
    connect(child->m_errNotifier, &QSocketNotifier::activated, child,
            &ChildProcess::readyReadStandardError);

    const quint32 id = m_nextId++;
    QByteArray message(sizeof(ForkMessage), Qt::Uninitialized);
    const ForkMessage header{ForkMessage::Spawn, id, 0, s.daemon ? forkSpawnDaemon : 0};
    std::memcpy(message.data(), &header, sizeof header);
    for (const auto &[name, value] : s.workerEnvironment) {
        message += name;
        message += '=';
        message += value;
        message += '\0';
    }
    int fds[forkMessageMaxFds] = {s.input, out[1], err[1], s.rings[0], s.rings[1]};
    const int fdCount = s.rings[0] >= 0 ? 5 : 3;
    iovec iov{message.data(), size_t(message.size())};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * forkMessageMaxFds)];
    msg.msg_control = cbuf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fdCount);
    cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fdCount);
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * fdCount);
    ssize_t sent;
    do {
        sent = ::sendmsg(m_control, &msg, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    ::close(out[1]);
    ::close(err[1]);
    if (sent < 0) {
        // The server is gone; its finished() follows. This worker is started by exec.
        child->forkFailed();
        return;
    }
    m_requested.insert(id, child);
}

void ForkServer::readMessages()
{
    for (;;) {
        ForkMessage m;
        iovec iov{&m, sizeof m};
        alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof cbuf;
        const ssize_t got = ::recvmsg(m_control, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return; // EAGAIN: all read
        int fd = -1;
        if (cmsghdr *c = CMSG_FIRSTHDR(&msg);
            c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
        if (got == 0) { // hang-up: the server exited; serverFinished() handles it
            m_notifier->setEnabled(false);
            return;
        }
        if (size_t(got) != sizeof m) {
            if (fd >= 0)
                ::close(fd);
            continue; // not ours: ignore
        }
        switch (m.kind) {
        case ForkMessage::Hello:
            if (m_state != State::Starting)
                break;
            if (m.value != protocolVersion) { // another build of the program: exec it
                unusable();
                return;
            }
            m_helloTimer.stop();
            m_state = State::Ready;
            for (const auto &child : std::exchange(m_waiting, {}))
                if (child)
                    send(child);
            break;
        case ForkMessage::Spawned: {
            const QPointer<ChildProcess> child = m_requested.take(m.id);
            if (!child) { // given up on meanwhile
                if (fd >= 0) {
                    ::syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
                    ::close(fd);
                }
                break;
            }
            m_running.insert(m.id, child);
            child->forked(m.value, fd);
            break;
        }
        case ForkMessage::SpawnFailed:
            if (const QPointer<ChildProcess> child = m_requested.take(m.id))
                child->forkFailed();
            break;
        case ForkMessage::Exited:
            if (const QPointer<ChildProcess> child = m_running.take(m.id))
                child->exited(int(m.status));
            break;
        default:
            if (fd >= 0)
                ::close(fd);
        }
    }
}

void ForkServer::unusable()
{
    // The program does not answer as a fork server (it is not a procpool program, or another
    // build of one, or it never got as far): its workers are started by exec from now on.
    // Only ever while Starting: once it said hello it is Ready, and a Ready server that
    // exits is Gone instead (serverFinished()).
    if (m_state != State::Starting)
        return;
    m_state = State::Unusable;
    m_helloTimer.stop();
    if (m_notifier)
        m_notifier->setEnabled(false);
    if (m_process) {
        QObject::disconnect(m_process, nullptr, this, nullptr);
        m_process->kill();
        m_process->deleteLater();
        m_process = nullptr;
    }
    for (const auto &child : std::exchange(m_waiting, {}))
        if (child)
            child->startExec();
}

void ForkServer::serverFinished(int exitCode, QProcess::ExitStatus status)
{
    // Before its hello: a program that exits or crashes there is not a fork server (exec it);
    // one killed from outside (a user, the OOM killer) is, and the next worker tries again.
    if (m_state == State::Starting
        && (status == QProcess::NormalExit || isCrashSignal(exitCode))) {
        unusable();
        return;
    }
    readMessages(); // what it said before it went
    m_state = State::Gone;
    // Off the list first: the children told below may ask for a server again at once.
    auto &list = servers();
    for (auto it = list.begin(); it != list.end(); ++it) {
        if (it->get() == this) {
            it->release();
            list.erase(it);
            break;
        }
    }
    abandonChildren();
    deleteLater();
}

} // namespace procpool::detail
