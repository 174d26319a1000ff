// Workers on other hosts (PoolOptions::hosts), through real launchers: a command launcher
// (`sh -c`, which runs the worker here but through the whole launcher path), a real OpenSSH
// server on loopback with keys and configuration of its own (tests/fixtures/sshd.sh), and a
// real one-node Slurm cluster (tests/fixtures/slurm-cluster.sh).
//
// Where a daemon cannot be started here (no sshd, no Slurm, not root), the tests that need it
// skip with the reason, unless PROCPOOL_TEST_REQUIRE_REMOTE=1 (CI sets it), which turns that
// skip into a failure.
#include "faultsupport.h"
#include "testmain.h"
#include "testtasks.h"

#include <procpool/procpool.h>

#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QHash>
#include <QtCore/QProcess>
#include <QtCore/QSysInfo>
#include <QtCore/QTemporaryDir>

#include <csignal>
#include <cstdlib>

using namespace procpool;
using namespace faultsupport;

namespace {

//! The worker's value of variable \a name, or "(unset)".
const Task<QString(QString)> variable{"remote.variable", [](const QString &name) {
                                          const QByteArray v = qgetenv(name.toLocal8Bit().constData());
                                          return v.isNull() ? QStringLiteral("(unset)") : QString::fromLocal8Bit(v);
                                      }};

//! Creates \a started, then blocks until \a gate exists; returns its worker's pid.
const Task<qint64(QString, QString)> holdUntil{"remote.holdUntil",
                                               [](const QString &started, const QString &gate) {
                                                   touchFile(started);
                                                   waitForGate(gate);
                                                   return qint64(::getpid());
                                               }};

//! The key=value lines a fixture script printed.
QHash<QString, QString> readSettings(const QByteArray &out)
{
    QHash<QString, QString> settings;
    for (const QByteArray &line : out.split('\n')) {
        const qsizetype eq = line.indexOf('=');
        if (eq > 0)
            settings.insert(QString::fromUtf8(line.left(eq)), QString::fromUtf8(line.mid(eq + 1)).trimmed());
    }
    return settings;
}

//! A daemon the suite starts with a fixture script, and stops at its end.
struct Fixture
{
    QString script;
    QString dir;
    QHash<QString, QString> settings;
    QString unavailable; //!< why it could not start; empty once it runs

    bool start(const QString &name, const QString &folder)
    {
        script = QStringLiteral(PROCPOOL_FIXTURES_DIR "/") + name;
        dir = folder;
        QProcess p;
        // Should this process end without stop() (a crash), the fixture stops itself.
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("PROCPOOL_FIXTURE_OWNER"), QString::number(QCoreApplication::applicationPid()));
        p.setProcessEnvironment(env);
        p.start(script, {QStringLiteral("start"), dir});
        if (!p.waitForFinished(180000)) {
            p.kill();
            p.waitForFinished();
            unavailable = QStringLiteral("%1 did not finish its start").arg(name);
            return false;
        }
        if (p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0) {
            unavailable = QStringLiteral("%1 start failed (exit %2): %3")
                              .arg(name)
                              .arg(p.exitCode())
                              .arg(QString::fromLocal8Bit(p.readAllStandardError()).trimmed().right(2000));
            return false;
        }
        settings = readSettings(p.readAllStandardOutput());
        return true;
    }
    void stop()
    {
        if (!unavailable.isEmpty() || script.isEmpty())
            return;
        QProcess::execute(script, {QStringLiteral("stop"), dir});
    }
};

bool remoteRequired()
{
    return qgetenv("PROCPOOL_TEST_REQUIRE_REMOTE") == "1";
}

//! The sanitizer settings of this run, for workers behind ssh, which passes on no environment:
//! a sanitized worker must report as the suite's own processes do.
QList<std::pair<QString, QString>> sanitizerVariables()
{
    QList<std::pair<QString, QString>> variables;
    for (const char *name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS"}) {
        if (qEnvironmentVariableIsSet(name))
            variables.append({QString::fromLatin1(name), qEnvironmentVariable(name)});
    }
    return variables;
}

//! How many of process \a pid's descriptors are shared-memory rings (memfd "procpool-ring").
int ringDescriptors(qint64 pid)
{
    const QDir fds(QStringLiteral("/proc/%1/fd").arg(pid));
    int rings = 0;
    for (const QString &fd : fds.entryList(QDir::Files | QDir::System)) {
        if (QFile::symLinkTarget(fds.filePath(fd)).contains(QStringLiteral("memfd:procpool-ring")))
            ++rings;
    }
    return rings;
}

//! The messages a pool's workers and the pool itself logged.
SignalRecorder<QString> recordLog(ProcessPoolManager *manager)
{
    return SignalRecorder<QString>(manager, &ProcessPoolManager::workerLog,
                                   [](qint64, const QString &line) { return line; });
}

} // namespace

// Skips (or, where CI requires the daemons, fails) when fixture F did not start.
#define REQUIRE_FIXTURE(f)                                                                    \
    do {                                                                                      \
        if (!(f).unavailable.isEmpty()) {                                                     \
            if (remoteRequired())                                                             \
                QFAIL(qPrintable((f).unavailable));                                           \
            QSKIP(qPrintable((f).unavailable));                                               \
        }                                                                                     \
    } while (false)

class TestRemote : public QObject
{
    Q_OBJECT

    QTemporaryDir m_dir;
    Fixture m_ssh;
    Fixture m_slurm;

    QString path(const QString &name) const { return m_dir.filePath(name); }

    //! A host reached through `sh -c`: a worker here, started the way a remote one is.
    static WorkerHost shellHost(const QString &name, int workers)
    {
        return WorkerHost{name, workers, Launcher::command({QStringLiteral("sh"), QStringLiteral("-c")}), QString()};
    }
    //! Options whose workers get the sanitizer settings (see sanitizerVariables()).
    static PoolOptions sshOptions()
    {
        PoolOptions options;
        options.workerEnvironment = [](int) { return sanitizerVariables(); };
        return options;
    }
    WorkerHost sshHost(const QString &alias, int workers) const
    {
        return WorkerHost{alias, workers, Launcher::ssh({QStringLiteral("-F"), m_ssh.settings.value(QStringLiteral("SSH_CONFIG"))}),
                          QString()};
    }
    QString sshHostName(int i) const
    {
        return m_ssh.settings.value(QStringLiteral("SSH_HOSTS")).split(u' ', Qt::SkipEmptyParts).value(i);
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_ssh.start(QStringLiteral("sshd.sh"), path(QStringLiteral("sshd")));
        m_slurm.start(QStringLiteral("slurm-cluster.sh"), path(QStringLiteral("slurm")));
        if (!m_slurm.unavailable.isEmpty() || m_slurm.settings.isEmpty())
            return;
        qputenv("SLURM_CONF", m_slurm.settings.value(QStringLiteral("SLURM_CONF")).toLocal8Bit());
        // Steps run inside an allocation, as under salloc: there several run at once, each
        // on CPUs of its own (outside one, each srun is a job that takes the whole node).
        QProcess salloc;
        salloc.start(QStringLiteral("salloc"), {QStringLiteral("--no-shell"), QStringLiteral("-N1"), QStringLiteral("--exclusive")});
        const bool granted = salloc.waitForFinished(60000) && salloc.exitCode() == 0;
        const QString said = QString::fromLocal8Bit(salloc.readAllStandardError());
        const QString job = said.section(QStringLiteral("Granted job allocation "), 1).section(u'\n', 0, 0).trimmed();
        if (!granted || job.isEmpty()) {
            m_slurm.stop();
            m_slurm.unavailable = QStringLiteral("salloc failed: ") + said.trimmed();
            return;
        }
        qputenv("SLURM_JOB_ID", job.toLocal8Bit());
    }

    void cleanupTestCase()
    {
        m_ssh.stop();
        m_slurm.stop();
    }

    // ---- through a command launcher ----------------------------------------------------

    void resultsComeBackThroughALauncher()
    {
        ProcessPoolManager manager;
        PoolOptions options;
        options.hosts = {shellHost(QStringLiteral("shell-a"), 2)};
        manager.start(options);
        QCOMPARE(manager.getPool()->options().maxWorkers, 2); // the hosts' slots
        QCOMPARE(manager.submitTask(tasks::add, 2, 3).result(), 5);
        const qint64 workerPid = manager.submitTask(tasks::pid).result();
        const QList<WorkerInfo> workers = manager.getPool()->workers();
        QCOMPARE(workers.size(), 1);
        QCOMPARE(workers.first().host, QStringLiteral("shell-a"));
        QCOMPARE(workers.first().reportedHost, QSysInfo::machineHostName());
        QCOMPARE(workers.first().remotePid, workerPid); // what its hello said
        // Streams only: the worker holds no shared-memory ring, and it was exec'd by this process
        // (sh exec'd env, which exec'd the worker), not forked by a fork server.
        QCOMPARE(ringDescriptors(workerPid), 0);
        QCOMPARE(parentPid(workerPid), QCoreApplication::applicationPid());
        // A local worker of the same pool layout does hold its two rings: the count can fail.
        ProcessPoolManager local;
        local.start(PoolOptions{});
        QCOMPARE(ringDescriptors(local.submitTask(tasks::pid).result()), 2);
    }

    void aLargeArgumentAndResultCrossTheStreamWhole()
    {
        ProcessPoolManager manager;
        PoolOptions options;
        options.hosts = {shellHost(QStringLiteral("shell-a"), 1)};
        manager.start(options);
        QByteArray big(64 * 1024 * 1024, Qt::Uninitialized);
        for (qsizetype i = 0; i < big.size(); ++i)
            big[i] = char((i * 131) >> 7);
        const QByteArray back = manager.submitTask(tasks::echoBytes, big).result();
        QCOMPARE(back.size(), big.size());
        QVERIFY(back == big);
    }

    void localAndRemoteSlotsMixInOnePool()
    {
        ProcessPoolManager manager;
        PoolOptions options;
        options.hosts = {WorkerHost::local(1), shellHost(QStringLiteral("shell-b"), 1)};
        options.prefetch = 0;
        manager.start(options);
        const QString gate = path(QStringLiteral("mixed.gate"));
        const auto a = manager.submitTask(holdUntil, path(QStringLiteral("mixed-1.started")), gate);
        const auto b = manager.submitTask(holdUntil, path(QStringLiteral("mixed-2.started")), gate);
        QTRY_VERIFY(QFile::exists(path(QStringLiteral("mixed-1.started")))
                    && QFile::exists(path(QStringLiteral("mixed-2.started"))));
        QStringList hosts;
        for (const WorkerInfo &w : manager.getPool()->workers())
            hosts.append(w.host);
        hosts.sort();
        QCOMPARE(hosts, (QStringList{QString(), QStringLiteral("shell-b")}));
        QVERIFY(touchFile(gate));
        QVERIFY(a.result() != b.result());
    }

    void aStaleBuildOnAHostIsRefusedAtTheHandshake()
    {
        ProcessPoolManager manager;
        PoolOptions options;
        WorkerHost stale = shellHost(QStringLiteral("stale-host"), 1);
        stale.program = QStringLiteral(PROCPOOL_WORKER_PROGRAM); // links other tasks than this
        options.hosts = {stale};
        manager.start(options);
        try {
            manager.submitTask(tasks::add, 1, 1).result();
            QFAIL("a stale build answered");
        } catch (const PoolBroken &e) {
            const QString what = QString::fromUtf8(e.what());
            QVERIFY2(what.contains(QStringLiteral("whose tasks differ")), e.what());
            QVERIFY2(what.contains(QStringLiteral("stale-host")), e.what());
            QVERIFY2(what.contains(QStringLiteral("worker_program")), e.what());
        }
        QCOMPARE(manager.getPool()->state(), PoolState::Broken);
    }

    void aFailingHostIsSetAsideWithGrowingDelaysWhileTheOthersServe()
    {
        ProcessPoolManager manager;
        auto log = recordLog(&manager);
        PoolOptions options;
        // "exit 7" is the whole script; the worker's command line only becomes its $0.
        const WorkerHost broken{QStringLiteral("broken-host"), 1,
                                Launcher::command({QStringLiteral("sh"), QStringLiteral("-c"),
                                                   QStringLiteral("echo no such host >&2; exit 7")}),
                                QString()};
        options.hosts = {broken, shellHost(QStringLiteral("good-host"), 1)};
        options.prefetch = 0;
        options.minWorkers = 2; // the pool keeps trying the broken host's slot
        manager.start(options);
        // The broken host's slot comes first: tasks still run, all of them on the good host.
        for (int i = 0; i < 20; ++i)
            QCOMPARE(manager.submitTask(tasks::add, i, 1).result(), i + 1);
        for (const WorkerInfo &w : manager.getPool()->workers())
            QCOMPARE(w.host, QStringLiteral("good-host"));
        // Set aside for 500 ms, then 1000 ms: the delay doubles with each failure in a row.
        QTRY_VERIFY(log.values().filter(QStringLiteral("broken-host")).filter(QStringLiteral("1000 ms")).size() >= 1);
        const QStringList aside = log.values().filter(QStringLiteral("is set aside"));
        QVERIFY2(aside.first().contains(QStringLiteral("500 ms")), qPrintable(aside.join(u'\n')));
        QVERIFY2(aside.first().contains(QStringLiteral("no such host")), qPrintable(aside.first()));
        QCOMPARE(manager.getPool()->state(), PoolState::Running);
    }

    void aHostThatNeverAnswersFailsAtTheHandshakeWithTheLaunchersWords()
    {
        ProcessPoolManager manager;
        PoolOptions options;
        options.handshakeTimeout = std::chrono::milliseconds(500);
        options.hosts = {WorkerHost{QStringLiteral("mute-host"), 1,
                                    Launcher::command({QStringLiteral("sh"), QStringLiteral("-c"),
                                                       QStringLiteral("echo waiting for mute-host >&2; exec sleep 600")}),
                                    QString()}};
        manager.start(options);
        try {
            manager.submitTask(tasks::add, 1, 1).result();
            QFAIL("a mute host answered");
        } catch (const PoolBroken &e) {
            const QString what = QString::fromUtf8(e.what());
            QVERIFY2(what.contains(QStringLiteral("did not complete the handshake within 500 ms on host mute-host")), e.what());
            QVERIFY2(what.contains(QStringLiteral("waiting for mute-host")), e.what());
        }
    }

    void hostsAreReadAsGnuParallelWritesThem()
    {
        const Launcher ssh = Launcher::ssh();
        QCOMPARE(parseHost(QStringLiteral("node1"), ssh), (WorkerHost{QStringLiteral("node1"), 1, ssh, QString()}));
        QCOMPARE(parseHost(QStringLiteral("node1:4"), ssh).workers, 4);
        QCOMPARE(parseHost(QStringLiteral("8/user@node2"), ssh), (WorkerHost{QStringLiteral("user@node2"), 8, ssh, QString()}));
        QVERIFY(parseHost(QStringLiteral(":"), ssh).isLocal());
        QCOMPARE(parseHost(QStringLiteral(":3"), ssh), WorkerHost::local(3));
        // IPv6 addresses in brackets, as ssh users write them; ssh itself takes them bare.
        QCOMPARE(parseHost(QStringLiteral("[::1]:4"), ssh), (WorkerHost{QStringLiteral("::1"), 4, ssh, QString()}));
        QCOMPARE(parseHost(QStringLiteral("[fe80::2%eth0]"), ssh), (WorkerHost{QStringLiteral("fe80::2%eth0"), 1, ssh, QString()}));
        QCOMPARE(parseHost(QStringLiteral("me@[2001:db8::7]:2"), ssh), (WorkerHost{QStringLiteral("me@2001:db8::7"), 2, ssh, QString()}));
        QCOMPARE(parseHost(QStringLiteral("3/[::1]"), ssh), (WorkerHost{QStringLiteral("::1"), 3, ssh, QString()}));
        for (const char *bad : {"node1:0", "node1:x", "-oProxyCommand=x", "a b", "0/node", "::1",
                                "::1:4", "[::1", "::1]", "[]:2", "[::1]x", "[::1]:", "2/[::1]:2",
                                "2/node:3", "[[::1]]"}) {
            try {
                parseHost(QString::fromLatin1(bad), ssh);
                QFAIL(bad);
            } catch (const std::invalid_argument &e) {
                QVERIFY2(QString::fromUtf8(e.what()).contains(QStringLiteral("HOST:SLOTS")), e.what());
            }
        }
        const QString file = path(QStringLiteral("hostfile"));
        QFile f(file);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("# two nodes and this machine\n4/node1\n\nnode2:2  # the small one\n:\n");
        f.close();
        const QList<WorkerHost> hosts = readHostfile(file, ssh);
        QCOMPARE(hosts.size(), 3);
        QCOMPARE(hosts[0].workers, 4);
        QCOMPARE(hosts[1].host, QStringLiteral("node2"));
        QVERIFY(hosts[2].isLocal());
        QCOMPARE(Launcher::parse(QStringLiteral("ssh -F \"my config\"")),
                 Launcher::ssh({QStringLiteral("-F"), QStringLiteral("my config")}));
        QCOMPARE(Launcher::parse(QStringLiteral("srun --partition=big")).kind, Launcher::Kind::Slurm);
        QCOMPARE(Launcher::parse(QStringLiteral("docker exec -i {host} sh -c")).kind, Launcher::Kind::Command);
    }

    // ---- through OpenSSH -------------------------------------------------------------------

    void resultsComeBackThroughSsh()
    {
        REQUIRE_FIXTURE(m_ssh);
        ProcessPoolManager manager;
        PoolOptions options = sshOptions();
        options.hosts = {sshHost(sshHostName(0), 2)};
        options.workerEnvironment = [](int slot) {
            return sanitizerVariables() << std::pair{QStringLiteral("PROCPOOL_TEST_SLOT"), QString::number(slot)};
        };
        qputenv("PROCPOOL_TEST_ONLY_HERE", "1");
        manager.start(options);
        QCOMPARE(manager.submitTask(tasks::add, 20, 22).result(), 42);
        // Only the worker's own variables cross; this process's environment does not.
        QCOMPARE(manager.submitTask(variable, QStringLiteral("PROCPOOL_TEST_SLOT")).result(), QStringLiteral("0"));
        QCOMPARE(manager.submitTask(variable, QStringLiteral("PROCPOOL_TEST_ONLY_HERE")).result(), QStringLiteral("(unset)"));
        qunsetenv("PROCPOOL_TEST_ONLY_HERE");
        const qint64 remotePid = manager.submitTask(tasks::pid).result();
        const WorkerInfo worker = manager.getPool()->workers().first();
        QCOMPARE(worker.host, sshHostName(0));
        QCOMPARE(worker.remotePid, remotePid);
        QVERIFY(worker.pid != remotePid); // pid is ssh's, here
        QCOMPARE(processComm(worker.pid), QStringLiteral("ssh"));
    }

    void aLargeArgumentAndResultCrossSsh()
    {
        REQUIRE_FIXTURE(m_ssh);
        ProcessPoolManager manager;
        PoolOptions options = sshOptions();
        options.hosts = {sshHost(sshHostName(0), 1)};
        manager.start(options);
        QByteArray big(64 * 1024 * 1024, Qt::Uninitialized);
        for (qsizetype i = 0; i < big.size(); ++i)
            big[i] = char(i * 7 + (i >> 12));
        const QByteArray back = manager.submitTask(tasks::echoBytes, big).result();
        QVERIFY(back == big);
    }

    void aMixedPoolRunsOnBothMachines()
    {
        REQUIRE_FIXTURE(m_ssh);
        ProcessPoolManager manager;
        PoolOptions options = sshOptions();
        options.hosts = {WorkerHost::local(1), sshHost(sshHostName(0), 1), sshHost(sshHostName(1), 1)};
        options.prefetch = 0;
        manager.start(options);
        const QString gate = path(QStringLiteral("mixed-ssh.gate"));
        QList<QFuture<qint64>> held;
        for (int i = 0; i < 3; ++i)
            held.append(manager.submitTask(holdUntil, path(QStringLiteral("mixed-ssh-%1.started").arg(i)), gate));
        QTRY_VERIFY(QFile::exists(path(QStringLiteral("mixed-ssh-0.started")))
                    && QFile::exists(path(QStringLiteral("mixed-ssh-1.started")))
                    && QFile::exists(path(QStringLiteral("mixed-ssh-2.started"))));
        QStringList hosts;
        for (const WorkerInfo &w : manager.getPool()->workers())
            hosts.append(w.host);
        hosts.sort();
        QStringList expected{QString(), sshHostName(0), sshHostName(1)};
        expected.sort();
        QCOMPARE(hosts, expected);
        QVERIFY(touchFile(gate));
        for (auto &f : held)
            QVERIFY(f.result() > 0);
    }

    void aDroppedConnectionFailsOnlyTheRunningTask_data()
    {
        QTest::addColumn<bool>("killSession");
        QTest::newRow("the ssh client killed") << false;
        QTest::newRow("the remote session killed") << true;
    }

    void aDroppedConnectionFailsOnlyTheRunningTask()
    {
        REQUIRE_FIXTURE(m_ssh);
        QFETCH(bool, killSession);
        ProcessPoolManager manager;
        PoolOptions options = sshOptions();
        options.hosts = {sshHost(sshHostName(0), 1)};
        options.prefetch = 2; // two more wait in the worker: they must go back to the queue
        // A daemon worker leaves as soon as it sees its pool gone; a non-daemon one would
        // first finish its call, which here never ends.
        options.daemon = true;
        manager.start(options);
        const QString tag = killSession ? QStringLiteral("session") : QStringLiteral("client");
        const QString started = path(tag + QStringLiteral(".started"));
        const auto running = manager.submitTask(holdUntil, started, path(tag + QStringLiteral(".never")));
        const auto next1 = manager.submitTask(tasks::add, 1, 2);
        const auto next2 = manager.submitTask(tasks::add, 3, 4);
        QTRY_VERIFY(QFile::exists(started));
        const WorkerInfo worker = manager.getPool()->workers().first();
        QVERIFY(worker.remotePid > 0);
        // The remote worker's parent is the ssh server's process for this session.
        const qint64 victim = killSession ? parentPid(worker.remotePid) : worker.pid;
        QVERIFY(victim > 1);
        QCOMPARE(::kill(pid_t(victim), SIGKILL), 0);
        try {
            running.result();
            QFAIL("the task survived its connection");
        } catch (const WorkerCrashed &e) {
            QCOMPARE(e.host(), sshHostName(0));
            QVERIFY2(QString::fromUtf8(e.what()).contains(sshHostName(0)), e.what());
        }
        // The prefetched tasks ran elsewhere: on the replacement.
        QCOMPARE(next1.result(), 3);
        QCOMPARE(next2.result(), 7);
        QVERIFY(manager.getPool()->workers().first().pid != worker.pid);
        // The worker on the other end noticed its pool was gone, and left.
        QTRY_VERIFY(!processAlive(worker.remotePid));
    }

    void aHostThatRefusesIsSetAsideWhileTheOtherServes()
    {
        REQUIRE_FIXTURE(m_ssh);
        ProcessPoolManager manager;
        auto log = recordLog(&manager);
        PoolOptions options = sshOptions();
        options.hosts = {sshHost(m_ssh.settings.value(QStringLiteral("SSH_DEAD_HOST")), 1),
                         sshHost(sshHostName(0), 1)};
        options.prefetch = 0;
        manager.start(options);
        for (int i = 0; i < 10; ++i)
            QCOMPARE(manager.submitTask(tasks::add, i, i).result(), 2 * i);
        QTRY_VERIFY(!log.values().filter(QStringLiteral("is set aside")).isEmpty());
        const QString aside = log.values().filter(QStringLiteral("is set aside")).first();
        QVERIFY2(aside.contains(m_ssh.settings.value(QStringLiteral("SSH_DEAD_HOST"))), qPrintable(aside));
        QVERIFY2(aside.contains(QStringLiteral("Connection refused")), qPrintable(aside)); // ssh's own words
    }

    void aSilentHostFailsAtTheHandshake()
    {
        REQUIRE_FIXTURE(m_ssh);
        ProcessPoolManager manager;
        PoolOptions options = sshOptions();
        options.handshakeTimeout = std::chrono::milliseconds(1000);
        const QString silent = m_ssh.settings.value(QStringLiteral("SSH_SILENT_HOST"));
        options.hosts = {sshHost(silent, 1)};
        manager.start(options);
        try {
            manager.submitTask(tasks::add, 1, 1).result();
            QFAIL("a silent host answered");
        } catch (const PoolBroken &e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains(QStringLiteral("did not complete the handshake within 1000 ms on host %1").arg(silent)),
                     e.what());
        }
    }

    // ---- through Slurm ---------------------------------------------------------------------

    void resultsComeBackThroughSrun()
    {
        REQUIRE_FIXTURE(m_slurm);
        ProcessPoolManager manager;
        PoolOptions options;
        const QString node = m_slurm.settings.value(QStringLiteral("SLURM_NODE"));
        options.hosts = {WorkerHost{node, 2, Launcher::slurm(), QString()}};
        manager.start(options);
        QCOMPARE(manager.submitTask(tasks::add, 40, 2).result(), 42);
        const qint64 remotePid = manager.submitTask(tasks::pid).result();
        const WorkerInfo worker = manager.getPool()->workers().first();
        QCOMPARE(worker.host, node);
        QCOMPARE(worker.remotePid, remotePid);
        QCOMPARE(processComm(worker.pid), QStringLiteral("srun"));
        QVERIFY(!manager.submitTask(variable, QStringLiteral("SLURM_STEP_ID")).result().startsWith(u'('));
    }

    void aCancelledStepFailsOnlyItsTask()
    {
        REQUIRE_FIXTURE(m_slurm);
        ProcessPoolManager manager;
        PoolOptions options;
        const QString node = m_slurm.settings.value(QStringLiteral("SLURM_NODE"));
        options.hosts = {WorkerHost{node, 1, Launcher::slurm(), QString()}};
        options.prefetch = 1;
        manager.start(options);
        const QString started = path(QStringLiteral("step.started"));
        const auto running = manager.submitTask(holdUntil, started, path(QStringLiteral("step.never")));
        const auto next = manager.submitTask(tasks::add, 5, 5);
        QTRY_VERIFY(QFile::exists(started));
        // The step's job id, from the worker's environment (this one node is this machine).
        const qint64 remotePid = manager.getPool()->workers().first().remotePid;
        const QByteArray variables = readFile(QStringLiteral("/proc/%1/environ").arg(remotePid));
        QByteArray jobId, stepId;
        for (const QByteArray &entry : variables.split('\0')) {
            if (entry.startsWith("SLURM_JOB_ID="))
                jobId = entry.mid(13);
            if (entry.startsWith("SLURM_STEP_ID="))
                stepId = entry.mid(14);
        }
        QVERIFY(!jobId.isEmpty() && !stepId.isEmpty());
        // The step alone: the allocation, and the steps to come, live on.
        QCOMPARE(QProcess::execute(QStringLiteral("scancel"), {QString::fromLatin1(jobId + '.' + stepId)}), 0);
        try {
            running.result();
            QFAIL("the task survived its cancelled step");
        } catch (const WorkerCrashed &e) {
            QCOMPARE(e.host(), node);
        }
        QCOMPARE(next.result(), 10);
    }
};

PROCPOOL_TEST_MAIN(TestRemote)
#include "tst_remote.moc"
