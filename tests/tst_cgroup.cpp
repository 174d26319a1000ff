// A pool's control group (PoolOptions::cgroup), with real worker processes and the kernel's
// own accounting: the workers are in the group, its limits are the ones asked for, the OOM
// killer's kill of a worker fails that task with WorkerOutOfMemory, the CPU quota throttles,
// and the group is gone once the pool stopped.
//
// It needs a cgroup this process may write (root, or a delegated one). Elsewhere the tests
// that need one skip with the reason, unless PROCPOOL_TEST_REQUIRE_CGROUP=1 (CI sets it),
// which turns that skip into a failure.
#include "faultsupport.h"
#include "testmain.h"
#include "testtasks.h"

#include <procpool/procpool.h>

#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QTemporaryDir>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace procpool;
using namespace faultsupport;

namespace {

//! The worker's /proc/self/cgroup: the groups it is in.
const Task<QString()> ownGroups{"cgroup.ownGroups", [] {
                                    QFile f(QStringLiteral("/proc/self/cgroup"));
                                    if (!f.open(QIODevice::ReadOnly))
                                        throw std::runtime_error("cannot read /proc/self/cgroup");
                                    return QString::fromUtf8(f.readAll());
                                }};

std::vector<char *> g_kept;

//! Allocates and touches a MiB at a time, keeping all of it, until something ends the worker
//! (or, should nothing, until it holds 4 GiB: it returns then, and the test fails).
const Task<int()> growForever{"cgroup.growForever", [] {
                                  constexpr size_t block = size_t(1) << 20;
                                  while (g_kept.size() < 4096) {
                                      char *p = static_cast<char *>(std::malloc(block));
                                      if (!p)
                                          throw std::bad_alloc();
                                      std::memset(p, 1, block);
                                      g_kept.push_back(p);
                                  }
                                  return int(g_kept.size());
                              }};

//! Creates \a started, then blocks until \a gate exists.
const Task<int(QString, QString)> startThenWait{"cgroup.startThenWait",
                                                [](const QString &started, const QString &gate) {
                                                    touchFile(started);
                                                    return waitForGate(gate);
                                                }};

//! Runs on the CPU until the worker has used \a ms milliseconds of CPU time.
const Task<int(int)> spinFor{"cgroup.spinFor", [](int ms) {
                                 volatile unsigned long sink = 0;
                                 for (;;) {
                                     timespec t {};
                                     ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
                                     if (t.tv_sec * 1000 + t.tv_nsec / 1000000 >= ms)
                                         return ms;
                                     for (int i = 0; i < 100000; ++i)
                                         sink = sink + unsigned(i);
                                 }
                             }};

QByteArray cgroupFile(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll().trimmed() : QByteArray();
}

//! The value of \a key in a "key value" file of the cgroup file system; -1 when missing.
qint64 statValue(const QString &path, const QByteArray &key)
{
    const QList<QByteArray> lines = cgroupFile(path).split('\n');
    for (const QByteArray &line : lines) {
        if (line.startsWith(key + ' '))
            return line.mid(key.size() + 1).trimmed().toLongLong();
    }
    return -1;
}

bool listsPid(const QString &directory, qint64 pid)
{
    return cgroupFile(directory + QStringLiteral("/cgroup.procs")).split('\n').contains(QByteArray::number(pid));
}

} // namespace

class TestCgroup : public QObject
{
    Q_OBJECT

    QString m_unavailable; //!< why this machine cannot run the tests; empty: it can

    //! Skips (or, where cgroups are required, fails) when no cgroup may be made here.
    bool needsCgroup()
    {
        if (m_unavailable.isEmpty())
            return true;
        if (qEnvironmentVariableIntValue("PROCPOOL_TEST_REQUIRE_CGROUP") == 1)
            QTest::qFail(qPrintable(QStringLiteral("PROCPOOL_TEST_REQUIRE_CGROUP=1, and no cgroup "
                                                   "may be made here: ") + m_unavailable),
                         __FILE__, __LINE__);
        else
            QTest::qSkip(qPrintable(m_unavailable), __FILE__, __LINE__);
        return false;
    }

private slots:
    void initTestCase()
    {
        ProcessPoolManager manager;
        PoolOptions options;
        options.cgroup.memoryMax = qint64(1) << 30;
        options.cgroup.cpuMax = 1;
        try {
            manager.start(options);
            manager.stop();
        } catch (const std::runtime_error &e) {
            m_unavailable = QString::fromUtf8(e.what());
        }
    }

    void workersRunInThePoolsGroup_data()
    {
        QTest::addColumn<StartMethod>("method");
        QTest::newRow("fork server") << StartMethod::ForkServer;
        QTest::newRow("exec") << StartMethod::Exec;
    }

    void workersRunInThePoolsGroup()
    {
        if (!needsCgroup())
            return;
        QFETCH(StartMethod, method);
        ProcessPoolManager manager;
        PoolOptions options;
        options.maxWorkers = 2;
        options.minWorkers = 2;
        options.startContext.method = method;
        options.cgroup.memoryMax = qint64(sanitized ? 2048 : 512) << 20;
        options.cgroup.cpuMax = 1.5;
        manager.start(options);
        const QStringList directories = manager.getPool()->cgroupDirectories();
        QVERIFY(!directories.isEmpty());
        QTRY_COMPARE(manager.getPool()->workers().size(), 2);
        for (const QString &directory : directories) {
            QVERIFY2(QFileInfo(directory).isDir(), qPrintable(directory));
            QVERIFY2(QFileInfo(directory).fileName().startsWith(
                         QStringLiteral("procpool-%1-").arg(::getpid())),
                     qPrintable(directory));
            for (const qint64 pid : manager.getPool()->workerPids())
                QTRY_VERIFY2(listsPid(directory, pid), qPrintable(directory));
            QVERIFY(!listsPid(directory, ::getpid())); // the application stays outside
        }
        // The limits, as the kernel holds them.
        const QString first = directories.constFirst();
        if (QFileInfo::exists(first + QStringLiteral("/memory.max"))) { // cgroup v2
            QCOMPARE(cgroupFile(first + QStringLiteral("/memory.max")),
                     QByteArray::number(options.cgroup.memoryMax));
            QCOMPARE(cgroupFile(first + QStringLiteral("/cpu.max")), QByteArray("150000 100000"));
        } else {
            QCOMPARE(directories.size(), 2);
            QCOMPARE(cgroupFile(directories[0] + QStringLiteral("/memory.limit_in_bytes")),
                     QByteArray::number(options.cgroup.memoryMax));
            QCOMPARE(cgroupFile(directories[1] + QStringLiteral("/cpu.cfs_quota_us")), QByteArray("150000"));
            QCOMPARE(cgroupFile(directories[1] + QStringLiteral("/cpu.cfs_period_us")), QByteArray("100000"));
        }
        // The task sees its group from inside.
        const QString groups = manager.submitTask(ownGroups).result();
        QVERIFY2(groups.contains(QFileInfo(first).fileName()), qPrintable(groups));
    }

    void theOomKillerEndsAWorkerAndItsTaskSaysSo()
    {
        if (!needsCgroup())
            return;
        ProcessPoolManager manager;
        PoolOptions options;
        options.maxWorkers = 1;
        options.cgroup.memoryMax = qint64(sanitized ? 512 : 96) << 20;
        manager.start(options);
        WorkerEvents events(&manager);
        const qint64 before = manager.submitTask(tasks::pid).result();
        try {
            manager.submitTask(growForever).result();
            QFAIL("the task outgrew its pool's cgroup and still returned");
        } catch (const WorkerOutOfMemory &e) {
            QCOMPARE(e.pid(), before);
            QCOMPARE(e.limitBytes(), options.cgroup.memoryMax);
            QCOMPARE(e.cgroup(), manager.getPool()->cgroupDirectories().constFirst());
            QCOMPARE(e.taskName(), growForever.name());
            QVERIFY2(QString::fromUtf8(e.what()).contains(QStringLiteral("OOM killer")), e.what());
        }
        QTRY_VERIFY(!events.exits().isEmpty());
        QCOMPARE(events.exits().constFirst().pid, before);
        QVERIFY2(events.exits().constFirst().reason.contains(QStringLiteral("OOM killer")),
                 qPrintable(events.exits().constFirst().reason));
        // The pool goes on with a fresh worker, and the kill is not counted as a crash.
        const qint64 after = manager.submitTask(tasks::pid).result();
        QVERIFY(after != before);
        QCOMPARE(manager.getPool()->stats().workersCrashed, quint64(0));
    }

    void aSigkillFromOutsideIsStillACrash()
    {
        if (!needsCgroup())
            return;
        ProcessPoolManager manager;
        PoolOptions options;
        options.maxWorkers = 1;
        options.cgroup.memoryMax = qint64(sanitized ? 2048 : 512) << 20;
        manager.start(options);
        const qint64 pid = manager.submitTask(tasks::pid).result();
        QTemporaryDir dir;
        const QString started = dir.filePath(QStringLiteral("started"));
        auto future = manager.submitTask(startThenWait, started, dir.filePath(QStringLiteral("gate")));
        QTRY_VERIFY(QFile::exists(started)); // running, not only sent
        QVERIFY(manager.getPool()->killWorker(pid));
        QVERIFY_THROWS_EXCEPTION(WorkerCrashed, future.waitForFinished());
    }

    void theCpuQuotaThrottles()
    {
        if (!needsCgroup())
            return;
        ProcessPoolManager manager;
        PoolOptions options;
        options.maxWorkers = 1;
        options.cgroup.cpuMax = 0.05; // 5 ms in each 100 ms
        manager.start(options);
        const QString directory = manager.getPool()->cgroupDirectories().constLast();
        const QString stat = directory + QStringLiteral("/cpu.stat");
        const qint64 before = statValue(stat, "nr_throttled");
        QVERIFY2(before >= 0, qPrintable(stat));
        // 40 ms of CPU time cannot fit in fewer than eight periods of 5 ms each.
        QCOMPARE(manager.submitTask(spinFor, 40).result(), 40);
        const qint64 throttled = statValue(stat, "nr_throttled") - before;
        QVERIFY2(throttled >= 1, qPrintable(QString::number(throttled)));
    }

    void theGroupIsGoneOnceThePoolStopped()
    {
        if (!needsCgroup())
            return;
        ProcessPoolManager manager;
        PoolOptions options;
        options.maxWorkers = 2;
        options.cgroup.memoryMax = qint64(sanitized ? 2048 : 512) << 20;
        options.cgroup.cpuMax = 2;
        manager.start(options);
        const QStringList directories = manager.getPool()->cgroupDirectories();
        QCOMPARE(manager.submitTask(tasks::add, 2, 3).result(), 5);
        manager.stop(true);
        for (const QString &directory : directories)
            QVERIFY2(!QFileInfo::exists(directory), qPrintable(directory));
        // A pool started again makes a group of its own.
        manager.start(options);
        const QStringList again = manager.getPool()->cgroupDirectories();
        QVERIFY(!again.isEmpty());
        QVERIFY(again != directories);
        manager.terminate();
        for (const QString &directory : again)
            QVERIFY2(!QFileInfo::exists(directory), qPrintable(directory));
    }

    void groupsLeftByADeadProcessAreSwept()
    {
        if (!needsCgroup())
            return;
        // A process that is gone: a child that exited and was reaped.
        const pid_t child = ::fork();
        if (child == 0)
            ::_exit(0);
        QVERIFY(child > 0);
        QCOMPARE(::waitpid(child, nullptr, 0), child);

        ProcessPoolManager manager;
        PoolOptions options;
        options.cgroup.memoryMax = qint64(sanitized ? 2048 : 512) << 20;
        manager.start(options);
        const QString directory = manager.getPool()->cgroupDirectories().constFirst();
        manager.stop(true);
        const QString parent = QFileInfo(directory).path();
        const QString abandoned = parent + QStringLiteral("/procpool-%1-1").arg(child);
        QVERIFY2(QDir().mkdir(abandoned), qPrintable(abandoned));
        manager.start(options);
        QVERIFY2(!QFileInfo::exists(abandoned), qPrintable(abandoned));
        manager.stop(true);
    }

    void aParentThatIsNoCgroupFailsTheStart_data()
    {
        QTest::addColumn<QString>("parent");
        QTest::addColumn<QString>("says");
        QTest::newRow("missing") << QStringLiteral("/procpool-no-such-parent")
                                 << QStringLiteral("does not exist");
        // Deep enough to climb out of any cgroup mount to /tmp, which exists.
        QTest::newRow("climbing out") << QStringLiteral("/../../../../../../../../tmp")
                                      << QStringLiteral("outside the cgroup tree");
    }

    void aParentThatIsNoCgroupFailsTheStart()
    {
        QFETCH(QString, parent);
        QFETCH(QString, says);
        ProcessPoolManager manager;
        PoolOptions options;
        options.cgroup.memoryMax = qint64(512) << 20;
        options.cgroup.parent = parent;
        try {
            manager.start(options);
            QFAIL("the pool started in a cgroup that does not exist");
        } catch (const std::runtime_error &e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains(QStringLiteral("PoolOptions::cgroup")), e.what());
            if (m_unavailable.isEmpty()) // else it says that no cgroup may be made at all
                QVERIFY2(QString::fromUtf8(e.what()).contains(says), e.what());
        }
        QVERIFY(QDir(QStringLiteral("/tmp"))
                    .entryList({QStringLiteral("procpool-%1-*").arg(::getpid())}, QDir::Dirs)
                    .isEmpty());
        QVERIFY(!manager.isRunning());
        options.cgroup = {};
        manager.start(options); // nothing of the failed start is left behind
        QCOMPARE(manager.submitTask(tasks::add, 1, 1).result(), 2);
    }

    void invalidLimitsAreRefused()
    {
        PoolOptions options;
        options.cgroup.cpuMax = -1;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, options.validate());
        options.cgroup.cpuMax = 0.001;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, options.validate());
        options.cgroup.cpuMax = 0;
        options.cgroup.memoryMax = -5;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, options.validate());
    }
};

PROCPOOL_TEST_MAIN(TestCgroup)
#include "tst_cgroup.moc"
