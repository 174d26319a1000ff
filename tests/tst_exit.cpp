// Application exit: what becomes of a pool's workers when the program that owns them ends.
//
// Each case runs exit_helper (a real procpool application, see exit_helper.cpp) in a fresh
// temporary directory, lets it exit (or SIGKILLs it), and then checks the files its tasks left
// behind and whether its worker processes are still alive:
//
//  * non-daemon pools guarantee completion: every task submitted before the exit finishes
//    before the process exits — when main() returns (post routine), on std::exit() with the
//    application alive and in a program without one (the engine's static destructor);
//  * daemon workers never outlive the application — when it returns from main(), and when it is
//    SIGKILLed (PR_SET_PDEATHSIG);
//  * when a non-daemon pool's application is SIGKILLed, its workers finish the task they are
//    running and then exit on their own, start none of the tasks they had prefetched, and
//    exit when a task runs past its time limit (which only the pool enforced before).
//
// The cases of a killed application make this process a child subreaper while they run: the
// workers the application leaves behind become its children when their parent dies, so their
// exit status tells how they ended (by themselves, or killed by the pool before it died).
#include "faultsupport.h"
#include "testmain.h"

#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QMap>
#include <QtCore/QProcess>
#include <QtCore/QRegularExpression>
#include <QtCore/QTemporaryDir>

#include <cerrno>
#include <csignal>
#include <memory>
#include <optional>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using namespace faultsupport;

//! How a child of this process that has ended did end ("exit 0", "signal 9"); nullopt when
//! it is no child of ours (another process reaped it) or has not ended yet.
std::optional<QString> reapChild(qint64 pid)
{
    int status = 0;
    pid_t got;
    do {
        got = ::waitpid(pid_t(pid), &status, WNOHANG);
    } while (got < 0 && errno == EINTR);
    if (got != pid_t(pid))
        return std::nullopt;
    if (WIFEXITED(status))
        return QStringLiteral("exit %1").arg(WEXITSTATUS(status));
    return QStringLiteral("signal %1").arg(WIFSIGNALED(status) ? WTERMSIG(status) : -1);
}

} // namespace

class TestExit : public QObject
{
    Q_OBJECT

private:
    //! Unique to this test process (several test runs may share the machine), so that cleanup()
    //! only ever kills workers of this run. "xh" + pid + "-N" fits the 15 bytes of comm.
    QString m_prefix;
    QString m_helperPath;
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<QProcess> m_helper;
    bool m_adopting = false; //!< this process is a child subreaper (killHelperWhileTasksRun())

    QString path(const QString &name) const { return m_dir->filePath(name); }

    void startHelper(const QString &mode,
                     QProcess::ProcessChannelMode channels = QProcess::ForwardedChannels,
                     const QString &method = QStringLiteral("forkserver"))
    {
        m_helper->setProgram(m_helperPath);
        m_helper->setArguments({mode, m_dir->path(), m_prefix, method});
        m_helper->setProcessChannelMode(channels); // by default its messages go to our log
        m_helper->start();
    }

    //! Index → pid of every task that started (the pid-I files its worker wrote).
    QMap<int, qint64> startedTasks() const
    {
        static const QRegularExpression pidFile(QStringLiteral("^pid-(\\d+)$"));
        QMap<int, qint64> started;
        const QStringList names = QDir(m_dir->path()).entryList(QDir::Files);
        for (const QString &name : names) {
            const QRegularExpressionMatch m = pidFile.match(name);
            if (m.hasMatch())
                started.insert(m.captured(1).toInt(), readFile(path(name)).toLongLong());
        }
        return started;
    }

    //! Lets tasks that wait for DIR/release go on.
    bool touchRelease() const
    {
        QFile f(path(QStringLiteral("release")));
        return f.open(QIODevice::WriteOnly);
    }

    bool isDone(int index) const
    {
        return QFile::exists(path(QStringLiteral("done-%1").arg(index)));
    }

    int doneCount() const
    {
        static const QRegularExpression doneFile(QStringLiteral("^done-\\d+$"));
        return int(QDir(m_dir->path()).entryList(QDir::Files).filter(doneFile).size());
    }

    //! True when \a pid is no worker of this run any more: no such process, a zombie nobody
    //! reaped yet, or a pid the system already gave to another program.
    bool workerGone(qint64 pid) const
    {
        return pid <= 0 || !processAlive(pid) || !processComm(pid).startsWith(m_prefix + u'-');
    }

    bool allGone(const QList<qint64> &pids) const
    {
        for (qint64 pid : pids)
            if (!workerGone(pid))
                return false;
        return true;
    }

    //! Every live process named after this run's workers, whether or not it wrote a pid file.
    QList<qint64> livingWorkersOfThisRun() const { return processesNamed(m_prefix + u'-'); }

    //! Waits for the helper to exit by itself and checks that it succeeded.
    bool helperExitsCleanly(int timeoutMs)
    {
        if (!m_helper->waitForFinished(timeoutMs)) {
            qWarning("exit_helper did not exit within %d ms", timeoutMs);
            return false;
        }
        if (m_helper->exitStatus() != QProcess::NormalExit || m_helper->exitCode() != 0) {
            qWarning("exit_helper failed: status %d, exit code %d", int(m_helper->exitStatus()),
                     m_helper->exitCode());
            return false;
        }
        return true;
    }

    //! Waits for the helper of a sigkill-* mode to report that its tasks run; returns its pid
    //! (0 when it exited or never got there).
    qint64 waitForBlockingHelper()
    {
        const QString pidFile = path(QStringLiteral("helper.pid"));
        const bool ready = QTest::qWaitFor(
            [&] { return QFile::exists(pidFile) || m_helper->state() == QProcess::NotRunning; },
            hangGuardMs);
        if (!ready) {
            qWarning("exit_helper did not write helper.pid within %d ms", hangGuardMs);
            return 0;
        }
        if (!QFile::exists(pidFile)) {
            qWarning("exit_helper exited early: status %d, exit code %d",
                     int(m_helper->exitStatus()), m_helper->exitCode());
            return 0;
        }
        return readFile(pidFile).toLongLong();
    }

    static void addStartMethods()
    {
        QTest::addColumn<QString>("method");
        QTest::newRow("fork server") << QStringLiteral("forkserver");
        QTest::newRow("exec") << QStringLiteral("exec");
    }

    //! Runs the helper in a sigkill-* \a mode, its workers started by \a method, and SIGKILLs
    //! it once its tasks run, this process being a child subreaper (see the top of the file):
    //! the workers it leaves behind become our children. \a runningAtKill: the tasks that had
    //! started by then.
    void killHelperWhileTasksRun(const QString &mode, const QString &method,
                                 QMap<int, qint64> *runningAtKill)
    {
        QCOMPARE(::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
        m_adopting = true;
        startHelper(mode, QProcess::ForwardedChannels, method);
        const qint64 helperPid = waitForBlockingHelper();
        QVERIFY(helperPid > 0);
        *runningAtKill = startedTasks();
        killHelper(helperPid);
    }

    //! Waits for \a pid, a worker the killed helper left behind, to end by itself and says how
    //! it ended; empty (and a warning) when it did not end within the hang guard or was not
    //! ours to reap: then it ended before its application died.
    QString waitForOrphanedWorker(qint64 pid)
    {
        if (!QTest::qWaitFor([&] { return workerGone(pid); }, hangGuardMs)) {
            qWarning("worker %lld still runs %d ms after its application was killed",
                     static_cast<long long>(pid), hangGuardMs);
            return QString();
        }
        // Gone: a zombie waiting for its parent, which is this process once the helper (and
        // the fork server) have died, or it is already reaped by the pool that killed it.
        std::optional<QString> how;
        if (!QTest::qWaitFor([&] { return (how = reapChild(pid)).has_value(); },
                             hangGuardMs)) {
            qWarning("worker %lld ended, but not as a child of this process: it ended before "
                     "its application was killed",
                     static_cast<long long>(pid));
            return QString();
        }
        return *how;
    }

    void killHelper(qint64 helperPid)
    {
        QCOMPARE(helperPid, m_helper->processId());
        QCOMPARE(::kill(pid_t(helperPid), SIGKILL), 0);
        QVERIFY(m_helper->waitForFinished(hangGuardMs));
        QCOMPARE(m_helper->exitStatus(), QProcess::CrashExit);
    }

private Q_SLOTS:
    void initTestCase()
    {
        m_prefix = QStringLiteral("xh%1").arg(qint64(::getpid()));
        m_helperPath = QDir(QCoreApplication::applicationDirPath())
                           .filePath(QStringLiteral("exit_helper"));
        QVERIFY2(QFileInfo(m_helperPath).isExecutable(), qPrintable(m_helperPath));
    }

    void init()
    {
        m_dir = std::make_unique<QTemporaryDir>();
        QVERIFY(m_dir->isValid());
        m_helper = std::make_unique<QProcess>();
    }

    void cleanup()
    {
        // Whatever happened, leave no helper and no worker of this run behind.
        if (m_helper && m_helper->state() != QProcess::NotRunning) {
            m_helper->kill();
            m_helper->waitForFinished(hangGuardMs);
        }
        m_helper.reset();
        for (qint64 pid : livingWorkersOfThisRun())
            ::kill(pid_t(pid), SIGKILL);
        QTRY_VERIFY(livingWorkersOfThisRun().isEmpty());
        if (m_adopting) {
            // Workers adopted and not reaped by the test (it failed) are reaped here.
            const QStringList entries = QDir(QStringLiteral("/proc")).entryList(QDir::Dirs);
            for (const QString &entry : entries) {
                bool ok = false;
                const qint64 pid = entry.toLongLong(&ok);
                if (ok && parentPid(pid) == qint64(::getpid())
                    && processComm(pid).startsWith(m_prefix + u'-'))
                    reapChild(pid);
            }
            ::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
            m_adopting = false;
        }
        m_dir.reset();
    }

    // (a) The post routine drains the pool: all six tasks ran before the helper exited.
    void nonDaemonPoolFinishesEveryTaskAtApplicationExit()
    {
        startHelper(QStringLiteral("nondaemon"));
        QVERIFY(helperExitsCleanly(hangGuardMs));
        for (int i = 0; i < 6; ++i)
            QVERIFY2(isDone(i), qPrintable(QStringLiteral("task %1 did not finish").arg(i)));
        const QMap<int, qint64> started = startedTasks();
        QCOMPARE(started.size(), 6);
        QTRY_VERIFY(allGone(started.values()));
        QTRY_VERIFY(livingWorkersOfThisRun().isEmpty());
    }

    // (b) Returning from main() kills the daemon workers in the middle of their tasks, which
    // nothing but a kill ends: an exit that waited for them would never come.
    void daemonWorkersDieAtApplicationExit()
    {
        startHelper(QStringLiteral("daemon"));
        QVERIFY(helperExitsCleanly(hangGuardMs));
        const QMap<int, qint64> started = startedTasks();
        QVERIFY2(started.size() >= 2, "the helper returned before two tasks were running");
        QTRY_VERIFY(allGone(started.values()));
        QTRY_VERIFY(livingWorkersOfThisRun().isEmpty());
        QCOMPARE(doneCount(), 0); // killed, not finished
    }

    // (c) A program that never creates a QCoreApplication: Qt delivers no events to the
    // engine thread without one, so start() refuses with a clear error instead of hanging.
    void startWithoutApplicationIsAClearError()
    {
        startHelper(QStringLiteral("noapp-nondaemon"), QProcess::ForwardedOutputChannel);
        QVERIFY2(m_helper->waitForFinished(hangGuardMs), "exit_helper hung");
        QCOMPARE(m_helper->exitStatus(), QProcess::NormalExit);
        QCOMPARE(m_helper->exitCode(), 4);
        const QString err = QString::fromLocal8Bit(m_helper->readAllStandardError());
        QVERIFY2(err.contains(QStringLiteral("create a QCoreApplication")), qPrintable(err));
        QCOMPARE(startedTasks().size(), 0);
        QVERIFY(livingWorkersOfThisRun().isEmpty());
    }

    // (c) A pool under a second application object, after a first one came and went.
    void nonDaemonPoolFinishesUnderSecondApplication()
    {
        startHelper(QStringLiteral("second-app-nondaemon"));
        QVERIFY(helperExitsCleanly(hangGuardMs));
        for (int i = 0; i < 6; ++i)
            QVERIFY2(isDone(i), qPrintable(QStringLiteral("task %1 did not finish").arg(i)));
        QTRY_VERIFY(livingWorkersOfThisRun().isEmpty());
    }

    // (c) std::exit() with the application object still alive: ~QCoreApplication and its post
    // routine never run, so the engine's static destructor must drain the pool.
    void nonDaemonPoolFinishesEveryTaskOnStdExit()
    {
        startHelper(QStringLiteral("exit-nondaemon"));
        QVERIFY(helperExitsCleanly(hangGuardMs));
        for (int i = 0; i < 6; ++i)
            QVERIFY2(isDone(i), qPrintable(QStringLiteral("task %1 did not finish").arg(i)));
        const QMap<int, qint64> started = startedTasks();
        QCOMPARE(started.size(), 6);
        QTRY_VERIFY(allGone(started.values()));
        QTRY_VERIFY(livingWorkersOfThisRun().isEmpty());
    }

    // (d) A SIGKILLed application takes its daemon workers with it (PR_SET_PDEATHSIG).
    void daemonWorkersDieWhenApplicationIsKilled()
    {
        startHelper(QStringLiteral("sigkill-daemon"));
        const qint64 helperPid = waitForBlockingHelper();
        QVERIFY(helperPid > 0);
        const QList<qint64> workers = startedTasks().values();
        QVERIFY(workers.size() >= 2);
        for (qint64 pid : workers)
            QVERIFY2(!workerGone(pid), "a daemon worker died before its application");

        killHelper(helperPid);
        if (QTest::currentTestFailed())
            return;
        QTRY_VERIFY(allGone(workers));
        QTRY_VERIFY(livingWorkersOfThisRun().isEmpty());
        QCOMPARE(doneCount(), 0);
    }

    // (d) A SIGKILLed application's non-daemon workers finish the task they are running (its
    // file appears), start nothing new, and exit on their own.
    void nonDaemonWorkersFinishTheirTaskWhenApplicationIsKilled()
    {
        startHelper(QStringLiteral("sigkill-nondaemon"));
        const qint64 helperPid = waitForBlockingHelper();
        QVERIFY(helperPid > 0);
        const QMap<int, qint64> runningAtKill = startedTasks();
        QVERIFY(runningAtKill.size() >= 2);

        killHelper(helperPid);
        if (QTest::currentTestFailed())
            return;
        // Nobody kills these workers: they must end by themselves.
        QTRY_VERIFY(allGone(runningAtKill.values()));
        QTRY_VERIFY(livingWorkersOfThisRun().isEmpty());

        for (auto it = runningAtKill.cbegin(); it != runningAtKill.cend(); ++it)
            QVERIFY2(isDone(it.key()),
                     qPrintable(QStringLiteral("task %1 (worker %2) was cut short")
                                    .arg(it.key())
                                    .arg(it.value())));
        // With every worker gone no file can appear any more: each task that started finished.
        const QMap<int, qint64> started = startedTasks();
        for (auto it = started.cbegin(); it != started.cend(); ++it)
            QVERIFY2(isDone(it.key()),
                     qPrintable(QStringLiteral("task %1 was cut short").arg(it.key())));
        QCOMPARE(doneCount(), int(started.size()));
    }

    void workerOfKilledApplicationKeepsTheTimeLimit_data() { addStartMethods(); }

    // (d) A task that would run for ten minutes, with a time limit of 5 s that the pool can no
    // longer enforce once the application is SIGKILLed: the worker enforces it itself. It exits
    // on its own (status 124, not killed by anyone), long before the task would have finished.
    void workerOfKilledApplicationKeepsTheTimeLimit()
    {
        QFETCH(QString, method);
        QMap<int, qint64> runningAtKill;
        killHelperWhileTasksRun(QStringLiteral("sigkill-timelimit"), method, &runningAtKill);
        if (QTest::currentTestFailed())
            return;
        QCOMPARE(runningAtKill.keys(), QList<int>{0});
        QCOMPARE(waitForOrphanedWorker(runningAtKill.value(0)), QStringLiteral("exit 124"));
        QVERIFY(!isDone(0));
        QVERIFY(livingWorkersOfThisRun().isEmpty());
    }

    void workerOfKilledApplicationRunsNoPrefetchedTask_data() { addStartMethods(); }

    // (d) The worker holds a running task without time limit and a second one prefetched
    // behind it. Once the application is SIGKILLed the running task still finishes (it is let
    // go only after the kill, and reports progress that nobody receives on its way), the worker
    // exits by itself, and the second task never starts.
    void workerOfKilledApplicationRunsNoPrefetchedTask()
    {
        QFETCH(QString, method);
        QMap<int, qint64> runningAtKill;
        killHelperWhileTasksRun(QStringLiteral("sigkill-prefetched"), method, &runningAtKill);
        if (QTest::currentTestFailed())
            return;
        QCOMPARE(runningAtKill.keys(), QList<int>{0});
        QVERIFY(touchRelease());
        QCOMPARE(waitForOrphanedWorker(runningAtKill.value(0)), QStringLiteral("exit 0"));
        QVERIFY2(isDone(0), "the running task was cut short");
        // The worker is gone, so no pid file can appear any more: the second task never ran.
        QCOMPARE(startedTasks().keys(), QList<int>{0});
        QVERIFY(livingWorkersOfThisRun().isEmpty());
    }
};

PROCPOOL_TEST_MAIN(TestExit)
#include "tst_exit.moc"
