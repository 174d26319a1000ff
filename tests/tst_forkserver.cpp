// Start methods: workers forked by a fork server (the default) or each started with exec, and
// what happens to a pool when its fork server dies under it.
#include "faultsupport.h"
#include "testmain.h"
#include "testtasks.h"

#include <procpool/procpool.h>

#include <QtCore/QSet>

#include <csignal>
#include <unistd.h>

using namespace procpool;
using namespace faultsupport;

class TestForkServer : public QObject
{
    Q_OBJECT

private:
    ProcessPoolManager *m_manager = nullptr;
    ProcessPoolManager *m_other = nullptr;

    qint64 workerOf(ProcessPoolManager *m) { return m->submitTask(tasks::pid).result(); }

    //! This process's environment with PROCPOOL_TEST_VALUE set: another fork server's key.
    static PoolOptions optionsWithValue(const QString &value)
    {
        PoolOptions options;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("PROCPOOL_TEST_VALUE"), value);
        options.startContext.environment = env;
        return options;
    }

    //! Runs one task in m_manager under optionsWithValue(\a value); returns its worker's parent.
    qint64 serverOfOnePoolWith(int value)
    {
        m_manager->start(optionsWithValue(QString::number(value)));
        const qint64 server = parentPid(workerOf(m_manager));
        m_manager->stop();
        return server;
    }

private Q_SLOTS:
    void init()
    {
        m_manager = getOrCreateProcessManager(QStringLiteral("forkserver-a"), true);
        m_other = getOrCreateProcessManager(QStringLiteral("forkserver-b"), true);
    }

    void cleanup()
    {
        removeProcessManager(QStringLiteral("forkserver-a"));
        removeProcessManager(QStringLiteral("forkserver-b"));
    }

    void oneServerForksTheWorkersOfEveryPool()
    {
        m_manager->start(2);
        m_other->start(1);
        const qint64 a = workerOf(m_manager);
        const qint64 b = workerOf(m_other);
        QVERIFY(a != b);
        const qint64 server = parentPid(a);
        QVERIFY(server != ::getpid());
        QCOMPARE(parentPid(server), qint64(::getpid())); // our child, not a worker
        QCOMPARE(parentPid(b), server);                  // same program and environment
        QCOMPARE(processComm(server), QStringLiteral("procpool-fork"));
        QCOMPARE(processComm(a), QStringLiteral("procpool-1")); // named like any worker
        QVERIFY(!m_manager->getPool()->workerPids().contains(server));

        // A restarted pool uses the same server.
        m_manager->stop();
        m_manager->start(1);
        QCOMPARE(parentPid(workerOf(m_manager)), server);
    }

    void anotherEnvironmentGetsItsOwnServer()
    {
        m_manager->start(1);
        m_other->start(optionsWithValue(QStringLiteral("other")));
        const qint64 a = workerOf(m_manager);
        const qint64 b = workerOf(m_other);
        QVERIFY(parentPid(a) != parentPid(b));
        QCOMPARE(parentPid(parentPid(b)), qint64(::getpid()));
        QCOMPARE(m_other->submitTask(tasks::add, 1, 2).result(), 3);
    }

    void onlyTheLastFewIdleServersAreKept()
    {
        // A program that changes its environment between pools gets a server for each
        // environment; servers no worker needs are closed beyond the last four.
        QList<qint64> servers;
        for (int i = 0; i < 7; ++i)
            servers << serverOfOnePoolWith(i);
        QCOMPARE(QSet<qint64>(servers.cbegin(), servers.cend()).size(), 7);
        for (int i = 0; i < 3; ++i)
            QTRY_VERIFY(!processAlive(servers.at(i)));
        for (int i = 3; i < 7; ++i)
            QVERIFY(processAlive(servers.at(i)));
        QVERIFY(childProcesses().size() <= 4 + 1); // and perhaps the default environment's

        // One that still has a worker is kept however many come after it.
        m_other->start(1);
        const qint64 busyServer = parentPid(workerOf(m_other));
        for (int i = 10; i < 16; ++i)
            QVERIFY(serverOfOnePoolWith(i) != busyServer);
        QVERIFY(processAlive(busyServer));
        QCOMPARE(m_other->submitTask(tasks::add, 2, 2).result(), 4);
    }

    void execStartsEachWorkerItself()
    {
        PoolOptions options;
        options.maxWorkers = 2;
        options.startContext.method = StartMethod::Exec;
        m_manager->start(options);
        const qint64 worker = workerOf(m_manager);
        QCOMPARE(parentPid(worker), qint64(::getpid()));
        QCOMPARE(processComm(worker), QStringLiteral("procpool-1"));
        QCOMPARE(m_manager->submitTask(tasks::add, 2, 3).result(), 5);
    }

    void workersOutliveTheirServerAndANewOneTakesOver_data()
    {
        QTest::addColumn<bool>("daemon");
        QTest::newRow("non-daemon") << false;
        QTest::newRow("daemon") << true;
    }

    void workersOutliveTheirServerAndANewOneTakesOver()
    {
        QFETCH(bool, daemon);
        PoolOptions options;
        options.maxWorkers = 1;
        options.daemon = daemon;
        m_manager->start(options);
        WorkerEvents events(m_manager);
        const qint64 worker = workerOf(m_manager);
        const qint64 server = parentPid(worker);
        QVERIFY(::kill(pid_t(server), SIGKILL) == 0);
        QTRY_VERIFY(!processAlive(server));

        if (daemon) {
            // A daemon worker dies with its server (as with the application); the pool starts
            // a replacement through a new server, and no task is lost.
            QTRY_VERIFY(!processAlive(worker));
            const qint64 replacement = workerOf(m_manager);
            QVERIFY(replacement != worker);
            QVERIFY(parentPid(replacement) != server);
            QCOMPARE(parentPid(parentPid(replacement)), qint64(::getpid()));
            return;
        }
        // A non-daemon worker goes on working without it.
        QCOMPARE(workerOf(m_manager), worker);
        QCOMPARE(m_manager->submitTask(tasks::add, 20, 22).result(), 42);
        // Its end is still seen (through its pidfd), only its exit status is not known.
        auto running = m_manager->submitTask(QStringLiteral("sleepMs"), {60000});
        QVERIFY(waitUntilSleepingInTask(worker));
        QVERIFY(::kill(pid_t(worker), SIGKILL) == 0);
        try {
            running.waitForFinished();
            QFAIL("expected WorkerCrashed");
        } catch (const WorkerCrashed &e) {
            QCOMPARE(e.pid(), worker);
        }
        QTRY_COMPARE(events.exitCount(), qsizetype(1));
        QCOMPARE(events.exits().first().reason, QStringLiteral("exited (its exit status is unknown)"));
        // The replacement comes from a new server.
        const qint64 replacement = workerOf(m_manager);
        QVERIFY(parentPid(replacement) != server);
        QCOMPARE(parentPid(parentPid(replacement)), qint64(::getpid()));
    }

    void crashThroughTheServerReportsTheSignal()
    {
        m_manager->start(1);
        WorkerEvents events(m_manager);
        const qint64 worker = workerOf(m_manager);
        try {
            m_manager->submitTask(tasks::segfault).waitForFinished();
            QFAIL("expected WorkerCrashed");
        } catch (const WorkerCrashed &e) {
            QCOMPARE(e.pid(), worker);
            QCOMPARE(e.signal(), SIGSEGV); // the server reaped it and told us how it ended
        }
        QTRY_COMPARE(events.exitCount(), qsizetype(1));
        QCOMPARE(events.exits().first().signal, SIGSEGV);
        QCOMPARE(m_manager->submitTask(tasks::add, 1, 1).result(), 2);
    }
};

PROCPOOL_TEST_MAIN(TestForkServer)
#include "tst_forkserver.moc"
