// Chaos: tasks through four workers while another thread SIGKILLs a random worker every 20 ms,
// for at least 20,000 tasks and at least 40 kills (however fast the machine runs them). Every future must finish exactly once, with its own correct result or
// with WorkerCrashed, the counts must add up, nothing may hang, and afterwards the same pool must
// run another 1,000 tasks without a single failure.
//
// The killer picks among workers that finished their handshake (Idle or Busy): a worker killed
// before it ever said hello counts as a failed start, and three of those in a row break the pool
// on purpose (tst_faults covers that). A crash of a started worker must never break it.
#include "faultsupport.h"
#include "testmain.h"
#include "testtasks.h"

#include <procpool/procpool.h>

#include <QtCore/QFutureWatcher>
#include <QtCore/QRandomGenerator>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

using namespace procpool;
using namespace faultsupport;

class TestChaos : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void everyFutureFinishesExactlyOnceWhileWorkersAreKilled()
    {
        constexpr int minimumTasks = 20000;
        constexpr int maximumTasks = 2000000; // a bound, in case kills stop happening
        constexpr int wantedKills = 40;
        constexpr int batch = 1000;
        constexpr int afterwards = 1000;
        ProcessPoolManager *manager = getOrCreateProcessManager(QStringLiteral("chaos"));
        PoolOptions options;
        options.maxWorkers = 4;
        manager->start(options);
        ProcessPool *pool = manager->getPool();

        const auto finishes = std::make_unique<std::atomic<int>[]>(maximumTasks); // zeroes
        std::atomic<int> results{0}, crashed{0}, wrong{0}, other{0};
        std::atomic<bool> stopKilling{false};
        std::atomic<int> kills{0};
        std::thread killer([&] {
            QRandomGenerator random(20000);
            while (!stopKilling.load()) {
                QList<qint64> started;
                for (const WorkerInfo &w : pool->workers())
                    if (w.state == WorkerState::Idle || w.state == WorkerState::Busy)
                        started << w.pid;
                if (!started.isEmpty()
                    && pool->killWorker(started.at(int(random.bounded(quint32(started.size()))))))
                    kills.fetch_add(1);
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
        });

        auto finished = [&] { return results + crashed + wrong + other; };
        // Finishes are counted by QFutureWatchers on this thread, not by .then(): Qt 6.4 runs a
        // continuation twice if it is attached just as another thread finishes the future.
        QObject watchers;
        QList<QFuture<int>> futures;
        int total = 0;
        while (total < minimumTasks || (kills.load() < wantedKills && total < maximumTasks)) {
            // Submitted about as fast as they run, so that the kills fall among them.
            QTRY_VERIFY_WITH_TIMEOUT(finished() >= total - 4 * batch, hangGuardMs);
            for (int k = 0; k < batch; ++k, ++total) {
                const int i = total;
                QFuture<int> f = manager->submitTask(tasks::add, i, i);
                auto *watcher = new QFutureWatcher<int>(&watchers);
                connect(watcher, &QFutureWatcherBase::finished, &watchers, [&, i, watcher] {
                    finishes[i].fetch_add(1);
                    try {
                        (watcher->result() == 2 * i ? results : wrong).fetch_add(1);
                    } catch (const WorkerCrashed &) {
                        crashed.fetch_add(1);
                    } catch (...) {
                        other.fetch_add(1);
                    }
                });
                watcher->setFuture(f);
                futures << f;
            }
        }
        QTRY_VERIFY_WITH_TIMEOUT(finished() >= total, hangGuardMs);
        stopKilling.store(true);
        killer.join();

        for (auto &f : futures)
            QVERIFY(f.isFinished());
        int notOnce = 0;
        for (int i = 0; i < total; ++i)
            notOnce += finishes[i].load() != 1;
        QCOMPARE(notOnce, 0);
        QCOMPARE(finished(), total);
        QCOMPARE(wrong.load(), 0);
        QCOMPARE(other.load(), 0);
        const PoolStats stats = pool->stats();
        QCOMPARE(stats.completed, quint64(results.load()));
        QCOMPARE(stats.failed, quint64(crashed.load()));
        QCOMPARE(stats.submitted, quint64(total));
        QCOMPARE(stats.running, qint64(0)); // re-queued tasks are not counted twice
        QCOMPARE(stats.queued, qint64(0));
        QCOMPARE(pool->state(), PoolState::Running);
        qInfo("%d tasks: %d results, %d WorkerCrashed; %d kills, %llu workers started", total,
              results.load(), crashed.load(), kills.load(),
              static_cast<unsigned long long>(stats.workersStarted));
        QVERIFY(kills.load() >= wantedKills);
        QVERIFY(crashed.load() > 0);

        // The pool is intact: 1,000 more tasks, all with their result.
        QList<QFuture<int>> calm;
        for (int i = 0; i < afterwards; ++i)
            calm << manager->submitTask(tasks::add, i, 7);
        for (int i = 0; i < afterwards; ++i) {
            QTRY_VERIFY_WITH_TIMEOUT(calm[i].isFinished(), hangGuardMs);
            QCOMPARE(calm[i].result(), i + 7);
        }
        QCOMPARE(pool->stats().failed, quint64(crashed.load()));

        const QList<qint64> pids = pool->workerPids();
        manager->stop();
        QVERIFY(removeProcessManager(QStringLiteral("chaos")));
        for (qint64 pid : pids)
            QVERIFY(!processAlive(pid));
    }
};

PROCPOOL_TEST_MAIN(TestChaos)
#include "tst_chaos.moc"
