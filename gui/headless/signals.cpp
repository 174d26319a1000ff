#include "signals.h"

#include <QtCore/QSocketNotifier>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <unistd.h>

namespace procpool::headless {
namespace {

volatile sig_atomic_t writeFd = -1;
struct sigaction previousInt, previousTerm;

extern "C" void onSignal(int signal)
{
    const int saved = errno;
    const unsigned char byte = static_cast<unsigned char>(signal);
    if (writeFd >= 0) {
        [[maybe_unused]] const ssize_t n = ::write(writeFd, &byte, 1); // full pipe: dropped
    }
    errno = saved;
}

} // namespace

SignalWatcher::SignalWatcher(QObject *parent) : QObject(parent)
{
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        std::perror("procpool: cannot create the signal pipe; Ctrl-C will end the program "
                    "without a summary");
        return;
    }
    m_readFd = fds[0];
    writeFd = fds[1];
    m_notifier = new QSocketNotifier(m_readFd, QSocketNotifier::Read, this);
    connect(m_notifier, &QSocketNotifier::activated, this, &SignalWatcher::drain);

    struct sigaction action = {};
    action.sa_handler = onSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    ::sigaction(SIGINT, &action, &previousInt);
    ::sigaction(SIGTERM, &action, &previousTerm);
}

SignalWatcher::~SignalWatcher()
{
    if (m_readFd < 0)
        return;
    ::sigaction(SIGINT, &previousInt, nullptr);
    ::sigaction(SIGTERM, &previousTerm, nullptr);
    const int fd = writeFd;
    writeFd = -1;
    ::close(fd);
    ::close(m_readFd);
}

void SignalWatcher::drain()
{
    unsigned char bytes[16];
    for (;;) {
        const ssize_t n = ::read(m_readFd, bytes, sizeof bytes);
        if (n <= 0)
            return; // EAGAIN: drained
        for (ssize_t i = 0; i < n; ++i)
            Q_EMIT signalled(int(bytes[i]));
    }
}

} // namespace procpool::headless
