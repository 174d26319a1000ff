// Pools with real worker processes: results, protection, errors, logs, names, threads.
#include "faultsupport.h"
#include "testmain.h"
#include "testtasks.h"

#include <procpool/procpool.h>

#include "outputmeter_p.h"
#include "tuning_p.h"

#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QFutureWatcher>
#include <QtCore/QRegularExpression>
#include <QtCore/QSet>
#include <QtCore/QTemporaryDir>
#include <QtCore/QThread>
#include <QtTest/QSignalSpy>

#include <atomic>
#include <csignal>
#include <thread>
#include <sys/types.h>
#include <unistd.h>

using namespace procpool;

namespace {

using faultsupport::hangGuardMs;
using faultsupport::processAlive;

// Keeps its worker busy until \a path exists.
const Task<int(QString)> waitForFile{"pool.waitForFile", [](const QString &path) {
    if (faultsupport::waitForGate(path) != 0)
        throw std::runtime_error("the gate never opened");
    return 0;
}};

} // namespace

class TestPool : public QObject
{
    Q_OBJECT

private:
    ProcessPoolManager *m_manager = nullptr;

private Q_SLOTS:
    void init()
    {
        m_manager = getOrCreateProcessManager(QStringLiteral("pool-test"), true);
    }

    void cleanup()
    {
        const QList<qint64> pids = m_manager->isRunning() ? m_manager->getPool()->workerPids()
                                                          : QList<qint64>();
        removeProcessManager(QStringLiteral("pool-test"));
        for (qint64 pid : pids)
            QTRY_VERIFY(!processAlive(pid));
    }

    void manyResultsInTheRightFutures()
    {
        m_manager->start(3);
        QList<QFuture<int>> futures;
        for (int i = 0; i < 2000; ++i)
            futures << m_manager->submitTask(tasks::add, i, 1000 * i);
        for (int i = 0; i < futures.size(); ++i)
            QCOMPARE(futures[i].result(), i + 1000 * i);
        const PoolStats stats = m_manager->getPool()->stats();
        QCOMPARE(stats.submitted, quint64(2000));
        QCOMPARE(stats.completed, quint64(2000));
        QCOMPARE(stats.failed, quint64(0));
        QVERIFY(stats.workersStarted >= 1 && stats.workersStarted <= 3);
    }

    // Automatic prefetch: a worker that holds a running task and one prefetched task takes
    // more only of tasks measured to be short. One worker is kept busy by a gate task while
    // tasks queue behind it; how many it was handed shows in stats().running.
    void automaticPrefetchFollowsMeasuredTaskLength()
    {
        PoolOptions options;
        QCOMPARE(options.prefetch, PoolOptions::automaticPrefetch); // the default
        options.maxWorkers = 1;
        // What counts as short must not depend on how busy this machine is: a budget of
        // 100 ms (not 1 ms) is far above a trivial task on any machine, and far below
        // sleepMs(150), which no machine can run faster.
        detail::setAutomaticPrefetchBudgetNs(100'000'000);
        struct Restore
        {
            ~Restore() { detail::setAutomaticPrefetchBudgetNs(1'000'000); }
        } restore;
        m_manager->start(options);
        QTemporaryDir dir;
        // Gate, then 12 tasks behind it: \a dispatched says when the engine has handed out
        // what it will; returns how many tasks the worker held then (-1: never seen).
        auto gateThen = [&](const QString &name, auto submitOne, auto dispatched) {
            const QString gate = dir.filePath(name);
            QFuture<int> blocker = m_manager->submitTask(waitForFile, gate);
            QList<QFuture<int>> queued;
            for (int i = 0; i < 12; ++i)
                queued << submitOne(i);
            const bool seen = QTest::qWaitFor(
                [&] { return dispatched(m_manager->getPool()->stats()); }, hangGuardMs);
            const qint64 handedOut = seen ? m_manager->getPool()->stats().running : -1;
            QFile(gate).open(QIODevice::WriteOnly); // opens the gate
            blocker.waitForFinished();
            for (auto &f : queued)
                f.waitForFinished();
            return handedOut;
        };
        auto gateAndOne = [](const PoolStats &s) { return s.queued == 11; };
        // Never seen: nothing is known about it, so one prefetched task, as with prefetch 1.
        QCOMPARE(gateThen(
                     QStringLiteral("a"),
                     [&](int i) { return m_manager->submitTask(tasks::sleepMs, i % 2); },
                     gateAndOne),
                 qint64(2));
        // Measured long: sleepMs(150) takes 150 ms or more on any machine, over the budget.
        for (int i = 0; i < 6; ++i) // the moving average passes 100 ms by the fourth
            m_manager->submitTask(tasks::sleepMs, 150).waitForFinished();
        QCOMPARE(gateThen(
                     QStringLiteral("b"), [&](int) { return m_manager->submitTask(tasks::sleepMs, 150); },
                     gateAndOne),
                 qint64(2));
        // Measured short: increment answers in microseconds, so many wait in the worker's pipe.
        for (int i = 0; i < 20; ++i)
            m_manager->submitTask(tasks::increment, i).waitForFinished();
        const qint64 deep = gateThen(
            QStringLiteral("c"), [&](int i) { return m_manager->submitTask(tasks::increment, i); },
            [](const PoolStats &s) { return s.running > 2; });
        QVERIFY2(deep > 2 && deep <= 1 + 12, qPrintable(QString::number(deep)));
    }

    void workersAreSeparateProcesses()
    {
        m_manager->start(2);
        const qint64 pid = m_manager->submitTask(tasks::pid).result();
        QVERIFY(pid != ::getpid());
        QVERIFY(m_manager->getPool()->workerPids().contains(pid));
    }

    void voidTask()
    {
        m_manager->start(1);
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("touched"));
        QFuture<void> f = m_manager->submitTask(tasks::touch, path);
        f.waitForFinished();
        QVERIFY(QFile::exists(path));
    }

    void taskTypeProtection_data()
    {
        QTest::addColumn<QString>("poolType");
        QTest::addColumn<QString>("submitType");
        QTest::addColumn<bool>("accepted");
        QTest::newRow("typed pool, no type") << "critical" << "" << false;
        QTest::newRow("typed pool, other type") << "critical" << "batch" << false;
        QTest::newRow("typed pool, matching type") << "critical" << "critical" << true;
        QTest::newRow("untyped pool, no type") << "" << "" << true;
        QTest::newRow("untyped pool, any type") << "" << "batch" << true;
    }

    void taskTypeProtection()
    {
        QFETCH(QString, poolType);
        QFETCH(QString, submitType);
        QFETCH(bool, accepted);
        m_manager->start(1, poolType);
        const SubmitOptions options = TaskType(submitType);
        if (accepted) {
            QCOMPARE(m_manager->submitTask(tasks::add, 1, 2, options).result(), 3);
            QCOMPARE(m_manager->submitTask(QStringLiteral("add"), {3, 4}, options).result().toInt(), 7);
            return;
        }
        for (int untyped = 0; untyped < 2; ++untyped) {
            try {
                if (untyped)
                    m_manager->submitTask(QStringLiteral("add"), {1, 2}, options);
                else
                    m_manager->submitTask(tasks::add, 1, 2, options);
                QFAIL("expected UnknownTaskError");
            } catch (const UnknownTaskError &e) {
                QCOMPARE(e.taskType(), submitType);
                QCOMPARE(e.poolTaskType(), poolType);
                const QString message = QString::fromUtf8(e.what());
                QVERIFY2(message.contains(poolType), qPrintable(message));
                if (!submitType.isEmpty())
                    QVERIFY2(message.contains(submitType), qPrintable(message));
                QVERIFY2(message.contains(QStringLiteral("TaskType")), qPrintable(message));
            }
        }
        // Nothing was queued.
        QCOMPARE(m_manager->getPool()->stats().submitted, quint64(0));
        QCOMPARE(m_manager->getPool()->workers().size(), 0);
    }

    void exceptionInTaskFailsFutureWorkerLivesOn()
    {
        m_manager->start(1);
        const qint64 before = m_manager->submitTask(tasks::pid).result();
        QFuture<int> f = m_manager->submitTask(tasks::throwRuntime, QStringLiteral("bad input"));
        try {
            f.result();
            QFAIL("expected TaskException");
        } catch (const TaskException &e) {
            QCOMPARE(e.typeName(), QStringLiteral("std::runtime_error"));
            QCOMPARE(e.originalMessage(), QStringLiteral("bad input"));
            QCOMPARE(e.taskName(), QStringLiteral("throwRuntime"));
            QVERIFY(QString::fromUtf8(e.what()).contains(QStringLiteral("bad input")));
        }
        QVERIFY_THROWS_EXCEPTION(TaskException, m_manager->submitTask(tasks::throwInt).result());
        try {
            m_manager->submitTask(tasks::throwInt).waitForFinished();
            QFAIL("expected TaskException");
        } catch (const TaskException &e) {
            QCOMPARE(e.typeName(), QStringLiteral("int"));
        }
        QCOMPARE(m_manager->submitTask(tasks::pid).result(), before); // same worker, alive
        QCOMPARE(m_manager->submitTask(tasks::add, 1, 1).result(), 2);
    }

    void onFailedSeesTheException()
    {
        m_manager->start(1);
        QString seen;
        auto f = m_manager->submitTask(tasks::throwRuntime, QStringLiteral("via onFailed"))
                     .onFailed([&seen](const TaskException &e) {
                         seen = e.originalMessage();
                         return -1;
                     });
        QCOMPARE(f.result(), -1);
        QCOMPARE(seen, QStringLiteral("via onFailed"));
    }

    void printingDoesNotCorruptAndArrivesAsLog()
    {
        m_manager->start(1);
        // workerLog is emitted on the engine thread: a QSignalSpy would append from that
        // thread while this one reads it.
        faultsupport::SignalRecorder<std::pair<qint64, QString>> log(
            m_manager, &ProcessPoolManager::workerLog,
            [](qint64 pid, const QString &line) { return std::pair{pid, line}; });
        auto lines = [&log] {
            QStringList text;
            for (const auto &entry : log.values())
                text << entry.second;
            return text;
        };
        QList<QFuture<int>> futures;
        for (int i = 0; i < 50; ++i)
            futures << m_manager->submitTask(tasks::printBoth, QStringLiteral("line%1").arg(i));
        for (int i = 0; i < 50; ++i)
            QCOMPARE(futures[i].result(), QStringLiteral("line%1").arg(i).size());
        QTRY_VERIFY(lines().contains(QStringLiteral("out:line49")) && lines().contains(QStringLiteral("err:line49")));
        QVERIFY(lines().contains(QStringLiteral("out:line0")));
        QVERIFY(lines().contains(QStringLiteral("err:line0")));
        const qint64 pid = m_manager->getPool()->workerPids().value(0);
        QVERIFY(pid > 0);
        for (const auto &entry : log.values())
            QCOMPARE(entry.first, pid);
    }

    // A worker that prints far faster than the thread receiving workerLog takes the lines (here
    // that thread is blocked) makes the pool hold a bounded number of them; the rest are
    // dropped, and a line says how many: none vanishes unaccounted for.
    void outputFloodIsBoundedAndCounted()
    {
        constexpr int lines = 300000;
        m_manager->start(1);
        int received = 0;
        qint64 dropped = 0;
        QStringList markers;
        QStringList others;
        QObject receiver; // on this thread: each line is a queued event
        static const QRegularExpression marker(
            QStringLiteral("^procpool: (\\d+) lines of this worker's output were dropped"));
        connect(m_manager, &ProcessPoolManager::workerLog, &receiver,
                [&](qint64, const QString &line) {
                    if (line.startsWith(QLatin1String("flood line ")))
                        ++received;
                    else if (const QRegularExpressionMatch m = marker.match(line); m.hasMatch()) {
                        dropped += m.captured(1).toLongLong();
                        markers << line;
                    } else {
                        others << line;
                    }
                });
        // Blocks this thread, the manager's, until the worker's lines have all been read.
        QCOMPARE(m_manager->submitTask(tasks::floodStderr, lines).result(), lines);
        QTRY_COMPARE(received + dropped, qint64(lines));
        QVERIFY2(received <= int(detail::OutputMeter::maxLines),
                 qPrintable(QString::number(received)));
        QVERIFY(dropped > 0);
        QVERIFY2(markers.first().contains(QLatin1String("the receivers of workerLog fell behind")),
                 qPrintable(markers.first()));
        // Once the receiver keeps up again, lines flow again.
        QCOMPARE(m_manager->submitTask(tasks::printBoth, QStringLiteral("after")).result(), 5);
        QTRY_VERIFY(others.contains(QStringLiteral("out:after"))
                    && others.contains(QStringLiteral("err:after")));
    }

    void workerNamesInProc()
    {
        m_manager->start(2, QString(), false, QStringLiteral("render"));
        QSet<QString> names;
        // Two long tasks at once make sure both workers run.
        auto a = m_manager->submitTask(tasks::sleepMs, 300);
        auto b = m_manager->submitTask(tasks::sleepMs, 300);
        a.waitForFinished();
        b.waitForFinished();
        const QList<WorkerInfo> workers = m_manager->getPool()->workers();
        QCOMPARE(workers.size(), 2);
        for (const WorkerInfo &w : workers) {
            QFile comm(QStringLiteral("/proc/%1/comm").arg(w.pid));
            QVERIFY(comm.open(QIODevice::ReadOnly));
            const QString name = QString::fromUtf8(comm.readAll()).trimmed();
            QCOMPARE(name, w.name);
            names << name;
            QFile cmdline(QStringLiteral("/proc/%1/cmdline").arg(w.pid));
            QVERIFY(cmdline.open(QIODevice::ReadOnly));
            QVERIFY(cmdline.readAll().startsWith(w.name.toUtf8()));
        }
        QCOMPARE(names, (QSet<QString>{QStringLiteral("render-1"), QStringLiteral("render-2")}));
        // And from inside the worker.
        QVERIFY(m_manager->submitTask(tasks::comm).result().startsWith(QStringLiteral("render-")));
    }

    void untypedSubmission()
    {
        m_manager->start(1);
        QFuture<QVariant> f = m_manager->submitTask(QStringLiteral("add"), {20, 22});
        QCOMPARE(f.result().metaType(), QMetaType::fromType<int>());
        QCOMPARE(f.result().toInt(), 42);
        try {
            m_manager->submitTask(QStringLiteral("no-such-task"), {});
            QFAIL("expected UnknownTaskName");
        } catch (const UnknownTaskName &e) {
            QCOMPARE(e.taskName(), QStringLiteral("no-such-task"));
            QVERIFY(QString::fromUtf8(e.what()).contains(QStringLiteral("no-such-task")));
        }
        QVERIFY_THROWS_EXCEPTION(CodecError, m_manager->submitTask(QStringLiteral("add"), {1}));
        QVERIFY_THROWS_EXCEPTION(CodecError, m_manager->submitTask(QStringLiteral("add"),
                                                                   {QStringLiteral("x"), 1}));
        QCOMPARE(m_manager->getPool()->stats().submitted, quint64(1));
    }

    void concurrentSubmissionFromEightThreads()
    {
        m_manager->start(2);
        constexpr int perThread = 500;
        QList<QThread *> threads;
        QList<bool> ok(8, false);
        for (int t = 0; t < 8; ++t) {
            threads << QThread::create([this, t, &ok] {
                QList<QFuture<int>> futures;
                for (int i = 0; i < perThread; ++i)
                    futures << m_manager->submitTask(tasks::add, t * 100000, i);
                bool good = true;
                for (int i = 0; i < perThread; ++i)
                    good = good && futures[i].result() == t * 100000 + i;
                ok[t] = good;
            });
        }
        for (QThread *t : threads)
            t->start();
        for (QThread *t : threads) {
            QVERIFY(t->wait(QDeadlineTimer(QDeadlineTimer::Forever)));
            delete t;
        }
        for (bool good : ok)
            QVERIFY(good);
        QCOMPARE(m_manager->getPool()->stats().completed, quint64(8 * perThread));
    }

    void thenContinuations()
    {
        m_manager->start(2);
        // A context-less continuation runs on the engine thread: fine for quick work, and it
        // may submit more tasks (without blocking on them).
        QFuture<QFuture<int>> submitted = m_manager->submitTask(tasks::add, 1, 2).then(
            [this](int three) { return m_manager->submitTask(tasks::add, three, 10); });
        QCOMPARE(submitted.unwrap().result(), 13);

        // A step that waits on another task runs elsewhere (Launch::Async), then a quick one.
        QFuture<int> chained = m_manager->submitTask(tasks::add, 1, 2)
                                   .then(QtFuture::Launch::Async,
                                         [this](int three) {
                                             return m_manager->submitTask(tasks::add, three, 10).result();
                                         })
                                   .then([](int thirteen) { return thirteen * 2; });
        QCOMPARE(chained.result(), 26);

        // A continuation with a context runs on that context's thread.
        QThread *seenOn = nullptr;
        QFuture<void> done = m_manager->submitTask(tasks::increment, 1).then(this, [&seenOn](int) {
            seenOn = QThread::currentThread();
        });
        QTRY_VERIFY(done.isFinished());
        QCOMPARE(seenOn, QThread::currentThread());

        // QFutureWatcher on the main thread.
        QFutureWatcher<int> watcher;
        QSignalSpy finished(&watcher, &QFutureWatcherBase::finished);
        watcher.setFuture(m_manager->submitTask(tasks::increment, 41));
        QTRY_COMPARE(finished.size(), 1);
        QCOMPARE(watcher.result(), 42);
    }

    void waitingOnMainThreadNeverDeadlocks()
    {
        // The main thread blocks in result() while no event loop runs here: the engine thread
        // does all the I/O, so this returns.
        m_manager->start(1);
        for (int i = 0; i < 100; ++i)
            QCOMPARE(m_manager->submitTask(tasks::increment, i).result(), i + 1);
    }

    void nestedPoolInsideWorker()
    {
        m_manager->start(1);
        const QStringList out = m_manager->submitTask(tasks::nested, QStringLiteral("inner"), 10).result();
        QCOMPARE(out.size(), 4);
        const qint64 workerPid = out[0].toLongLong();
        QVERIFY(workerPid != ::getpid());
        QCOMPARE(out[1], QStringLiteral("1")); // registered under the worker's own pid
        QCOMPARE(out[2].toInt(), 55);          // sum of (i + 1) for i < 10
        const qint64 grandchild = out[3].toLongLong();
        QVERIFY(grandchild != workerPid && grandchild != ::getpid());
        // The nested manager lives in the worker's registry, not ours.
        QVERIFY(!ProcessPoolManager::registry().contains(workerPid));
        QVERIFY(!ProcessPoolManager::registry().value(::getpid()).contains(QStringLiteral("inner")));
        QTRY_VERIFY(!processAlive(grandchild));
    }

    void crashFailsOneTaskPoolGoesOn()
    {
        m_manager->start(1);
        // workerExited is emitted on the engine thread.
        faultsupport::SignalRecorder<std::pair<qint64, int>> exited(
            m_manager, &ProcessPoolManager::workerExited,
            [](qint64 pid, int, int signal, const QString &) { return std::pair{pid, signal}; });
        const qint64 first = m_manager->submitTask(tasks::pid).result();
        try {
            m_manager->submitTask(tasks::segfault).waitForFinished();
            QFAIL("expected WorkerCrashed");
        } catch (const WorkerCrashed &e) {
            QCOMPARE(e.pid(), first);
            QCOMPARE(e.signal(), SIGSEGV);
            QCOMPARE(e.signalName(), QStringLiteral("SIGSEGV"));
            QCOMPARE(e.exitCode(), -1);
            QVERIFY(e.lastStderrLines().contains(QStringLiteral("segfaulting now")));
            QVERIFY(QString::fromUtf8(e.what()).contains(QStringLiteral("SIGSEGV")));
        }
        const qint64 second = m_manager->submitTask(tasks::pid).result();
        QVERIFY(second != first);
        QTRY_VERIFY(exited.count() > 0);
        QCOMPARE(exited.count(), 1);
        QCOMPARE(exited.values().first().first, first);
        QCOMPARE(exited.values().first().second, SIGSEGV);
    }

    void taskSentToAWorkerThatDiesUnreadRunsElsewhere()
    {
        // The pool counts a task as running once it is in the worker's pipe. A worker that
        // dies before reading it never ran it: the task goes to a replacement, not failing.
        m_manager->start(1);
        const qint64 first = m_manager->submitTask(tasks::pid).result();
        QCOMPARE(::kill(pid_t(first), SIGSTOP), 0);
        QTRY_COMPARE(faultsupport::processState(first), 'T'); // reads nothing from here on
        QFuture<qint64> unread = m_manager->submitTask(tasks::pid);
        QTRY_COMPARE(m_manager->getPool()->stats().running, qint64(1));
        QCOMPARE(::kill(pid_t(first), SIGKILL), 0);
        const qint64 second = unread.result();
        QVERIFY(second != first);
        const PoolStats stats = m_manager->getPool()->stats();
        QCOMPARE(stats.failed, quint64(0));
        QCOMPARE(stats.completed, quint64(2));
        QCOMPARE(stats.workersCrashed, quint64(1));
    }

    void missingProgramBreaksThePool()
    {
        PoolOptions options;
        options.maxWorkers = 2;
        options.startContext.program = QStringLiteral("/nonexistent/procpool-worker");
        m_manager->start(options);
        QFuture<QVariant> f = m_manager->submitTask(QStringLiteral("add"), {1, 2});
        try {
            f.waitForFinished();
            QFAIL("expected PoolBroken");
        } catch (const PoolBroken &e) {
            const QString message = QString::fromUtf8(e.what());
            QVERIFY2(message.contains(QStringLiteral("/nonexistent/procpool-worker")), qPrintable(message));
        }
        QTRY_COMPARE(m_manager->state(), PoolState::Broken);
        // New submissions fail at once with the same error.
        QVERIFY_THROWS_EXCEPTION(PoolBroken,
                                 m_manager->submitTask(QStringLiteral("add"), {1, 2}).waitForFinished());
        m_manager->stop();
        m_manager->start(1); // the cause is gone: this executable exists
        QCOMPARE(m_manager->submitTask(tasks::add, 1, 2).result(), 3);
    }

    void dedicatedWorkerProgramAndStartContext()
    {
        QTemporaryDir dir;
        PoolOptions options;
        options.maxWorkers = 1;
        options.startContext.program = QCoreApplication::applicationDirPath()
                                       + QStringLiteral("/worker_program");
        options.startContext.arguments = {QStringLiteral("--alpha"), QStringLiteral("beta")};
        QProcessEnvironment env;
        env.insert(QStringLiteral("PROCPOOL_TEST_VALUE"), QStringLiteral("from the context"));
        options.startContext.environment = env;
        options.startContext.workingDirectory = dir.path();
        m_manager->start(options);

        // Tasks this executable does not know are submitted by name.
        QCOMPARE(m_manager->submitTask(QStringLiteral("wp.multiply"), {6, 7}).result().toInt(), 42);
        QCOMPARE(m_manager->submitTask(QStringLiteral("wp.cwd"), {}).result().toString(),
                 QFileInfo(dir.path()).canonicalFilePath());
        QCOMPARE(m_manager->submitTask(QStringLiteral("wp.env"), {QStringLiteral("PROCPOOL_TEST_VALUE")})
                     .result()
                     .toString(),
                 QStringLiteral("from the context"));
        QCOMPARE(m_manager->submitTask(QStringLiteral("wp.env"), {QStringLiteral("PROCPOOL_WORKER")})
                     .result()
                     .toString(),
                 QString()); // the worker variables are not passed on to task code
        QCOMPARE(m_manager->submitTask(QStringLiteral("wp.arguments"), {}).result().toStringList(),
                 (QStringList{QStringLiteral("--alpha"), QStringLiteral("beta")}));

        // A name the worker program does not know fails the future (it is checked there).
        QFuture<QVariant> unknown = m_manager->submitTask(QStringLiteral("add"), {1, 2});
        try {
            unknown.waitForFinished();
            QFAIL("expected UnknownTaskName");
        } catch (const UnknownTaskName &e) {
            QCOMPARE(e.taskName(), QStringLiteral("add"));
        }
        // The worker lives on.
        QCOMPARE(m_manager->submitTask(QStringLiteral("wp.multiply"), {2, 3}).result().toInt(), 6);
        QCOMPARE(m_manager->getPool()->stats().workersStarted, quint64(1));
    }

    void taskRecordsFollowEveryTask()
    {
        m_manager->start(1);
        auto ok = m_manager->submitTracked(QStringLiteral("add"), {1, 2},
                                                 TaskType(QStringLiteral("math")));
        auto bad = m_manager->submitTracked(QStringLiteral("throwRuntime"), {QStringLiteral("no")});
        QVERIFY(ok.id != bad.id);
        QCOMPARE(ok.future.result().toInt(), 3);
        QVERIFY_THROWS_EXCEPTION(TaskException, bad.future.waitForFinished());

        ProcessPool *pool = m_manager->getPool();
        const std::optional<TaskRecord> first = pool->taskRecord(ok.id);
        QVERIFY(first);
        QCOMPARE(first->taskName, QStringLiteral("add"));
        QCOMPARE(first->taskType, QStringLiteral("math"));
        QCOMPARE(first->state, TaskState::Finished);
        QCOMPARE(first->workerPid, pool->workerPids().value(0));
        QVERIFY(first->submittedAt <= first->startedAt && first->startedAt <= first->finishedAt);
        const std::optional<TaskRecord> second = pool->taskRecord(bad.id);
        QVERIFY(second);
        QCOMPARE(second->state, TaskState::Failed);
        QVERIFY2(second->error.contains(QStringLiteral("std::runtime_error: no")), qPrintable(second->error));

        // Polling with the last serial seen returns only what changed since.
        const QList<TaskRecord> all = pool->taskRecords();
        QCOMPARE(all.size(), 2);
        const quint64 seen = std::max(all[0].serial, all[1].serial);
        QVERIFY(pool->taskRecords(seen).isEmpty());
        auto third = m_manager->submitTracked(QStringLiteral("add"), {2, 2});
        third.future.waitForFinished();
        const QList<TaskRecord> changed = pool->taskRecords(seen);
        QCOMPARE(changed.size(), 1);
        QCOMPARE(changed.first().id, third.id);
    }

    // A task submitted while a worker is idle and nothing is queued goes to that worker from
    // the submitting thread itself; the engine thread takes it over afterwards. It must be
    // counted, recorded, timed, cancellable and re-queued/failed exactly like any other.
    void taskHandedToAnIdleWorkerIsTrackedLikeAnyOther()
    {
        PoolOptions options;
        options.maxWorkers = 1;
        options.minWorkers = 1;
        m_manager->start(options);
        ProcessPool *pool = m_manager->getPool();
        QCOMPARE(m_manager->submitTask(tasks::add, 1, 1).result(), 2); // the worker is idle now
        QTemporaryDir dir;
        auto gated = m_manager->submitTracked(QStringLiteral("pool.waitForFile"),
                                              {dir.filePath(QStringLiteral("gate"))});
        QTRY_COMPARE(pool->taskRecord(gated.id)->state, TaskState::Running);
        const qint64 pid = pool->taskRecord(gated.id)->workerPid;
        QVERIFY(pool->workerPids().contains(pid));
        QCOMPARE(pool->stats().running, qint64(1));
        // Behind it, in order: queued in the parent (the worker is busy), then prefetched.
        QList<QFuture<int>> after;
        for (int i = 0; i < 20; ++i)
            after << m_manager->submitTask(tasks::add, i, i);
        QVERIFY(pool->cancelTask(gated.id)); // default policy: the worker is killed
        QTRY_VERIFY(gated.future.isFinished());
        QVERIFY(gated.future.isCanceled());
        for (int i = 0; i < after.size(); ++i)
            QCOMPARE(after[i].result(), 2 * i); // re-queued to the replacement, none lost
        QVERIFY(!pool->workerPids().contains(pid));
        const PoolStats stats = pool->stats();
        QCOMPARE(stats.submitted, quint64(22));
        QCOMPARE(stats.completed, quint64(21));
        QCOMPARE(stats.cancelled + stats.failed, quint64(1));
        QCOMPARE(stats.running, qint64(0));
        QCOMPARE(m_manager->submitTask(tasks::add, 2, 3).result(), 5); // and directly again
    }

    // A frame larger than the input pipe's buffer, handed to an idle worker from this thread:
    // what the pipe does not take at once goes out from the engine thread, in order, before
    // anything submitted after it.
    void largeFrameHandedToAnIdleWorkerArrivesWhole()
    {
        m_manager->start(1);
        QCOMPARE(m_manager->submitTask(tasks::add, 1, 1).result(), 2); // the worker is idle now
        QString text(4 * 1024 * 1024, Qt::Uninitialized); // UTF-8 in the frame: 4 MiB
        for (qsizetype i = 0; i < text.size(); ++i)
            text[i] = QLatin1Char(char('a' + i % 26));
        auto big = m_manager->submitTask(tasks::echoVariant, QVariant(text));
        auto next = m_manager->submitTask(tasks::add, 2, 3);
        QCOMPARE(big.result().toString(), text);
        QCOMPARE(next.result(), 5);
    }

    void cancelTaskByIdForMonitors()
    {
        m_manager->start(1); // one worker: the second task waits in the queue
        QTemporaryDir dir;
        const QString never = dir.filePath(QStringLiteral("never"));
        auto running = m_manager->submitTracked(QStringLiteral("sleepMs"), {600000});
        auto queued = m_manager->submitTracked(QStringLiteral("touch"), {never});
        ProcessPool *pool = m_manager->getPool();
        QTRY_COMPARE(pool->taskRecord(running.id)->state, TaskState::Running);
        const qint64 busyPid = pool->taskRecord(running.id)->workerPid;

        QVERIFY(pool->cancelTask(queued.id));
        QVERIFY(pool->cancelTask(running.id)); // default policy: its worker is killed
        QTRY_VERIFY(queued.future.isFinished() && running.future.isFinished());
        QVERIFY(queued.future.isCanceled());
        QVERIFY(running.future.isCanceled());
        QTRY_COMPARE(pool->taskRecord(running.id)->state, TaskState::Cancelled);
        QCOMPARE(pool->taskRecord(queued.id)->state, TaskState::Cancelled);
        QVERIFY(!pool->cancelTask(running.id)); // no longer queued or running
        QVERIFY(!pool->cancelTask(999999999));  // never existed

        // The pool goes on with a new worker, and the dropped task never ran.
        QCOMPARE(m_manager->submitTask(tasks::add, 2, 3).result(), 5);
        QVERIFY(!pool->workerPids().contains(busyPid));
        QVERIFY(!QFileInfo::exists(never));
    }

    void taskHistoryIsBounded()
    {
        PoolOptions options;
        options.maxWorkers = 1;
        options.taskHistory = 5;
        m_manager->start(options);
        QList<QFuture<int>> futures;
        for (int i = 0; i < 19; ++i)
            futures << m_manager->submitTask(tasks::increment, i);
        const auto last = m_manager->submitTracked(tasks::increment.name(), {19});
        QCOMPARE(last.future.result().toInt(), 20);
        for (auto &f : futures)
            f.waitForFinished();
        // One worker runs them in order, so the five kept are the five submitted last, whole.
        const QList<TaskRecord> records = m_manager->getPool()->taskRecords();
        QCOMPARE(records.size(), 5);
        for (qsizetype i = 0; i < records.size(); ++i) {
            const TaskRecord &r = records.at(i);
            QCOMPARE(r.id, last.id - 4 + quint64(i));
            QCOMPARE(r.state, TaskState::Finished);
            QCOMPARE(r.taskName, tasks::increment.name());
            QVERIFY(r.submittedAt.isValid() && r.submittedAt <= r.startedAt);
            QVERIFY(r.startedAt <= r.finishedAt);
            QVERIFY(qAbs(r.finishedAt.secsTo(QDateTime::currentDateTime())) < 3600);
        }
        QCOMPARE(m_manager->getPool()->stats().completed, quint64(20)); // counters stay exact
    }

    void killWorkerActsLikeACrash()
    {
        m_manager->start(1);
        auto running = m_manager->submitTracked(QStringLiteral("sleepMs"), {60000});
        QTRY_COMPARE(m_manager->getPool()->taskRecord(running.id)->state, TaskState::Running);
        const qint64 pid = m_manager->getPool()->taskRecord(running.id)->workerPid;
        QVERIFY(faultsupport::waitUntilSleepingInTask(pid)); // read by the worker, not only sent
        QVERIFY(!m_manager->getPool()->killWorker(::getpid())); // not one of ours
        QVERIFY(m_manager->getPool()->killWorker(pid));
        try {
            running.future.waitForFinished();
            QFAIL("expected WorkerCrashed");
        } catch (const WorkerCrashed &e) {
            QCOMPARE(e.signal(), SIGKILL);
            QCOMPARE(e.pid(), pid);
        }
        QTRY_VERIFY(!processAlive(pid));
        QCOMPARE(m_manager->submitTask(tasks::add, 2, 2).result(), 4); // replaced
    }

    void terminateKillsANonDaemonPool()
    {
        m_manager->start(2, QString(), false);
        auto a = m_manager->submitTask(tasks::sleepMs, 60000);
        auto b = m_manager->submitTask(tasks::sleepMs, 60000);
        auto queued = m_manager->submitTask(tasks::sleepMs, 60000);
        auto runningCount = [this] {
            int n = 0;
            for (const TaskRecord &r : m_manager->getPool()->taskRecords())
                n += r.state == TaskState::Running;
            return n;
        };
        QTRY_COMPARE(runningCount(), 2);
        const QList<qint64> pids = m_manager->getPool()->workerPids();
        m_manager->terminate();
        QVERIFY(!m_manager->isRunning());
        QVERIFY_THROWS_EXCEPTION(PoolStopped, a.waitForFinished());
        QVERIFY_THROWS_EXCEPTION(PoolStopped, b.waitForFinished());
        QVERIFY_THROWS_EXCEPTION(PoolStopped, queued.waitForFinished());
        for (qint64 pid : pids)
            QVERIFY(!processAlive(pid)); // terminate() returned after they were gone
    }

    void cancelQueuedTaskNeverRuns()
    {
        m_manager->start(1);
        QTemporaryDir dir;
        auto blocker = m_manager->submitTask(tasks::sleepMs, 500);
        QList<QFuture<int>> queued;
        for (int i = 0; i < 5; ++i)
            queued << m_manager->submitTask(tasks::sleepThenTouch, 0, dir.filePath(QString::number(i)));
        queued.last().cancel();
        QCOMPARE(blocker.result(), 500);
        for (int i = 0; i < 4; ++i)
            queued[i].waitForFinished();
        QTRY_VERIFY(queued.last().isFinished());
        QVERIFY(queued.last().isCanceled());
        QCOMPARE(m_manager->submitTask(tasks::add, 0, 0).result(), 0); // after everything queued
        QVERIFY(!QFile::exists(dir.filePath(QStringLiteral("4"))));
        QVERIFY(QFile::exists(dir.filePath(QStringLiteral("3"))));
    }

    // With maxQueued, a submission that finds the queue full fails at once (roomTimeout 0),
    // after its timeout, or waits as long as it takes (the default); a stop wakes a waiting
    // one with PoolNotRunning. Refused submissions are never counted or run.
    void boundedQueueRefusesOrWaits()
    {
        QTemporaryDir dir;
        const QString gate = dir.filePath(QStringLiteral("gate"));
        PoolOptions options;
        options.maxWorkers = 1;
        options.prefetch = 0; // queued tasks stay in this process
        options.maxQueued = 3;
        m_manager->start(options);
        QFuture<int> running = m_manager->submitTask(waitForFile, gate);
        QTRY_COMPARE(m_manager->getPool()->stats().running, qint64(1));
        QList<QFuture<int>> queued;
        for (int i = 0; i < 3; ++i)
            queued << m_manager->submitTask(tasks::add, i, 100);
        QCOMPARE(m_manager->getPool()->stats().queued, qint64(3));

        SubmitOptions now;
        now.roomTimeout = std::chrono::milliseconds(0);
        try {
            m_manager->submitTask(tasks::add, 1, 1, now);
            QFAIL("expected QueueFull");
        } catch (const QueueFull &e) {
            QCOMPARE(e.maxQueued(), 3);
            QVERIFY2(QString::fromUtf8(e.what()).contains(QLatin1String("maximum of 3 tasks")),
                     e.what());
        }
        SubmitOptions briefly;
        briefly.roomTimeout = std::chrono::milliseconds(100);
        try {
            m_manager->submitTask(tasks::add, 1, 1, briefly);
            QFAIL("expected QueueFull");
        } catch (const QueueFull &e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains(QLatin1String("within 100 ms")), e.what());
        }
        QCOMPARE(m_manager->getPool()->stats().submitted, quint64(4)); // the two never counted

        // Without a timeout it waits, on its own thread, until the worker makes room.
        std::atomic<bool> submitted{false};
        std::atomic<qint64> waiterTid{0};
        QFuture<int> waited;
        std::thread waiter([&] {
            waiterTid = qint64(::gettid());
            waited = m_manager->submitTask(tasks::add, 40, 2);
            submitted = true;
        });
        // Until the submission sleeps on its wait for room (a futex), or returns.
        QTRY_VERIFY(submitted || (waiterTid != 0 && faultsupport::threadSyscall(waiterTid) == SYS_futex));
        QVERIFY(!submitted);
        QVERIFY(faultsupport::touchFile(gate));
        waiter.join();
        QVERIFY(submitted);
        QCOMPARE(waited.result(), 42);
        for (int i = 0; i < 3; ++i)
            QCOMPARE(queued[i].result(), i + 100);
        QCOMPARE(running.result(), 0);
        QCOMPARE(m_manager->getPool()->stats().submitted, quint64(5));

        // A stop wakes a submission that waits for room: it learns the pool is stopping.
        QFile::remove(gate);
        running = m_manager->submitTask(waitForFile, gate);
        QTRY_COMPARE(m_manager->getPool()->stats().running, qint64(1));
        for (int i = 0; i < 3; ++i)
            m_manager->submitTask(tasks::add, i, 0);
        QString refused;
        std::thread blocked([&] {
            try {
                m_manager->submitTask(tasks::add, 0, 0);
            } catch (const PoolNotRunning &e) {
                refused = QString::fromUtf8(e.what());
            }
        });
        QTRY_VERIFY(m_manager->getPool()->stats().queued == 3);
        ProcessPool *pool = m_manager->getPool(); // lives until stop() returns
        std::thread stopper([&] { m_manager->stop(); });
        // Room opens only after the pool has stopped accepting: the other order would let the
        // blocked submission in legitimately, before the stop.
        QTRY_COMPARE(pool->state(), PoolState::Stopping);
        QVERIFY(faultsupport::touchFile(gate));
        blocked.join(); // woken by the stop, whether it was waiting by then or came after
        stopper.join();
        QVERIFY2(!refused.isEmpty(), "the blocked submission was accepted by a stopping pool");
    }

    void stopWaitNonDaemonRunsEverything()
    {
        m_manager->start(2, QString(), false);
        QTemporaryDir dir;
        QList<QFuture<int>> futures;
        for (int i = 0; i < 6; ++i)
            futures << m_manager->submitTask(tasks::sleepThenTouch, 100, dir.filePath(QString::number(i)));
        m_manager->stop(true);
        for (int i = 0; i < 6; ++i) {
            QVERIFY(futures[i].isFinished());
            QCOMPARE(futures[i].result(), 100);
            QVERIFY(QFile::exists(dir.filePath(QString::number(i))));
        }
    }

    void stopNoWaitNonDaemonStillCompletes()
    {
        m_manager->start(1, QString(), false);
        QTemporaryDir dir;
        QList<QFuture<int>> futures;
        for (int i = 0; i < 4; ++i)
            futures << m_manager->submitTask(tasks::sleepThenTouch, 100, dir.filePath(QString::number(i)));
        m_manager->stop(false);
        QVERIFY_THROWS_EXCEPTION(PoolNotRunning, m_manager->submitTask(tasks::add, 1, 1));
        for (auto &f : futures)
            QCOMPARE(f.result(), 100);
        m_manager->start(1); // a new pool while nothing of the old one is left
        QCOMPARE(m_manager->submitTask(tasks::add, 1, 1).result(), 2);
    }

    void stopDaemonWaitDropsQueued()
    {
        m_manager->start(1, QString(), true);
        auto running = m_manager->submitTask(tasks::sleepMs, 300);
        QTRY_COMPARE(m_manager->getPool()->stats().running, qint64(1));
        QList<QFuture<int>> queued;
        for (int i = 0; i < 5; ++i)
            queued << m_manager->submitTask(tasks::sleepMs, 300);
        m_manager->stop(true);
        QCOMPARE(running.result(), 300); // what a worker held finished
        int dropped = 0;
        for (auto &f : queued) {
            QVERIFY(f.isFinished());
            try {
                f.waitForFinished();
            } catch (const PoolStopped &) {
                ++dropped;
            }
        }
        // The one prefetched by the worker ran; the rest were dropped.
        QVERIFY2(dropped >= 4, qPrintable(QString::number(dropped)));
    }

    void stopDaemonNoWaitKills()
    {
        m_manager->start(1, QString(), true);
        const qint64 pid = m_manager->submitTask(tasks::pid).result();
        auto hung = m_manager->submitTask(tasks::sleepMs, 60000);
        QTRY_COMPARE(m_manager->getPool()->stats().running, qint64(1));
        m_manager->stop(false);
        QVERIFY_THROWS_EXCEPTION(PoolStopped, hung.waitForFinished());
        QTRY_VERIFY(!processAlive(pid));
    }
};

PROCPOOL_TEST_MAIN(TestPool)
#include "tst_pool.moc"
