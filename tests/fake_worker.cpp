// A worker program for tst_faults (PoolOptions::startContext.program). It writes one
// well-formed Hello frame, built with the engine's own encoder, that announces the protocol
// version given as its first argument (default 99: a handshake gone wrong), then waits until
// the pool closes its input or kills it. With "exit-when-sent" as its second argument it
// exits with code 3 instead as soon as something waits in its input, without reading any of
// it: a worker that dies the moment a task is handed to it.
#include "frame_p.h"

#include <QtCore/QCborArray>
#include <QtCore/QCborMap>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <poll.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    ::prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the pool that started us
    const int version = argc > 1 ? std::atoi(argv[1]) : 99;
    const QCborMap hello{{QStringLiteral("protocol"), version},
                         {QStringLiteral("pid"), qint64(::getpid())},
                         {QStringLiteral("name"), QString::fromLocal8Bit(qgetenv("PROCPOOL_WORKER_NAME"))},
                         {QStringLiteral("tasks"), QCborArray()}};
    const QByteArray frame = procpool::detail::encodeFrame(procpool::detail::FrameType::Hello, 0,
                                                           hello.toCborValue().toCbor());
    const char *data = frame.constData();
    qsizetype left = frame.size();
    while (left > 0) {
        const ssize_t written = ::write(STDOUT_FILENO, data, size_t(left));
        if (written <= 0)
            return 1;
        data += written;
        left -= written;
    }
    if (argc > 2 && std::strcmp(argv[2], "exit-when-sent") == 0) {
        pollfd input{STDIN_FILENO, POLLIN, 0};
        while (::poll(&input, 1, -1) < 0) {
        }
        return 3;
    }
    char buffer[4096];
    while (::read(STDIN_FILENO, buffer, sizeof buffer) > 0) {
    }
    return 0;
}
