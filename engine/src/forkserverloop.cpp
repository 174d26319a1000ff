// procpool — the fork server's loop (the server side of forkprotocol_p.h).
//
// The server is single-threaded and has run nothing but the program's static initialisers and
// workerMain()'s first lines, so a fork() of it is as clean as a fresh exec. It waits on its
// control socket and on one pidfd per living child, reaps each child the moment it exits and
// reports the wait status, since only a parent can learn it.
#include "forkprotocol_p.h"

#include "descriptors_p.h"
#include "frame_p.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <poll.h>
#include <string>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace procpool::detail {
namespace {

struct Child
{
    pid_t pid;
    int pidfd;
    quint32 id;
};

void sendMessage(int control, const ForkMessage &m, int fd = -1)
{
    iovec iov{const_cast<ForkMessage *>(&m), sizeof m};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
    if (fd >= 0) {
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof cbuf;
        cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    while (::sendmsg(control, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
    // Another failure means the pool is gone: the next poll() sees the hang-up.
}

[[noreturn]] void serverExit()
{
    // Children keep running: daemon ones die with us (PR_SET_PDEATHSIG), the others finish
    // their work and exit when the pool closes their input.
    std::_Exit(0);
}

} // namespace

void runForkServer(int control)
{
    const pid_t self = ::getpid();
    ::prctl(PR_SET_NAME, "procpool-fork", 0, 0, 0);
    std::signal(SIGPIPE, SIG_IGN);
    // An application that ignores SIGCHLD passes that on through exec; then the kernel would
    // reap our children itself and their exit status would be lost.
    std::signal(SIGCHLD, SIG_DFL);
    sendMessage(control, ForkMessage{ForkMessage::Hello, 0, protocolVersion, qint64(self)});

    std::vector<Child> children;
    std::vector<pollfd> polled;
    for (;;) {
        polled.assign(1, pollfd{control, POLLIN, 0});
        for (const Child &c : children)
            polled.push_back(pollfd{c.pidfd, POLLIN, 0});
        if (::poll(polled.data(), nfds_t(polled.size()), -1) < 0) {
            if (errno == EINTR)
                continue;
            serverExit();
        }

        // Children that ended: reap each (only its parent can) and tell the pool how it ended.
        for (size_t i = polled.size(); i-- > 1;) {
            if (polled[i].revents == 0)
                continue;
            Child &c = children[i - 1];
            int status = 0;
            const pid_t got = ::waitpid(c.pid, &status, WNOHANG);
            if (got == 0)
                continue;
            if (got == c.pid)
                sendMessage(control, ForkMessage{ForkMessage::Exited, c.id, c.pid, status});
            ::close(c.pidfd);
            children.erase(children.begin() + qsizetype(i - 1));
        }

        const short events = polled[0].revents;
        if (events == 0)
            continue;
        if (!(events & POLLIN))
            serverExit(); // hang-up: the pool closed its end or died

        char buffer[forkMessageMax];
        iovec iov{buffer, sizeof buffer};
        alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * forkMessageMaxFds)];
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof cbuf;
        const ssize_t got = ::recvmsg(control, &msg, MSG_CMSG_CLOEXEC);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            serverExit();
        int fds[forkMessageMaxFds];
        int fdCount = 0;
        for (cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            const int n = int((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int k = 0; k < n; ++k) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof fd);
                if (fdCount < forkMessageMaxFds)
                    fds[fdCount++] = fd;
                else
                    ::close(fd);
            }
        }
        auto closeReceived = [&] {
            for (int k = 0; k < fdCount; ++k)
                ::close(fds[k]);
        };
        ForkMessage request;
        if (size_t(got) < sizeof request || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
            || (fdCount != 3 && fdCount != 5)) {
            closeReceived();
            std::memcpy(&request, buffer, std::min(size_t(got), sizeof request));
            sendMessage(control, ForkMessage{ForkMessage::SpawnFailed, request.id, EINVAL, 0});
            continue;
        }
        std::memcpy(&request, buffer, sizeof request);
        if (request.kind != ForkMessage::Spawn) {
            closeReceived();
            sendMessage(control, ForkMessage{ForkMessage::SpawnFailed, request.id, EINVAL, 0});
            continue;
        }

        const pid_t pid = ::fork();
        if (pid == 0) {
            // The new worker holds what the pool sent for it and nothing else: standard input,
            // output and error become 0, 1 and 2, its rings 3 and 4, and every other
            // descriptor goes (the control socket, the pidfds of the other workers, anything
            // the server started with). No exec follows that would close them.
            if (!keepOnly(fds, fdCount))
                std::_Exit(126);
            ::setpgid(0, 0); // a terminal's Ctrl-C goes to the application, not to its workers
            if (request.status & forkSpawnDaemon) {
                ::prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (::getppid() != self)
                    std::_Exit(127); // the server died before PDEATHSIG was armed
            }
            // The environment entries follow the header, each ending in NUL.
            const char *p = buffer + sizeof request;
            const char *end = buffer + got;
            while (p < end) {
                const char *nul = static_cast<const char *>(std::memchr(p, 0, size_t(end - p)));
                if (!nul)
                    break;
                const char *equals = static_cast<const char *>(std::memchr(p, '=', size_t(nul - p)));
                if (equals && equals > p)
                    ::setenv(std::string(p, equals).c_str(), equals + 1, 1);
                p = nul + 1;
            }
            static std::string parent, rings;
            parent = std::to_string(self);
            ::setenv("PROCPOOL_PARENT_PID", parent.c_str(), 1);
            if (fdCount == 5) {
                rings = std::to_string(fds[3]) + ',' + std::to_string(fds[4]);
                ::setenv("PROCPOOL_SHM", rings.c_str(), 1);
            }
            return;
        }
        const int forkError = errno;
        closeReceived();
        if (pid < 0) {
            sendMessage(control, ForkMessage{ForkMessage::SpawnFailed, request.id, forkError, 0});
            continue;
        }
        const int pidfd = int(::syscall(SYS_pidfd_open, pid, 0));
        if (pidfd < 0) {
            // Without a pidfd the pool could neither signal the worker safely nor see its exit.
            const int error = errno;
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
            sendMessage(control, ForkMessage{ForkMessage::SpawnFailed, request.id, error, 0});
            continue;
        }
        sendMessage(control, ForkMessage{ForkMessage::Spawned, request.id, pid, 0}, pidfd);
        children.push_back(Child{pid, pidfd, request.id});
    }
}

} // namespace procpool::detail
