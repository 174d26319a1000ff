// An application that uses procpool as any would: its own executable, its own tasks, pools in
// two namespaces. tst_attach attaches to it from outside, through its inspection socket.
//
//   attach_app PREFIX   starts namespace "alpha" (2 workers, PREFIX-N) and "beta" (1 worker,
//                       accepting only task type "batch"), and with ATTACH_APP_LAUNCHER set
//                       "gamma": one worker on host "x" reached by that launcher ("sh -c");
//                       prints "ready PID SOCKET" on stdout, and exits when stdin closes.
#include <procpool/procpool.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QSocketNotifier>
#include <QtCore/QThread>

#include <cstdio>
#include <stdexcept>
#include <unistd.h>

namespace {
const procpool::Task<int(int)> square{"app.square", "Squares an integer", [](int x) { return x * x; }};
const procpool::Task<QString(QString, QString)> join{
    "app.join", [](const QString &a, const QString &b) { return a + u'+' + b; }};
const procpool::Task<int(int)> nap{"app.nap", [](int ms) {
                                       QThread::msleep(ulong(ms));
                                       return ms;
                                   }};
//! A nested argument: the monitor edits it as JSON.
const procpool::Task<int(QVariantList)> sum{"app.sum", [](const QVariantList &values) {
                                                int total = 0;
                                                for (const QVariant &v : values)
                                                    total += v.toInt();
                                                return total;
                                            }};
const procpool::Task<int(int)> shout{"app.shout", [](int lines) {
                                         for (int i = 0; i < lines; ++i)
                                             std::fprintf(stderr, "shout %d\n", i);
                                         return lines;
                                     }};
//! Fails every time, with its text: retries show their attempts' errors.
const procpool::Task<int(QString)> fail{"app.fail", [](const QString &text) -> int {
                                            throw std::runtime_error(text.toStdString());
                                        }};
} // namespace

int main(int argc, char **argv)
{
    procpool::workerMain(argc, argv);
    QCoreApplication app(argc, argv);
    const QString prefix = app.arguments().value(1, QStringLiteral("attach"));
    procpool::PoolOptions alpha;
    alpha.maxWorkers = 2;
    alpha.minWorkers = 2;
    alpha.processNamePrefix = prefix;
    procpool::getOrCreateProcessManager(QStringLiteral("alpha"))->start(alpha);
    procpool::PoolOptions beta;
    beta.maxWorkers = 1;
    beta.taskType = QStringLiteral("batch");
    beta.processNamePrefix = prefix + QStringLiteral("b");
    beta.softMemoryLimit = qint64(256) << 20; // far above what its tasks use: shown, never reached
    beta.hardMemoryLimit = qint64(1) << 30;
    procpool::getOrCreateProcessManager(QStringLiteral("beta"))->start(beta);
    if (const QString launcher = qEnvironmentVariable("ATTACH_APP_LAUNCHER"); !launcher.isEmpty()) {
        procpool::PoolOptions gamma;
        gamma.hosts = {procpool::WorkerHost{QStringLiteral("x"), 1, procpool::Launcher::parse(launcher), QString()}};
        gamma.minWorkers = 1;
        gamma.processNamePrefix = prefix + QStringLiteral("g");
        procpool::getOrCreateProcessManager(QStringLiteral("gamma"))->start(gamma);
    }

    QSocketNotifier input(STDIN_FILENO, QSocketNotifier::Read);
    QObject::connect(&input, &QSocketNotifier::activated, &app, [&] {
        char byte;
        if (::read(STDIN_FILENO, &byte, 1) <= 0)
            app.quit();
    });
    std::printf("ready %lld %s\n", static_cast<long long>(::getpid()),
                qPrintable(procpool::inspectionListeningPath()));
    std::fflush(stdout);
    return app.exec();
}
