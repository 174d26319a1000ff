// The registry and the manager's life: the seed's rules, one test each.
#include "faultsupport.h"
#include "testmain.h"
#include "testtasks.h"

#include <procpool/procpool.h>

#include <QtCore/QMutex>
#include <QtCore/QTemporaryDir>
#include <QtCore/QThread>
#include <QtTest/QSignalSpy>

#include <atomic>
#include <unistd.h>

using namespace procpool;

namespace {
const Task<int(QString)> waitForGate{"registry.waitForGate", [](const QString &path) {
    if (faultsupport::waitForGate(path) != 0)
        throw std::runtime_error("the gate never opened");
    return 7;
}};
} // namespace

class TestRegistry : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void cleanup()
    {
        for (const auto &namespaces : ProcessPoolManager::registry())
            for (const QString &ns : namespaces.keys())
                removeProcessManager(ns);
    }

    void defaultNamespace()
    {
        ProcessPoolManager *a = getOrCreateProcessManager();
        QVERIFY(a);
        QCOMPARE(a->namespaceId(), QStringLiteral("default"));
        QCOMPARE(getOrCreateProcessManager(), a);
        QCOMPARE(getOrCreateProcessManager(QStringLiteral("default")), a);
        QCOMPARE(a->creatorPid(), qint64(::getpid()));
    }

    void sameIdSameManager()
    {
        ProcessPoolManager *render = getOrCreateProcessManager(QStringLiteral("render"));
        ProcessPoolManager *io = getOrCreateProcessManager(QStringLiteral("io"));
        QVERIFY(render != io);
        QCOMPARE(getOrCreateProcessManager(QStringLiteral("render")), render);
        QCOMPARE(getOrCreateProcessManager(QStringLiteral("io")), io);
    }

    void registryMapsPidToNamespaces()
    {
        ProcessPoolManager *render = getOrCreateProcessManager(QStringLiteral("render"));
        ProcessPoolManager *io = getOrCreateProcessManager(QStringLiteral("io"));
        const RegistryMap registry = ProcessPoolManager::registry();
        QVERIFY(registry.contains(::getpid()));
        QCOMPARE(registry[::getpid()].value(QStringLiteral("render")), render);
        QCOMPARE(registry[::getpid()].value(QStringLiteral("io")), io);
        QVERIFY(ProcessPoolManager::allInstances().contains(render));
        QVERIFY(ProcessPoolManager::allInstances().contains(io));
    }

    void strictlyGetMissingThrows()
    {
        try {
            getOrCreateProcessManager(QStringLiteral("missing"), false, true);
            QFAIL("expected ManagerNotFound");
        } catch (const ManagerNotFound &e) {
            QCOMPARE(e.namespaceId(), QStringLiteral("missing"));
            QVERIFY(QString::fromUtf8(e.what()).contains(QStringLiteral("missing")));
        }
        QVERIFY(!ProcessPoolManager::registry().value(::getpid()).contains(QStringLiteral("missing")));
        ProcessPoolManager *m = getOrCreateProcessManager(QStringLiteral("present"));
        QCOMPARE(getOrCreateProcessManager(QStringLiteral("present"), false, true), m);
    }

    void bothFlagsInvalid()
    {
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 getOrCreateProcessManager(QStringLiteral("x"), true, true));
    }

    void lookupChoicesActAsTheirFlags()
    {
        QVERIFY_THROWS_EXCEPTION(
            ManagerNotFound,
            getOrCreateProcessManager(QStringLiteral("absent"), ManagerLookup::StrictlyGet));
        QVERIFY(!ProcessPoolManager::registry().value(::getpid()).contains(QStringLiteral("absent")));
        ProcessPoolManager *m = getOrCreateProcessManager(QStringLiteral("chosen"),
                                                          ManagerLookup::GetOrCreate);
        QCOMPARE(getOrCreateProcessManager(QStringLiteral("chosen"), ManagerLookup::StrictlyGet), m);
        QCOMPARE(getOrCreateProcessManager(QStringLiteral("chosen"), ManagerLookup::GetOrCreate), m);
        ProcessPoolManager *fresh = getOrCreateProcessManager(QStringLiteral("chosen"),
                                                              ManagerLookup::ForceCreate);
        QVERIFY(fresh != m);
        QCOMPARE(getOrCreateProcessManager(QStringLiteral("chosen")), fresh);
        QCOMPARE(fresh->namespaceId(), QStringLiteral("chosen"));
    }

    void requestStopReturnsWhileTasksStillRun()
    {
        QTemporaryDir dir;
        const QString gate = dir.filePath(QStringLiteral("gate"));
        ProcessPoolManager *m = getOrCreateProcessManager(QStringLiteral("asked"));
        m->start(1);
        QFuture<int> running = m->submitTask(waitForGate, gate);
        QFuture<int> queued = m->submitTask(tasks::add, 3, 4);
        m->requestStop(); // returns at once: the gate is still shut
        QVERIFY(!running.isFinished());
        QVERIFY(!m->isRunning());
        QVERIFY_THROWS_EXCEPTION(PoolNotRunning, m->submitTask(tasks::add, 1, 1));
        QVERIFY(faultsupport::touchFile(gate));
        // A non-daemon pool still runs everything it accepted.
        QCOMPARE(running.result(), 7);
        QCOMPARE(queued.result(), 7);
        QTRY_COMPARE(m->state(), PoolState::Stopped);
    }

    void forceCreateKeepsOtherNamespaces()
    {
        ProcessPoolManager *render = getOrCreateProcessManager(QStringLiteral("render"));
        ProcessPoolManager *io = getOrCreateProcessManager(QStringLiteral("io"));
        QSignalSpy added(ManagerRegistry::instance(), &ManagerRegistry::managerAdded);
        QSignalSpy removed(ManagerRegistry::instance(), &ManagerRegistry::managerRemoved);

        ProcessPoolManager *fresh = getOrCreateProcessManager(QStringLiteral("render"), true);
        QVERIFY(fresh != render);
        QCOMPARE(getOrCreateProcessManager(QStringLiteral("render")), fresh);
        QCOMPARE(getOrCreateProcessManager(QStringLiteral("io")), io); // not wiped
        QCOMPARE(ProcessPoolManager::registry()[::getpid()].size(), 2);
        QCOMPARE(added.size(), 1);
        QCOMPARE(added.at(0).at(0).value<ProcessPoolManager *>(), fresh);
        QCOMPARE(removed.size(), 1);
        QCOMPARE(removed.at(0).at(0).value<ProcessPoolManager *>(), render);
        // The replaced manager stays valid.
        QVERIFY(ProcessPoolManager::allInstances().contains(render));
        QCOMPARE(render->state(), PoolState::Stopped);

        // forceCreate on a namespace that does not exist yet simply creates it.
        ProcessPoolManager *created = getOrCreateProcessManager(QStringLiteral("new"), true);
        QCOMPARE(getOrCreateProcessManager(QStringLiteral("new")), created);
    }

    void addedAndRemovedSignals()
    {
        QSignalSpy added(ManagerRegistry::instance(), &ManagerRegistry::managerAdded);
        QSignalSpy removed(ManagerRegistry::instance(), &ManagerRegistry::managerRemoved);
        ProcessPoolManager *m = getOrCreateProcessManager(QStringLiteral("signals"));
        QCOMPARE(added.size(), 1);
        getOrCreateProcessManager(QStringLiteral("signals"));
        QCOMPARE(added.size(), 1); // no new manager, no signal
        QVERIFY(removeProcessManager(QStringLiteral("signals")));
        QCOMPARE(removed.size(), 1);
        QCOMPARE(removed.at(0).at(0).value<ProcessPoolManager *>(), m);
        QVERIFY(!removeProcessManager(QStringLiteral("signals")));
    }

    void concurrentGetOrCreateGivesOneManager()
    {
        QList<QThread *> threads;
        QList<ProcessPoolManager *> seen(8, nullptr);
        for (int i = 0; i < 8; ++i) {
            threads << QThread::create([&seen, i] {
                seen[i] = getOrCreateProcessManager(QStringLiteral("race"));
            });
        }
        for (QThread *t : threads)
            t->start();
        for (QThread *t : threads) {
            t->wait();
            delete t;
        }
        for (ProcessPoolManager *m : seen)
            QCOMPARE(m, seen.first());
    }

    void directlyConstructedManager()
    {
        ProcessPoolManager manager(4242);
        QCOMPARE(manager.creatorPid(), qint64(4242));
        QVERIFY(ProcessPoolManager::allInstances().contains(&manager));
        QVERIFY(manager.namespaceId().isEmpty());
        QCOMPARE(manager.state(), PoolState::Stopped);
    }

    void errorsBeforeStart()
    {
        ProcessPoolManager *m = getOrCreateProcessManager(QStringLiteral("idle"));
        try {
            m->submitTask(tasks::add, 1, 2);
            QFAIL("expected PoolNotRunning");
        } catch (const std::runtime_error &e) { // PoolNotRunning is a std::runtime_error
            QVERIFY(QString::fromUtf8(e.what()).contains(QStringLiteral("call start() first")));
        }
        QVERIFY_THROWS_EXCEPTION(PoolNotRunning, m->getPool());
        QVERIFY_THROWS_EXCEPTION(PoolNotRunning, m->submitTask(QStringLiteral("add"), {1, 2}));
        m->stop(); // stopping a stopped pool is harmless
    }

    void startStopRestart()
    {
        ProcessPoolManager *m = getOrCreateProcessManager(QStringLiteral("cycle"));
        // stateChanged comes from the engine thread too.
        faultsupport::SignalRecorder<PoolState> states(m, &ProcessPoolManager::stateChanged,
                                                       [](PoolState state) { return state; });
        m->start(2, QString(), false, QStringLiteral("cycle"));
        QVERIFY(m->isRunning());
        QVERIFY(m->getPool());
        QCOMPARE(m->getPool()->maxWorkers(), 2);
        QCOMPARE(m->submitTask(tasks::add, 2, 3).result(), 5);

        try {
            m->start(2);
            QFAIL("expected PoolAlreadyRunning");
        } catch (const PoolAlreadyRunning &e) {
            QVERIFY(QString::fromUtf8(e.what()).contains(QStringLiteral("already active or running")));
        }

        m->stop();
        QVERIFY(!m->isRunning());
        QCOMPARE(m->state(), PoolState::Stopped);
        QVERIFY_THROWS_EXCEPTION(PoolNotRunning, m->getPool());
        QVERIFY_THROWS_EXCEPTION(PoolNotRunning, m->submitTask(tasks::add, 1, 1));

        PoolOptions options;
        options.maxWorkers = 1;
        options.taskType = QStringLiteral("again");
        m->start(options);
        QCOMPARE(m->getPool()->taskType(), QStringLiteral("again"));
        QCOMPARE(m->submitTask(tasks::add, 20, 22, TaskType(QStringLiteral("again"))).result(), 42);
        m->stop();
        QTRY_VERIFY(states.count() >= 6 && states.values().last() == PoolState::Stopped);
        QCOMPARE(states.values(), (QList<PoolState>{PoolState::Running, PoolState::Stopping, PoolState::Stopped,
                                           PoolState::Running, PoolState::Stopping, PoolState::Stopped}));
    }

    void managerRemovedWhileItsPoolStillSignals()
    {
        // removeProcessManager() deletes the manager while its pool drains on the engine
        // thread, which keeps emitting (Stopping, Stopped, worker exits) for a moment. None of
        // it may reach the deleted manager (ASan and UBSan builds see it if it does); every
        // future still finishes with its result.
        QList<QFuture<int>> futures;
        for (int round = 0; round < 40; ++round) {
            ProcessPoolManager *m = getOrCreateProcessManager(QStringLiteral("going"));
            std::atomic<int> seen{0};
            connect(m, &ProcessPoolManager::stateChanged, m, [&seen] { ++seen; },
                    Qt::DirectConnection);
            connect(m, &ProcessPoolManager::workerExited, m, [&seen] { ++seen; },
                    Qt::DirectConnection);
            // Holds the manager half-destroyed (in ~QObject) long enough for the engine
            // thread's Stopping to arrive meanwhile, if anything let it through.
            connect(m, &QObject::destroyed, [] { QThread::msleep(10); });
            m->start(2);
            for (int i = 0; i < 4; ++i)
                futures << m->submitTask(tasks::add, round, i);
            QVERIFY(removeProcessManager(QStringLiteral("going")));
        }
        for (qsizetype k = 0; k < futures.size(); ++k)
            QCOMPARE(futures[k].result(), int(k / 4 + k % 4));
    }

    void invalidOptions()
    {
        ProcessPoolManager m;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, m.start(0));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, m.start(-3));
        PoolOptions blankProgram;
        blankProgram.startContext.program = QStringLiteral("");
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, m.start(blankProgram));
        QCOMPARE(m.state(), PoolState::Stopped);
    }

    void readableToString()
    {
        ProcessPoolManager *m = getOrCreateProcessManager(QStringLiteral("repr"));
        QString text = m->toString();
        QVERIFY2(text.contains(QStringLiteral("namespace='repr'")), qPrintable(text));
        QVERIFY(text.contains(QStringLiteral("state=stopped")));
        m->start(3, QStringLiteral("render"), true, QStringLiteral("rp"));
        text = m->toString();
        QVERIFY2(text.contains(QStringLiteral("max_workers=3")), qPrintable(text));
        QVERIFY(text.contains(QStringLiteral("task_type='render'")));
        QVERIFY(text.contains(QStringLiteral("daemon=true")));
        QVERIFY(text.contains(QStringLiteral("prefix='rp'")));
        QString debugText;
        QDebug(&debugText) << m;
        QCOMPARE(debugText.trimmed(), text);
        m->stop();
    }

    void duplicateTaskNameRejected()
    {
        try {
            const Task<int(int, int)> again{"add", [](int a, int b) { return a - b; }};
            QFAIL("expected DuplicateTaskError");
        } catch (const DuplicateTaskError &e) {
            QVERIFY(QString::fromUtf8(e.what()).contains(QStringLiteral("'add'")));
        }
        // The original registration is untouched.
        QVERIFY(isTaskRegistered(QStringLiteral("add")));
        {
            const Task<int()> scoped{"registry.scoped", [] { return 1; }};
            QVERIFY(isTaskRegistered(QStringLiteral("registry.scoped")));
        }
        QVERIFY(!isTaskRegistered(QStringLiteral("registry.scoped")));
    }
};

PROCPOOL_TEST_MAIN(TestRegistry)
#include "tst_registry.moc"
