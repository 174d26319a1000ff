// Built for `make test-tsan` only: proof that ThreadSanitizer sees the engine thread.
//
// The threaded suites passing under TSan means something only if TSan can see what the engine
// thread does after it has started a worker (see tsan_vfork.c: it could not). Here the engine
// thread writes a plain variable in a directly connected slot and the main thread reads it,
// ordered by nothing TSan recognises. The test passes when TSan reports that race (on
// loggedPid). Without tsan_vfork.c preloaded it is not reported, and TSan reports instead a race
// that is not there, on a worker's hand-off list, which only code holding the pool's m_mutex
// touches.
#include "testtasks.h"

#include <procpool/procpool.h>

#include <QtCore/QCoreApplication>
#include <thread>

#include <atomic>
#include <cstdio>

namespace {
qint64 loggedPid = 0;               // written on the engine thread, read on the main thread
std::atomic<bool> logged{false};    // relaxed on purpose: no happens-before
} // namespace

int main(int argc, char **argv)
{
    procpool::workerMain(argc, argv);
    QCoreApplication app(argc, argv);
    procpool::ProcessPoolManager *m = procpool::getOrCreateProcessManager(QStringLiteral("canary"));
    m->start(1);
    m->submitTask(tasks::add, 1, 1).waitForFinished(); // the worker is up
    QObject::connect(
        m, &procpool::ProcessPoolManager::workerLog, m,
        [](qint64 pid, const QString &line) {
            if (line != QLatin1String("err:canary"))
                return;
            loggedPid = pid;
            logged.store(true, std::memory_order_relaxed);
        },
        Qt::DirectConnection);
    // Not waited for until the race is made: waiting on a future synchronises inside Qt, which
    // TSan may see, and would order the read after the write.
    QFuture<int> f = m->submitTask(tasks::printBoth, QStringLiteral("canary"));
    while (!logged.load(std::memory_order_relaxed))
        std::this_thread::yield(); // (not a Qt sleep: an interceptor entered from Qt hides it)
    std::printf("a worker logged: %lld\n", static_cast<long long>(loggedPid));
    f.waitForFinished();
    m->stop();
    return 0;
}
