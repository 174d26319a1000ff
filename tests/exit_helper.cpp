// exit_helper — a small procpool application that tst_exit starts and ends in various ways, to
// check what happens to a pool's workers when the application that owns them exits.
//
//     exit_helper MODE DIR [PREFIX]
//
// Every task writes DIR/pid-I (its worker's pid) when it starts, sleeps, then creates DIR/done-I.
// Workers are named PREFIX-N (default "exit-helper"), which is how the test recognises them.
//
//   nondaemon          QCoreApplication; non-daemon pool of 2; 6 tasks of 300 ms; return from
//                      main() at once: the engine's post routine must run all 6 before the exit.
//   noapp-nondaemon    the same without ever creating a QCoreApplication. If start() refuses to
//                      run a pool without an application object, exits with code 4.
//   second-app-nondaemon  like nondaemon, after a first QCoreApplication ran a pool and was
//                      destroyed: the second application's exit must drain the pool too.
//   exit-nondaemon     like nondaemon, but leaves through std::exit(0) while the application
//                      object is still alive: no post routine runs, only static destructors.
//   daemon             daemon pool of 2; 6 tasks that wait for DIR/release, which the test
//                      never creates; wait until 2 tasks run (pid files), then return from
//                      main(): the workers must be killed at exit, the tasks never end.
//   sigkill-daemon     like daemon, but then write DIR/helper.pid and block until killed.
//   sigkill-nondaemon  non-daemon pool of 2; 4 tasks of 1 s; wait until 2 run, write
//                      DIR/helper.pid and block until killed.
//   sigkill-timelimit  non-daemon pool of 1; 1 task of 10 minutes with a time limit of 5 s;
//                      wait until it runs, write DIR/helper.pid and block until killed.
//   sigkill-prefetched non-daemon pool of 1 with prefetch 1; 2 tasks without time limit that
//                      each wait for DIR/release after writing their pid file (and report
//                      progress before they create their done file); wait until the
//                      first runs and the second is handed to the same worker, write
//                      DIR/helper.pid and block until killed.
//
// METHOD (after PREFIX) is "forkserver" (the default) or "exec": how the workers start.
//
// Exit codes: 0 done, 2 usage error, 3 something went wrong (printed on stderr), 4 start()
// refused to run a pool without a QCoreApplication (noapp-nondaemon only).
#include <procpool/procpool.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QFuture>
#include <QtCore/QList>
#include <QtCore/QRegularExpression>
#include <QtCore/QSaveFile>
#include <QtCore/QThread>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <unistd.h>

namespace {

bool writeFileAtomically(const QString &path, const QByteArray &content)
{
    QSaveFile file(path); // readers never see a half-written pid
    return file.open(QIODevice::WriteOnly) && file.write(content) == content.size()
           && file.commit();
}

const procpool::Task<int(QString, int, int)> announceSleepTouch{
    "announceSleepTouch", [](const QString &dir, int index, int ms) {
        const QDir d(dir);
        if (!writeFileAtomically(d.filePath(QStringLiteral("pid-%1").arg(index)),
                                 QByteArray::number(qint64(::getpid()))))
            throw std::runtime_error("cannot write the pid file");
        QThread::msleep(ulong(ms));
        if (!writeFileAtomically(d.filePath(QStringLiteral("done-%1").arg(index)),
                                 QByteArrayLiteral("done")))
            throw std::runtime_error("cannot write the done file");
        return index;
    }};

// Like announceSleepTouch, but holds until the test creates DIR/release instead of sleeping,
// and reports progress before it goes on.
const procpool::Task<int(QString, int)> announceWaitTouch{
    "announceWaitTouch", [](const QString &dir, int index) {
        const QDir d(dir);
        if (!writeFileAtomically(d.filePath(QStringLiteral("pid-%1").arg(index)),
                                 QByteArray::number(qint64(::getpid()))))
            throw std::runtime_error("cannot write the pid file");
        while (!QFile::exists(d.filePath(QStringLiteral("release"))))
            QThread::msleep(10);
        procpool::reportProgress(1, 2, QStringLiteral("released"));
        if (!writeFileAtomically(d.filePath(QStringLiteral("done-%1").arg(index)),
                                 QByteArrayLiteral("done")))
            throw std::runtime_error("cannot write the done file");
        return index;
    }};

//! Number of pid-I files in \a dir (QSaveFile's temporary files do not count).
qsizetype countPidFiles(const QString &dir)
{
    static const QRegularExpression pidFile(QStringLiteral("^pid-\\d+$"));
    return QDir(dir).entryList(QDir::Files).filter(pidFile).size();
}

//! Polls \a dir until \a count tasks have started; false after a (very generous) deadline.
bool waitForRunningTasks(const QString &dir, qsizetype count)
{
    const QDeadlineTimer deadline(std::chrono::minutes(2));
    while (countPidFiles(dir) < count) {
        if (deadline.hasExpired())
            return false;
        QThread::msleep(10);
    }
    return true;
}

struct Mode
{
    bool application = true;
    bool daemon = false;
    int workers = 2;
    int prefetch = procpool::PoolOptions::automaticPrefetch;
    int tasks = 6;
    int taskMs = 300;
    std::chrono::milliseconds timeout{-1}; //!< SubmitOptions::timeout of each task
    bool waitForRelease = false; //!< the tasks wait for DIR/release instead of sleeping
    bool waitUntilAllHandedOut = false; //!< and the worker holds every task before going on
    qsizetype waitForRunning = 0; //!< tasks that must have started before going on
    bool blockUntilKilled = false;
    bool exitWithApplicationAlive = false; //!< std::exit() instead of returning from main()
    bool secondApplication = false; //!< use a pool under one app, destroy it, then use a new app
};

std::optional<Mode> parseMode(const QByteArray &name)
{
    Mode m;
    if (name == "nondaemon")
        return m;
    if (name == "noapp-nondaemon") {
        m.application = false;
        return m;
    }
    if (name == "second-app-nondaemon") {
        m.secondApplication = true;
        return m;
    }
    if (name == "exit-nondaemon") {
        m.exitWithApplicationAlive = true;
        return m;
    }
    if (name == "daemon" || name == "sigkill-daemon") {
        m.daemon = true;
        m.waitForRelease = true; // never given: only a kill ends these tasks
        m.waitForRunning = 2;
        m.blockUntilKilled = name == "sigkill-daemon";
        return m;
    }
    if (name == "sigkill-nondaemon") {
        m.tasks = 4; // two running, two prefetched: those must not run once the helper is gone
        m.taskMs = 1000;
        m.waitForRunning = 2;
        m.blockUntilKilled = true;
        return m;
    }
    if (name == "sigkill-timelimit") {
        m.workers = 1;
        m.tasks = 1;
        m.taskMs = 10 * 60 * 1000; // ends only through its time limit
        m.timeout = std::chrono::seconds(5);
        m.waitForRunning = 1;
        m.blockUntilKilled = true;
        return m;
    }
    if (name == "sigkill-prefetched") {
        m.workers = 1;
        m.prefetch = 1;
        m.tasks = 2; // one running, one prefetched behind it in the same worker
        m.timeout = std::chrono::milliseconds(0);
        m.waitForRelease = true;
        m.waitForRunning = 1;
        m.waitUntilAllHandedOut = true;
        m.blockUntilKilled = true;
        return m;
    }
    return std::nullopt;
}

} // namespace

int main(int argc, char **argv)
{
    procpool::workerMain(argc, argv); // returns at once unless started as a pool worker

    const std::optional<Mode> mode = argc >= 3 ? parseMode(QByteArray(argv[1])) : std::nullopt;
    const QByteArray method = argc >= 5 ? QByteArray(argv[4]) : QByteArrayLiteral("forkserver");
    if (!mode || (method != "forkserver" && method != "exec")) {
        std::fprintf(stderr,
                     "usage: exit_helper nondaemon|noapp-nondaemon|second-app-nondaemon|exit-nondaemon|daemon|"
                     "sigkill-daemon|sigkill-nondaemon|sigkill-timelimit|sigkill-prefetched DIR "
                     "[PREFIX [forkserver|exec]]\n");
        return 2;
    }
    const QString dir = QString::fromLocal8Bit(argv[2]);
    const QString prefix = argc >= 4 ? QString::fromLocal8Bit(argv[3])
                                     : QStringLiteral("exit-helper");

    if (mode->secondApplication) {
        // A first application object runs a pool and goes away; the exit of the second one
        // must drain the next pool just the same.
        QCoreApplication first(argc, argv);
        procpool::ProcessPoolManager *early =
            procpool::getOrCreateProcessManager(QStringLiteral("first"));
        early->start(1, QString(), false, prefix);
        early->submitTask(announceSleepTouch, dir, 100, 0).waitForFinished();
    }

    std::optional<QCoreApplication> app;
    if (mode->application)
        app.emplace(argc, argv);

    try {
        procpool::ProcessPoolManager *manager =
            procpool::getOrCreateProcessManager(QStringLiteral("exit"));
        procpool::PoolOptions options;
        options.maxWorkers = mode->workers;
        options.daemon = mode->daemon;
        options.processNamePrefix = prefix;
        options.prefetch = mode->prefetch;
        options.startContext.method =
            method == "exec" ? procpool::StartMethod::Exec : procpool::StartMethod::ForkServer;
        try {
            manager->start(options);
        } catch (const std::logic_error &e) {
            if (mode->application)
                throw;
            std::fprintf(stderr, "exit_helper: start() refused: %s\n", e.what());
            return 4;
        }
        QList<QFuture<int>> futures; // never waited for: the engine's exit handling is on trial
        procpool::SubmitOptions submit;
        submit.timeout = mode->timeout;
        for (int i = 0; i < mode->tasks; ++i)
            futures.append(mode->waitForRelease
                               ? manager->submitTask(announceWaitTouch, dir, i, submit)
                               : manager->submitTask(announceSleepTouch, dir, i, mode->taskMs,
                                                     submit));

        if (mode->waitForRunning > 0 && !waitForRunningTasks(dir, mode->waitForRunning)) {
            std::fprintf(stderr, "exit_helper: the tasks did not start\n");
            return 3;
        }
        if (mode->waitUntilAllHandedOut) {
            // One worker: every task it was handed sits in its input behind the running one.
            const QDeadlineTimer deadline(std::chrono::minutes(2));
            for (;;) {
                const procpool::PoolStats stats = manager->getPool()->stats();
                if (stats.queued == 0 && stats.running == mode->tasks)
                    break;
                if (deadline.hasExpired()) {
                    std::fprintf(stderr, "exit_helper: the tasks were not handed out\n");
                    return 3;
                }
                QThread::msleep(10);
            }
        }
        if (mode->blockUntilKilled) {
            if (!writeFileAtomically(QDir(dir).filePath(QStringLiteral("helper.pid")),
                                     QByteArray::number(qint64(::getpid())))) {
                std::fprintf(stderr, "exit_helper: cannot write helper.pid\n");
                return 3;
            }
            return app ? app->exec() : 3; // never quits: the test kills us
        }
        if (mode->exitWithApplicationAlive)
            std::exit(0); // skips ~QCoreApplication (and its post routines) on purpose
    } catch (const std::exception &e) {
        std::fprintf(stderr, "exit_helper: %s\n", e.what());
        return 3;
    }
    return 0; // the application exits here, with tasks queued and running
}
