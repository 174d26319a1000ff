// Hygiene: 300 start/stop cycles, each running a few tasks and ending in one of the ways a pool
// can end (stop(true), stop(false), terminate(), daemon or not, workers forked by the fork
// server or each started with exec), leave nothing behind: no zombie children, no worker
// process alive, no child but the one fork server the warm-up started, and, after the warm-up,
// as many open file descriptors and threads in this process as before.
#include "faultsupport.h"
#include "testmain.h"
#include "testtasks.h"

#include <procpool/procpool.h>

using namespace procpool;
using namespace faultsupport;

namespace {
int openFds() { return entryCount("/proc/self/fd"); }
int threads() { return entryCount("/proc/self/task"); }
} // namespace

class TestHygiene : public QObject
{
    Q_OBJECT

private:
    ProcessPoolManager *m_manager = nullptr;

    //! One pool's life: start, three tasks, and an end that depends on \a i.
    void cycle(int i)
    {
        PoolOptions options;
        options.maxWorkers = 2;
        options.daemon = i % 2 == 1;
        options.minWorkers = i % 3 == 0 ? 1 : 0;
        options.startContext.method = i % 5 == 4 ? StartMethod::Exec : StartMethod::ForkServer;
        m_manager->start(options);
        QList<QFuture<int>> futures;
        for (int k = 0; k < 3; ++k)
            futures << m_manager->submitTask(tasks::add, i, k);
        switch (i % 4) {
        case 0:
            for (auto &f : futures)
                f.waitForFinished();
            m_manager->stop(true);
            break;
        case 1:
            m_manager->stop(true);
            break;
        case 2:
            m_manager->stop(false);
            break;
        default:
            m_manager->terminate();
        }
        for (int k = 0; k < 3; ++k) {
            QTRY_VERIFY(futures[k].isFinished());
            try {
                QCOMPARE(futures[k].result(), i + k);
            } catch (const PoolStopped &) {
                QVERIFY(options.daemon || i % 4 == 3); // only these may drop tasks
            }
        }
    }

    bool anyWorkerAlive(const WorkerEvents &events) const
    {
        const QList<qint64> started = events.started();
        return std::any_of(started.cbegin(), started.cend(), processAlive);
    }

private Q_SLOTS:
    void startStopCyclesLeaveNothingBehind()
    {
        m_manager = getOrCreateProcessManager(QStringLiteral("hygiene"));
        auto events = std::make_unique<WorkerEvents>(m_manager);
        // The thread workerStarted is emitted on: procpool's engine thread.
        auto engine = std::make_unique<SignalRecorder<QThread *>>(
            m_manager, &ProcessPoolManager::workerStarted,
            [](qint64, const QString &) { return QThread::currentThread(); });
        for (int i = 0; i < 12; ++i) { // warm-up: the engine thread, Qt's lazy singletons
            cycle(i);
            if (QTest::currentTestFailed())
                return;
        }
        QTRY_VERIFY(!anyWorkerAlive(*events));
        // The fork server stays for the pools to come; workers were its children, not ours.
        QTRY_COMPARE(childProcesses().size(), qsizetype(1));
        const QList<qint64> server = childProcesses();
        QVERIFY(!engine->values().isEmpty());
        drainEngineThread(engine->values().constLast()); // the last core is deleted
        const int fdsBefore = openFds();
        const int threadsBefore = threads();

        constexpr int cycles = 300;
        for (int i = 0; i < cycles; ++i) {
            cycle(i);
            if (QTest::currentTestFailed())
                return;
        }
        QTRY_VERIFY(!anyWorkerAlive(*events));
        QTRY_VERIFY(childProcesses('Z').isEmpty());
        QTRY_COMPARE(childProcesses(), server); // the same one
        QTRY_COMPARE(openFds(), fdsBefore);
        QTRY_COMPARE(threads(), threadsBefore);
        QVERIFY(events->startedCount() > cycles / 2);
        qInfo("%d cycles: %lld workers started and gone; %d fds, %d threads", cycles,
              static_cast<long long>(events->startedCount()), openFds(), threads());

        QVERIFY(removeProcessManager(QStringLiteral("hygiene")));
        events.reset(); // the manager, and with it every connection, is gone
        engine.reset();
    }
};

PROCPOOL_TEST_MAIN(TestHygiene)
#include "tst_hygiene.moc"
