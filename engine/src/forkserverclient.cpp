#include "forkserverclient_p.h"

#include "descriptors_p.h"
#include "forkprotocol_p.h"
#include "frame_p.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
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
    int output[2];
    if (!child->openOutputPipes(output)) {
        child->forkFailed(); // exec reports what is short
        return;
    }

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
    int fds[forkMessageMaxFds] = {s.input, output[0], output[1], s.rings[0], s.rings[1]};
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
    ::close(output[0]);
    ::close(output[1]);
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
