// Fault tolerance and the worker life cycle, with real processes and real signals: workers
// that crash in every way a process can die, tasks that time out or are cancelled, workers that
// are recycled, shrink away when idle or follow resize(), initializers, pools that cannot keep a
// worker alive (Broken) and recover, workers that break the wire protocol, invalid options, and
// what stop(wait) does to queued and running tasks of daemon and non-daemon pools.
//
// Nothing here depends on timing: tasks that must be running when something happens wait for a
// gate file the test creates, and every QTRY_* limit is a hang guard only.
#include "faultsupport.h"
#include "frame_p.h"
#include "testmain.h"
#include "testtasks.h"
#include "workerloop_p.h"

#include <procpool/procpool.h>

#include <QtCore/QCborArray>
#include <QtCore/QCborMap>
#include <QtCore/QMap>
#include <QtCore/QRegularExpression>
#include <QtCore/QSet>
#include <QtCore/QTemporaryDir>
#include <QtCore/QtEndian>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <sys/resource.h>
#include <unistd.h>

using namespace procpool;
using namespace faultsupport;

//! Where exhaustMemory() keeps its last block, so that no allocation can be optimised away.
void *volatile faultsLastBlock = nullptr;

namespace {

// ---- tasks only this suite's workers run ------------------------------------------------

//! Simulates what the kernel's OOM killer does to a process that runs out of memory: caps the
//! address space (RLIMIT_AS) a little above what the worker uses, allocates and touches memory
//! until malloc() fails, and then dies by SIGKILL, as a worker the OOM killer picked would.
[[noreturn]] void exhaustMemory()
{
    const qint64 pageSize = ::sysconf(_SC_PAGESIZE);
    const qint64 vmBytes = readFile(QStringLiteral("/proc/self/statm")).split(' ').value(0).toLongLong()
                           * pageSize;
    constexpr qint64 headroom = qint64(256) << 20;
    rlimit limit{};
    ::getrlimit(RLIMIT_AS, &limit);
    limit.rlim_cur = rlim_t(vmBytes + headroom);
    if (::setrlimit(RLIMIT_AS, &limit) != 0)
        std::fprintf(stderr, "setrlimit(RLIMIT_AS) failed\n");
    constexpr size_t blockSize = size_t(4) << 20;
    qint64 total = 0;
    for (;;) {
        void *block = std::malloc(blockSize);
        if (!block) {
            std::fprintf(stderr, "out of memory after %lld MiB\n", static_cast<long long>(total >> 20));
            std::fflush(stderr);
            std::raise(SIGKILL);
        }
        std::memset(block, 0x5a, blockSize);
        faultsLastBlock = block;
        total += qint64(blockSize);
    }
}

//! Prints a line, waits for \a gate, then ends its worker as \a kind says. "kill" waits to be
//! killed from outside.
const Task<int(QString, QString)> crashWhen{
    "faults.crashWhen", [](const QString &kind, const QString &gate) -> int {
        std::fprintf(stderr, "about to die by %s\n", qPrintable(kind));
        std::fflush(stderr);
        if (waitForGate(gate) != 0)
            throw std::runtime_error("the gate never opened");
        if (kind == QLatin1String("segv")) {
            volatile quintptr unmapped = 8; // a write to page zero: a real SIGSEGV
            *reinterpret_cast<volatile int *>(quintptr(unmapped)) = 1;
        } else if (kind == QLatin1String("abort")) {
            std::abort();
        } else if (kind == QLatin1String("exit3")) {
            std::fflush(nullptr);
            ::_exit(3);
        } else if (kind == QLatin1String("oom")) {
            exhaustMemory();
        }
        throw std::runtime_error("still alive");
    }};

const Task<qint64(QString)> waitThenPid{"faults.waitThenPid", [](const QString &gate) {
                                            if (waitForGate(gate) != 0)
                                                throw std::runtime_error("the gate never opened");
                                            return qint64(::getpid());
                                        }};

const Task<qint64(QString, QString)> waitThenTouch{
    "faults.waitThenTouch", [](const QString &gate, const QString &path) {
        if (waitForGate(gate) != 0 || !touchFile(path))
            throw std::runtime_error("the gate never opened, or the file cannot be created");
        return qint64(::getpid());
    }};

//! Plays a worker that breaks the wire protocol in the way \a kind names.
const Task<int(QString)> misbehave{"faults.misbehave", [](const QString &kind) {
    auto header = [](quint32 length, quint8 type, quint64 id) {
        QByteArray h(4 + 1 + 8, '\0');
        qToLittleEndian<quint32>(length, h.data());
        h[4] = char(type);
        qToLittleEndian<quint64>(id, h.data() + 5);
        return h;
    };
    constexpr quint8 result = 3;
    if (kind == QLatin1String("oversized")) {
        const QByteArray body(128 * 1024, 'x'); // over the 64 KiB limit the test sets
        detail::writeRawToPool(header(quint32(9 + body.size()), result, 0) + body);
    } else if (kind == QLatin1String("truncated")) {
        detail::writeRawToPool(header(100, result, 0) + QByteArray(10, '\x01'));
        std::fflush(nullptr);
        ::_exit(0); // ends in the middle of the frame
    } else if (kind == QLatin1String("unknown type")) {
        detail::writeRawToPool(header(20, 0xee, 0) + QByteArray(11, '\x02'));
    } else if (kind == QLatin1String("short length")) {
        detail::writeRawToPool(QByteArray::fromHex("0200000003ffffffff"));
    } else if (kind == QLatin1String("wrong id")) {
        const QByteArray body = QCborValue(1).toCbor();
        detail::writeRawToPool(header(quint32(9 + body.size()), result, 0) + body);
    } else if (kind.startsWith(QLatin1String("attachment"))) {
        constexpr quint8 attachments = 9;
        const QCborArray entry = kind == QLatin1String("attachment outside the ring")
            ? QCborArray{1, qint64(1) << 40, 100, 1}
            : kind == QLatin1String("attachment past the frame") ? QCborArray{0, 0, 1000}
                                                                  : QCborArray{0, 0, 3};
        const QByteArray body = QCborArray{QCborValue(entry)}.toCborValue().toCbor() + "abc";
        detail::writeRawToPool(header(quint32(9 + body.size()), attachments, 12345) + body);
        const QByteArray answer = QCborValue(1).toCbor();
        detail::writeRawToPool(header(quint32(9 + answer.size()), result, 0) + answer);
    } else if (kind.startsWith(QLatin1String("table "))) {
        // An Attachments frame for this very call whose descriptor table is the CBOR given
        // in hex, with three inline bytes, then a well-formed answer: a pool that took the
        // table would deliver 1.
        constexpr quint8 attachments = 9;
        const quint64 id = detail::currentCallId();
        const QByteArray body = QByteArray::fromHex(QStringView(kind).mid(6).toLatin1()) + "abc";
        detail::writeRawToPool(header(quint32(9 + body.size()), attachments, id) + body);
        const QByteArray answer = QCborValue(1).toCbor();
        detail::writeRawToPool(header(quint32(9 + answer.size()), result, id) + answer);
    }
    QThread::msleep(hangGuardMs); // the pool kills us long before
    return 0;
}};

// The initializer's effect, visible to every later task in the same worker.
QString initValue;
int initRuns = 0;
const Task<void(QString)> initMark{"faults.initMark", [](const QString &value) {
                                       initValue = value;
                                       ++initRuns;
                                   }};
const Task<QString()> readMark{"faults.readMark", [] {
                                   return QStringLiteral("%1|%2|%3").arg(initValue).arg(initRuns).arg(
                                       qint64(::getpid()));
                               }};
const Task<void()> initFail{"faults.initFail", [] {
                                throw std::runtime_error("the initializer refuses to run");
                            }};
const Task<void()> initCrash{"faults.initCrash", [] { ::raise(SIGSEGV); }};
//! Holds the new worker in its start-up until \a gate exists.
const Task<void(QString)> initWaitForGate{"faults.initWaitForGate", [](const QString &gate) {
                                              if (waitForGate(gate) != 0)
                                                  throw std::runtime_error("gate never opened");
                                          }};

// ---- helpers --------------------------------------------------------------------------

// Built with ThreadSanitizer.
#if defined(__has_feature)
#define PROCPOOL_TESTS_HAS_FEATURE(x) __has_feature(x)
#else
#define PROCPOOL_TESTS_HAS_FEATURE(x) 0
#endif
#if defined(__SANITIZE_THREAD__) || PROCPOOL_TESTS_HAS_FEATURE(thread_sanitizer)
constexpr bool threadSanitized = true;
#else
constexpr bool threadSanitized = false;
#endif

//! The failure \a future ended with, if it is an \a E.
template <typename E, typename T>
std::optional<E> failureOf(QFuture<T> future)
{
    try {
        future.waitForFinished();
    } catch (const E &e) {
        return e;
    } catch (const std::exception &e) {
        qWarning("the future failed with another error: %s", e.what());
        return std::nullopt;
    }
    qWarning("the future did not fail");
    return std::nullopt;
}

QString what(const std::exception &e)
{
    return QString::fromUtf8(e.what());
}

} // namespace

#define WAIT_FINISHED(future) QTRY_VERIFY((future).isFinished())

class TestFaults : public QObject
{
    Q_OBJECT

private:
    ProcessPoolManager *m_manager = nullptr;
    std::unique_ptr<WorkerEvents> m_events; //!< the manager's worker signals, from init()
    std::unique_ptr<QTemporaryDir> m_dir;

    QString path(const QString &name) const { return m_dir->filePath(name); }
    ProcessPool *pool() const { return m_manager->getPool(); }
    TaskState taskState(quint64 id) const
    {
        const std::optional<TaskRecord> r = pool()->taskRecord(id);
        return r ? r->state : TaskState::Queued;
    }
    qint64 taskPid(quint64 id) const
    {
        const std::optional<TaskRecord> r = pool()->taskRecord(id);
        return r ? r->workerPid : 0;
    }
    qint64 runPid() { return m_manager->submitTask(tasks::pid).result(); }
    //! True when the pool has \a n workers and each of them runs a task.
    bool allBusy(int n) const
    {
        const QList<WorkerInfo> workers = pool()->workers();
        return workers.size() == n
               && std::all_of(workers.cbegin(), workers.cend(),
                              [](const WorkerInfo &w) { return w.state == WorkerState::Busy; });
    }
    //! Waits until the pool has \a n workers that each hold one of \a futures' gated tasks (a
    //! worker that starts slowly must not find the work done by the first), opens \a gate and
    //! returns how many different workers ran them; -1 if they never all held one.
    qsizetype workersThatRan(const QList<QFuture<QVariant>> &futures, const QString &gate, int n)
    {
        if (!QTest::qWaitFor([&] { return allBusy(n); }, hangGuardMs) || !touchFile(gate))
            return -1;
        QSet<qint64> pids;
        for (const auto &f : futures)
            pids << f.result().toLongLong();
        return pids.size();
    }
    //! Starts a one-worker pool with \a policy, submits a task that waits for \a gate and then
    //! creates the file "ran", and cancels it once it runs. Returns it and its worker's pid
    //! (0 if it never ran).
    std::pair<ProcessPoolManager::TrackedTask, qint64>
    cancelWhileRunning(PoolOptions::CancelPolicy policy, const QString &gate)
    {
        PoolOptions options;
        options.maxWorkers = 1;
        options.cancelPolicy = policy;
        m_manager->start(options);
        auto running = m_manager->submitTracked(waitThenTouch.name(), {gate, path(QStringLiteral("ran"))});
        if (!QTest::qWaitFor([&] { return taskState(running.id) == TaskState::Running; }, hangGuardMs))
            return {running, 0};
        const qint64 pid = taskPid(running.id);
        running.future.cancel();
        return {running, pid};
    }

private Q_SLOTS:
    void init()
    {
        m_manager = getOrCreateProcessManager(QStringLiteral("faults"), true);
        m_events = std::make_unique<WorkerEvents>(m_manager);
        m_dir = std::make_unique<QTemporaryDir>();
        QVERIFY(m_dir->isValid());
    }

    void cleanup()
    {
        const QList<qint64> pids = m_manager->state() != PoolState::Stopped
                                       ? pool()->workerPids()
                                       : QList<qint64>();
        m_manager->terminate(); // whatever a failed test left running
        removeProcessManager(QStringLiteral("faults")); // no signal reaches m_events after this
        m_events.reset();
        for (qint64 pid : pids)
            QTRY_VERIFY(!processAlive(pid));
        m_dir.reset();
    }

    // ---- crashes ----------------------------------------------------------------------

    void crashFailsOnlyItsTask_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<int>("signal");   // 0: an exit
        QTest::addColumn<int>("exitCode"); // -1 for signals
        QTest::addColumn<QString>("lastLine");
        QTest::newRow("SIGSEGV") << "segv" << SIGSEGV << -1 << "about to die by segv";
        QTest::newRow("abort()") << "abort" << SIGABRT << -1 << "about to die by abort";
        QTest::newRow("SIGKILL from outside") << "kill" << SIGKILL << -1 << "about to die by kill";
        QTest::newRow("_exit(3)") << "exit3" << 0 << 3 << "about to die by exit3";
        QTest::newRow("out of memory") << "oom" << SIGKILL << -1 << "out of memory after";
    }

    // Two workers, each running one task and holding one prefetched task. One dies: exactly
    // its running task fails with WorkerCrashed; its prefetched task is re-queued and runs on
    // a replacement; the other worker's tasks are not touched.
    void crashFailsOnlyItsTask()
    {
        QFETCH(QString, kind);
        QFETCH(int, signal);
        QFETCH(int, exitCode);
        QFETCH(QString, lastLine);
        if (kind == u"oom" && threadSanitized)
            QSKIP("a worker under ThreadSanitizer does not run out of memory the way "
                  "exhaustMemory() expects: its runtime's own mappings fail first, and it hangs");
        PoolOptions options;
        options.maxWorkers = 2;
        options.minWorkers = 2;
        options.prefetch = 1;
        m_manager->start(options);
        const WorkerEvents &events = *m_events;

        const QString crashGate = path(QStringLiteral("crash-gate"));
        const QString otherGate = path(QStringLiteral("other-gate"));
        auto crash = m_manager->submitTracked(crashWhen.name(), {kind, crashGate});
        auto bystander = m_manager->submitTracked(waitThenPid.name(), {otherGate});
        QTRY_VERIFY(taskState(crash.id) == TaskState::Running
                    && taskState(bystander.id) == TaskState::Running);
        const qint64 crashPid = taskPid(crash.id);
        const qint64 bystanderPid = taskPid(bystander.id);
        QVERIFY(crashPid != bystanderPid);
        // Both wait for their gates: read by their workers, not only sent to them.
        QVERIFY(waitUntilSleepingInTask(crashPid));
        QVERIFY(waitUntilSleepingInTask(bystanderPid));
        // The pool cannot grow: one more task goes to each worker's pipe (prefetch).
        QList<QFuture<qint64>> followers{m_manager->submitTask(tasks::pid),
                                         m_manager->submitTask(tasks::pid)};
        QTRY_COMPARE(pool()->stats().running, qint64(4));

        if (kind == QLatin1String("kill"))
            QCOMPARE(::kill(pid_t(crashPid), SIGKILL), 0);
        else
            QVERIFY(touchFile(crashGate));

        WAIT_FINISHED(crash.future);
        const std::optional<WorkerCrashed> e = failureOf<WorkerCrashed>(crash.future);
        QVERIFY(e);
        QCOMPARE(e->pid(), crashPid);
        QCOMPARE(e->taskName(), crashWhen.name());
        QCOMPARE(e->signal(), signal);
        QCOMPARE(e->exitCode(), exitCode);
        QCOMPARE(e->signalName(), signal ? signalName(signal) : QString());
        QVERIFY2(std::any_of(e->lastStderrLines().cbegin(), e->lastStderrLines().cend(),
                             [&](const QString &l) { return l.startsWith(lastLine); }),
                 qPrintable(e->lastStderrLines().join(u'\n')));
        const QString message = what(*e);
        QVERIFY2(message.contains(QString::number(crashPid)), qPrintable(message));
        QVERIFY2(message.contains(signal ? signalName(signal)
                                         : QStringLiteral("exited with code %1").arg(exitCode)),
                 qPrintable(message));
        QVERIFY2(message.contains(lastLine), qPrintable(message));

        // The other worker's running task was not touched: it still waits for its gate.
        QVERIFY(!bystander.future.isFinished());
        QVERIFY(touchFile(otherGate));
        QCOMPARE(bystander.future.result().toLongLong(), bystanderPid);
        // The prefetched tasks both ran; the dead worker's one on a replacement.
        for (auto &f : followers) {
            WAIT_FINISHED(f);
            QVERIFY(f.result() != crashPid);
        }
        // minWorkers keeps two workers: the dead one was replaced.
        QTRY_VERIFY(pool()->workerPids().size() == 2
                    && !pool()->workerPids().contains(crashPid));
        const PoolStats stats = pool()->stats();
        QCOMPARE(stats.failed, quint64(1));
        QCOMPARE(stats.completed, quint64(3));
        QCOMPARE(stats.workersCrashed, quint64(1));
        QCOMPARE(stats.workersStarted, quint64(3));
        QCOMPARE(pool()->state(), PoolState::Running);

        QTRY_VERIFY(!processAlive(crashPid));
        QTRY_VERIFY(events.exitCount() >= 1);
        const WorkerEvents::Exit exit = events.exits().first();
        QCOMPARE(exit.pid, crashPid);
        QCOMPARE(exit.signal, signal);
        QCOMPARE(exit.exitCode, exitCode);
        QVERIFY2(exit.reason.contains(signal ? signalName(signal) : QStringLiteral("code 3")),
                 qPrintable(exit.reason));
    }

    void idleWorkerDeathIsReplacedQuietly_data()
    {
        QTest::addColumn<int>("minWorkers");
        QTest::newRow("minWorkers 0") << 0;
        QTest::newRow("minWorkers 1") << 1;
    }

    void idleWorkerDeathIsReplacedQuietly()
    {
        QFETCH(int, minWorkers);
        PoolOptions options;
        options.maxWorkers = 2;
        options.minWorkers = minWorkers;
        m_manager->start(options);
        const WorkerEvents &events = *m_events;
        const qint64 pid = runPid();
        QTRY_VERIFY(pool()->workers().size() == 1
                    && pool()->workers().first().state == WorkerState::Idle);
        QCOMPARE(::kill(pid_t(pid), SIGKILL), 0);
        QTRY_COMPARE(events.exitCount(), qsizetype(1));
        const WorkerEvents::Exit exit = events.exits().first();
        QCOMPARE(exit.pid, pid);
        QCOMPARE(exit.signal, SIGKILL);
        QCOMPARE(exit.exitCode, -1);
        QCOMPARE(exit.reason, QStringLiteral("killed by SIGKILL"));
        if (minWorkers > 0) // kept alive: a replacement starts without any work
            QTRY_VERIFY(pool()->workerPids().size() == 1
                        && pool()->workerPids().first() != pid);
        else
            QTRY_VERIFY(pool()->workerPids().isEmpty());
        QVERIFY(runPid() != pid);
        const PoolStats stats = pool()->stats();
        QCOMPARE(stats.failed, quint64(0));
        QCOMPARE(stats.completed, quint64(2));
        QCOMPARE(pool()->state(), PoolState::Running);
    }

    // A worker that dies before reading its task never ran it: the task goes to another
    // worker. Once: when that one dies the same way too, the task fails, rather than going
    // round for ever between workers that keep dying.
    void taskNeverReadIsRetriedOnceThenFails()
    {
        PoolOptions options;
        options.maxWorkers = 1;
        options.startContext.program = QCoreApplication::applicationDirPath() + QStringLiteral("/fake_worker");
        options.startContext.arguments = {QString::number(detail::protocolVersion),
                                          QStringLiteral("exit-when-sent")};
        const WorkerEvents &events = *m_events;
        m_manager->start(options);
        QFuture<QVariant> f = m_manager->submitTask(QStringLiteral("add"), {1, 2});
        WAIT_FINISHED(f);
        const std::optional<WorkerCrashed> e = failureOf<WorkerCrashed>(f);
        QVERIFY(e);
        QCOMPARE(e->exitCode(), 3);
        const PoolStats stats = pool()->stats(); // counted before the future failed
        QCOMPARE(stats.workersCrashed, quint64(2));
        QCOMPARE(stats.failed, quint64(1));
        QCOMPARE(pool()->state(), PoolState::Running); // both had started: no crash loop
        QTRY_COMPARE(events.exitCount(), qsizetype(2));
    }

    // ---- crash loops ------------------------------------------------------------------

    void crashLoopBreaksThePoolAndStartRecovers_data()
    {
        QTest::addColumn<QString>("program");
        QTest::addColumn<QStringList>("arguments");
        QTest::addColumn<int>("handshakeMs");
        QTest::addColumn<QString>("initializer");
        QTest::addColumn<QStringList>("why");
        const QString fake = QCoreApplication::applicationDirPath() + QStringLiteral("/fake_worker");
        QTest::newRow("missing program")
            << "/nonexistent/procpool-worker" << QStringList() << 30000 << QString()
            << QStringList{QStringLiteral("cannot start worker program '/nonexistent/procpool-worker'")};
        QTest::newRow("exits at start (/bin/false)")
            << "/bin/false" << QStringList() << 30000 << QString()
            << QStringList{QStringLiteral("exited with code 1")};
        QTest::newRow("handshake timeout (/bin/sleep)")
            << "/bin/sleep" << QStringList{QStringLiteral("600")} << 300 << QString()
            << QStringList{QStringLiteral("did not complete the handshake within 300 ms")};
        QTest::newRow("protocol version mismatch")
            << fake << QStringList() << 30000 << QString()
            << QStringList{QStringLiteral("protocol version mismatch"),
                           QStringLiteral("speaks version 99")};
        QTest::newRow("initializer throws")
            << QString() << QStringList() << 30000 << initFail.name()
            << QStringList{QStringLiteral("initializer 'faults.initFail' failed"),
                           QStringLiteral("the initializer refuses to run")};
        // A crash of its own (not a kill from outside): it would crash again.
        QTest::newRow("crashes while starting")
            << QString() << QStringList() << 30000 << initCrash.name()
            << QStringList{QStringLiteral("killed by SIGSEGV")};
    }

    void crashLoopBreaksThePoolAndStartRecovers()
    {
        QFETCH(QString, program);
        QFETCH(QStringList, arguments);
        QFETCH(int, handshakeMs);
        QFETCH(QString, initializer);
        QFETCH(QStringList, why);
        PoolOptions options;
        options.maxWorkers = 2;
        options.startContext.program = program;
        options.startContext.arguments = arguments;
        options.handshakeTimeout = std::chrono::milliseconds(handshakeMs);
        options.initializer = initializer;
        const WorkerEvents &events = *m_events;
        m_manager->start(options);
        QList<QFuture<QVariant>> futures;
        for (int i = 0; i < 5; ++i)
            futures << m_manager->submitTask(QStringLiteral("add"), {i, 1});

        auto checkBroken = [&](const std::optional<PoolBroken> &e) {
            QVERIFY(e);
            const QString message = what(*e);
            QVERIFY2(message.contains(QStringLiteral("broken")), qPrintable(message));
            QVERIFY2(message.contains(QStringLiteral("3 workers in a row failed to start")),
                     qPrintable(message));
            for (const QString &part : why)
                QVERIFY2(message.contains(part), qPrintable(message));
        };
        for (auto &f : futures) {
            WAIT_FINISHED(f);
            checkBroken(failureOf<PoolBroken>(f));
            if (QTest::currentTestFailed())
                return;
        }
        QCOMPARE(m_manager->state(), PoolState::Broken);
        QVERIFY(!m_manager->isRunning());
        // A new submission fails at once, with the same reason.
        QFuture<QVariant> late = m_manager->submitTask(QStringLiteral("add"), {1, 1});
        QVERIFY(late.isFinished());
        checkBroken(failureOf<PoolBroken>(late));

        // Bounded: three failed starts, plus the workers still on their way when the third
        // failure was counted: up to maxWorkers starting, and up to maxWorkers killed (after a
        // failed handshake) whose exit had not been seen yet. Once they are gone nothing new is
        // started: no spin, no fork storm.
        QTRY_VERIFY(pool()->workers().isEmpty());
        const quint64 started = pool()->stats().workersStarted;
        QVERIFY2(started <= quint64(3 + 2 * options.maxWorkers - 1),
                 qPrintable(QString::number(started)));
        QTest::qWait(500);
        QCOMPARE(pool()->stats().workersStarted, started);
        QCOMPARE(qsizetype(pool()->stats().workersStarted), events.startedCount());

        // stop() returns (nothing hangs) and start() with the cause fixed recovers.
        m_manager->stop();
        QCOMPARE(m_manager->state(), PoolState::Stopped);
        PoolOptions fixed;
        fixed.maxWorkers = 2;
        if (!initializer.isEmpty()) {
            fixed.initializer = initMark.name();
            fixed.initializerArguments = {QStringLiteral("fixed")};
        }
        m_manager->start(fixed);
        QCOMPARE(m_manager->submitTask(tasks::add, 2, 3).result(), 5);
        QCOMPARE(m_manager->state(), PoolState::Running);
    }

    // A worker killed from outside before it is ready (here: in its initializer) is no fault
    // of the program: it is started again, each time a little later, while the queued task
    // waits; more such kills than the crash-loop limit do not break the pool, and the task
    // then runs. The growing delays are announced in the log.
    void workersKilledWhileStartingAreStartedAgain()
    {
        constexpr int kills = 5; // beyond maxConsecutiveStartFailures (3)
        const QString gate = path(QStringLiteral("gate"));
        PoolOptions options;
        options.maxWorkers = 1;
        options.initializer = initWaitForGate.name();
        options.initializerArguments = {gate};
        SignalRecorder<QString> log(m_manager, &ProcessPoolManager::workerLog,
                                    [](qint64, const QString &line) { return line; });
        m_manager->start(options);
        QFuture<int> queued = m_manager->submitTask(tasks::add, 20, 22);
        QSet<qint64> killed;
        for (int k = 0; k < kills; ++k) {
            qint64 starting = 0;
            QVERIFY(QTest::qWaitFor(
                [&] {
                    for (const WorkerInfo &w : pool()->workers())
                        if (w.state == WorkerState::Starting && !killed.contains(w.pid))
                            starting = w.pid;
                    return starting != 0;
                },
                hangGuardMs));
            QVERIFY(waitUntilSleepingInTask(starting)); // in its initializer
            QVERIFY(::kill(pid_t(starting), SIGKILL) == 0);
            killed.insert(starting);
            QTRY_VERIFY(!processAlive(starting));
            QVERIFY(!queued.isFinished());
            QCOMPARE(pool()->state(), PoolState::Running);
        }
        QVERIFY(touchFile(gate));
        WAIT_FINISHED(queued);
        QCOMPARE(queued.result(), 42);
        QCOMPARE(pool()->state(), PoolState::Running);
        QCOMPARE(pool()->stats().workersStarted, quint64(kills + 1));
        QCOMPARE(pool()->stats().workersCrashed, quint64(0)); // start failures, not crashes
        QStringList delays;
        for (const QString &line : log.values()) {
            static const QRegularExpression announced(QStringLiteral("starting another in (\\d+) ms"));
            if (const QRegularExpressionMatch m = announced.match(line); m.hasMatch())
                delays << m.captured(1);
        }
        QCOMPARE(delays, (QStringList{QStringLiteral("0"), QStringLiteral("50"),
                                      QStringLiteral("100"), QStringLiteral("200"),
                                      QStringLiteral("400")}));
    }

    // ---- time limits ------------------------------------------------------------------

    void poolTaskTimeoutKillsAndReplaces()
    {
        PoolOptions options;
        options.maxWorkers = 1;
        options.taskTimeout = std::chrono::milliseconds(2000);
        m_manager->start(options);
        const WorkerEvents &events = *m_events;
        const qint64 before = runPid();
        QFuture<int> hung = m_manager->submitTask(tasks::sleepMs, 10 * 60 * 1000);
        WAIT_FINISHED(hung);
        const std::optional<TaskTimeout> e = failureOf<TaskTimeout>(hung);
        QVERIFY(e);
        QCOMPARE(e->taskName(), QStringLiteral("sleepMs"));
        QCOMPARE(e->timeoutMs(), qint64(2000));
        QCOMPARE(e->pid(), before);
        QVERIFY2(what(*e).contains(QStringLiteral("2000 ms")), e->what());
        QTRY_VERIFY(!processAlive(before));
        const qint64 after = runPid();
        QVERIFY(after != before);
        QTRY_COMPARE(events.exitCount(), qsizetype(1));
        QVERIFY2(events.exits().first().reason.contains(QStringLiteral("timed out")),
                 qPrintable(events.exits().first().reason));
        const PoolStats stats = pool()->stats();
        QCOMPARE(stats.workersCrashed, quint64(0)); // a time limit is not a crash
        QCOMPARE(stats.failed, quint64(1));
    }

    void submitTimeoutOverridesThePool_data()
    {
        QTest::addColumn<int>("poolMs");
        QTest::addColumn<int>("submitMs");
        QTest::addColumn<int>("taskMs");
        QTest::addColumn<bool>("timesOut");
        QTest::newRow("pool none, task 500 ms") << 0 << 500 << 600000 << true;
        QTest::newRow("pool 10 min, task 500 ms") << 600000 << 500 << 600000 << true;
        QTest::newRow("pool 300 ms, task none") << 300 << 0 << 3000 << false;
    }

    void submitTimeoutOverridesThePool()
    {
        QFETCH(int, poolMs);
        QFETCH(int, submitMs);
        QFETCH(int, taskMs);
        QFETCH(bool, timesOut);
        PoolOptions options;
        options.maxWorkers = 1;
        options.taskTimeout = std::chrono::milliseconds(poolMs);
        m_manager->start(options);
        SubmitOptions submit;
        submit.timeout = std::chrono::milliseconds(submitMs);
        QFuture<int> f = m_manager->submitTask(tasks::sleepMs, taskMs, submit);
        WAIT_FINISHED(f);
        if (timesOut) {
            const std::optional<TaskTimeout> e = failureOf<TaskTimeout>(f);
            QVERIFY(e);
            QCOMPARE(e->timeoutMs(), qint64(submitMs));
        } else {
            QCOMPARE(f.result(), taskMs);
        }
        QCOMPARE(m_manager->submitTask(tasks::add, 1, 1).result(), 2);
    }

    // ---- cancellation -------------------------------------------------------------------

    void cancelQueuedTaskNeverRuns()
    {
        PoolOptions options;
        options.maxWorkers = 1;
        options.prefetch = 0; // queued tasks stay in the parent
        m_manager->start(options);
        const QString gate = path(QStringLiteral("gate"));
        auto blocker = m_manager->submitTracked(waitThenPid.name(), {gate});
        QTRY_COMPARE(taskState(blocker.id), TaskState::Running);
        QList<ProcessPoolManager::TrackedTask> queued;
        for (int i = 0; i < 3; ++i)
            queued << m_manager->submitTracked(QStringLiteral("touch"),
                                               {path(QStringLiteral("file-%1").arg(i))});
        queued[1].future.cancel();
        QTRY_VERIFY(queued[1].future.isFinished());
        QVERIFY(queued[1].future.isCanceled());
        QCOMPARE(taskState(queued[1].id), TaskState::Cancelled);
        QVERIFY(!blocker.future.isFinished()); // dropped while its worker was still busy

        QVERIFY(touchFile(gate));
        blocker.future.waitForFinished();
        WAIT_FINISHED(queued[2].future);
        queued[0].future.waitForFinished();
        queued[2].future.waitForFinished();
        // The worker runs in order: the task after it ran, so it would have run by now.
        QVERIFY(QFile::exists(path(QStringLiteral("file-0"))));
        QVERIFY(!QFile::exists(path(QStringLiteral("file-1"))));
        QVERIFY(QFile::exists(path(QStringLiteral("file-2"))));
        QCOMPARE(pool()->stats().cancelled, quint64(1));
        QCOMPARE(pool()->stats().workersStarted, quint64(1));
    }

    void cancelRunningTaskKillsItsWorker()
    {
        QCOMPARE(PoolOptions().cancelPolicy, PoolOptions::CancelPolicy::KillWorker); // the default
        const WorkerEvents &events = *m_events;
        const QString gate = path(QStringLiteral("gate"));
        auto [running, pid] = cancelWhileRunning(PoolOptions::CancelPolicy::KillWorker, gate);
        QVERIFY(pid > 0);
        WAIT_FINISHED(running.future);
        QVERIFY(running.future.isCanceled());
        QTRY_VERIFY(!processAlive(pid));
        QVERIFY(touchFile(gate)); // too late: its worker is gone
        QVERIFY(runPid() != pid);
        QVERIFY(!QFile::exists(path(QStringLiteral("ran"))));
        QTRY_COMPARE(events.exitCount(), qsizetype(1));
        QVERIFY2(events.exits().first().reason.contains(QStringLiteral("cancelled")),
                 qPrintable(events.exits().first().reason));
        QCOMPARE(taskState(running.id), TaskState::Cancelled);
        const PoolStats stats = pool()->stats();
        QCOMPARE(stats.cancelled, quint64(1));
        QCOMPARE(stats.workersCrashed, quint64(0));
    }

    void cancelRunningTaskDiscardsItsResult()
    {
        const WorkerEvents &events = *m_events;
        const QString gate = path(QStringLiteral("gate"));
        auto [running, pid] = cancelWhileRunning(PoolOptions::CancelPolicy::DiscardResult, gate);
        QVERIFY(pid > 0);
        QVERIFY(running.future.isCanceled());
        QVERIFY(touchFile(gate));
        WAIT_FINISHED(running.future);
        QVERIFY(running.future.isCanceled());
        QCOMPARE(running.future.resultCount(), 0); // the result was dropped
        QVERIFY(QFile::exists(path(QStringLiteral("ran")))); // the task ran to its end
        QCOMPARE(runPid(), pid);                              // in a worker that lives on
        QCOMPARE(events.exitCount(), qsizetype(0));
    }

    // ---- worker life cycle ---------------------------------------------------------------

    void workersAreRecycledAfterMaxTasks()
    {
        PoolOptions options;
        options.maxWorkers = 1;
        options.maxTasksPerWorker = 3;
        m_manager->start(options);
        const WorkerEvents &events = *m_events;
        QList<qint64> pids;
        for (int i = 0; i < 9; ++i)
            pids << runPid();
        for (int i = 0; i < 9; ++i)
            QCOMPARE(pids[i], pids[i / 3 * 3]);
        QVERIFY(pids[0] != pids[3] && pids[3] != pids[6] && pids[0] != pids[6]);
        QTRY_COMPARE(events.exitCount(), qsizetype(3));
        for (const WorkerEvents::Exit &exit : events.exits()) {
            QCOMPARE(exit.exitCode, 0); // a clean exit, not a kill
            QCOMPARE(exit.signal, 0);
            QCOMPARE(exit.reason, QStringLiteral("retired"));
        }
        // Submitted all at once, too, no worker runs more than three.
        QList<QFuture<qint64>> burst;
        for (int i = 0; i < 10; ++i)
            burst << m_manager->submitTask(tasks::pid);
        QMap<qint64, int> perWorker;
        for (auto &f : burst)
            ++perWorker[f.result()];
        for (int n : perWorker)
            QVERIFY(n <= 3);
        QVERIFY(perWorker.size() >= 4);
        QCOMPARE(pool()->stats().workersCrashed, quint64(0));
    }

    void workersStartLazilyUpToMaxWorkers()
    {
        m_manager->start(3);
        QCOMPARE(pool()->workers().size(), 0);
        QCOMPARE(pool()->stats().workersStarted, quint64(0));
        QCOMPARE(m_manager->submitTask(tasks::add, 1, 2).result(), 3);
        QCOMPARE(pool()->stats().workersStarted, quint64(1));
        const QString gate = path(QStringLiteral("gate"));
        QList<QFuture<QVariant>> futures;
        for (int i = 0; i < 8; ++i)
            futures << m_manager->submitTask(waitThenPid.name(), {gate});
        QCOMPARE(workersThatRan(futures, gate, 3), 3);
        QCOMPARE(pool()->stats().workersStarted, quint64(3));
    }

    void idleWorkersAboveMinimumExit()
    {
        PoolOptions options;
        options.maxWorkers = 3;
        options.minWorkers = 1;
        options.idleTimeout = std::chrono::milliseconds(200);
        m_manager->start(options);
        const WorkerEvents &events = *m_events;
        QTRY_COMPARE(pool()->workers().size(), 1); // minWorkers at start()
        const QString gate = path(QStringLiteral("gate"));
        QList<QFuture<QVariant>> futures;
        for (int i = 0; i < 6; ++i)
            futures << m_manager->submitTask(waitThenPid.name(), {gate});
        QTRY_COMPARE(pool()->workers().size(), 3);
        QVERIFY(touchFile(gate));
        for (auto &f : futures)
            f.waitForFinished();
        QTRY_COMPARE(events.exitCount(), qsizetype(2));
        for (const WorkerEvents::Exit &exit : events.exits()) {
            QCOMPARE(exit.reason, QStringLiteral("retired"));
            QCOMPARE(exit.exitCode, 0);
        }
        QCOMPARE(pool()->workers().size(), 1);
        QTest::qWait(1000); // several idle timeouts: minWorkers stay
        QCOMPARE(pool()->workers().size(), 1);
        QCOMPARE(events.exitCount(), qsizetype(2));
    }

    void resizeGrowsAndShrinksARunningPool()
    {
        PoolOptions options;
        options.maxWorkers = 1;
        options.idleTimeout = std::chrono::milliseconds(0); // idle workers stay
        m_manager->start(options);
        const WorkerEvents &events = *m_events;
        const QString gate = path(QStringLiteral("gate"));
        QList<QFuture<QVariant>> futures;
        for (int i = 0; i < 4; ++i)
            futures << m_manager->submitTask(waitThenPid.name(), {gate});
        QTRY_VERIFY(pool()->workers().size() == 1 && pool()->stats().running >= 1);
        m_manager->resize(3); // grow: the waiting tasks get workers
        QCOMPARE(pool()->maxWorkers(), 3);
        QCOMPARE(m_manager->options().maxWorkers, 3);
        QCOMPARE(workersThatRan(futures, gate, 3), 3);

        m_manager->resize(1); // shrink while idle: two retire at once
        QTRY_COMPARE(pool()->workers().size(), 1);
        QTRY_COMPARE(events.exitCount(), qsizetype(2));

        // Shrink while busy: the busy workers finish their task first, then retire.
        m_manager->resize(3);
        const QString gate2 = path(QStringLiteral("gate2"));
        QList<QFuture<QVariant>> busy;
        for (int i = 0; i < 3; ++i)
            busy << m_manager->submitTask(waitThenPid.name(), {gate2});
        QTRY_VERIFY(allBusy(3));
        m_manager->resize(1);
        QVERIFY(touchFile(gate2));
        for (auto &f : busy)
            QVERIFY(f.result().toLongLong() > 0); // not killed
        QTRY_COMPARE(pool()->workers().size(), 1);
        QTRY_COMPARE(events.exitCount(), qsizetype(4));
        for (const WorkerEvents::Exit &exit : events.exits())
            QCOMPARE(exit.reason, QStringLiteral("retired"));
        QCOMPARE(pool()->stats().failed, quint64(0));

        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, m_manager->resize(0));
        m_manager->stop();
        QVERIFY_THROWS_EXCEPTION(PoolNotRunning, m_manager->resize(2));
    }

    void initializerRunsOnceInEveryNewWorker()
    {
        PoolOptions options;
        options.maxWorkers = 2;
        options.maxTasksPerWorker = 2; // several generations of workers
        options.initializer = initMark.name();
        options.initializerArguments = {QStringLiteral("initialized")};
        m_manager->start(options);
        QList<QFuture<QString>> futures;
        for (int i = 0; i < 8; ++i)
            futures << m_manager->submitTask(readMark);
        QMap<qint64, int> perWorker;
        for (auto &f : futures) {
            const QStringList parts = f.result().split(u'|');
            QCOMPARE(parts.size(), 3);
            QCOMPARE(parts[0], QStringLiteral("initialized")); // ran before the task
            QCOMPARE(parts[1], QStringLiteral("1"));           // exactly once in this worker
            ++perWorker[parts[2].toLongLong()];
        }
        QVERIFY(perWorker.size() >= 4); // eight tasks, two per worker at the most
        for (int n : perWorker)
            QVERIFY(n <= 2);
        QCOMPARE(pool()->stats().completed, quint64(8)); // the initializer is no task
    }

    // ---- protocol hardening --------------------------------------------------------------

    void protocolViolationKillsTheWorker_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("why");
        QTest::newRow("frame over the size limit") << "oversized" << "exceeds the limit of 65536 bytes";
        QTest::newRow("truncated frame") << "truncated" << "exited in the middle of a frame";
        QTest::newRow("garbage: unknown frame type") << "unknown type" << "unknown frame type 238";
        QTest::newRow("garbage: impossible length") << "short length" << "shorter than the 9-byte";
        QTest::newRow("answer to another task") << "wrong id" << "which it was not running";
        QTest::newRow("attachment outside the shared ring")
            << "attachment outside the ring" << "is outside the ring";
        QTest::newRow("attachment past the frame's end")
            << "attachment past the frame" << "lies beyond the frame's 3 inline bytes";
        QTest::newRow("attachments of another task")
            << "attachments then another answer" << "sent attachments for task id 12345";

        // Descriptor tables a worker controls entirely ([kind, offset, size] inline, [kind,
        // offset, size, release] in the ring): each one refused with its reason, before a
        // byte is read.
        constexpr qint64 max = std::numeric_limits<qint64>::max();
        constexpr qint64 ring = 4096 + 16; // the first payload's offset in a ring
        const auto table = [](std::initializer_list<QCborValue> entries) {
            return QStringLiteral("table ")
                   + QString::fromLatin1(QCborArray(entries).toCborValue().toCbor().toHex());
        };
        const auto entry = [](std::initializer_list<QCborValue> fields) {
            return QCborValue(QCborArray(fields));
        };
        const QString malformed0 = QStringLiteral(
            "sent a malformed Attachments frame: attachment 0 has a malformed descriptor");
        QTest::newRow("descriptor: negative inline offset")
            << table({entry({0, -1, 3})}) << malformed0;
        QTest::newRow("descriptor: negative inline size") << table({entry({0, 0, -1})}) << malformed0;
        QTest::newRow("descriptor: inline offset at the int64 maximum")
            << table({entry({0, max, 3})})
            << QStringLiteral("attachment 0 (9223372036854775807+3) lies beyond the frame's 3 "
                              "inline bytes");
        QTest::newRow("descriptor: inline size at the int64 maximum")
            << table({entry({0, 2, max})}) << malformed0;
        QTest::newRow("descriptor: sizes adding up past int64") << table({entry({0, 0, 3}), entry({0, 0, max})})
            << QStringLiteral("sent a malformed Attachments frame: attachment 1 has a malformed "
                              "descriptor");
        QTest::newRow("descriptor: negative ring offset")
            << table({entry({1, -ring, 3, 0})}) << malformed0;
        QTest::newRow("descriptor: negative ring size") << table({entry({1, ring, -1, 0})}) << malformed0;
        QTest::newRow("descriptor: negative release") << table({entry({1, ring, 3, -1})}) << malformed0;
        QTest::newRow("descriptor: ring offset at the int64 maximum")
            << table({entry({1, max, 3, 0})}) << QStringLiteral("is outside the ring");
        QTest::newRow("descriptor: ring size at the int64 maximum")
            << table({entry({1, ring, max, 0})}) << malformed0;
        QTest::newRow("descriptor: offset beyond int64")
            << table({entry({0, QCborValue(18446744073709551615.0), 3})}) << malformed0;
        QTest::newRow("descriptor: inline, two fields") << table({entry({0, 0})}) << malformed0;
        QTest::newRow("descriptor: inline, four fields") << table({entry({0, 0, 3, 0})}) << malformed0;
        QTest::newRow("descriptor: ring, three fields") << table({entry({1, ring, 3})}) << malformed0;
        QTest::newRow("descriptor: ring, five fields")
            << table({entry({1, ring, 3, 0, 0})}) << malformed0;
        QTest::newRow("descriptor: empty") << table({entry({})}) << malformed0;
        QTest::newRow("descriptor: not an array") << table({QCborValue(3)}) << malformed0;
        QTest::newRow("descriptor: unknown kind") << table({entry({2, 0, 3})}) << malformed0;
        QTest::newRow("descriptor: kind as text")
            << table({entry({QStringLiteral("0"), 0, 3})}) << malformed0;
        QTest::newRow("descriptor: offset as text")
            << table({entry({0, QStringLiteral("0"), 3})}) << malformed0;
        QTest::newRow("descriptor: the second one negative")
            << table({entry({0, 0, 3}), entry({0, -1, 3})})
            << QStringLiteral("sent a malformed Attachments frame: attachment 1 has a malformed "
                              "descriptor");
        QTest::newRow("descriptor table: not an array")
            << QStringLiteral("table ") + QString::fromLatin1(QCborMap{{0, 0}}.toCborValue().toCbor().toHex())
            << QStringLiteral("an Attachments frame must start with an array");
    }

    void protocolViolationKillsTheWorker()
    {
        QFETCH(QString, kind);
        QFETCH(QString, why);
        PoolOptions options;
        options.maxWorkers = 1;
        options.maxFrameSize = 64 * 1024;
        m_manager->start(options);
        const qint64 before = runPid();
        QFuture<int> f = m_manager->submitTask(misbehave, kind);
        WAIT_FINISHED(f);
        const std::optional<ProtocolError> e = failureOf<ProtocolError>(f);
        QVERIFY(e);
        QVERIFY2(what(*e).contains(why), e->what());
        QTRY_VERIFY(!processAlive(before));
        QVERIFY(runPid() != before); // the pool goes on
        QCOMPARE(m_manager->submitTask(tasks::add, 2, 2).result(), 4);
        QCOMPARE(pool()->state(), PoolState::Running);
    }

    // ---- invalid options -------------------------------------------------------------------

    void invalidOptionsAreRejectedByName()
    {
        const QList<std::pair<QString, std::function<void(PoolOptions &)>>> cases{
            {QStringLiteral("maxWorkers"), [](PoolOptions &o) { o.maxWorkers = 0; }},
            {QStringLiteral("maxWorkers"), [](PoolOptions &o) { o.maxWorkers = -3; }},
            {QStringLiteral("prefetch"), [](PoolOptions &o) { o.prefetch = -2; }},
            {QStringLiteral("maxFrameSize"), [](PoolOptions &o) { o.maxFrameSize = 100; }},
            {QStringLiteral("handshakeTimeout"), [](PoolOptions &o) { o.handshakeTimeout = {}; }},
            {QStringLiteral("handshakeTimeout"),
             [](PoolOptions &o) { o.handshakeTimeout = std::chrono::milliseconds(-1); }},
            {QStringLiteral("minWorkers"), [](PoolOptions &o) { o.minWorkers = -1; }},
            {QStringLiteral("minWorkers"), [](PoolOptions &o) { o.minWorkers = 2; }},
            {QStringLiteral("idleTimeout"),
             [](PoolOptions &o) { o.idleTimeout = std::chrono::milliseconds(-1); }},
            {QStringLiteral("taskTimeout"),
             [](PoolOptions &o) { o.taskTimeout = std::chrono::milliseconds(-5); }},
            {QStringLiteral("maxTasksPerWorker"), [](PoolOptions &o) { o.maxTasksPerWorker = -1; }},
            {QStringLiteral("taskHistory"), [](PoolOptions &o) { o.taskHistory = -1; }},
            {QStringLiteral("startContext.program"),
             [](PoolOptions &o) { o.startContext.program = QStringLiteral(""); }},
            {QStringLiteral("startContext.program"),
             [](PoolOptions &o) { o.startContext.program = QStringLiteral("   "); }},
            {QStringLiteral("initializer"),
             [](PoolOptions &o) { o.initializer = QStringLiteral("no.such.task"); }},
            {QStringLiteral("initializerArguments"),
             [](PoolOptions &o) {
                 o.initializer = QStringLiteral("faults.initMark");
                 o.initializerArguments = {1, 2};
             }},
        };
        for (const auto &[name, change] : cases) {
            PoolOptions options;
            change(options);
            try {
                m_manager->start(options);
                QFAIL(qPrintable(QStringLiteral("start() accepted a bad %1").arg(name)));
            } catch (const std::invalid_argument &e) {
                QVERIFY2(what(e).contains(name), e.what());
            }
            QCOMPARE(m_manager->state(), PoolState::Stopped);
        }
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, m_manager->start(0));
        m_manager->start(1); // nothing was left half-started
        QCOMPARE(m_manager->submitTask(tasks::add, 1, 1).result(), 2);
    }

    // ---- stop(wait) ------------------------------------------------------------------------

    void stopSemantics_data()
    {
        QTest::addColumn<bool>("daemon");
        QTest::addColumn<bool>("wait");
        QTest::newRow("non-daemon, stop(true)") << false << true;
        QTest::newRow("non-daemon, stop(false)") << false << false;
        QTest::newRow("daemon, stop(true)") << true << true;
        QTest::newRow("daemon, stop(false)") << true << false;
    }

    // One worker runs task 0 and holds task 1 (prefetched); tasks 2..5 are queued. Every task
    // waits for the gate, then creates its file. See ProcessPoolManager::stop().
    void stopSemantics()
    {
        QFETCH(bool, daemon);
        QFETCH(bool, wait);
        PoolOptions options;
        options.maxWorkers = 1;
        options.prefetch = 1;
        options.daemon = daemon;
        m_manager->start(options);
        const QString gate = path(QStringLiteral("gate"));
        QList<QFuture<qint64>> futures;
        for (int i = 0; i < 6; ++i)
            futures << m_manager->submitTask(waitThenTouch, gate, path(QStringLiteral("file-%1").arg(i)));
        QTRY_COMPARE(pool()->stats().running, qint64(2));
        const qint64 pid = pool()->workerPids().value(0);
        QVERIFY(pid > 0);
        if (wait) {
            // stop(true) blocks: the gate opens once the pool stops accepting work.
            connect(m_manager, &ProcessPoolManager::stateChanged, this,
                    [gate](PoolState s) {
                        if (s == PoolState::Stopping)
                            touchFile(gate);
                    },
                    Qt::DirectConnection);
        }
        m_manager->stop(wait);
        QCOMPARE(m_manager->state(), PoolState::Stopped);
        QVERIFY_THROWS_EXCEPTION(PoolNotRunning, m_manager->submitTask(tasks::add, 1, 1));
        auto fileExists = [&](int i) { return QFile::exists(path(QStringLiteral("file-%1").arg(i))); };

        if (wait) {
            // Returned after every remaining task ended and the worker exited.
            QVERIFY(!processAlive(pid));
            for (auto &f : futures)
                QVERIFY(f.isFinished());
        } else if (!daemon) {
            // Returned at once: nothing could finish yet, the gate is still closed.
            for (auto &f : futures)
                QVERIFY(!f.isFinished());
            QVERIFY(touchFile(gate));
        } else {
            // The worker is killed: everything unfinished fails.
            QTRY_VERIFY(!processAlive(pid));
            QVERIFY(touchFile(gate));
        }
        for (int i = 0; i < 6; ++i) {
            WAIT_FINISHED(futures[i]);
            const bool runs = !daemon || (wait && i < 2); // daemon: only what the worker held
            if (runs) {
                QCOMPARE(futures[i].result(), pid);
                QVERIFY(fileExists(i));
            } else {
                const std::optional<PoolStopped> e = failureOf<PoolStopped>(futures[i]);
                QVERIFY(e);
                QVERIFY2(what(*e).contains(QStringLiteral("stopped")), e->what());
            }
        }
        QTRY_VERIFY(!processAlive(pid));
        for (int i = 0; i < 6; ++i) { // with the worker gone no file can appear any more
            const bool runs = !daemon || (wait && i < 2);
            QCOMPARE(fileExists(i), runs);
        }
        m_manager->start(options); // and the manager is ready for another pool
        QCOMPARE(m_manager->submitTask(tasks::add, 3, 4).result(), 7);
    }
};

PROCPOOL_TEST_MAIN(TestFaults)
#include "tst_faults.moc"
