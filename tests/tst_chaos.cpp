// Chaos: tasks through four workers while another thread SIGKILLs processes of the pool every
// 20 ms, for at least 20,000 tasks and at least 40 kills (however fast the machine runs them).
//
//  * workersAreKilled: a random worker that has finished its handshake (Idle or Busy);
//  * anyProcessOfThePoolIsKilled: any process below this one — fork servers, workers that are
//    still starting, idle and busy ones — the way an outside program or the OOM killer would.
//
// Each task appends its index to a run log (one O_APPEND write per run) before it answers, so
// the test knows how often it really ran, not only how often its future finished: a task with
// a result ran exactly once, one that failed ran at most once, and failures are only the
// WorkerCrashed of a worker this test killed. The kills must have hit running tasks (a number
// of WorkerCrashed), the counts must add up, nothing may hang, the pool must never break, and
// afterwards the same pool must run another 1,000 tasks without a single failure.
#include "faultsupport.h"
#include "testmain.h"
#include "testtasks.h"

#include <procpool/procpool.h>

#include <QtCore/QFutureWatcher>
#include <QtCore/QHash>
#include <QtCore/QRandomGenerator>
#include <QtCore/QSet>
#include <QtCore/QTemporaryDir>

#include <algorithm>

#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

using namespace procpool;
using namespace faultsupport;

namespace {

// Appends "I\n" to the run log at PATH in one write(2): O_APPEND keeps concurrent runs' lines
// whole. Then answers 2 * I.
const Task<int(QString, int)> recordedDouble{
    "chaos.recordedDouble", [](const QString &path, int i) {
        const int fd = ::open(QFile::encodeName(path).constData(),
                              O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            throw std::runtime_error("cannot open the run log");
        const QByteArray line = QByteArray::number(i) + '\n';
        const bool written = ::write(fd, line.constData(), size_t(line.size())) == line.size();
        ::close(fd);
        if (!written)
            throw std::runtime_error("cannot write the run log");
        return 2 * i;
    }};

//! Every process below \a root (children, grandchildren...), from /proc.
QList<qint64> descendantsOf(qint64 root)
{
    QHash<qint64, QList<qint64>> children;
    const QStringList entries = QDir(QStringLiteral("/proc")).entryList(QDir::Dirs);
    for (const QString &entry : entries) {
        bool ok = false;
        const qint64 pid = entry.toLongLong(&ok);
        if (ok && processAlive(pid))
            children[parentPid(pid)].append(pid);
    }
    QList<qint64> found;
    QList<qint64> next{root};
    while (!next.isEmpty()) {
        const qint64 pid = next.takeLast();
        for (qint64 child : children.value(pid)) {
            found.append(child);
            next.append(child);
        }
    }
    return found;
}

//! What the killer did, for the checks and the log.
struct Kills
{
    std::atomic<int> total{0};
    std::atomic<int> servers{0};  //!< fork servers
    std::atomic<int> starting{0}; //!< workers before their handshake
    QMutex mutex;
    QSet<qint64> workerPids; //!< every worker the killer killed (under mutex)
    // The killer's own (its thread only).
    QSet<qint64> readySeen;     //!< workers seen ready
    bool mayKillStarts = true; //!< no kill of a start since a worker was last new and ready

    void killedWorker(qint64 pid)
    {
        QMutexLocker locker(&mutex);
        workerPids.insert(pid);
    }
    bool wasKilled(qint64 pid)
    {
        QMutexLocker locker(&mutex);
        return workerPids.contains(pid);
    }
};

} // namespace

class TestChaos : public QObject
{
    Q_OBJECT

    //! Runs tasks through a fresh pool while \a killOne (called every 20 ms on another thread)
    //! kills; stops once at least 20,000 tasks ran and \a enough says the kills did what the
    //! test wants. Then checks everything the header promises.
    void run(const std::function<void(ProcessPool *, QRandomGenerator &, Kills &)> &killOne,
             const std::function<bool(const Kills &)> &enough)
    {
        constexpr int minimumTasks = 20000;
        constexpr int maximumTasks = 2000000; // a bound, in case kills stop happening
        constexpr int batch = 1000;
        constexpr int afterwards = 1000;
        constexpr int minimumCrashes = 10; // the kills hit running tasks, not only idle workers
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString runLog = dir.filePath(QStringLiteral("runs"));
        ProcessPoolManager *manager = getOrCreateProcessManager(QStringLiteral("chaos"), true);
        PoolOptions options;
        options.maxWorkers = 4;
        options.processNamePrefix = QStringLiteral("chaos");
        manager->start(options);
        ProcessPool *pool = manager->getPool();

        const auto finishes = std::make_unique<std::atomic<int>[]>(maximumTasks); // zeroes
        std::atomic<int> results{0}, crashed{0}, wrong{0}, other{0}, strangers{0};
        std::atomic<bool> stopKilling{false};
        Kills kills;
        std::thread killer([&] {
            QRandomGenerator random(20000);
            // From the moment the pool is up: a killer that finds nothing but a fork server
            // starting its first workers would only ever kill that.
            bool up = false;
            while (!stopKilling.load()) {
                if (!up) {
                    const QList<WorkerInfo> workers = pool->workers();
                    up = std::count_if(workers.cbegin(), workers.cend(), [](const WorkerInfo &w) {
                             return w.state == WorkerState::Idle || w.state == WorkerState::Busy;
                         }) == options.maxWorkers;
                }
                if (up)
                    killOne(pool, random, kills);
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
        });

        auto finished = [&] { return results + crashed + wrong + other; };
        // Finishes are counted by QFutureWatchers on this thread, not by .then(): Qt 6.4 runs a
        // continuation twice if it is attached just as another thread finishes the future.
        QObject watchers;
        QList<QFuture<int>> futures;
        QStringList otherErrors;
        int total = 0;
        auto healthy = [&] { return other.load() == 0 && wrong.load() == 0; }; // else: fail now
        while (healthy()
               && (total < minimumTasks
                   || ((!enough(kills) || crashed.load() < minimumCrashes) && total < maximumTasks))) {
            // Submitted about as fast as they run, so that the kills fall among them.
            QTRY_VERIFY(finished() >= total - 4 * batch);
            for (int k = 0; k < batch; ++k, ++total) {
                const int i = total;
                QFuture<int> f = manager->submitTask(recordedDouble, runLog, i);
                auto *watcher = new QFutureWatcher<int>(&watchers);
                connect(watcher, &QFutureWatcherBase::finished, &watchers, [&, i, watcher] {
                    finishes[i].fetch_add(1);
                    try {
                        (watcher->result() == 2 * i ? results : wrong).fetch_add(1);
                    } catch (const WorkerCrashed &e) {
                        crashed.fetch_add(1);
                        if (!kills.wasKilled(e.pid()))
                            strangers.fetch_add(1);
                    } catch (const QException &e) {
                        other.fetch_add(1);
                        otherErrors.append(QString::fromUtf8(e.what()));
                    }
                });
                watcher->setFuture(f);
                futures << f;
            }
        }
        QTRY_VERIFY(finished() >= total);
        stopKilling.store(true);
        killer.join();

        // How often each task really ran.
        QList<int> runs(total, 0);
        for (const QByteArray &line : readFile(runLog).split('\n')) {
            bool ok = false;
            const int i = line.toInt(&ok);
            if (ok && i >= 0 && i < total)
                ++runs[i];
        }
        int notOnce = 0, resultNotRunOnce = 0, failedRunTwice = 0;
        for (int i = 0; i < total; ++i) {
            notOnce += finishes[i].load() != 1;
            QVERIFY(futures.at(i).isFinished());
            bool ok = false;
            try {
                ok = futures.at(i).result() == 2 * i;
            } catch (const QException &) {
            }
            resultNotRunOnce += ok && runs.at(i) != 1;
            failedRunTwice += !ok && runs.at(i) > 1;
        }
        qInfo("%d tasks: %d results, %d WorkerCrashed; %d kills (%d fork servers, %d starting "
              "workers)",
              total, results.load(), crashed.load(), kills.total.load(), kills.servers.load(),
              kills.starting.load());
        QCOMPARE(notOnce, 0);
        QCOMPARE(resultNotRunOnce, 0); // a delivered result: ran exactly once
        QCOMPARE(failedRunTwice, 0);   // a failure: ran at most once
        QCOMPARE(finished(), total);
        QCOMPARE(wrong.load(), 0);
        QVERIFY2(other.load() == 0, qPrintable(otherErrors.mid(0, 3).join(QLatin1String("; "))));
        QCOMPARE(strangers.load(), 0); // every WorkerCrashed names a worker the killer killed
        const PoolStats stats = pool->stats();
        QCOMPARE(stats.completed, quint64(results.load()));
        QCOMPARE(stats.failed, quint64(crashed.load()));
        QCOMPARE(stats.submitted, quint64(total));
        QCOMPARE(stats.running, qint64(0)); // re-queued tasks are not counted twice
        QCOMPARE(stats.queued, qint64(0));
        QCOMPARE(pool->state(), PoolState::Running);
        QVERIFY(enough(kills));
        QVERIFY(crashed.load() >= minimumCrashes);

        // The pool is intact: 1,000 more tasks, all with their result.
        QList<QFuture<int>> calm;
        for (int i = 0; i < afterwards; ++i)
            calm << manager->submitTask(tasks::add, i, 7);
        for (int i = 0; i < afterwards; ++i) {
            QTRY_VERIFY(calm[i].isFinished());
            QCOMPARE(calm[i].result(), i + 7);
        }
        QCOMPARE(pool->stats().failed, quint64(crashed.load()));

        const QList<qint64> pids = pool->workerPids();
        manager->stop();
        QVERIFY(removeProcessManager(QStringLiteral("chaos")));
        for (qint64 pid : pids)
            QVERIFY(!processAlive(pid));
    }

private Q_SLOTS:
    void workersAreKilled()
    {
        run(
            [](ProcessPool *pool, QRandomGenerator &random, Kills &kills) {
                QList<qint64> started;
                for (const WorkerInfo &w : pool->workers())
                    if (w.state == WorkerState::Idle || w.state == WorkerState::Busy)
                        started << w.pid;
                if (started.isEmpty())
                    return;
                const qint64 pid = started.at(int(random.bounded(quint32(started.size()))));
                kills.killedWorker(pid);
                if (pool->killWorker(pid))
                    kills.total.fetch_add(1);
            },
            [](const Kills &kills) { return kills.total.load() >= 40; });
    }

    void anyProcessOfThePoolIsKilled()
    {
        run(
            [](ProcessPool *pool, QRandomGenerator &random, Kills &kills) {
                // Any process of the pool: below this one, or one of its workers whose fork
                // server is gone (they live on, below no one of ours). A worker still starting
                // a third of the time when there is one (they are rarely seen: a fork server's
                // worker says hello within a millisecond). But after killing a fork server or
                // a worker that was not ready, only ready workers until a new one is ready: a
                // killer that keeps every start from succeeding breaks any pool, on purpose
                // (after 16 such kills in a row), and a slow machine would let this one do it.
                QList<qint64> starting, ready;
                for (const WorkerInfo &w : pool->workers()) {
                    if (w.state == WorkerState::Starting)
                        starting << w.pid;
                    else if (w.state == WorkerState::Idle || w.state == WorkerState::Busy)
                        ready << w.pid;
                }
                for (qint64 pid : std::as_const(ready))
                    if (!kills.readySeen.contains(pid)) {
                        kills.readySeen.insert(pid);
                        kills.mayKillStarts = true;
                    }
                QList<qint64> all = descendantsOf(qint64(::getpid()));
                for (const WorkerInfo &w : pool->workers())
                    if (!all.contains(w.pid))
                        all << w.pid;
                const QList<qint64> &from = !kills.mayKillStarts ? ready
                                            : !starting.isEmpty() && random.bounded(3) == 0 ? starting
                                                                                            : all;
                if (from.isEmpty())
                    return;
                const qint64 pid = from.at(int(random.bounded(quint32(from.size()))));
                const bool server = processComm(pid) == QLatin1String("procpool-fork");
                if (!server)
                    kills.killedWorker(pid);
                if (::kill(pid_t(pid), SIGKILL) != 0)
                    return;
                kills.total.fetch_add(1);
                if (!ready.contains(pid))
                    kills.mayKillStarts = false;
                if (server)
                    kills.servers.fetch_add(1);
                else if (starting.contains(pid))
                    kills.starting.fetch_add(1);
            },
            [](const Kills &kills) {
                return kills.total.load() >= 40 && kills.servers.load() >= 3
                       && kills.starting.load() >= 3;
            });
    }
};

PROCPOOL_TEST_MAIN(TestChaos)
#include "tst_chaos.moc"
