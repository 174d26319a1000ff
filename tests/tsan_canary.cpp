// Built for `make test-tsan` only: proof that ThreadSanitizer sees the engine thread.
//
// The threaded suites passing under TSan means something only if TSan can see what the engine
// thread does after it has started a worker (see tsan_vfork.c: it could not). Here the engine
// thread writes a plain variable in a directly connected slot and the main thread reads it,
// ordered by nothing TSan recognises. The test passes when TSan reports that race (on
// loggedPid). Without tsan_vfork.c preloaded it is not reported, and TSan reports instead a race
// that is not there, on a worker's hand-off list, which only code holding the pool's m_mutex
// touches.
#include <procpool/procpool.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QFile>
#include <QtCore/QTemporaryDir>
#include <QtCore/QThread>

#include <atomic>
#include <cstdio>
#include <thread>

namespace {

qint64 loggedPid = 0;            // written on the engine thread, read on the main thread
std::atomic<bool> logged{false}; // relaxed on purpose: no happens-before

// Prints only once the gate file exists, so that the engine thread's write happens after
// everything the main thread does to submit (which synchronises with the engine thread).
const procpool::Task<int(QString)> gatedPrint{"canary.gatedPrint", [](const QString &gate) {
                                                  while (!QFile::exists(gate))
                                                      QThread::msleep(1);
                                                  std::fprintf(stderr, "canary\n");
                                                  return 0;
                                              }};

} // namespace

int main(int argc, char **argv)
{
    procpool::workerMain(argc, argv);
    QCoreApplication app(argc, argv);
    QTemporaryDir dir;
    const QString gate = dir.filePath(QStringLiteral("gate"));
    procpool::ProcessPoolManager *m = procpool::getOrCreateProcessManager(QStringLiteral("canary"));
    QObject::connect(
        m, &procpool::ProcessPoolManager::workerLog, m,
        [](qint64 pid, const QString &line) {
            if (line != QLatin1String("canary"))
                return;
            loggedPid = pid;
            logged.store(true, std::memory_order_relaxed);
        },
        Qt::DirectConnection);
    m->start(1);
    QFuture<int> f = m->submitTask(gatedPrint, gate);
    QFile(gate).open(QIODevice::WriteOnly); // the worker prints now
    while (!logged.load(std::memory_order_relaxed))
        std::this_thread::yield(); // (not a Qt sleep: an interceptor entered from Qt hides it)
    std::printf("a worker logged: %lld\n", static_cast<long long>(loggedPid));
    f.waitForFinished(); // only now: waiting on a future synchronises inside Qt
    m->stop();
    return 0;
}
