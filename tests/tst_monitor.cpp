// The desktop monitor against a real engine: models follow pools, workers and futures; the
// dialogs validate; the actions act on the engine; a burst of tasks never stalls the window.
#include <procpool/detail/inspectionframe.h>
#include <procpool/monitorwindow.h>
#include <procpool/procpool.h>

#include "activitychart.h"
#include "catalogsubmitdialog.h"
#include "chartwidget.h"
#include "enginewatcher.h"
#include "faultsupport.h"
#include "futuremodel.h"
#include "hostsbox.h"
#include "logmodel.h"
#include "mainwindow.h"
#include "namespacemodel.h"
#include "procstat_p.h"
#include "remoteprocess.h"
#include "sampletasks.h"
#include "startpooldialog.h"
#include "submitdialog.h"
#include "workermodel.h"

#include <QtCore/QCborArray>
#include <QtCore/QElapsedTimer>
#include <QtCore/QPointer>
#include <QtCore/QRegularExpression>
#include <QtCore/QSet>
#include <QtCore/QSettings>
#include <QtCore/QStandardPaths>
#include <QtCore/QTemporaryFile>
#include <QtCore/QThread>
#include <QtGui/QTextDocument>
#include <QtTest/QTest>

#include "testtasks.h"
#include "testwait.h"
#include <QtWidgets/QApplication>
#include <QtWidgets/QCheckBox>
#include <QtWidgets/QComboBox>
#include <QtWidgets/QLabel>
#include <QtWidgets/QLineEdit>
#include <QtWidgets/QDoubleSpinBox>
#include <QtWidgets/QPlainTextEdit>
#include <QtWidgets/QSpinBox>
#include <QtWidgets/QTabWidget>
#include <QtWidgets/QTableView>
#include <QtWidgets/QToolBar>
#include <QtWidgets/QHeaderView>
#include <QtWidgets/QTreeView>

#include <functional>

#include <sys/resource.h>
#include <unistd.h>

using namespace procpool;
using namespace procpool::monitor;
using faultsupport::hangGuardMs;

namespace {

//! Holds its worker until \a gate exists (0), or gives up after the hang guard (-1).
const Task<int(QString)> gated{"monitor.gated",
                               [](const QString &gate) { return faultsupport::waitForGate(gate); }};

//! The window's actions (objects named "action…") that are enabled now, sorted.
QStringList enabledActions(MainWindow &window)
{
    QStringList enabled;
    for (const QAction *action : window.findChildren<QAction *>())
        if (action->objectName().startsWith(QLatin1String("action")) && action->isEnabled())
            enabled.append(action->objectName());
    enabled.sort();
    return enabled;
}

//! Selects the row of \a view whose \a role is \a value; false if there is none.
bool selectRow(QAbstractItemView *view, int role, const QVariant &value)
{
    QAbstractItemModel *model = view->model();
    for (int r = 0; r < model->rowCount(); ++r) {
        if (model->index(r, 0).data(role) == value) {
            view->selectionModel()->select(model->index(r, 0), QItemSelectionModel::ClearAndSelect
                                                                   | QItemSelectionModel::Rows);
            view->selectionModel()->setCurrentIndex(model->index(r, 0), QItemSelectionModel::NoUpdate);
            return true;
        }
    }
    return false;
}

//! Resident memory of \a pid as /proc/PID/statm says, in bytes (-1 if it cannot be read).
qint64 residentBytes(qint64 pid)
{
    const QList<QByteArray> fields =
        faultsupport::readFile(QStringLiteral("/proc/%1/statm").arg(pid)).trimmed().split(' ');
    bool ok = false;
    const qint64 pages = fields.value(1).toLongLong(&ok);
    return ok ? pages * ::sysconf(_SC_PAGESIZE) : -1;
}

//! CPU time (user + system) of this thread, in clock ticks.
qint64 threadCpuTicks()
{
    const QByteArray stat = faultsupport::readFile(
        QStringLiteral("/proc/self/task/%1/stat").arg(qint64(::gettid())));
    const QList<QByteArray> fields = stat.mid(stat.lastIndexOf(')') + 2).split(' ');
    return fields.value(11).toLongLong() + fields.value(12).toLongLong();
}

//! The log's lines as "namespace | pid | source | message", oldest first.
QStringList logLines(MainWindow &window)
{
    QStringList lines;
    LogModel *log = window.logModel();
    for (int r = 0; r < log->rowCount(); ++r) {
        QStringList cells;
        for (int c : {LogModel::Namespace, LogModel::Pid, LogModel::SourceColumn, LogModel::Message})
            cells << log->index(r, c).data().toString();
        lines << cells.join(QLatin1String(" | "));
    }
    return lines;
}

//! The row of \a manager's namespace model entry, as a display string of \a column.
QString managerCell(MainWindow &window, ProcessPoolManager *manager, int column)
{
    const QModelIndex index = window.namespaceModel()->indexOf(manager);
    return index.isValid() ? index.siblingAtColumn(column).data().toString() : QString();
}

int workerRow(MainWindow &window, qint64 pid)
{
    return window.workerModel()->rowOf(pid);
}

QString workerCell(MainWindow &window, qint64 pid, int column)
{
    const int row = workerRow(window, pid);
    return row < 0 ? QString() : window.workerModel()->index(row, column).data().toString();
}

QString futureCell(MainWindow &window, quint64 id, int column)
{
    const int row = window.futureModel()->rowOf(id);
    return row < 0 ? QString() : window.futureModel()->index(row, column).data().toString();
}

QList<quint64> futureIds(MainWindow &window)
{
    QList<quint64> ids;
    FutureModel *m = window.futureModel();
    for (int r = 0; r < m->rowCount(); ++r)
        ids.append(m->index(r, 0).data(FutureModel::IdRole).value<quint64>());
    return ids;
}

void alwaysConfirm(MainWindow &window)
{
    window.setConfirmer([](const QString &, const QString &) { return true; });
}

} // namespace

class TestMonitor : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true); // never touch the user's settings
        QSettings().clear();
    }

    void cleanup()
    {
        for (const auto &namespaces : ProcessPoolManager::registry()) {
            for (ProcessPoolManager *manager : namespaces) {
                manager->terminate();
                removeProcessManager(manager->namespaceId());
            }
        }
    }

    void namespacesAppearChangeStateAndDisappear()
    {
        MainWindow window;
        ProcessPoolManager *manager = getOrCreateProcessManager(QStringLiteral("tm_ns"));
        // Created outside the window: it shows up by itself.
        QTRY_VERIFY(window.namespaceModel()->indexOf(manager).isValid());
        const QModelIndex index = window.namespaceModel()->indexOf(manager);
        QCOMPARE(index.parent().data().toString(), QStringLiteral("tm_ns"));
        QVERIFY(index.parent().parent().data().toString().contains(QString::number(QCoreApplication::applicationPid())));
        QCOMPARE(managerCell(window, manager, NamespaceModel::State), QStringLiteral("stopped"));
        QCOMPARE(managerCell(window, manager, NamespaceModel::TaskTypeColumn), QStringLiteral("any"));

        manager->start(2, QStringLiteral("tm_type"), true, QStringLiteral("tmns"));
        QTRY_COMPARE(managerCell(window, manager, NamespaceModel::State), QStringLiteral("running"));
        QCOMPARE(managerCell(window, manager, NamespaceModel::TaskTypeColumn), QStringLiteral("tm_type"));
        QCOMPARE(managerCell(window, manager, NamespaceModel::MaxWorkers), QStringLiteral("2"));
        QCOMPARE(managerCell(window, manager, NamespaceModel::Daemon), QStringLiteral("yes"));
        QCOMPARE(managerCell(window, manager, NamespaceModel::Prefix), QStringLiteral("tmns"));

        manager->stop(true);
        QTRY_COMPARE(managerCell(window, manager, NamespaceModel::State), QStringLiteral("stopped"));

        // Remove through the window's action: it confirms, then the rows go.
        alwaysConfirm(window);
        window.selectManager(manager);
        QCOMPARE(window.selectedManager(), manager);
        QAction *remove = window.findChild<QAction *>(QStringLiteral("actionRemoveNamespace"));
        QTRY_VERIFY(remove->isEnabled());
        remove->trigger();
        QVERIFY(!ProcessPoolManager::registry().value(QCoreApplication::applicationPid()).contains(QStringLiteral("tm_ns")));
        QTRY_VERIFY(!window.namespaceModel()->indexOf(manager).isValid());
    }

    void workersAppearRunAndDie()
    {
        MainWindow window;
        alwaysConfirm(window);
        ProcessPoolManager *manager = getOrCreateProcessManager(QStringLiteral("tm_workers"));
        manager->start(2, QString(), true, QStringLiteral("tmw"));
        window.selectManager(manager);
        QVERIFY(window.submit(manager, {QStringLiteral("sleep"), {QVariant(1500)}, 2, {}}).isEmpty());

        // Both workers appear and become busy with the task.
        QList<qint64> pids;
        QMap<qint64, QString> names;
        QTRY_VERIFY((pids = manager->getPool()->workerPids()).size() == 2);
        for (qint64 pid : pids) {
            QTRY_VERIFY(workerRow(window, pid) >= 0);
            QTRY_COMPARE(workerCell(window, pid, WorkerModel::State), QStringLiteral("busy"));
            QCOMPARE(workerCell(window, pid, WorkerModel::CurrentTask), QStringLiteral("sleep"));
            QCOMPARE(workerCell(window, pid, WorkerModel::Namespace), QStringLiteral("tm_workers"));
            names.insert(pid, workerCell(window, pid, WorkerModel::Name));
            QVERIFY(names.value(pid).startsWith(QStringLiteral("tmw-")));
        }
        // Each shows its slot: the two take slots 0 and 1.
        QTRY_VERIFY(!workerCell(window, pids.first(), WorkerModel::Slot).isEmpty());
        QTRY_VERIFY(!workerCell(window, pids.last(), WorkerModel::Slot).isEmpty());
        QCOMPARE(QSet<QString>({workerCell(window, pids.first(), WorkerModel::Slot),
                                workerCell(window, pids.last(), WorkerModel::Slot)}),
                 QSet<QString>({QStringLiteral("0"), QStringLiteral("1")}));
        const QString victimSlot = workerCell(window, pids.first(), WorkerModel::Slot);
        // CPU and memory are read from /proc.
        QTRY_VERIFY(!workerCell(window, pids.first(), WorkerModel::Memory).isEmpty());

        // Kill one through the action: it shows as crashed, its task fails, a replacement runs.
        const qint64 victim = pids.first();
        QVERIFY(faultsupport::waitUntilSleepingInTask(victim)); // its task started, not only sent
        QTableView *view = window.workerView();
        QModelIndex proxyIndex;
        for (int r = 0; r < view->model()->rowCount(); ++r)
            if (view->model()->index(r, 0).data(WorkerModel::PidRole).toLongLong() == victim)
                proxyIndex = view->model()->index(r, 0);
        QVERIFY(proxyIndex.isValid());
        view->selectRow(proxyIndex.row());
        QAction *kill = window.findChild<QAction *>(QStringLiteral("actionKillWorker"));
        QVERIFY(kill->isEnabled());
        kill->trigger();
        QTRY_COMPARE(workerCell(window, victim, WorkerModel::State), QStringLiteral("crashed"));
        QVERIFY(workerCell(window, victim, WorkerModel::CurrentTask).contains(QStringLiteral("SIGKILL")));
        QTRY_COMPARE(manager->getPool()->stats().failed, quint64(1));

        QVERIFY(window.submit(manager, {QStringLiteral("sleep"), {QVariant(10)}, 4, {}}).isEmpty());
        QTRY_COMPARE(manager->getPool()->stats().completed, quint64(5));
        qint64 replacement = 0;
        for (qint64 pid : manager->getPool()->workerPids())
            if (!pids.contains(pid))
                replacement = pid;
        QVERIFY(replacement != 0);
        QTRY_VERIFY(workerRow(window, replacement) >= 0);
        QTRY_COMPARE(workerCell(window, replacement, WorkerModel::Slot), victimSlot); // it takes over

        // Ended workers stay visible a while, then go.
        window.workerModel()->setEndedRetentionMs(300);
        manager->stop(true);
        QTRY_COMPARE(workerCell(window, replacement, WorkerModel::State), QString()); // row gone
        QTRY_COMPARE(window.workerModel()->rowCount(), 0);

        // The log saw the lifecycle, line by line (namespace | pid | source | message).
        const QStringList lines = logLines(window);
        qsizetype lastStart = -1;
        for (qint64 pid : pids) {
            const qsizetype at = lines.indexOf(QStringLiteral("tm_workers | %1 | engine | worker %2 started")
                                                   .arg(pid)
                                                   .arg(names.value(pid)));
            QVERIFY2(at >= 0, qPrintable(lines.join(u'\n')));
            lastStart = std::max(lastStart, at);
        }
        const qsizetype killed = lines.indexOf(
            QStringLiteral("tm_workers |  | engine | monitor: sent SIGKILL to worker %1").arg(victim));
        const qsizetype exited = lines.indexOf(
            QStringLiteral("tm_workers | %1 | error | worker exited: killed by SIGKILL (signal 9)").arg(victim));
        QVERIFY2(killed > lastStart && exited > killed, qPrintable(lines.join(u'\n')));
    }

    void workersShowTheirHost()
    {
        // A worker started through a launcher (sh -c, on host "x") shows its host, and in the
        // tooltip what it said of itself there; a worker of a local pool shows "local".
        MainWindow window;
        PoolOptions remote;
        remote.hosts = {WorkerHost{QStringLiteral("x"), 1, Launcher::command({QStringLiteral("sh"), QStringLiteral("-c")}), QString()}};
        remote.minWorkers = 1;
        remote.daemon = true;
        remote.processNamePrefix = QStringLiteral("tmh");
        ProcessPoolManager *onHost = getOrCreateProcessManager(QStringLiteral("tm_host"));
        onHost->start(remote);
        ProcessPoolManager *local = getOrCreateProcessManager(QStringLiteral("tm_local"));
        local->start(1, QString(), true, QStringLiteral("tml"));
        QCOMPARE(local->submitTask(QStringLiteral("sleep"), {QVariant(0)}).result().toInt(), 0);
        QCOMPARE(onHost->submitTask(QStringLiteral("sleep"), {QVariant(0)}).result().toInt(), 0);
        const qint64 remotePid = onHost->getPool()->workerPids().value(0);
        const qint64 localPid = local->getPool()->workerPids().value(0);
        QVERIFY(remotePid > 0 && localPid > 0);
        QTRY_COMPARE(workerCell(window, remotePid, WorkerModel::Host), QStringLiteral("x"));
        QTRY_COMPARE(workerCell(window, localPid, WorkerModel::Host), QStringLiteral("local"));
        const WorkerInfo info = onHost->getPool()->workers().value(0);
        QVERIFY(!info.reportedHost.isEmpty() && info.remotePid > 0); // it has said hello
        const auto toolTip = [&] {
            return window.workerModel()->index(workerRow(window, remotePid), WorkerModel::Host).data(Qt::ToolTipRole).toString();
        };
        QTRY_COMPARE(toolTip(), Qt::convertFromPlainText(QStringLiteral("On host x, which calls itself %1, as pid %2 "
                                                                        "there; pid %3 is its launcher's, here")
                                                             .arg(info.reportedHost)
                                                             .arg(info.remotePid)
                                                             .arg(remotePid)));
        QCOMPARE(window.workerModel()->headerData(WorkerModel::Host, Qt::Horizontal, Qt::DisplayRole).toString(),
                 QStringLiteral("Host"));
        // Memory and CPU are measured here only for local workers: this pid is the launcher's.
        QTRY_VERIFY(!workerCell(window, localPid, WorkerModel::Memory).isEmpty());
        QCOMPARE(workerCell(window, remotePid, WorkerModel::Memory), QString());
        QCOMPARE(workerCell(window, remotePid, WorkerModel::Cpu), QString());
        QVERIFY(window.workerModel()->index(workerRow(window, remotePid), WorkerModel::Memory)
                    .data(Qt::ToolTipRole).toString().contains(QStringLiteral("Not measured")));
    }

    void futuresFollowTheirTasks()
    {
        MainWindow window;
        ProcessPoolManager *manager = getOrCreateProcessManager(QStringLiteral("tm_futures"));
        manager->start(2, QString(), true);
        const int before = window.futureModel()->rowCount();
        QVERIFY(window.submit(manager, {QStringLiteral("sleep"), {QVariant(50)}, 3, {}}).isEmpty());
        QVERIFY(window.submit(manager, {QStringLiteral("throw"), {QStringLiteral("tm boom")}, 1, {}}).isEmpty());
        QVERIFY(window.submit(manager, {QStringLiteral("progress"), {QVariant(1)}, 1, {}}).isEmpty());
        // Own submissions appear at once, queued.
        QCOMPARE(window.futureModel()->rowCount(), before + 5);
        const QList<quint64> ids = futureIds(window).mid(before);
        QCOMPARE(futureCell(window, ids[0], FutureModel::Task), QStringLiteral("sleep"));
        QCOMPARE(futureCell(window, ids[0], FutureModel::Namespace), QStringLiteral("tm_futures"));

        for (int i = 0; i < 3; ++i) {
            QTRY_COMPARE(futureCell(window, ids[i], FutureModel::State), QStringLiteral("finished"));
            QTRY_COMPARE(futureCell(window, ids[i], FutureModel::Outcome), QStringLiteral("50"));
            QVERIFY(!futureCell(window, ids[i], FutureModel::Worker).isEmpty());
            QVERIFY(!futureCell(window, ids[i], FutureModel::Duration).isEmpty());
        }
        QTRY_COMPARE(futureCell(window, ids[3], FutureModel::State), QStringLiteral("failed"));
        QVERIFY(futureCell(window, ids[3], FutureModel::Outcome).contains(QStringLiteral("tm boom")));
        const QString details = window.futureModel()->details(ids[3]);
        QVERIFY(details.contains(QStringLiteral("tm boom")));
        QVERIFY(details.contains(QStringLiteral("Arguments")));

        // The progress task reports progress before it finishes.
        const int progressRow = window.futureModel()->rowOf(ids[4]);
        QTRY_VERIFY(window.futureModel()->index(progressRow, 0).data(FutureModel::ProgressMaximumRole).toInt() > 0);
        QTRY_COMPARE(futureCell(window, ids[4], FutureModel::State), QStringLiteral("finished"));
        QCOMPARE(window.futureModel()->count(TaskState::Failed) >= 1, true);

        // Filters: by state and namespace.
        auto *states = window.findChild<QComboBox *>(QStringLiteral("stateFilter"));
        states->setCurrentIndex(states->findText(QStringLiteral("failed")));
        QAbstractItemModel *shown = window.futureView()->model();
        QTRY_COMPARE(shown->rowCount(), 1);
        QCOMPARE(shown->index(0, FutureModel::Task).data().toString(), QStringLiteral("throw"));
        states->setCurrentIndex(0);
        QCOMPARE(shown->rowCount(), window.futureModel()->rowCount());
    }

    // CPU % and resident memory of each worker, as /proc tells them: a worker computing without
    // pause uses about one core, one asleep none; memory is statm's resident pages.
    void workerCellsShowCpuAndMemoryFromProc()
    {
        MainWindow window;
        ProcessPoolManager *manager = getOrCreateProcessManager(QStringLiteral("tm_cells"));
        manager->start(2, QString(), true, QStringLiteral("tmc"));
        window.selectManager(manager);
        const auto burning = manager->submitTracked(QStringLiteral("primes"), {QVariant(qint64(1) << 40)});
        const auto resting = manager->submitTracked(QStringLiteral("sleep"), {QVariant(600000)});
        ProcessPool *pool = manager->getPool();
        QTRY_VERIFY(pool->taskRecord(burning.id)->state == TaskState::Running
                    && pool->taskRecord(resting.id)->state == TaskState::Running);
        const qint64 burner = pool->taskRecord(burning.id)->workerPid;
        const qint64 sleeper = pool->taskRecord(resting.id)->workerPid;
        QVERIFY(faultsupport::waitUntilSleepingInTask(sleeper));
        const auto cpu = [&](qint64 pid) {
            bool ok = false;
            const double percent = workerCell(window, pid, WorkerModel::Cpu).toDouble(&ok);
            return ok ? percent : -1.0;
        };
        QTRY_VERIFY(cpu(burner) >= 50.0);
        // One thread cannot use more than one core; a unit mixed up would be far beyond.
        QVERIFY2(cpu(burner) <= 100.0 * QThread::idealThreadCount(),
                 qPrintable(workerCell(window, burner, WorkerModel::Cpu)));
        QTRY_COMPARE(workerCell(window, sleeper, WorkerModel::Cpu), QStringLiteral("0.0"));
        for (qint64 pid : {burner, sleeper})
            QTRY_COMPARE(workerCell(window, pid, WorkerModel::Memory),
                         QStringLiteral("%1 MiB").arg(double(residentBytes(pid)) / (1024.0 * 1024.0), 0, 'f', 1));
        // Ended workers show neither.
        QVERIFY(pool->killWorker(sleeper));
        QTRY_COMPARE(workerCell(window, sleeper, WorkerModel::State), QStringLiteral("crashed"));
        QCOMPARE(workerCell(window, sleeper, WorkerModel::Cpu), QString());
        QCOMPARE(workerCell(window, sleeper, WorkerModel::Memory), QString());
    }

    void tasksSubmittedElsewhereAppearToo()
    {
        MainWindow window;
        ProcessPoolManager *manager = getOrCreateProcessManager(QStringLiteral("tm_elsewhere"));
        manager->start(1, QString(), true);
        const ProcessPoolManager::TrackedTask task =
            manager->submitTracked(QStringLiteral("sleep"), {QVariant(10)});
        QTRY_COMPARE(futureCell(window, task.id, FutureModel::State), QStringLiteral("finished"));
        QCOMPARE(futureCell(window, task.id, FutureModel::Namespace), QStringLiteral("tm_elsewhere"));
        QVERIFY(!window.futureModel()->index(window.futureModel()->rowOf(task.id), 0)
                     .data(FutureModel::CancellableRole).toBool());
    }

    void cancelActionCancelsFutures()
    {
        MainWindow window;
        alwaysConfirm(window);
        ProcessPoolManager *manager = getOrCreateProcessManager(QStringLiteral("tm_cancel"));
        manager->start(1, QString(), true);
        QVERIFY(window.submit(manager, {QStringLiteral("hang"), {}, 1, {}}).isEmpty());
        QVERIFY(window.submit(manager, {QStringLiteral("sleep"), {QVariant(10)}, 3, {}}).isEmpty());
        const QList<quint64> ids = futureIds(window);
        QCOMPARE(ids.size(), 4);
        QTRY_COMPARE(futureCell(window, ids[0], FutureModel::State), QStringLiteral("running"));

        // Select the three queued sleeps and the running hang, and cancel them all.
        window.futureView()->selectAll();
        QAction *cancel = window.findChild<QAction *>(QStringLiteral("actionCancel"));
        QTRY_VERIFY(cancel->isEnabled());
        cancel->trigger();
        for (quint64 id : ids)
            QTRY_COMPARE(futureCell(window, id, FutureModel::State), QStringLiteral("cancelled"));
        QTRY_VERIFY(!cancel->isEnabled());
        QCOMPARE(window.futureModel()->count(TaskState::Cancelled), quint64(4));
        QCOMPARE(manager->getPool()->stats().completed, quint64(0));
    }

    void cancelActionCancelsFuturesSubmittedElsewhere()
    {
        MainWindow window;
        alwaysConfirm(window);
        ProcessPoolManager *manager = getOrCreateProcessManager(QStringLiteral("tm_cancel_other"));
        manager->start(1, QString(), true);
        // Submitted by code, not by the window: the monitor knows only the ids.
        const ProcessPoolManager::TrackedTask hang = manager->submitTracked(QStringLiteral("hang"), {});
        const ProcessPoolManager::TrackedTask queued = manager->submitTracked(QStringLiteral("sleep"), {QVariant(10)});
        QTRY_COMPARE(futureCell(window, hang.id, FutureModel::State), QStringLiteral("running"));
        QTRY_COMPARE(futureCell(window, queued.id, FutureModel::State), QStringLiteral("queued"));

        window.futureView()->selectAll();
        QAction *cancel = window.findChild<QAction *>(QStringLiteral("actionCancel"));
        QTRY_VERIFY(cancel->isEnabled());
        cancel->trigger();
        QTRY_VERIFY(hang.future.isFinished() && queued.future.isFinished());
        QVERIFY(hang.future.isCanceled());
        QVERIFY(queued.future.isCanceled());
        for (quint64 id : {hang.id, queued.id})
            QTRY_COMPARE(futureCell(window, id, FutureModel::State), QStringLiteral("cancelled"));
        QCOMPARE(manager->getPool()->stats().completed, quint64(0));
    }

    // Every action of the window, enabled or not, for each state a pool can be in and each
    // thing the user can have selected: the exact set, not only the action a test is about.
    void enabledActionsFollowThePoolAndTheSelection_data()
    {
        QTest::addColumn<QString>("scenario");
        QTest::addColumn<QStringList>("enabled"); // besides those that are always enabled
        const auto list = [](std::initializer_list<const char *> names) {
            QStringList l;
            for (const char *name : names)
                l << QString::fromLatin1(name);
            return l;
        };
        const QStringList running = list({"actionStop", "actionStopNow", "actionTerminate", "actionSubmit"});
        QTest::newRow("no namespace selected") << "none" << QStringList();
        QTest::newRow("stopped pool") << "stopped" << list({"actionStart", "actionRemoveNamespace"});
        QTest::newRow("running pool") << "running" << running;
        QTest::newRow("running pool, its running future selected")
            << "running future" << running + list({"actionCancel"});
        QTest::newRow("running pool, its queued future selected")
            << "queued future" << running + list({"actionCancel"});
        QTest::newRow("running pool, its finished future selected") << "finished future" << running;
        QTest::newRow("running pool, a live worker selected")
            << "live worker" << running + list({"actionKillWorker"});
        QTest::newRow("running pool, a crashed worker selected") << "crashed worker" << running;
        QTest::newRow("pool stopping: Stop waits for its task") << "stop waiting" << QStringList();
        QTest::newRow("pool draining after Stop Now") << "draining" << list({"actionTerminate"});
        QTest::newRow("broken pool") << "broken" << list({"actionStop", "actionStopNow", "actionTerminate"});
    }

    void enabledActionsFollowThePoolAndTheSelection()
    {
        QFETCH(QString, scenario);
        QFETCH(QStringList, enabled);
        const QStringList always = {
            QStringLiteral("actionNewNamespace"), QStringLiteral("actionAllWorkers"),
            QStringLiteral("actionFind"),         QStringLiteral("actionClearLog"),
            QStringLiteral("actionPreferences"),  QStringLiteral("actionQuit"),
            QStringLiteral("actionAbout"),        QStringLiteral("actionAttach")};
        MainWindow window;
        alwaysConfirm(window);
        QTemporaryDir dir;
        const QString gate = dir.filePath(QStringLiteral("gate"));
        ProcessPoolManager *manager = nullptr;
        if (scenario != u"none")
            manager = getOrCreateProcessManager(QStringLiteral("tm_actions"));
        const auto state = [&] { return managerCell(window, manager, NamespaceModel::State); };
        // A task of the window's own that holds its worker until the gate opens.
        const auto hold = [&] {
            if (!window.submit(manager, {gated.name(), {gate}, 1, {}}).isEmpty())
                return quint64(0);
            const quint64 id = futureIds(window).last();
            return QTest::qWaitFor([&] { return futureCell(window, id, FutureModel::State) == u"running"; },
                                   hangGuardMs)
                       ? id
                       : quint64(0);
        };
        const auto workerOf = [&](quint64 id) {
            const auto record = manager->getPool()->taskRecord(id);
            return record ? record->workerPid : qint64(0);
        };
        if (scenario == u"broken") {
            PoolOptions options;
            options.startContext.program = QStringLiteral("/nonexistent/procpool-worker");
            manager->start(options);
            manager->submitTask(QStringLiteral("sleep"), {0});
            QTRY_COMPARE(manager->state(), PoolState::Broken);
        } else if (manager && scenario != u"stopped") {
            const bool daemon = scenario != u"stop waiting" && scenario != u"draining";
            manager->start(1, QString(), daemon);
        }
        if (manager)
            window.selectManager(manager);
        QTRY_VERIFY(!manager || window.selectedManager() == manager);

        if (scenario == u"running future") {
            const quint64 id = hold();
            QVERIFY(id != 0);
            QVERIFY(selectRow(window.futureView(), FutureModel::IdRole, QVariant::fromValue(id)));
        } else if (scenario == u"queued future") {
            QVERIFY(hold() != 0);
            QVERIFY(window.submit(manager, {QStringLiteral("sleep"), {0}, 1, {}}).isEmpty());
            const quint64 id = futureIds(window).last();
            QTRY_COMPARE(futureCell(window, id, FutureModel::State), QStringLiteral("queued"));
            QVERIFY(selectRow(window.futureView(), FutureModel::IdRole, QVariant::fromValue(id)));
        } else if (scenario == u"finished future") {
            QVERIFY(window.submit(manager, {QStringLiteral("sleep"), {0}, 1, {}}).isEmpty());
            const quint64 id = futureIds(window).last();
            QTRY_COMPARE(futureCell(window, id, FutureModel::State), QStringLiteral("finished"));
            QVERIFY(selectRow(window.futureView(), FutureModel::IdRole, QVariant::fromValue(id)));
        } else if (scenario == u"live worker" || scenario == u"crashed worker") {
            const qint64 pid = workerOf(hold());
            QVERIFY(pid > 0);
            if (scenario == u"crashed worker") {
                QVERIFY(manager->getPool()->killWorker(pid));
                QTRY_COMPARE(workerCell(window, pid, WorkerModel::State), QStringLiteral("crashed"));
            } else {
                QTRY_COMPARE(workerCell(window, pid, WorkerModel::State), QStringLiteral("busy"));
            }
            QVERIFY(selectRow(window.workerView(), WorkerModel::PidRole, pid));
        } else if (scenario == u"stop waiting" || scenario == u"draining") {
            QVERIFY(hold() != 0);
            window.findChild<QAction *>(scenario == u"draining" ? "actionStopNow" : "actionStop")->trigger();
            QTRY_COMPARE(state(), QStringLiteral("stopping"));
        } else if (scenario == u"running") {
            QTRY_COMPARE(state(), QStringLiteral("running"));
        } else if (scenario == u"broken") {
            QTRY_COMPARE(state(), QStringLiteral("broken"));
        }

        window.watcher()->pollNow(); // the actions follow every poll
        const QStringList actual = enabledActions(window);
        QStringList expected = always + enabled;
        expected.sort();
        QCOMPARE(actual.join(QLatin1String(", ")), expected.join(QLatin1String(", ")));

        QVERIFY(faultsupport::touchFile(gate)); // whatever waits for it ends
        if (scenario == u"stop waiting" || scenario == u"draining")
            QTRY_COMPARE(state(), QStringLiteral("stopped"));
    }

    void futuresShowPriorityAndAttempts()
    {
        MainWindow window;
        ProcessPoolManager *manager = getOrCreateProcessManager(QStringLiteral("tm_retries"));
        manager->start(1, QString(), true);
        QCOMPARE(window.futureModel()->headerData(FutureModel::Priority, Qt::Horizontal, Qt::DisplayRole).toString(),
                 QStringLiteral("Priority"));
        QCOMPARE(window.futureModel()->headerData(FutureModel::Attempts, Qt::Horizontal, Qt::DisplayRole).toString(),
                 QStringLiteral("Attempts"));
        // flaky fails on its first attempt (counted in a marker file) and succeeds on the second.
        QTemporaryDir dir;
        SubmitDialog::Request request{QStringLiteral("flaky"), {dir.filePath(QStringLiteral("marker")), 1}, 1, {}};
        request.priority = 7;
        request.attempts = 3;
        QVERIFY(window.submit(manager, request).isEmpty());
        QVERIFY(window.submit(manager, {QStringLiteral("sleep"), {QVariant(0)}, 1, {}}).isEmpty());
        const quint64 flaky = futureIds(window).at(futureIds(window).size() - 2);
        const quint64 plain = futureIds(window).last();
        // At once, from what was submitted: not run yet.
        QCOMPARE(futureCell(window, flaky, FutureModel::Priority), QStringLiteral("7"));
        QCOMPARE(futureCell(window, flaky, FutureModel::Attempts), QStringLiteral("0/3"));
        QTRY_COMPARE(futureCell(window, flaky, FutureModel::State), QStringLiteral("finished"));
        QCOMPARE(futureCell(window, flaky, FutureModel::Outcome), QStringLiteral("2"));
        QTRY_COMPARE(futureCell(window, flaky, FutureModel::Attempts), QStringLiteral("2/3"));
        const int row = window.futureModel()->rowOf(flaky);
        QVERIFY(window.futureModel()->index(row, FutureModel::Attempts).data(Qt::ToolTipRole).toString()
                    .contains(QStringLiteral("Attempt 1: ")));
        // The details show the failed attempt and what the task printed.
        const QString details = window.futureModel()->details(flaky);
        QVERIFY2(details.contains(QStringLiteral("Attempt 1 failed")) && details.contains(QStringLiteral("attempt 1 fails on purpose")),
                 qPrintable(details));
        QVERIFY2(details.contains(QStringLiteral("flaky: attempt 2")), qPrintable(details));
        QVERIFY(details.contains(QStringLiteral("2 of at most 3")));
        // A plain task: priority 0, one attempt.
        QTRY_COMPARE(futureCell(window, plain, FutureModel::State), QStringLiteral("finished"));
        QCOMPARE(futureCell(window, plain, FutureModel::Priority), QStringLiteral("0"));
        QTRY_COMPARE(futureCell(window, plain, FutureModel::Attempts), QStringLiteral("1"));
        QVERIFY(!window.futureModel()->details(plain).contains(QStringLiteral("Attempts")));
    }

    void submitDialogSendsPriorityAndRetries()
    {
        MainWindow window;
        QList<TaskPreset> presets;
        for (const samples::SampleTask &t : samples::sampleTasks())
            presets.append({t.name, t.parameters, t.description});
        window.setTaskPresets(presets);
        ProcessPoolManager *manager = getOrCreateProcessManager(QStringLiteral("tm_ranked"));
        manager->start(1, QString(), true);
        window.selectManager(manager);
        QAction *submit = window.findChild<QAction *>(QStringLiteral("actionSubmit"));
        QTRY_VERIFY(submit->isEnabled());
        submit->trigger();
        auto *dialog = window.findChild<SubmitDialog *>();
        QVERIFY(dialog);
        dialog->taskField()->setCurrentIndex(dialog->taskField()->findText(QStringLiteral("sleep")));
        dialog->countField()->setValue(2);
        dialog->priorityField()->setValue(-4);
        dialog->retriesField()->setValue(5);
        const SubmitDialog::Request request = dialog->request();
        QCOMPARE(request.priority, -4);
        QCOMPARE(request.attempts, 5);
        dialog->accept();
        QList<quint64> ids; // this pool's: the window shows the earlier tests' pools too
        for (quint64 id : futureIds(window))
            if (futureCell(window, id, FutureModel::Namespace) == u"tm_ranked")
                ids.append(id);
        QCOMPARE(ids.size(), 2);
        for (quint64 id : ids) {
            QCOMPARE(futureCell(window, id, FutureModel::Priority), QStringLiteral("-4"));
            QTRY_COMPARE(futureCell(window, id, FutureModel::State), QStringLiteral("finished"));
            QTRY_COMPARE(futureCell(window, id, FutureModel::Attempts), QStringLiteral("1/5"));
            const std::optional<TaskRecord> record = manager->getPool()->taskRecord(id);
            QVERIFY(record);
            QCOMPARE(record->priority, -4);
            QCOMPARE(record->maxAttempts, 5);
        }
    }

    void startDialogTakesMemoryLimits()
    {
        StartPoolDialog dialog(QStringLiteral("tm_memory"));
        dialog.prefixField()->setText(QString());
        dialog.taskTypeField()->setText(QString());
        dialog.programField()->setText(QString());
        dialog.softMemoryField()->setValue(0);
        dialog.hardMemoryField()->setValue(0);
        QVERIFY2(dialog.isAcceptable(), qPrintable(dialog.validationError()));
        QCOMPARE(dialog.options().softMemoryLimit, qint64(0)); // none
        QCOMPARE(dialog.options().hardMemoryLimit, qint64(0));
        dialog.softMemoryField()->setValue(512);
        dialog.hardMemoryField()->setValue(256);
        QVERIFY(!dialog.isAcceptable());
        QVERIFY2(dialog.validationError().contains(QStringLiteral("soft memory limit must not be above the hard one")),
                 qPrintable(dialog.validationError()));
        dialog.hardMemoryField()->setValue(1024);
        QVERIFY2(dialog.isAcceptable(), qPrintable(dialog.validationError()));
        QCOMPARE(dialog.options().softMemoryLimit, qint64(512) << 20);
        QCOMPARE(dialog.options().hardMemoryLimit, qint64(1024) << 20);
        dialog.accept();
        StartPoolDialog again(QStringLiteral("tm_memory"));
        QCOMPARE(again.softMemoryField()->value(), 512);
        QCOMPARE(again.hardMemoryField()->value(), 1024);
        again.softMemoryField()->setValue(0);
        again.hardMemoryField()->setValue(0);
        again.accept(); // leave the settings as other tests expect them
    }

    void startDialogMapsTheLimitsToPoolOptions()
    {
        StartPoolDialog dialog(QStringLiteral("tm_limits"));
        dialog.prefixField()->setText(QString());
        dialog.taskTypeField()->setText(QString());
        dialog.programField()->setText(QString());
        QVERIFY2(dialog.isAcceptable(), qPrintable(dialog.validationError()));
        // None set: the defaults, and the tab says nothing.
        PoolOptions o = dialog.options();
        QCOMPARE(o.resourceLimits.niceValue, 0);
        QVERIFY(o.resourceLimits.cpuAffinity.isEmpty());
        QCOMPARE(o.resourceLimits.addressSpace, qint64(0));
        QCOMPARE(o.resourceLimits.cpuSeconds, 0);
        QVERIFY(!o.cgroup.enabled());
        QVERIFY(!o.workerEnvironment);
        QCOMPARE(dialog.tabs()->tabText(1), QStringLiteral("&Limits"));

        dialog.niceField()->setValue(5);
        dialog.cpuAffinityField()->setText(QStringLiteral("3, 0-1,2"));
        dialog.addressSpaceField()->setValue(2048);
        dialog.cpuTimeField()->setValue(120);
        dialog.poolMemoryField()->setValue(1024);
        dialog.poolCpusField()->setValue(1.5);
        dialog.cgroupParentField()->setText(QStringLiteral("/user.slice/batch.slice"));
        dialog.workerEnvironmentField()->setPlainText(QStringLiteral("CUDA_VISIBLE_DEVICES={slot}\n\nOMP_NUM_THREADS=4\n"));
        QVERIFY2(dialog.isAcceptable(), qPrintable(dialog.validationError()));
        QCOMPARE(dialog.tabs()->tabText(1), QStringLiteral("&Limits (8)"));
        o = dialog.options();
        QCOMPARE(o.resourceLimits.niceValue, 5);
        QCOMPARE(o.resourceLimits.cpuAffinity, QList<int>({0, 1, 2, 3}));
        QCOMPARE(o.resourceLimits.addressSpace, qint64(2048) << 20);
        QCOMPARE(o.resourceLimits.cpuSeconds, 120);
        QCOMPARE(o.cgroup.memoryMax, qint64(1024) << 20);
        QCOMPARE(o.cgroup.cpuMax, 1.5);
        QCOMPARE(o.cgroup.parent, QStringLiteral("/user.slice/batch.slice"));
        QVERIFY(o.workerEnvironment);
        using Variables = QList<std::pair<QString, QString>>;
        QCOMPARE(o.workerEnvironment(0), Variables({{QStringLiteral("CUDA_VISIBLE_DEVICES"), QStringLiteral("0")},
                                                    {QStringLiteral("OMP_NUM_THREADS"), QStringLiteral("4")}}));
        QCOMPARE(o.workerEnvironment(3).at(0).second, QStringLiteral("3"));

        // What is not valid says which field and what to write, and cannot be started.
        const std::pair<std::function<void()>, QString> bad[] = {
            {[&] { dialog.cpuAffinityField()->setText(QStringLiteral("3-1")); },
             QStringLiteral("The CPU affinity must be a range from a lower CPU to a higher one (1-3, not 3-1).")},
            {[&] { dialog.cpuAffinityField()->setText(QStringLiteral("zero")); },
             QStringLiteral("The CPU affinity must be a list of CPU numbers and ranges such as 0,2-3.")},
            {[&] { dialog.workerEnvironmentField()->setPlainText(QStringLiteral("A=1\n2B=x")); },
             QStringLiteral("Worker environment, line 2: write NAME=VALUE")},
            {[&] { dialog.workerEnvironmentField()->setPlainText(QStringLiteral("A=1\nA=2")); },
             QStringLiteral("Worker environment: A is set twice; give each variable once.")},
            {[&] { dialog.cgroupParentField()->setText(QStringLiteral("batch.slice")); },
             QStringLiteral("The parent cgroup must be an absolute path")},
            {[&] {
                 dialog.poolMemoryField()->setValue(0);
                 dialog.poolCpusField()->setValue(0);
             },
             QStringLiteral("The parent cgroup says where the pool's control group goes")},
        };
        for (const auto &[spoil, message] : bad) {
            spoil();
            QVERIFY(!dialog.isAcceptable());
            QVERIFY2(dialog.validationError().startsWith(message), qPrintable(dialog.validationError()));
            // Mend everything for the next case.
            dialog.cpuAffinityField()->setText(QStringLiteral("0"));
            dialog.workerEnvironmentField()->setPlainText(QStringLiteral("GPU={slot}"));
            dialog.cgroupParentField()->setText(QStringLiteral("/user.slice"));
            dialog.poolCpusField()->setValue(0.5);
            QVERIFY2(dialog.isAcceptable(), qPrintable(dialog.validationError()));
        }

        // Accepting stores the values; the next dialog starts from them.
        dialog.accept();
        StartPoolDialog again(QStringLiteral("tm_limits"));
        QCOMPARE(again.niceField()->value(), 5);
        QCOMPARE(again.cpuAffinityField()->text(), QStringLiteral("0"));
        QCOMPARE(again.addressSpaceField()->value(), 2048);
        QCOMPARE(again.cpuTimeField()->value(), 120);
        QCOMPARE(again.poolCpusField()->value(), 0.5);
        QCOMPARE(again.cgroupParentField()->text(), QStringLiteral("/user.slice"));
        QCOMPARE(again.workerEnvironmentField()->toPlainText(), QStringLiteral("GPU={slot}"));
        // Leave the settings as other tests expect them.
        again.niceField()->setValue(0);
        again.cpuAffinityField()->clear();
        again.addressSpaceField()->setValue(0);
        again.cpuTimeField()->setValue(0);
        again.poolMemoryField()->setValue(0);
        again.poolCpusField()->setValue(0);
        again.cgroupParentField()->clear();
        again.workerEnvironmentField()->clear();
        again.tabs()->setCurrentIndex(0);
        QVERIFY2(again.isAcceptable(), qPrintable(again.validationError()));
        again.accept();
    }

    void startDialogLimitsReachTheWorkers()
    {
        // Started from the dialog, a pool's worker runs with the limits and the environment.
        StartPoolDialog dialog(QStringLiteral("tm_limited_workers"));
        dialog.prefixField()->setText(QString());
        dialog.taskTypeField()->setText(QString());
        dialog.programField()->setText(QString());
        dialog.maxWorkersField()->setValue(1);
        dialog.daemonField()->setChecked(true);
        dialog.niceField()->setValue(9);
        dialog.cpuTimeField()->setValue(300);
        dialog.workerEnvironmentField()->setPlainText(QStringLiteral("PROCPOOL_TEST_SLOT=s{slot}"));
        QVERIFY2(dialog.isAcceptable(), qPrintable(dialog.validationError()));
        ProcessPoolManager *manager = getOrCreateProcessManager(QStringLiteral("tm_limited_workers"));
        manager->start(dialog.options());
        const QVariantMap limits = manager->submitTask(QStringLiteral("limits"), {QStringLiteral("PROCPOOL_TEST_SLOT")})
                                       .result()
                                       .toMap();
        manager->stop(true);
        QCOMPARE(limits.value(QStringLiteral("nice")).toInt(), std::max(9, ::getpriority(PRIO_PROCESS, 0)));
        QCOMPARE(limits.value(QStringLiteral("cpu_time")).toInt(), 300);
        QCOMPARE(limits.value(QStringLiteral("env")).toString(), QStringLiteral("s0"));
    }

    void startDialogStaysTidy()
    {
        // Both tabs fit a small screen, and nothing in them is squeezed below its size; also
        // for a pool of an attached process, which shows fewer fields.
        PoolOptions last;
        last.maxWorkers = 3;
        last.hardMemoryLimit = qint64(1500) << 20;
        last.resourceLimits.cpuAffinity = {0, 2, 3};
        last.cgroup.cpuMax = 2.5;
        for (const bool attached : {false, true}) {
            StartPoolDialog dialog(QStringLiteral("tm_tidy"));
            if (attached)
                dialog.setAttached(4242, last);
            dialog.show();
            QVERIFY(QTest::qWaitForWindowExposed(&dialog));
            for (int tab = 0; tab < dialog.tabs()->count(); ++tab) {
                dialog.tabs()->setCurrentIndex(tab);
                QCoreApplication::processEvents();
                QVERIFY2(dialog.height() <= 720, qPrintable(QString::number(dialog.height())));
                QVERIFY(dialog.width() >= dialog.minimumSizeHint().width());
                QVERIFY(dialog.height() >= dialog.minimumSizeHint().height());
                for (const QLabel *label : dialog.tabs()->currentWidget()->findChildren<QLabel *>()) {
                    if (!label->isVisible() || label->wordWrap())
                        continue;
                    QVERIFY2(label->width() >= label->minimumSizeHint().width(), qPrintable(label->text()));
                }
                const QByteArray shots = qgetenv("PROCPOOL_SCREENSHOT_DIR");
                if (!shots.isEmpty())
                    dialog.grab().save(QStringLiteral("%1/start-dialog%2-%3.png")
                                           .arg(QString::fromLocal8Bit(shots),
                                                attached ? QStringLiteral("-attached") : QString())
                                           .arg(tab));
            }
            if (attached) { // the pool's last limits, in the fields' units
                QCOMPARE(dialog.maxWorkersField()->value(), 3);
                QCOMPARE(dialog.hardMemoryField()->value(), 1500);
                QCOMPARE(dialog.cpuAffinityField()->text(), QStringLiteral("0,2-3"));
                QCOMPARE(dialog.poolCpusField()->value(), 2.5);
                QCOMPARE(dialog.tabs()->tabText(1), QStringLiteral("&Limits (3)"));
                QVERIFY(!dialog.programField()->isVisible());
                QCOMPARE(dialog.options().resourceLimits.cpuAffinity, QList<int>({0, 2, 3}));
            }
            dialog.tabs()->setCurrentIndex(0);
            dialog.reject();
        }
    }

    void remoteOptionsReadTheLimits()
    {
        // As a snapshot names them (docs/inspection.md); a limit left out is not set.
        const QCborMap sent{{QStringLiteral("maxWorkers"), 3},
                            {QStringLiteral("niceValue"), 4},
                            {QStringLiteral("cpuAffinity"), QCborArray{1, 2}},
                            {QStringLiteral("addressSpace"), qint64(3) << 30},
                            {QStringLiteral("cpuSeconds"), 90},
                            {QStringLiteral("cgroupMemoryMax"), qint64(5) << 30},
                            {QStringLiteral("cgroupCpuMax"), 2.5},
                            {QStringLiteral("cgroupParent"), QStringLiteral("/batch.slice")}};
        const PoolOptions o = RemoteProcess::decodeOptions(sent);
        QCOMPARE(o.maxWorkers, 3);
        QCOMPARE(o.resourceLimits.niceValue, 4);
        QCOMPARE(o.resourceLimits.cpuAffinity, QList<int>({1, 2}));
        QCOMPARE(o.resourceLimits.addressSpace, qint64(3) << 30);
        QCOMPARE(o.resourceLimits.cpuSeconds, 90);
        QCOMPARE(o.cgroup.memoryMax, qint64(5) << 30);
        QCOMPARE(o.cgroup.cpuMax, 2.5);
        QCOMPARE(o.cgroup.parent, QStringLiteral("/batch.slice"));
        QCOMPARE(RemoteProcess::decodeOptions({{QStringLiteral("cgroupCpuMax"), 2}}).cgroup.cpuMax, 2.0);
        const PoolOptions none = RemoteProcess::decodeOptions({{QStringLiteral("maxWorkers"), 1}});
        QVERIFY(!none.cgroup.enabled() && none.cgroup.parent.isEmpty());
        QVERIFY(none.resourceLimits.cpuAffinity.isEmpty() && none.resourceLimits.niceValue == 0);
        QVERIFY(none.hosts.isEmpty());
        // Hosts, as a snapshot names them.
        const QCborArray hosts{
            QCborMap{{QStringLiteral("host"), QStringLiteral("node1")}, {QStringLiteral("workers"), 4},
                     {QStringLiteral("launcher"), QStringLiteral("ssh")}, {QStringLiteral("options"), QCborArray{QStringLiteral("-p"), QStringLiteral("2222")}}},
            QCborMap{{QStringLiteral("host"), QString()}, {QStringLiteral("workers"), 1}, {QStringLiteral("launcher"), QStringLiteral("local")}},
            QCborMap{{QStringLiteral("host"), QStringLiteral("x")}, {QStringLiteral("workers"), 2}, {QStringLiteral("launcher"), QStringLiteral("command")},
                     {QStringLiteral("options"), QCborArray{QStringLiteral("sh"), QStringLiteral("-c")}}}};
        QCOMPARE(RemoteProcess::decodeOptions({{QStringLiteral("hosts"), hosts}}).hosts,
                 QList<WorkerHost>({WorkerHost{QStringLiteral("node1"), 4, Launcher::ssh({QStringLiteral("-p"), QStringLiteral("2222")}), QString()},
                                    WorkerHost::local(1),
                                    WorkerHost{QStringLiteral("x"), 2, Launcher::command({QStringLiteral("sh"), QStringLiteral("-c")}), QString()}}));
    }

    void startDialogMapsTheHostsToPoolOptions()
    {
        StartPoolDialog dialog(QStringLiteral("tm_hosts_dialog"));
        dialog.prefixField()->setText(QString());
        dialog.taskTypeField()->setText(QString());
        dialog.programField()->setText(QString());
        dialog.maxWorkersField()->setValue(3);
        HostsBox *hosts = dialog.hostsBox();
        hosts->textField()->clear();
        hosts->launcherField()->clear();
        QVERIFY2(dialog.isAcceptable(), qPrintable(dialog.validationError()));
        QVERIFY(dialog.options().hosts.isEmpty()); // empty: this machine, Max workers of them
        QCOMPARE(dialog.options().maxWorkers, 3);
        QVERIFY(dialog.maxWorkersField()->isEnabled());

        // Hostfile lines, comments and blank lines skipped, each reached by the launcher (ssh
        // when it is empty); the workers are the slots of the hosts.
        hosts->textField()->setPlainText(QStringLiteral("# the nodes\nnode1:4\n\n2/node2   # a second\n:1\n"));
        QVERIFY2(dialog.isAcceptable(), qPrintable(dialog.validationError()));
        PoolOptions o = dialog.options();
        QCOMPARE(o.hosts, QList<WorkerHost>({WorkerHost{QStringLiteral("node1"), 4, Launcher::ssh(), QString()},
                                             WorkerHost{QStringLiteral("node2"), 2, Launcher::ssh(), QString()},
                                             WorkerHost::local(1)}));
        QCOMPARE(o.maxWorkers, 7);
        QVERIFY(!dialog.maxWorkersField()->isEnabled());
        hosts->launcherField()->setText(QStringLiteral("ssh -p 2222"));
        QCOMPARE(dialog.options().hosts.first().launcher, Launcher::ssh({QStringLiteral("-p"), QStringLiteral("2222")}));
        hosts->launcherField()->setText(QStringLiteral("sh -c"));
        QCOMPARE(dialog.options().hosts.first().launcher, Launcher::command({QStringLiteral("sh"), QStringLiteral("-c")}));
        QVERIFY2(dialog.isAcceptable(), qPrintable(dialog.validationError()));

        // A line that is not a host says which line and what to write.
        hosts->textField()->setPlainText(QStringLiteral("node1:4\nnode2:0\n"));
        QVERIFY(!dialog.isAcceptable());
        QVERIFY2(dialog.validationError().startsWith(QStringLiteral(
                     "Hosts, line 2: bad host 'node2:0': the slots must be a number from 1 to 4096; write HOST, "
                     "HOST:SLOTS, SLOTS/HOST, [IPV6-ADDRESS]:SLOTS, or :SLOTS for this machine.")),
                 qPrintable(dialog.validationError()));
        dialog.reject();

        // For a pool of an attached process: its hosts as it last had them, kept exactly while
        // unchanged, even with a command launcher of the application's own; changed, a command
        // launcher is refused, since its inspection socket would refuse it.
        PoolOptions last;
        last.hosts = {WorkerHost{QStringLiteral("x"), 2, Launcher::command({QStringLiteral("sh"), QStringLiteral("-c")}), QString()}};
        StartPoolDialog attached(QStringLiteral("tm_hosts_dialog"));
        attached.setAttached(4242, last);
        QCOMPARE(attached.hostsBox()->textField()->toPlainText(), QStringLiteral("x:2"));
        QCOMPARE(attached.hostsBox()->launcherField()->text(), QStringLiteral("sh -c"));
        QVERIFY2(attached.isAcceptable(), qPrintable(attached.validationError()));
        QCOMPARE(attached.options().hosts, last.hosts);
        QCOMPARE(attached.options().maxWorkers, 2);
        attached.hostsBox()->textField()->setPlainText(QStringLiteral("y:3"));
        QVERIFY(!attached.isAcceptable());
        QVERIFY2(attached.validationError().startsWith(QStringLiteral("The launcher must be ssh, slurm or local")),
                 qPrintable(attached.validationError()));
        attached.hostsBox()->launcherField()->setText(QStringLiteral("ssh"));
        QVERIFY2(attached.isAcceptable(), qPrintable(attached.validationError()));
        QCOMPARE(attached.options().hosts, QList<WorkerHost>({WorkerHost{QStringLiteral("y"), 3, Launcher::ssh(), QString()}}));
        attached.reject();
    }

    void hostsReachAnAttachedPoolsStartAsTheProtocolReadsThem()
    {
        // What the monitor sends for an attached pool's hosts is a `start` the inspection
        // socket takes, with the slots as its workers; a command launcher is refused there.
        const QList<WorkerHost> hosts{WorkerHost{QStringLiteral("node1"), 4, Launcher::ssh({QStringLiteral("-p"), QStringLiteral("2222")}), QString()},
                                      WorkerHost{QStringLiteral("c07"), 2, Launcher::slurm(), QString()},
                                      WorkerHost::local(1)};
        QCborMap start{{QStringLiteral("op"), QStringLiteral("start")},
                       {QStringLiteral("namespace"), QStringLiteral("render")},
                       {QStringLiteral("workers"), 7},
                       {QStringLiteral("hosts"), inspectionHosts(hosts)}};
        detail::InspectionRequest request;
        QString error;
        QVERIFY2(detail::decodeInspectionRequest(start, &request, &error), qPrintable(error));
        QCOMPARE(request.workers, qint64(7));
        start.insert(QStringLiteral("hosts"),
                     inspectionHosts({WorkerHost{QStringLiteral("x"), 1, Launcher::command({QStringLiteral("sh"), QStringLiteral("-c")}), QString()}}));
        start.insert(QStringLiteral("workers"), 1);
        QVERIFY(!detail::decodeInspectionRequest(start, &request, &error));
        QVERIFY2(error.contains(QStringLiteral("takes no command launcher")), qPrintable(error));
    }

    void startDialogTakesTheCancelPolicy()
    {
        StartPoolDialog dialog(QStringLiteral("tm_cancel"));
        dialog.prefixField()->setText(QString());
        dialog.taskTypeField()->setText(QString());
        dialog.programField()->setText(QString());
        QComboBox *policy = dialog.cancelPolicyField();
        QCOMPARE(policy->count(), 3);
        policy->setCurrentIndex(policy->findData(int(PoolOptions::CancelPolicy::Ask)));
        QVERIFY2(dialog.isAcceptable(), qPrintable(dialog.validationError()));
        QCOMPARE(dialog.options().cancelPolicy, PoolOptions::CancelPolicy::Ask);
        dialog.accept();
        StartPoolDialog again(QStringLiteral("tm_cancel"));
        QCOMPARE(again.options().cancelPolicy, PoolOptions::CancelPolicy::Ask); // remembered
        again.cancelPolicyField()->setCurrentIndex(0);
        QCOMPARE(again.options().cancelPolicy, PoolOptions::CancelPolicy::KillWorker);
        again.accept(); // leave the settings as other tests expect them
    }

    void chartDrawsTheSelectedPoolsMemoryLimits()
    {
        MainWindow window;
        ChartWidget *chart = window.chart();
        QCOMPARE(chart->series(MemorySeries).size(), chart->series(CompletedSeries).size());
        PoolOptions options;
        options.maxWorkers = 1;
        options.minWorkers = 1;
        options.daemon = true;
        options.softMemoryLimit = qint64(300) << 20;
        options.hardMemoryLimit = qint64(900) << 20;
        ProcessPoolManager *limited = getOrCreateProcessManager(QStringLiteral("tm_limited"));
        limited->start(options);
        ProcessPoolManager *open = getOrCreateProcessManager(QStringLiteral("tm_unlimited"));
        open->start(1, QString(), true);
        window.selectManager(limited);
        QTRY_COMPARE(chart->limits(MemorySeries).size(), 2);
        QCOMPARE(chart->limits(MemorySeries).at(0).value, 300.0);
        QCOMPARE(chart->limits(MemorySeries).at(1).value, 900.0);
        QVERIFY(chart->limits(MemorySeries).at(0).label.contains(QStringLiteral("soft")));
        QVERIFY(chart->limits(CompletedSeries).isEmpty());
        // The panel charts the pool's worker (minWorkers keeps one) in MiB.
        QTRY_VERIFY(!chart->series(MemorySeries).isEmpty() && chart->series(MemorySeries).last() > 0);
        window.selectManager(open);
        QTRY_VERIFY(chart->limits(MemorySeries).isEmpty());
        limited->stop(false);
        open->stop(false);
    }

    void startDialogValidatesInput()
    {
        StartPoolDialog dialog(QStringLiteral("tm_dialog"));
        dialog.prefixField()->setText(QStringLiteral("ok-prefix"));
        dialog.taskTypeField()->setText(QString());
        dialog.programField()->setText(QString());
        dialog.maxWorkersField()->setValue(3);
        QVERIFY2(dialog.isAcceptable(), qPrintable(dialog.validationError()));

        dialog.prefixField()->setText(QStringLiteral("has space"));
        QVERIFY(!dialog.isAcceptable());
        QVERIFY(dialog.validationError().contains(QStringLiteral("prefix")));
        dialog.prefixField()->setText(QStringLiteral("muchtoolongprefix"));
        QVERIFY(!dialog.isAcceptable());
        QVERIFY(dialog.validationError().contains(QStringLiteral("too long")));
        dialog.prefixField()->setText(QStringLiteral("tm"));

        dialog.taskTypeField()->setText(QStringLiteral("two words"));
        QVERIFY(!dialog.isAcceptable());
        QVERIFY(dialog.validationError().contains(QStringLiteral("task type")));
        dialog.taskTypeField()->setText(QStringLiteral("component_render"));
        QVERIFY(dialog.isAcceptable());

        dialog.programField()->setText(QStringLiteral("/nonexistent/worker"));
        QVERIFY(!dialog.isAcceptable());
        QVERIFY(dialog.validationError().contains(QStringLiteral("does not exist")));
        QTemporaryFile notExecutable;
        QVERIFY(notExecutable.open());
        notExecutable.setPermissions(QFile::ReadOwner | QFile::WriteOwner);
        dialog.programField()->setText(notExecutable.fileName());
        QVERIFY(!dialog.isAcceptable());
        QVERIFY(dialog.validationError().contains(QStringLiteral("not an executable")));
        dialog.programField()->setText(QCoreApplication::applicationFilePath());
        QVERIFY2(dialog.isAcceptable(), qPrintable(dialog.validationError()));

        dialog.daemonField()->setChecked(true);
        QCOMPARE(dialog.options().startContext.method, StartMethod::ForkServer); // the default
        dialog.startMethodField()->setCurrentIndex(
            dialog.startMethodField()->findData(int(StartMethod::Exec)));
        const PoolOptions options = dialog.options();
        QCOMPARE(options.startContext.method, StartMethod::Exec);
        QCOMPARE(options.maxWorkers, 3);
        QCOMPARE(options.taskType, QStringLiteral("component_render"));
        QCOMPARE(options.processNamePrefix, QStringLiteral("tm"));
        QVERIFY(options.daemon);
        QCOMPARE(options.startContext.program, QCoreApplication::applicationFilePath());

        // Accepting stores the values; the next dialog starts from them.
        dialog.accept();
        StartPoolDialog again(QStringLiteral("tm_dialog"));
        QCOMPARE(again.maxWorkersField()->value(), 3);
        QCOMPARE(again.prefixField()->text(), QStringLiteral("tm"));
        QVERIFY(again.daemonField()->isChecked());
        QCOMPARE(again.options().startContext.method, StartMethod::Exec);
    }

    void startActionStartsThePool()
    {
        MainWindow window;
        ProcessPoolManager *manager = getOrCreateProcessManager(QStringLiteral("tm_start"));
        window.selectManager(manager);
        QAction *start = window.findChild<QAction *>(QStringLiteral("actionStart"));
        QTRY_VERIFY(start->isEnabled());
        start->trigger();
        auto *dialog = window.findChild<StartPoolDialog *>();
        QVERIFY(dialog);
        QTRY_VERIFY(dialog->isVisible());
        dialog->maxWorkersField()->setValue(2);
        dialog->taskTypeField()->setText(QString());
        dialog->daemonField()->setChecked(true);
        dialog->prefixField()->setText(QString());
        dialog->programField()->setText(QString());
        dialog->accept();
        QCOMPARE(manager->state(), PoolState::Running);
        QCOMPARE(manager->options().maxWorkers, 2);
        QTRY_COMPARE(managerCell(window, manager, NamespaceModel::State), QStringLiteral("running"));

        // Stop (wait) runs off the GUI thread: it returns while the task it waits for still
        // waits for its gate, which only this thread opens afterwards. (A Stop that blocked
        // would return only once the task gave up, after the hang guard, with -1.)
        QTemporaryDir dir;
        const QString gate = dir.filePath(QStringLiteral("gate"));
        QVERIFY(window.submit(manager, {gated.name(), {gate}, 1, {}}).isEmpty());
        const quint64 held = futureIds(window).last();
        QTRY_COMPARE(futureCell(window, held, FutureModel::State), QStringLiteral("running"));
        QAction *stop = window.findChild<QAction *>(QStringLiteral("actionStop"));
        QTRY_VERIFY(stop->isEnabled());
        stop->trigger();
        QCOMPARE(managerCell(window, manager, NamespaceModel::State), QStringLiteral("stopping"));
        QVERIFY(faultsupport::touchFile(gate));
        QTRY_COMPARE(managerCell(window, manager, NamespaceModel::State), QStringLiteral("stopped"));
        QTRY_COMPARE(futureCell(window, held, FutureModel::State), QStringLiteral("finished"));
        QCOMPARE(futureCell(window, held, FutureModel::Outcome), QStringLiteral("0"));
    }

    void stopNowAndTerminate()
    {
        MainWindow window;
        alwaysConfirm(window);

        // Stop Now on a non-daemon pool: submissions are refused at once, the submitted task
        // still runs in the background, and the namespace shows "stopping" until it is done.
        ProcessPoolManager *drain = getOrCreateProcessManager(QStringLiteral("tm_stopnow"));
        drain->start(1, QString(), false);
        QVERIFY(window.submit(drain, {QStringLiteral("sleep"), {QVariant(800)}, 1, {}}).isEmpty());
        const quint64 sleeper = futureIds(window).last();
        QTRY_COMPARE(futureCell(window, sleeper, FutureModel::State), QStringLiteral("running"));
        window.selectManager(drain);
        QAction *stopNow = window.findChild<QAction *>(QStringLiteral("actionStopNow"));
        QTRY_VERIFY(stopNow->isEnabled());
        stopNow->trigger();
        QCOMPARE(drain->state(), PoolState::Stopped); // as far as the manager is concerned
        QTRY_COMPARE(managerCell(window, drain, NamespaceModel::State), QStringLiteral("stopping"));
        QTRY_COMPARE(managerCell(window, drain, NamespaceModel::State), QStringLiteral("stopped"));
        QTRY_COMPARE(futureCell(window, sleeper, FutureModel::State), QStringLiteral("finished"));
        QCOMPARE(futureCell(window, sleeper, FutureModel::Outcome), QStringLiteral("800"));

        // Terminate a pool whose worker hangs: the task fails, the pool stops.
        ProcessPoolManager *stuck = getOrCreateProcessManager(QStringLiteral("tm_terminate"));
        stuck->start(1, QString(), false);
        QVERIFY(window.submit(stuck, {QStringLiteral("hang"), {}, 1, {}}).isEmpty());
        const quint64 hung = futureIds(window).last();
        QTRY_COMPARE(futureCell(window, hung, FutureModel::State), QStringLiteral("running"));
        window.selectManager(stuck);
        QAction *terminate = window.findChild<QAction *>(QStringLiteral("actionTerminate"));
        QTRY_VERIFY(terminate->isEnabled());
        terminate->trigger();
        QTRY_COMPARE(managerCell(window, stuck, NamespaceModel::State), QStringLiteral("stopped"));
        QTRY_COMPARE(futureCell(window, hung, FutureModel::State), QStringLiteral("failed"));
        QVERIFY(window.futureModel()->details(hung).contains(QStringLiteral("stop"), Qt::CaseInsensitive));
    }

    void monitorWindowInAnApplicationSubmitsItsOwnTasksAndLeavesItsPoolsRunning()
    {
        // procpool::MonitorWindow, as an application opens it: Submit offers every task the
        // process links, from its catalogue, and closing the window stops nothing.
        auto *monitor = new MonitorWindow;
        monitor->setAttribute(Qt::WA_DeleteOnClose);
        const QPointer<MonitorWindow> alive(monitor);
        monitor->show();
        auto *window = monitor->findChild<MainWindow *>();
        QVERIFY(window);
        QCOMPARE(window->findChild<QAction *>(QStringLiteral("actionQuit"))->text(), QStringLiteral("&Close"));
        ProcessPoolManager *manager = getOrCreateProcessManager(QStringLiteral("tm_hosted"));
        manager->start(1, QString(), false);
        QTRY_COMPARE(managerCell(*window, manager, NamespaceModel::State), QStringLiteral("running"));
        window->selectManager(manager);
        QAction *submit = window->findChild<QAction *>(QStringLiteral("actionSubmit"));
        QTRY_VERIFY(submit->isEnabled());
        submit->trigger();
        auto *dialog = window->findChild<CatalogSubmitDialog *>(QStringLiteral("catalogSubmitDialog"));
        QVERIFY(dialog);
        for (const QString &name : registeredTaskNames()) // the test's own tasks among them
            QVERIFY2(dialog->taskField()->findText(name) >= 0, qPrintable(name));
        QVERIFY(dialog->taskField()->findText(QStringLiteral("monitor.gated")) >= 0);
        dialog->taskField()->setCurrentText(QStringLiteral("greet"));
        auto *name = qobject_cast<QLineEdit *>(dialog->argumentField(0));
        QVERIFY2(name, "a QString argument is edited in a line");
        name->setText(QStringLiteral("hosted"));
        dialog->countField()->setValue(2);
        dialog->accept();
        QTRY_COMPARE(futureIds(*window).size(), 2);
        for (quint64 id : futureIds(*window))
            QTRY_COMPARE(futureCell(*window, id, FutureModel::Outcome), QStringLiteral("hello, hosted"));

        QVERIFY(monitor->close());
        QTRY_VERIFY(alive.isNull());
        QCOMPARE(manager->state(), PoolState::Running);
        QCOMPARE(manager->submitTask(QStringLiteral("greet"), {QStringLiteral("again")}).result().toString(),
                 QStringLiteral("hello, again"));
    }

    void quittingAsksThenKillsRunningPools()
    {
        MainWindow window;
        window.show();
        ProcessPoolManager *manager = getOrCreateProcessManager(QStringLiteral("tm_quit"));
        manager->start(1, QString(), false); // non-daemon: would otherwise wait for its task
        QVERIFY(window.submit(manager, {QStringLiteral("hang"), {}, 1, {}}).isEmpty());
        window.watcher()->pollNow();
        int asked = 0;
        window.setConfirmer([&asked](const QString &, const QString &) { return ++asked > 1; });
        QVERIFY(!window.close()); // declined
        QCOMPARE(manager->state(), PoolState::Running);
        QVERIFY(window.close()); // accepted: the workers are killed
        QCOMPARE(asked, 2);
        QCOMPARE(manager->state(), PoolState::Stopped);
    }

    void submitWithWrongTaskTypeShowsTheErrorAndSubmitsNothing()
    {
        MainWindow window;
        QList<TaskPreset> presets; // as the procpool executable offers its sample tasks
        for (const samples::SampleTask &t : samples::sampleTasks())
            presets.append({t.name, t.parameters, t.description});
        window.setTaskPresets(presets);
        ProcessPoolManager *manager = getOrCreateProcessManager(QStringLiteral("tm_typed"));
        manager->start(1, QStringLiteral("tm_render"), true);
        window.selectManager(manager);
        QAction *submit = window.findChild<QAction *>(QStringLiteral("actionSubmit"));
        QTRY_VERIFY(submit->isEnabled());
        submit->trigger();
        auto *dialog = window.findChild<SubmitDialog *>();
        QVERIFY(dialog);
        QTRY_VERIFY(dialog->isVisible());
        // The pool's task type is the default; type a wrong one.
        QCOMPARE(dialog->taskTypeField()->currentText(), QStringLiteral("tm_render"));
        dialog->taskField()->setCurrentIndex(dialog->taskField()->findText(QStringLiteral("sleep")));
        dialog->countField()->setValue(5);
        dialog->taskTypeField()->setCurrentText(QStringLiteral("wrong_type"));
        const int rowsBefore = window.futureModel()->rowCount();
        dialog->accept();
        QVERIFY(dialog->isVisible()); // stays open with the message
        QVERIFY2(dialog->errorText().contains(QStringLiteral("not accepted")), qPrintable(dialog->errorText()));
        QVERIFY(dialog->errorText().contains(QStringLiteral("tm_render")));
        QCOMPARE(window.futureModel()->rowCount(), rowsBefore);
        QCOMPARE(manager->getPool()->stats().submitted, quint64(0));

        // With the right type, the five tasks go in and the dialog closes.
        dialog->taskTypeField()->setCurrentText(QStringLiteral("tm_render"));
        dialog->accept();
        QTRY_VERIFY(!window.findChild<SubmitDialog *>() || !window.findChild<SubmitDialog *>()->isVisible());
        QCOMPARE(window.futureModel()->rowCount(), rowsBefore + 5);
        QCOMPARE(manager->getPool()->stats().submitted, quint64(5));
    }

    void procStatParsing()
    {
        // comm may hold spaces and parentheses: fields are counted from the last ')'.
        const QByteArray stat = "4242 (tricky ) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 "
                                "37 5 0 0 20 0 1 0 1000 10000000 500 18446744073709551615";
        QCOMPARE(detail::ProcStatSampler::cpuTicks(stat), qint64(42));
        QCOMPARE(detail::ProcStatSampler::cpuTicks("garbage"), qint64(-1));
        QCOMPARE(detail::ProcStatSampler::residentBytes("2000 300 100 1 0 50 0\n", 4096), qint64(300 * 4096));
        QCOMPARE(detail::ProcStatSampler::residentBytes("", 4096), qint64(-1));

        // This very process, sampled before and after this thread burns 20 clock ticks of CPU:
        // the sampler sees most of a core used, however long those ticks took to come (a busy
        // machine) — waited for, not timed.
        detail::ProcStatSampler sampler;
        const qint64 self = QCoreApplication::applicationPid();
        const bool busy = QTest::qWaitFor(
            [&] {
                sampler.sample({self});
                volatile double sink = 0;
                for (const qint64 start = threadCpuTicks(); threadCpuTicks() < start + 20;)
                    for (int i = 0; i < 100000; ++i)
                        sink = sink + 1.0;
                sampler.sample({self});
                return sampler.usage(self).cpuPercent >= 50.0;
            },
            hangGuardMs);
        QVERIFY2(busy, qPrintable(QString::number(sampler.usage(self).cpuPercent)));
        QVERIFY(sampler.usage(self).valid);
        QVERIFY(sampler.usage(self).residentBytes > 0);
        QVERIFY(sampler.usage(self).cpuPercent <= 100.0 * QThread::idealThreadCount());
        sampler.sample({}); // forgets the process
        QVERIFY(!sampler.usage(self).valid);
    }

    void layoutAndColumnWidthsPersist()
    {
        int width = 0;
        {
            MainWindow window;
            window.futureView()->horizontalHeader()->resizeSection(FutureModel::Task, 123);
            width = window.futureView()->horizontalHeader()->sectionSize(FutureModel::Task);
            window.findChild<QAction *>(QStringLiteral("actionAllWorkers"))->setChecked(true);
            window.saveSettings();
        }
        MainWindow again;
        QCOMPARE(again.futureView()->horizontalHeader()->sectionSize(FutureModel::Task), width);
        QVERIFY(again.findChild<QAction *>(QStringLiteral("actionAllWorkers"))->isChecked());
        again.findChild<QAction *>(QStringLiteral("actionAllWorkers"))->setChecked(false);
        again.saveSettings();
    }

    void everyActionHasAShortcutAndSitsOnTheToolbar()
    {
        MainWindow window;
        auto *toolbar = window.findChild<QToolBar *>(QStringLiteral("mainToolBar"));
        QVERIFY(toolbar);
        const QList<QAction *> onToolbar = toolbar->actions();
        for (const char *name : {"actionAttach", "actionNewNamespace", "actionStart", "actionStop", "actionStopNow",
                                 "actionTerminate", "actionRemoveNamespace", "actionSubmit",
                                 "actionCancel", "actionKillWorker", "actionAllWorkers",
                                 "actionFind", "actionClearLog", "actionPreferences"}) {
            QAction *action = window.findChild<QAction *>(QLatin1String(name));
            QVERIFY2(action, name);
            QVERIFY2(!action->shortcut().isEmpty(), name);
            QVERIFY2(onToolbar.contains(action), name);
            QVERIFY2(!action->icon().isNull(), name);
        }
        // Shortcuts reach their actions (even though the views' context menus share them).
        window.show();
        QApplication::setActiveWindow(&window);
        QVERIFY(QTest::qWaitForWindowActive(&window, hangGuardMs));
        window.logModel()->addMessage(LogModel::Source::Engine, QString(), QStringLiteral("line"));
        QVERIFY(window.logModel()->rowCount() > 0);
        QTest::keySequence(&window, QKeySequence(Qt::CTRL | Qt::Key_L));
        QCOMPARE(window.logModel()->rowCount(), 0);

        // The SVG icons render (the SVG icon engine is installed).
        const QImage image = window.findChild<QAction *>(QStringLiteral("actionStart"))->icon().pixmap(24, 24).toImage();
        QVERIFY(!image.isNull());
        bool painted = false;
        for (int y = 0; y < image.height() && !painted; ++y)
            for (int x = 0; x < image.width() && !painted; ++x)
                painted = qAlpha(image.pixel(x, y)) > 0;
        QVERIFY2(painted, "the SVG icon rendered nothing: is the Qt SVG icon engine (libqt6svg6) installed?");
    }

    // A worker floods its output while the window's thread is busy: the engine keeps at most
    // its bound of lines waiting for that thread, and once the window catches up its log says,
    // in a line of its own under the worker's pid, how many it dropped.
    void outputFloodShowsTheEnginesDropLine()
    {
        MainWindow window;
        ProcessPoolManager *manager = getOrCreateProcessManager(QStringLiteral("tm_flood"));
        manager->start(1);
        constexpr int lines = 300000;
        // Blocks this thread (the window's and the manager's) until every line has been read.
        QCOMPARE(manager->submitTask(tasks::floodStderr, lines).result(), lines);
        const qint64 pid = manager->getPool()->workerPids().value(0);
        const QRegularExpression marker(
            QStringLiteral("^tm_flood \\| %1 \\| engine \\| procpool: (\\d+) lines of this "
                           "worker's output were dropped: the receivers of workerLog fell behind "
                           "\\(at most 10000 lines or 8 MiB wait for them\\)$")
                .arg(pid));
        qint64 dropped = 0;
        QVERIFY2(QTest::qWaitFor(
                     [&] {
                         for (const QString &line : logLines(window))
                             if (const QRegularExpressionMatch m = marker.match(line); m.hasMatch())
                                 dropped += m.captured(1).toLongLong();
                         return dropped > 0;
                     },
                     hangGuardMs),
                 qPrintable(logLines(window).mid(0, 5).join(u'\n')));
        QVERIFY(dropped <= lines);
    }

    void burstOfTinyTasksNeverStallsTheWindow()
    {
        MainWindow window;
        window.resize(1280, 800);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window, hangGuardMs));
        ProcessPoolManager *manager = getOrCreateProcessManager(QStringLiteral("tm_burst"));
        PoolOptions options;
        options.maxWorkers = 2;
        options.daemon = true;
        options.prefetch = 64;
        manager->start(options);
        window.selectManager(manager);

        // The probe: a 10 ms timer; the longest gap between two ticks is the longest stall.
        QElapsedTimer probeClock;
        probeClock.start();
        qint64 lastTick = 0, maxStall = 0;
        QTimer probe;
        probe.setTimerType(Qt::PreciseTimer);
        probe.setInterval(10);
        connect(&probe, &QTimer::timeout, this, [&] {
            const qint64 now = probeClock.elapsed();
            maxStall = std::max(maxStall, now - lastTick);
            lastTick = now;
        });

        constexpr int burst = 20000;
        auto measure = [&](const char *what, ProcessPoolManager *target,
                           const std::function<void()> &submitAll, quint64 expectDone) {
            maxStall = 0;
            QElapsedTimer clock;
            clock.start();
            lastTick = probeClock.elapsed();
            probe.start();
            submitAll();
            QTRY_VERIFY(target->getPool()->stats().completed == expectDone);
            const qint64 elapsed = clock.elapsed();
            // Let the views catch up with the last poll.
            QTRY_COMPARE(managerCell(window, target, NamespaceModel::Done), QString::number(expectDone));
            probe.stop();
            qInfo("%s: %d tasks done in %lld ms (%.0f tasks/s); longest event-loop stall %lld ms",
                  what, burst, elapsed, burst * 1000.0 / double(std::max<qint64>(1, elapsed)), maxStall);
            QVERIFY2(maxStall < hangGuardMs, qPrintable(QStringLiteral("the event loop stalled for %1 ms").arg(maxStall)));
        };

        // A pool with the default options (automatic prefetch) takes longer over the same burst,
        // so the views take in changes over many polls.
        ProcessPoolManager *plain = getOrCreateProcessManager(QStringLiteral("tm_burst_default"));
        plain->start(2, QString(), true);
        QThread *plainSubmitter = QThread::create([plain] {
            for (int i = 0; i < burst; ++i)
                plain->submitTask(QStringLiteral("echo"), {QVariant(0)});
        });
        measure("default pool options, burst submitted by another thread", plain,
                [plainSubmitter] { plainSubmitter->start(); }, burst);
        if (QTest::currentTestFailed())
            return;
        plainSubmitter->wait();
        delete plainSubmitter;

        // Submitted by another thread of the application: the monitor only watches.
        QThread *submitter = QThread::create([manager] {
            for (int i = 0; i < burst; ++i)
                manager->submitTask(QStringLiteral("echo"), {QVariant(0)});
        });
        measure("burst submitted by another thread", manager, [submitter] { submitter->start(); }, burst);
        if (QTest::currentTestFailed())
            return;
        submitter->wait();
        delete submitter;
        // Every record the pool still keeps has ended (a record created after its task had
        // already finished used to stay "queued" for ever).
        for (const TaskRecord &record : manager->getPool()->taskRecords())
            QVERIFY2(record.state != TaskState::Queued && record.state != TaskState::Running,
                     qPrintable(QStringLiteral("task %1 is still %2").arg(record.id).arg(stateName(record.state))));

        // Submitted through the window (as Submit sample tasks with "how many" 20,000 does): the
        // monitor holds every future, and the submissions run on the GUI thread, in slices.
        measure("burst submitted from the GUI thread", manager, [&] {
            QVERIFY(window.submit(manager, {QStringLiteral("echo"), {QVariant(0)}, burst, {}}, false).isEmpty());
        }, 2 * burst);
        if (QTest::currentTestFailed())
            return;
        // Every future the window holds has settled as finished.
        QTRY_VERIFY(window.futureModel()->count(TaskState::Finished) >= quint64(burst));

        // Sorted views cost the most: sort the futures by duration, newest burst again.
        window.futureView()->sortByColumn(FutureModel::Duration, Qt::DescendingOrder);
        measure("burst submitted from the GUI thread, futures sorted by duration", manager, [&] {
            QVERIFY(window.submit(manager, {QStringLiteral("echo"), {QVariant(0)}, burst, {}}, false).isEmpty());
        }, 3 * burst);
        if (QTest::currentTestFailed())
            return;

        // No row is left queued or running: tasks whose records the pool dropped before a poll
        // saw them end show as ended.
        const bool settled = QTest::qWaitFor([&] {
            return window.futureModel()->count(TaskState::Queued) + window.futureModel()->count(TaskState::Running) == 0;
        }, hangGuardMs);
        if (!settled) { // say which rows are stuck
            FutureModel *m = window.futureModel();
            for (int r = 0, shown = 0; r < m->rowCount() && shown < 5; ++r) {
                const int state = m->index(r, 0).data(FutureModel::StateRole).toInt();
                if (state == int(TaskState::Queued) || state == int(TaskState::Running)) {
                    ++shown;
                    qWarning() << "still" << stateName(TaskState(state)) << "id"
                               << m->index(r, FutureModel::Id).data().toString() << "own"
                               << m->index(r, 0).data(FutureModel::CancellableRole).toBool();
                }
            }
        }
        QVERIFY(settled);
        qInfo("futures seen %llu, finished %llu, ended unseen (pool history exceeded between two polls) %llu",
              window.futureModel()->seen(), window.futureModel()->count(TaskState::Finished),
              window.futureModel()->lostCount());
        QCOMPARE(window.futureModel()->count(TaskState::Finished) + window.futureModel()->lostCount(),
                 window.futureModel()->seen());
        // The history is bounded; the status bar's counters come from the engine and are exact.
        QCOMPARE(window.watcher()->totals().completed, quint64(4 * burst));
        QTRY_VERIFY(window.futureModel()->rowCount() <= window.futureModel()->historyLimit() * 105 / 100);
        QVERIFY(window.statusLabel()->text().contains(QStringLiteral("Done")));
    }
};

int main(int argc, char **argv)
{
    procpool::workerMain(argc, argv); // this test binary is also its own pool worker
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("procpool-tests"));
    QApplication::setApplicationName(QStringLiteral("tst_monitor"));
    TestMonitor test;
    return QTest::qExec(&test, argc, argv);
}

#include "tst_monitor.moc"
