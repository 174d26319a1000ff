// Scheduling and limits, with real worker processes: priorities reorder the queue, failed tasks
// run again under a retry policy, memory limits retire or kill a worker that grows, resource
// limits reach the worker process, and the lines a task prints belong to that task.
//
// Nothing here depends on timing: a task that must be running when something happens waits for
// a gate file, and every wait is a hang guard only.
#include "faultsupport.h"
#include "testmain.h"
#include "testtasks.h"

#include <procpool/procpool.h>

#include <QtCore/QFile>
#include <QtCore/QSet>
#include <QtCore/QTemporaryDir>
#include <QtCore/QThread>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <sched.h>
#include <stdexcept>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

using namespace procpool;
using namespace faultsupport;

namespace {

// ---- tasks only this suite's workers run ------------------------------------------------

//! Appends \a label and a line break to \a path: the order in which one worker ran its tasks.
QString appendLine(const QString &path, const QString &label)
{
    QFile f(path);
    if (!f.open(QIODevice::Append))
        throw std::runtime_error("cannot open log");
    f.write(label.toUtf8() + '\n');
    return label;
}
const Task<QString(QString, QString)> logRun{"scheduling.logRun", appendLine};

//! logRun() for a map(): its one argument is "PATH\tLABEL".
const Task<QString(QString)> logItem{"scheduling.logItem", [](const QString &item) {
                                         return appendLine(item.section(u'\t', 0, 0),
                                                           item.section(u'\t', 1));
                                     }};

//! Blocks until \a gate exists.
const Task<int(QString)> waitGate{"scheduling.waitGate",
                                  [](const QString &gate) { return waitForGate(gate); }};

//! Counts its runs in \a counter; throws std::runtime_error on the first \a failures of them
//! (or, with \a crash, dies of SIGABRT), and returns the run's number after that.
int failingRun(const QString &counter, int failures, bool crash)
{
    QFile f(counter);
    if (!f.open(QIODevice::ReadWrite))
        throw std::logic_error("cannot open the counter");
    const int run = f.readAll().trimmed().toInt() + 1;
    f.seek(0);
    f.write(QByteArray::number(run));
    f.close();
    if (run <= failures) {
        std::printf("run %d fails\n", run);
        std::fflush(stdout);
        if (crash)
            std::abort();
        throw std::runtime_error("run " + std::to_string(run) + " fails");
    }
    return run;
}
const Task<int(QString, int)> failFirst{"scheduling.failFirst",
                                        [](const QString &counter, int failures) {
                                            return failingRun(counter, failures, false);
                                        }};
const Task<int(QString, int)> crashFirst{"scheduling.crashFirst",
                                         [](const QString &counter, int failures) {
                                             return failingRun(counter, failures, true);
                                         }};

//! Where grow() keeps what it allocated, so that nothing can be optimised away or freed.
std::vector<char *> g_kept;

//! Allocates and touches \a mib MiB and keeps it; then, with \a endless, goes on allocating a
//! MiB at a time (a leak that does not stop) until something stops the worker.
const Task<qint64(int, bool)> grow{"scheduling.grow", [](int mib, bool endless) {
                                       constexpr size_t block = size_t(1) << 20;
                                       for (int i = 0; i < mib || endless; ++i) {
                                           char *p = static_cast<char *>(std::malloc(block));
                                           if (!p)
                                               throw std::bad_alloc();
                                           std::memset(p, 1, block);
                                           g_kept.push_back(p);
                                           if (i >= mib)
                                               QThread::msleep(1);
                                       }
                                       return qint64(::getpid());
                                   }};

//! Where allocateOnce() keeps its block: an allocation the compiler cannot leave out.
char *volatile g_block = nullptr;

//! Allocates \a mib MiB at once; throws std::bad_alloc when the address space is capped below.
const Task<int(int)> allocateOnce{"scheduling.allocateOnce", [](int mib) {
                                      g_block = new char[size_t(mib) << 20];
                                      std::memset(g_block, 1, size_t(mib) << 20);
                                      delete[] g_block;
                                      g_block = nullptr;
                                      return mib;
                                  }};

//! The limits this worker runs under: RLIMIT_AS and RLIMIT_CPU (soft), its nice value, its CPUs.
const Task<QVariantMap()> ownLimits{"scheduling.ownLimits", [] {
                                        rlimit as{}, cpu{};
                                        ::getrlimit(RLIMIT_AS, &as);
                                        ::getrlimit(RLIMIT_CPU, &cpu);
                                        cpu_set_t set;
                                        ::sched_getaffinity(0, sizeof set, &set);
                                        QVariantList cpus;
                                        for (int i = 0; i < CPU_SETSIZE; ++i) {
                                            if (CPU_ISSET(i, &set))
                                                cpus.append(i);
                                        }
                                        return QVariantMap{
                                            {QStringLiteral("as"), qint64(as.rlim_cur)},
                                            {QStringLiteral("asHard"), qint64(as.rlim_max)},
                                            {QStringLiteral("cpu"), qint64(cpu.rlim_cur)},
                                            {QStringLiteral("nice"), ::getpriority(PRIO_PROCESS, 0)},
                                            {QStringLiteral("cpus"), cpus}};
                                    }};

//! Waits for \a gate, then answers the value of environment variable \a name in the worker
//! ("(unset)" when there is none).
const Task<QString(QString, QString)> environmentAfterGate{
    "scheduling.environmentAfterGate", [](const QString &name, const QString &gate) {
        waitForGate(gate);
        return qEnvironmentVariableIsSet(qPrintable(name))
                   ? QString::fromLocal8Bit(qgetenv(qPrintable(name)))
                   : QStringLiteral("(unset)");
    }};

//! Runs until the pool asks it to stop, then says so in \a stopped and returns -1.
//! Creates \a started, then waits until asked to stop and creates \a stopped. The first file
//! tells a test the call runs in its worker: before that, a cancel drops the call unstarted.
const Task<int(QString, QString)> untilAsked{"scheduling.untilAsked", [](const QString &started,
                                                                         const QString &stopped) {
                                        touchFile(started);
                                        while (!isCancellationRequested())
                                            QThread::msleep(1);
                                        touchFile(stopped);
                                        return -1;
                                    }};

//! Runs for ever, never asking whether to stop; with \a ignoreTerm, SIGTERM does not stop it
//! either. Creates \a started once it runs (and ignores SIGTERM, if it is to).
const Task<int(bool, QString)> deaf{"scheduling.deaf", [](bool ignoreTerm, const QString &started) {
                               if (ignoreTerm)
                                   std::signal(SIGTERM, SIG_IGN);
                               touchFile(started);
                               for (;;)
                                   QThread::msleep(10);
                               return 0;
                           }};

//! Prints \a lines lines tagged \a tag, to stdout and stderr in turn.
const Task<int(QString, int)> say{"scheduling.say", [](const QString &tag, int lines) {
                                      for (int i = 1; i <= lines; ++i) {
                                          std::FILE *to = i % 2 ? stdout : stderr;
                                          std::fprintf(to, "%s %d\n", qPrintable(tag), i);
                                          std::fflush(to);
                                      }
                                      return lines;
                                  }};

//! Prints one line, then dies of SIGSEGV's cousin SIGABRT.
const Task<int(QString)> sayThenAbort{"scheduling.sayThenAbort", [](const QString &last) {
                                          std::fprintf(stderr, "%s\n", qPrintable(last));
                                          std::fflush(stderr);
                                          std::abort();
                                          return 0;
                                      }};

RetryPolicy quickRetry(int attempts)
{
    RetryPolicy policy = RetryPolicy::attempts(attempts);
    policy.initialDelay = std::chrono::milliseconds(5);
    return policy;
}

QString readText(const QString &path)
{
    return QString::fromUtf8(readFile(path));
}

} // namespace

class TestScheduling : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString path(const QString &name) const { return m_dir.filePath(name); }

    //! Starts \a manager with one worker that prefetches nothing, and keeps that worker busy
    //! until \a gate exists: what the test submits next waits in a queue it can reorder.
    static void startOneBusyWorker(ProcessPoolManager &manager, const QString &gate)
    {
        PoolOptions options;
        options.maxWorkers = 1;
        options.prefetch = 0;
        manager.start(options);
        const auto busy = manager.submitTracked(waitGate.name(), {gate});
        QTRY_COMPARE(manager.getPool()->taskRecord(busy.id)->state, TaskState::Running);
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(m_dir.isValid()); }

    // ---- priorities ----

    void priorityReordersTheQueueBehindOneBusyWorker()
    {
        ProcessPoolManager manager;
        const QString gate = path(QStringLiteral("priority.gate"));
        const QString log = path(QStringLiteral("priority.log"));
        startOneBusyWorker(manager, gate);
        if (QTest::currentTestFailed())
            return;

        // label → priority, in submission order.
        const QList<std::pair<QString, int>> submissions{
            {QStringLiteral("a"), 0}, {QStringLiteral("b"), 0},  {QStringLiteral("c"), 5},
            {QStringLiteral("d"), 5}, {QStringLiteral("e"), -1}, {QStringLiteral("f"), 10}};
        QList<ProcessPoolManager::TrackedTask> tracked;
        for (const auto &[label, priority] : submissions) {
            SubmitOptions options;
            options.priority = priority;
            tracked.append(manager.submitTracked(logRun.name(), {log, label}, options));
        }
        QCOMPARE(manager.getPool()->taskRecord(tracked.at(5).id)->priority, 10);
        QVERIFY(touchFile(gate));
        for (auto &t : tracked)
            t.future.waitForFinished();
        // Highest first; submission order within one priority.
        QCOMPARE(readText(log), QStringLiteral("f\nc\nd\na\nb\ne\n"));
    }

    void mapChunksTakeTheirPriority()
    {
        ProcessPoolManager manager;
        const QString gate = path(QStringLiteral("map.gate"));
        const QString log = path(QStringLiteral("map.log"));
        startOneBusyWorker(manager, gate);
        if (QTest::currentTestFailed())
            return;
        auto low = manager.submitTracked(logRun.name(), {log, QStringLiteral("low")});
        MapOptions options;
        options.chunkSize = 1;
        options.priority = 3;
        // Submitted after "low", run before it: each chunk logs its item.
        QFuture<QString> high = manager.map(logItem, QStringList{log + u'\t' + QStringLiteral("m1"),
                                                                 log + u'\t' + QStringLiteral("m2")},
                                            options);
        QVERIFY(touchFile(gate));
        low.future.waitForFinished();
        QCOMPARE(high.results(), (QList<QString>{QStringLiteral("m1"), QStringLiteral("m2")}));
        QCOMPARE(readText(log), QStringLiteral("m1\nm2\nlow\n"));
    }

    // ---- retries ----

    void failsTwiceThenSucceeds()
    {
        ProcessPoolManager manager;
        manager.start(1);
        SignalRecorder<std::pair<qint64, QString>> log(
            &manager, &ProcessPoolManager::workerLog,
            [](qint64 pid, const QString &line) { return std::pair(pid, line); });
        SubmitOptions options;
        options.retry = quickRetry(3);
        auto t = manager.submitTracked(failFirst.name(), {path(QStringLiteral("twice")), 2},
                                             options);
        QCOMPARE(t.future.result().toInt(), 3);
        // Each retry is announced as a line of the worker the attempt failed on.
        const qint64 worker = manager.getPool()->workerPids().constFirst();
        int notices = 0;
        for (const auto &[pid, line] : log.values()) {
            if (line.contains(QStringLiteral("failed on attempt"))) {
                QCOMPARE(pid, worker);
                ++notices;
            }
        }
        QCOMPARE(notices, 2);
        const TaskRecord r = *manager.getPool()->taskRecord(t.id);
        QCOMPARE(r.state, TaskState::Finished);
        QCOMPARE(r.attempts, 3);
        QCOMPARE(r.maxAttempts, 3);
        QCOMPARE(r.attemptErrors.size(), 2);
        QVERIFY2(r.attemptErrors.at(0).contains(QStringLiteral("run 1 fails")), qPrintable(r.attemptErrors.at(0)));
        QVERIFY2(r.attemptErrors.at(1).contains(QStringLiteral("run 2 fails")), qPrintable(r.attemptErrors.at(1)));
        QCOMPARE(manager.getPool()->stats().completed, quint64(1));
        QCOMPARE(manager.getPool()->stats().failed, quint64(0));
        // Every attempt's lines, those that arrive after it went back to the queue included.
        QTRY_COMPARE(manager.getPool()->taskRecord(t.id)->output,
                     QStringLiteral("run 1 fails\nrun 2 fails\n"));
    }

    void crashesTwiceThenSucceedsOnFreshWorkers()
    {
        ProcessPoolManager manager;
        manager.start(1);
        WorkerEvents events(&manager);
        SubmitOptions options;
        options.retry = quickRetry(3);
        auto t = manager.submitTracked(crashFirst.name(),
                                             {path(QStringLiteral("crashes")), 2}, options);
        QCOMPARE(t.future.result().toInt(), 3);
        const TaskRecord r = *manager.getPool()->taskRecord(t.id);
        QCOMPARE(r.attempts, 3);
        QCOMPARE(r.attemptErrors.size(), 2);
        QVERIFY2(r.attemptErrors.at(0).contains(QStringLiteral("SIGABRT")), qPrintable(r.attemptErrors.at(0)));
        // Each crash's report quotes that attempt's own line.
        QVERIFY2(r.attemptErrors.at(1).contains(QStringLiteral("run 2 fails")), qPrintable(r.attemptErrors.at(1)));
        QVERIFY2(!r.attemptErrors.at(1).contains(QStringLiteral("run 1 fails")), qPrintable(r.attemptErrors.at(1)));
        QTRY_VERIFY(events.exitCount() >= 2);
    }

    void theLastAttemptFailsWithEveryAttemptsError()
    {
        ProcessPoolManager manager;
        manager.start(1);
        SubmitOptions options;
        options.retry = quickRetry(3);
        auto t = manager.submitTracked(failFirst.name(), {path(QStringLiteral("always")), 99},
                                             options);
        try {
            t.future.waitForFinished();
            QFAIL("the task succeeded");
        } catch (const TaskException &e) {
            QCOMPARE(e.attempts(), 3);
            const QStringList errors = e.attemptErrors();
            QCOMPARE(errors.size(), 3);
            QVERIFY2(errors.at(2).contains(QStringLiteral("run 3 fails")), qPrintable(errors.at(2)));
            QVERIFY2(errors.at(0).contains(QStringLiteral("run 1 fails")), qPrintable(errors.at(0)));
            const QString what = QString::fromUtf8(e.what());
            QVERIFY2(what.contains(QStringLiteral("attempt 3 of 3")), qPrintable(what));
            QVERIFY2(what.contains(QStringLiteral("run 1 fails")), qPrintable(what));
            QCOMPARE(e.typeName(), QStringLiteral("std::runtime_error"));
        }
        const TaskRecord r = *manager.getPool()->taskRecord(t.id);
        QCOMPARE(r.state, TaskState::Failed);
        QCOMPARE(r.attempts, 3);
        QCOMPARE(readText(path(QStringLiteral("always"))), QStringLiteral("3"));
        QCOMPARE(manager.getPool()->stats().failed, quint64(1));
    }

    void onlyTheListedExceptionTypesAreRetried()
    {
        ProcessPoolManager manager;
        manager.start(1);
        SubmitOptions options;
        options.retry = quickRetry(3);
        options.retry.onExceptions = {QStringLiteral("std::logic_error")};
        auto t = manager.submitTracked(failFirst.name(), {path(QStringLiteral("listed")), 1},
                                             options);
        QVERIFY_THROWS_EXCEPTION(TaskException, t.future.waitForFinished());
        QCOMPARE(manager.getPool()->taskRecord(t.id)->attempts, 1);
        QCOMPARE(readText(path(QStringLiteral("listed"))), QStringLiteral("1"));
    }

    void aTaskWaitingForItsRetryCanBeCancelled()
    {
        ProcessPoolManager manager;
        manager.start(1);
        SubmitOptions options;
        options.retry = RetryPolicy::attempts(3);
        options.retry.initialDelay = std::chrono::hours(1);
        options.retry.maxDelay = std::chrono::hours(1);
        auto t = manager.submitTracked(failFirst.name(), {path(QStringLiteral("waiting")), 5},
                                       options);
        QTRY_COMPARE(manager.getPool()->taskRecord(t.id)->attemptErrors.size(), 1);
        QCOMPARE(manager.getPool()->taskRecord(t.id)->state, TaskState::Queued);
        QCOMPARE(manager.getPool()->stats().queued, qint64(1));
        t.future.cancel();
        QTRY_COMPARE(manager.getPool()->taskRecord(t.id)->state, TaskState::Cancelled);
        QCOMPARE(manager.getPool()->stats().cancelled, quint64(1));
        QCOMPARE(manager.getPool()->stats().queued, qint64(0));
        manager.stop(); // returns: nothing waits any more
    }

    void stoppingWithoutWaitingFailsAWaitingRetry()
    {
        ProcessPoolManager manager;
        PoolOptions pool;
        pool.daemon = true;
        manager.start(pool);
        SubmitOptions options;
        options.retry = RetryPolicy::attempts(3);
        options.retry.initialDelay = std::chrono::hours(1);
        options.retry.maxDelay = std::chrono::hours(1);
        auto t = manager.submitTracked(failFirst.name(), {path(QStringLiteral("stopped")), 5},
                                       options);
        QTRY_COMPARE(manager.getPool()->taskRecord(t.id)->attemptErrors.size(), 1);
        manager.stop(false);
        QVERIFY_THROWS_EXCEPTION(PoolStopped, t.future.waitForFinished());
    }

    void invalidRetryPoliciesAreRefused()
    {
        ProcessPoolManager manager;
        manager.start(1);
        SubmitOptions options;
        options.retry.maxAttempts = 0;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 manager.submitTask(tasks::add, 1, 2, options));
        options.retry = RetryPolicy::attempts(2);
        options.retry.backoffFactor = 0.5;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 manager.submitTask(tasks::add, 1, 2, options));
        RetryPolicy backoff;
        backoff.initialDelay = std::chrono::milliseconds(100);
        backoff.backoffFactor = 3;
        backoff.maxDelay = std::chrono::milliseconds(1000);
        QCOMPARE(backoff.delayBefore(2).count(), 100);
        QCOMPARE(backoff.delayBefore(3).count(), 300);
        QCOMPARE(backoff.delayBefore(4).count(), 900);
        QCOMPARE(backoff.delayBefore(5).count(), 1000);
    }

    // ---- cooperative cancellation ----

    void aTaskStopsItselfWhenAsked()
    {
        ProcessPoolManager manager;
        PoolOptions options;
        options.maxWorkers = 1;
        options.cancelPolicy = PoolOptions::CancelPolicy::Ask;
        manager.start(options);
        WorkerEvents events(&manager);
        const qint64 worker = manager.submitTask(tasks::pid).result();
        const QString stopped = path(QStringLiteral("asked.stopped"));
        const QString started = path(QStringLiteral("asked.started"));
        auto t = manager.submitTracked(untilAsked.name(), {started, stopped});
        // Running in its worker, not only sent to it: a call not started yet would be dropped.
        QTRY_VERIFY(QFile::exists(started));
        t.future.cancel();
        QTRY_VERIFY(QFile::exists(stopped)); // the task saw the request and returned
        QTRY_COMPARE(manager.getPool()->taskRecord(t.id)->state, TaskState::Cancelled);
        QVERIFY(t.future.isCanceled());
        // The same worker goes on.
        QCOMPARE(manager.submitTask(tasks::pid).result(), worker);
        QCOMPARE(events.exitCount(), 0);
        QCOMPARE(manager.getPool()->stats().cancelled, quint64(1));
    }

    void aTaskPastItsSoftTimeLimitIsAskedToStop_data()
    {
        QTest::addColumn<bool>("perSubmission");
        QTest::newRow("PoolOptions::softTaskTimeout") << false;
        QTest::newRow("SubmitOptions::softTimeout") << true;
    }

    void aTaskPastItsSoftTimeLimitIsAskedToStop()
    {
        QFETCH(bool, perSubmission);
        ProcessPoolManager manager;
        PoolOptions options;
        options.maxWorkers = 1;
        if (!perSubmission)
            options.softTaskTimeout = std::chrono::milliseconds(50);
        manager.start(options);
        const qint64 worker = manager.submitTask(tasks::pid).result();
        SubmitOptions submit;
        if (perSubmission)
            submit.softTimeout = std::chrono::milliseconds(50);
        const QString stopped = path(QStringLiteral("soft-%1.stopped").arg(perSubmission));
        const QString started = path(QStringLiteral("soft-%1.started").arg(perSubmission));
        auto t = manager.submitTracked(untilAsked.name(), {started, stopped}, submit);
        // Not cancelled: what the task returned when asked is its result.
        QCOMPARE(t.future.result().toInt(), -1);
        QVERIFY(QFile::exists(stopped));
        QCOMPARE(manager.getPool()->taskRecord(t.id)->state, TaskState::Finished);
        QCOMPARE(manager.submitTask(tasks::pid).result(), worker); // and its worker lives on
    }

    void aTaskThatDoesNotStopGetsSigtermThenSigkill_data()
    {
        QTest::addColumn<bool>("ignoreTerm");
        QTest::addColumn<int>("signal");
        QTest::newRow("dies of SIGTERM") << false << SIGTERM;
        QTest::newRow("ignores SIGTERM") << true << SIGKILL;
    }

    void aTaskThatDoesNotStopGetsSigtermThenSigkill()
    {
        QFETCH(bool, ignoreTerm);
        QFETCH(int, signal);
        ProcessPoolManager manager;
        PoolOptions options;
        options.maxWorkers = 1;
        options.cancelPolicy = PoolOptions::CancelPolicy::Ask;
        options.cancelGrace = std::chrono::milliseconds(200);
        manager.start(options);
        WorkerEvents events(&manager);
        SignalRecorder<QString> log(&manager, &ProcessPoolManager::workerLog,
                                    [](qint64, const QString &line) { return line; });
        const QString started = path(QStringLiteral("deaf-%1.started").arg(ignoreTerm));
        auto t = manager.submitTracked(deaf.name(), {ignoreTerm, started});
        // Running in its worker, not only sent to it: a call not started yet would be dropped,
        // and its worker would live on.
        QTRY_VERIFY(QFile::exists(started));
        QCOMPARE(manager.getPool()->taskRecord(t.id)->state, TaskState::Running);
        const qint64 worker = manager.getPool()->taskRecord(t.id)->workerPid;
        t.future.cancel();
        QTRY_COMPARE(events.exitCount(), qsizetype(1));
        QCOMPARE(events.exits().constFirst().pid, worker);
        // Should it fail, what the worker and the pool said of it tells why.
        QVERIFY2(events.exits().constFirst().signal == signal,
                 qPrintable(QStringLiteral("exit code %1, signal %2 (%3); its log:\n%4")
                                .arg(events.exits().constFirst().exitCode)
                                .arg(events.exits().constFirst().signal)
                                .arg(events.exits().constFirst().reason, log.values().join(u'\n'))));
        QTRY_COMPARE(manager.getPool()->taskRecord(t.id)->state, TaskState::Cancelled);
        QCOMPARE(manager.getPool()->stats().workersCrashed, quint64(0));
        QCOMPARE(manager.submitTask(tasks::add, 2, 2).result(), 4); // a replacement
    }

    void aCancelledTaskThatHasNotStartedIsDroppedByItsWorker()
    {
        ProcessPoolManager manager;
        PoolOptions options;
        options.maxWorkers = 1;
        options.prefetch = 1; // the second task waits in the worker, not in the pool
        // The thread workerStarted is emitted on: procpool's engine thread.
        SignalRecorder<QThread *> engine(&manager, &ProcessPoolManager::workerStarted,
                                         [](qint64, const QString &) { return QThread::currentThread(); });
        manager.start(options); // CancelPolicy::KillWorker, the default
        WorkerEvents events(&manager);
        const QString gate = path(QStringLiteral("prefetched.gate"));
        const QString touched = path(QStringLiteral("prefetched.touched"));
        auto running = manager.submitTracked(waitGate.name(), {gate});
        auto held = manager.submitTracked(tasks::touch.name(), {touched});
        QTRY_COMPARE(manager.getPool()->taskRecord(running.id)->state, TaskState::Running);
        QTRY_COMPARE(manager.getPool()->stats().running, qint64(2)); // both in the worker
        QTRY_VERIFY(!engine.values().isEmpty());
        const qint64 worker = manager.getPool()->taskRecord(running.id)->workerPid;
        // At once rather than at the next sweep, and sent before the gate opens: the engine
        // thread has run the cancel when the drain returns.
        held.future.cancel();
        QVERIFY(manager.getPool()->cancelTask(held.id));
        drainEngineThread(engine.values().constFirst());
        // The worker sleeps in the running task after it last read its input, so that it looks
        // there again before it starts the next call.
        QVERIFY(waitUntilSleepingInTask(worker));
        QVERIFY(touchFile(gate));
        QCOMPARE(running.future.result().toInt(), 0);
        QTRY_COMPARE(manager.getPool()->taskRecord(held.id)->state, TaskState::Cancelled);
        QVERIFY(held.future.isCanceled());
        QVERIFY(!QFile::exists(touched)); // it never ran
        QCOMPARE(manager.submitTask(tasks::pid).result(), worker); // and nobody was killed
        QCOMPARE(events.exitCount(), 0);
    }

    // ---- memory and resource limits ----

    void aWorkerPastTheHardLimitIsKilled()
    {
        ProcessPoolManager manager;
        PoolOptions options;
        options.maxWorkers = 1;
        options.hardMemoryLimit = qint64(sanitized ? 768 : 160) << 20;
        manager.start(options);
        QFuture<qint64> leak = manager.submitTask(grow, 0, true);
        try {
            leak.waitForFinished();
            QFAIL("the task ended");
        } catch (const WorkerOutOfMemory &e) {
            QCOMPARE(e.limitBytes(), options.hardMemoryLimit);
            QVERIFY2(e.residentBytes() > options.hardMemoryLimit, e.what());
            QCOMPARE(e.taskName(), grow.name());
            QVERIFY2(QString::fromUtf8(e.what()).contains(QStringLiteral("hard memory limit")), e.what());
        }
        // The pool goes on, with a fresh worker.
        QCOMPARE(manager.submitTask(tasks::add, 2, 3).result(), 5);
        QCOMPARE(manager.getPool()->stats().workersCrashed, quint64(0));
    }

    void aWorkerPastTheSoftLimitRetiresAfterItsTask()
    {
        ProcessPoolManager manager;
        PoolOptions options;
        options.maxWorkers = 1;
        options.softMemoryLimit = qint64(sanitized ? 768 : 160) << 20;
        manager.start(options);
        WorkerEvents events(&manager);
        SignalRecorder<QString> log(&manager, &ProcessPoolManager::workerLog,
                                    [](qint64, const QString &line) { return line; });
        const qint64 grown = manager.submitTask(grow, sanitized ? 800 : 200, false).result();
        // It finished its task with a result, and then left: retired, not killed.
        QTRY_VERIFY(!events.exits().isEmpty());
        const auto exit = events.exits().constFirst();
        QCOMPARE(exit.pid, grown);
        QCOMPARE(exit.reason, QStringLiteral("retired"));
        const QStringList lines = log.values();
        QVERIFY2(std::any_of(lines.cbegin(), lines.cend(), [](const QString &line) {
                     return line.contains(QStringLiteral("over the soft memory limit"));
                 }),
                 qPrintable(lines.join(u'\n')));
        QVERIFY(manager.submitTask(tasks::pid).result() != grown);
    }

    void resourceLimitsReachTheWorker()
    {
        ProcessPoolManager manager;
        PoolOptions options;
        options.maxWorkers = 1;
        if (!sanitized) // a sanitizer's shadow memory does not fit a capped address space
            options.resourceLimits.addressSpace = qint64(64) << 30;
        options.resourceLimits.cpuSeconds = 3600;
        options.resourceLimits.niceValue = 7;
        options.resourceLimits.cpuAffinity = {0};
        manager.start(options);
        const QVariantMap limits = manager.submitTask(ownLimits).result();
        if (!sanitized) {
            QCOMPARE(limits.value(QStringLiteral("as")).toLongLong(), qint64(64) << 30);
            QCOMPARE(limits.value(QStringLiteral("asHard")).toLongLong(), qint64(64) << 30);
        }
        QCOMPARE(limits.value(QStringLiteral("cpu")).toLongLong(), qint64(3600));
        QVERIFY2(limits.value(QStringLiteral("nice")).toInt() >= 7,
                 qPrintable(limits.value(QStringLiteral("nice")).toString()));
        QCOMPARE(limits.value(QStringLiteral("cpus")).toList(), QVariantList{0});
    }

    void anAddressSpaceLimitFailsAnAllocationInsideTheTask()
    {
        if (sanitized)
            QSKIP("a sanitizer's shadow memory does not fit a capped address space");
        ProcessPoolManager manager;
        PoolOptions options;
        options.maxWorkers = 1;
        options.resourceLimits.addressSpace = qint64(2) << 30;
        manager.start(options);
        QCOMPARE(manager.submitTask(allocateOnce, 16).result(), 16);
        try {
            manager.submitTask(allocateOnce, 4096).waitForFinished();
            QFAIL("4 GiB fit in 2 GiB");
        } catch (const TaskException &e) {
            QCOMPARE(e.typeName(), QStringLiteral("std::bad_alloc"));
        }
        QCOMPARE(manager.submitTask(allocateOnce, 16).result(), 16); // the worker lives on
    }

    void invalidLimitsAreRefused()
    {
        ProcessPoolManager manager;
        PoolOptions options;
        options.softMemoryLimit = 200;
        options.hardMemoryLimit = 100;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, manager.start(options));
        options = PoolOptions();
        options.resourceLimits.niceValue = 20;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, manager.start(options));
        options = PoolOptions();
        options.resourceLimits.cpuAffinity = {-1};
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, manager.start(options));
    }

    void eachWorkerGetsTheEnvironmentOfItsSlot_data()
    {
        QTest::addColumn<StartMethod>("method");
        QTest::newRow("fork server") << StartMethod::ForkServer;
        QTest::newRow("exec") << StartMethod::Exec;
    }

    void eachWorkerGetsTheEnvironmentOfItsSlot()
    {
        QFETCH(StartMethod, method);
        ProcessPoolManager manager;
        PoolOptions options;
        options.maxWorkers = 2;
        options.minWorkers = 2;
        options.startContext.method = method;
        options.workerEnvironment = [](int slot) {
            return QList<std::pair<QString, QString>>{
                {QStringLiteral("PROCPOOL_TEST_DEVICE"), QStringLiteral("gpu%1").arg(slot)}};
        };
        manager.start(options);
        int round = 0;
        // Both workers at once: each task holds its worker until the gate opens.
        const auto devices = [&] {
            const QString gate = path(QStringLiteral("slot-%1-%2.gate").arg(int(method)).arg(++round));
            QFuture<QString> a = manager.submitTask(environmentAfterGate, QStringLiteral("PROCPOOL_TEST_DEVICE"), gate);
            QFuture<QString> b = manager.submitTask(environmentAfterGate, QStringLiteral("PROCPOOL_TEST_DEVICE"), gate);
            touchFile(gate);
            return QSet<QString>{a.result(), b.result()};
        };
        const auto workerSlots = [&] {
            QSet<int> held;
            for (const WorkerInfo &info : manager.getPool()->workers())
                held.insert(info.slot);
            return held;
        };
        QTRY_VERIFY(manager.getPool()->workers().size() == 2
                    && manager.getPool()->workers().at(0).state == WorkerState::Idle
                    && manager.getPool()->workers().at(1).state == WorkerState::Idle);
        QCOMPARE(devices(), (QSet<QString>{QStringLiteral("gpu0"), QStringLiteral("gpu1")}));
        QCOMPARE(workerSlots(), (QSet<int>{0, 1}));

        // A worker killed is replaced in its own slot.
        const qint64 victim = manager.getPool()->workers().constFirst().pid;
        QVERIFY(manager.getPool()->killWorker(victim));
        const auto replaced = [&] {
            const QList<WorkerInfo> workers = manager.getPool()->workers();
            // Both ready, so that each takes one of the next two tasks.
            return workers.size() == 2
                   && std::all_of(workers.cbegin(), workers.cend(), [victim](const WorkerInfo &i) {
                          return i.pid != victim && i.state == WorkerState::Idle;
                      });
        };
        QTRY_VERIFY(replaced());
        QCOMPARE(workerSlots(), (QSet<int>{0, 1}));
        QCOMPARE(devices(), (QSet<QString>{QStringLiteral("gpu0"), QStringLiteral("gpu1")}));
    }

    void aBadWorkerEnvironmentFailsTheStartWithTheReason()
    {
        ProcessPoolManager manager;
        PoolOptions options;
        options.workerEnvironment = [](int) {
            return QList<std::pair<QString, QString>>{{QStringLiteral("BAD=NAME"), QStringLiteral("x")}};
        };
        manager.start(options);
        try {
            manager.submitTask(tasks::add, 1, 2).waitForFinished();
            QFAIL("a worker started");
        } catch (const PoolBroken &e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains(QStringLiteral("'BAD=NAME'")), e.what());
        }
    }

    // ---- per-task output ----

    void eachTaskKeepsItsOwnOutput()
    {
        ProcessPoolManager manager;
        PoolOptions options;
        options.maxWorkers = 1; // one worker: the tasks' lines are interleaved in one stream
        manager.start(options);
        // Many short tasks, prefetched: the worker runs ahead of the pool's reading, so the
        // lines of a task often reach the pool before the answer to the task before it.
        QList<ProcessPoolManager::TrackedTask> tracked;
        for (int i = 0; i < 40; ++i)
            tracked.append(manager.submitTracked(say.name(), {QStringLiteral("task%1").arg(i), 3}));
        for (int i = 0; i < tracked.size(); ++i) {
            QCOMPARE(tracked[i].future.result().toInt(), 3);
            // Complete once the future is: the lines come on their own pipe, but they were
            // written before the answer, and the pool reads them before it acts on the answer.
            const QString tag = QStringLiteral("task%1").arg(i);
            QCOMPARE(manager.getPool()->taskRecord(tracked.at(i).id)->output,
                     QStringLiteral("%1 1\n%1 2\n%1 3\n").arg(tag));
        }
    }

    void aTasksOutputKeepsItsLastLines()
    {
        ProcessPoolManager manager;
        manager.start(1);
        auto t = manager.submitTracked(say.name(), {QStringLiteral("many"), 2000});
        QCOMPARE(t.future.result().toInt(), 2000);
        QTRY_VERIFY(manager.getPool()->taskRecord(t.id)->output.endsWith(QStringLiteral("many 2000\n")));
        const QString output = manager.getPool()->taskRecord(t.id)->output;
        QVERIFY2(output.size() <= 4096, qPrintable(QString::number(output.size())));
        QVERIFY2(output.startsWith(QStringLiteral("many ")), qPrintable(output.left(40))); // whole lines
        QVERIFY(!output.contains(QStringLiteral("many 1\n")));
    }

    void withoutTaskOutputTheLinesAreOnlyTheWorkersLog()
    {
        ProcessPoolManager manager;
        PoolOptions options;
        options.taskOutput = false;
        manager.start(options);
        SignalRecorder<QString> log(&manager, &ProcessPoolManager::workerLog,
                                    [](qint64, const QString &line) { return line; });
        auto t = manager.submitTracked(say.name(), {QStringLiteral("unmarked"), 2});
        QCOMPARE(t.future.result().toInt(), 2);
        QTRY_VERIFY(log.values().contains(QStringLiteral("unmarked 2")));
        QCOMPARE(manager.getPool()->taskRecord(t.id)->output, QString());
        // A crash report quotes the worker's last lines, whichever task printed them.
        try {
            manager.submitTask(sayThenAbort, QStringLiteral("last")).waitForFinished();
            QFAIL("the task returned");
        } catch (const WorkerCrashed &e) {
            QVERIFY2(e.lastStderrLines().contains(QStringLiteral("unmarked 1")), e.what());
            QVERIFY2(e.lastStderrLines().contains(QStringLiteral("last")), e.what());
        }
    }

    void aCrashQuotesOnlyTheCrashedTasksOutput()
    {
        ProcessPoolManager manager;
        manager.start(1);
        QCOMPARE(manager.submitTask(say, QStringLiteral("earlier"), 2).result(), 2);
        try {
            manager.submitTask(sayThenAbort, QStringLiteral("my last words")).waitForFinished();
            QFAIL("the task returned");
        } catch (const WorkerCrashed &e) {
            QCOMPARE(e.signalName(), QStringLiteral("SIGABRT"));
            QVERIFY2(e.lastStderrLines().contains(QStringLiteral("my last words")), e.what());
            QVERIFY2(!QString::fromUtf8(e.what()).contains(QStringLiteral("earlier")), e.what());
        }
    }
};

PROCPOOL_TEST_MAIN(TestScheduling)
#include "tst_scheduling.moc"
