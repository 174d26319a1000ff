// The desktop monitor attached to another application (attach_app, its own executable and
// tasks) through that application's inspection socket: the process shows as a node of the
// namespace tree, its workers, futures and log follow, the monitor submits the application's own
// tasks through the catalogue's editors, stops, cancels and kills there, and it survives the
// application exiting, attaching again when the application comes back.
#include "activitychart.h"
#include "attachdialog.h"
#include "catalogsubmitdialog.h"
#include "chartwidget.h"
#include "enginewatcher.h"
#include "futuremodel.h"
#include "logmodel.h"
#include "mainwindow.h"
#include "remoteprocess.h"
#include "namespacemodel.h"
#include "startpooldialog.h"
#include "workermodel.h"

#include "faultsupport.h"
#include "testwait.h"

#include <procpool/inspection.h>
#include <procpool/worker.h>

#include <QtCore/QProcess>
#include <QtCore/QRegularExpression>
#include <QtCore/QSettings>
#include <QtCore/QStandardPaths>
#include <QtCore/QTemporaryDir>
#include <QtCore/QTimer>
#include <QtGui/QAction>
#include <QtTest/QTest>
#include <QtWidgets/QApplication>
#include <QtWidgets/QComboBox>
#include <QtWidgets/QLineEdit>
#include <QtWidgets/QPlainTextEdit>
#include <QtWidgets/QSpinBox>
#include <QtWidgets/QTableView>
#include <QtWidgets/QTreeView>
#include <QtWidgets/QTreeWidget>

#include <memory>
#include <optional>

using namespace procpool;
using namespace procpool::monitor;
using procpool::tests::hangGuardMs;

namespace {

//! attach_app: started with a prefix, ready once it printed its pid.
struct App
{
    std::unique_ptr<QProcess> process;
    qint64 pid = 0;

    bool start(const QString &prefix)
    {
        process = std::make_unique<QProcess>();
        process->setProcessChannelMode(QProcess::ForwardedErrorChannel);
        process->start(QStringLiteral(ATTACH_APP), {prefix});
        if (!process->waitForStarted(hangGuardMs))
            return false;
        QByteArray line;
        while (!line.endsWith('\n')) {
            if (!process->waitForReadyRead(hangGuardMs))
                return false;
            line += process->readLine();
        }
        const QList<QByteArray> words = line.trimmed().split(' ');
        pid = words.value(1).toLongLong();
        return words.value(0) == "ready" && pid > 0;
    }

    ~App()
    {
        if (process && process->state() != QProcess::NotRunning) {
            if (QTest::currentTestFailed())
                process->kill(); // it may be waiting for a task the test left running
            process->closeWriteChannel();
            if (!process->waitForFinished(hangGuardMs))
                process->kill();
            process->waitForFinished();
        }
    }
};

//! The key of namespace \a ns of attached process \a pid, or 0.
quintptr keyOf(MainWindow &window, qint64 pid, const QString &ns)
{
    for (const ManagerView &v : window.watcher()->managers())
        if (v.remote && v.creatorPid == pid && v.namespaceId == ns)
            return v.key;
    return 0;
}

//! What the window last read of process \a pid's pools, for failure messages.
QString seenOf(MainWindow &window, qint64 pid)
{
    QStringList out;
    for (const ManagerView &v : window.watcher()->managers())
        if (v.remote && v.creatorPid == pid)
            out << QStringLiteral("%1 %2: queued %3, running %4, completed %5, %6 workers (%7)")
                       .arg(v.namespaceId, stateName(v.state))
                       .arg(v.stats.queued)
                       .arg(v.stats.running)
                       .arg(v.stats.completed)
                       .arg(v.workers.size())
                       .arg(v.remote->statusText().isEmpty() ? QStringLiteral("attached") : v.remote->statusText());
    return out.join(QStringLiteral("; "));
}

QString processCell(MainWindow &window, qint64 pid, int column)
{
    const QModelIndex row = window.namespaceModel()->indexOfProcess(pid);
    return row.isValid() ? row.siblingAtColumn(column).data().toString() : QString();
}

QString namespaceCell(MainWindow &window, qint64 pid, const QString &ns, int column)
{
    const QModelIndex row = window.namespaceModel()->indexOf(keyOf(window, pid, ns));
    return row.isValid() ? row.siblingAtColumn(column).data().toString() : QString();
}

//! Rows of the futures table as "task state outcome".
QStringList futures(MainWindow &window)
{
    QStringList out;
    FutureModel *m = window.futureModel();
    for (int r = 0; r < m->rowCount(); ++r)
        out.append(QStringLiteral("%1 %2 %3").arg(m->index(r, FutureModel::Task).data().toString(),
                                                 m->index(r, FutureModel::State).data().toString(),
                                                 m->index(r, FutureModel::Outcome).data().toString()));
    return out;
}

QAction *action(MainWindow &window, const char *name)
{
    return window.findChild<QAction *>(QLatin1String(name));
}

//! The workers the monitor lists for attached process \a pid's namespace \a ns, alive.
QList<qint64> workersOf(MainWindow &window, const QString &ns)
{
    QList<qint64> pids;
    WorkerModel *m = window.workerModel();
    for (int r = 0; r < m->rowCount(); ++r)
        if (m->index(r, WorkerModel::Namespace).data().toString() == ns
            && m->index(r, 0).data(WorkerModel::AliveRole).toBool())
            pids.append(m->index(r, 0).data(WorkerModel::PidRole).toLongLong());
    return pids;
}

QStringList logLines(MainWindow &window)
{
    QStringList out;
    for (int r = 0; r < window.logModel()->rowCount(); ++r)
        out.append(window.logModel()->index(r, LogModel::Message).data().toString());
    return out;
}

} // namespace

class TestMonitorAttach : public QObject
{
    Q_OBJECT

    QTemporaryDir m_runtime;
    std::unique_ptr<MainWindow> m_window;
    std::optional<App> m_app;

    MainWindow &window() { return *m_window; }

    //! Attaches the window to the application and waits until its namespaces show.
    void attachAndWait()
    {
        window().attachTo(m_app->pid);
        QTRY_VERIFY(keyOf(window(), m_app->pid, QStringLiteral("alpha")) != 0
                    && keyOf(window(), m_app->pid, QStringLiteral("beta")) != 0);
    }

    //! Opens the submit dialog on namespace \a ns of the application.
    CatalogSubmitDialog *openSubmit(const QString &ns)
    {
        window().selectKey(keyOf(window(), m_app->pid, ns));
        action(window(), "actionSubmit")->trigger();
        return window().findChild<CatalogSubmitDialog *>(QStringLiteral("catalogSubmitDialog"));
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_runtime.isValid());
        // Only this suite's applications are found; the window itself creates no manager.
        qputenv("XDG_RUNTIME_DIR", QFile::encodeName(m_runtime.path()));
        qputenv("PROCPOOL_INSPECT", "on");
        QStandardPaths::setTestModeEnabled(true);
        QSettings().clear();
    }

    void init()
    {
        m_app.emplace();
        QVERIFY(m_app->start(QStringLiteral("mon")));
        m_window = std::make_unique<MainWindow>();
        // A confirmation's message box runs an event loop, in which the window reads the
        // application again: the answer comes after the views were replaced.
        m_window->setConfirmer([this](const QString &, const QString &) {
            m_window->watcher()->pollNow();
            return true;
        });
        m_window->resize(1200, 800);
        m_window->show();
    }

    void cleanup()
    {
        m_window.reset();
        m_app.reset();
    }

    void attachedProcessIsANodeWithItsNamespacesAndWorkers()
    {
        attachAndWait();
        if (QTest::currentTestFailed())
            return;
        QTRY_COMPARE(processCell(window(), m_app->pid, NamespaceModel::State), QStringLiteral("attached"));
        QCOMPARE(processCell(window(), m_app->pid, NamespaceModel::Name),
                 QStringLiteral("attach_app (pid %1)").arg(m_app->pid));
        QCOMPARE(namespaceCell(window(), m_app->pid, QStringLiteral("alpha"), NamespaceModel::State),
                 QStringLiteral("running"));
        QCOMPARE(namespaceCell(window(), m_app->pid, QStringLiteral("beta"), NamespaceModel::TaskTypeColumn),
                 QStringLiteral("batch"));
        // alpha keeps two workers, named by the application's prefix; the monitor reads their
        // memory from /proc as it does for its own.
        QTRY_COMPARE(workersOf(window(), QStringLiteral("alpha")).size(), 2);
        const int row = window().workerModel()->rowOf(workersOf(window(), QStringLiteral("alpha")).first());
        QVERIFY(window().workerModel()->index(row, WorkerModel::Name).data().toString().startsWith(u"mon-"));
        // Selecting the namespace selects its workers only.
        window().selectKey(keyOf(window(), m_app->pid, QStringLiteral("alpha")));
        QTRY_COMPARE(window().workerView()->model()->rowCount(), 2);
        // Its commands are on, and the monitor's own (new namespace aside) apply to it.
        QVERIFY(action(window(), "actionStop")->isEnabled());
        QVERIFY(action(window(), "actionSubmit")->isEnabled());
        QVERIFY(!action(window(), "actionRemoveNamespace")->isEnabled());
    }

    void submitsTheApplicationsOwnTasksThroughTheCatalogue()
    {
        attachAndWait();
        if (QTest::currentTestFailed())
            return;
        CatalogSubmitDialog *dialog = openSubmit(QStringLiteral("alpha"));
        QVERIFY(dialog);
        QVERIFY(dialog->taskField()->findText(QStringLiteral("app.square")) >= 0);
        dialog->taskField()->setCurrentText(QStringLiteral("app.square"));
        auto *number = qobject_cast<QSpinBox *>(dialog->argumentField(0));
        QVERIFY2(number, "an int argument is edited in a spin box");
        number->setValue(7);
        dialog->countField()->setValue(3);
        dialog->accept();
        QTRY_COMPARE(futures(window()).count(QStringLiteral("app.square finished 49")), 3);

        // A nested argument is written as JSON; JSON that does not parse keeps the dialog open.
        dialog = openSubmit(QStringLiteral("alpha"));
        QVERIFY(dialog);
        dialog->taskField()->setCurrentText(QStringLiteral("app.sum"));
        auto *json = qobject_cast<QPlainTextEdit *>(dialog->argumentField(0));
        QVERIFY2(json, "a QVariantList argument is edited as JSON");
        json->setPlainText(QStringLiteral("[1, 2,"));
        dialog->accept();
        QVERIFY(dialog->isVisible());
        json->setPlainText(QStringLiteral("[1, 2, 39]"));
        dialog->accept();
        QTRY_VERIFY(futures(window()).contains(QStringLiteral("app.sum finished 42")));

        // Refused by the application (beta takes only task type "batch"): said, nothing queued.
        dialog = openSubmit(QStringLiteral("beta"));
        QVERIFY(dialog);
        dialog->taskField()->setCurrentText(QStringLiteral("app.square"));
        QCOMPARE(dialog->findChild<QLineEdit *>(QStringLiteral("taskType"))->text(), QStringLiteral("batch"));
        dialog->findChild<QLineEdit *>(QStringLiteral("taskType"))->clear();
        dialog->accept();
        QTRY_VERIFY(logLines(window()).indexOf(QRegularExpression(QStringLiteral(".*app.square not submitted: .*type .batch.*"))) >= 0);
    }

    void priorityRetriesAndMemoryLimitsCrossTheSocket()
    {
        attachAndWait();
        if (QTest::currentTestFailed())
            return;
        // The dialog's priority and attempts reach the application; its records come back
        // with them, and the futures table shows both.
        CatalogSubmitDialog *dialog = openSubmit(QStringLiteral("alpha"));
        QVERIFY(dialog);
        dialog->taskField()->setCurrentText(QStringLiteral("app.square"));
        qobject_cast<QSpinBox *>(dialog->argumentField(0))->setValue(8);
        auto *priority = dialog->findChild<QSpinBox *>(QStringLiteral("priority"));
        auto *retries = dialog->findChild<QSpinBox *>(QStringLiteral("retries"));
        QVERIFY(priority && retries);
        priority->setValue(6);
        retries->setValue(2);
        dialog->accept();
        QTRY_COMPARE(futures(window()).count(QStringLiteral("app.square finished 64")), 1);
        FutureModel *m = window().futureModel();
        int row = -1;
        for (int r = 0; r < m->rowCount(); ++r)
            if (m->index(r, FutureModel::Outcome).data().toString() == u"64")
                row = r;
        QVERIFY(row >= 0);
        QTRY_COMPARE(m->index(row, FutureModel::Priority).data().toString(), QStringLiteral("6"));
        QTRY_COMPARE(m->index(row, FutureModel::Attempts).data().toString(), QStringLiteral("1/2"));

        // beta's memory limits come with its options: the chart draws them while it is selected.
        window().selectKey(keyOf(window(), m_app->pid, QStringLiteral("beta")));
        const ManagerView *beta = window().selectedView();
        QVERIFY(beta);
        QCOMPARE(beta->options.softMemoryLimit, qint64(256) << 20);
        QCOMPARE(beta->options.hardMemoryLimit, qint64(1) << 30);
        QTRY_COMPARE(window().chart()->limits(MemorySeries).size(), 2);
        QCOMPARE(window().chart()->limits(MemorySeries).at(1).value, 1024.0);
        window().selectKey(keyOf(window(), m_app->pid, QStringLiteral("alpha")));
        QCOMPARE(window().selectedView()->options.softMemoryLimit, qint64(0));
        QTRY_VERIFY(window().chart()->limits(MemorySeries).isEmpty());
    }

    void cancelsStopsAndKillsInTheApplication()
    {
        attachAndWait();
        if (QTest::currentTestFailed())
            return;
        // alpha keeps two workers: six long naps, two run and four wait (some of them may sit
        // in a worker already, prefetched).
        QTRY_COMPARE(workersOf(window(), QStringLiteral("alpha")).size(), 2);
        CatalogSubmitDialog *dialog = openSubmit(QStringLiteral("alpha"));
        QVERIFY(dialog);
        dialog->taskField()->setCurrentText(QStringLiteral("app.nap"));
        qobject_cast<QSpinBox *>(dialog->argumentField(0))->setValue(600000);
        dialog->countField()->setValue(6);
        dialog->accept();
        QTRY_VERIFY2(futures(window()).count(QStringLiteral("app.nap running ")) == 2
                     && futures(window()).count(QStringLiteral("app.nap queued ")) == 4,
                     qPrintable(futures(window()).join(u',') + u'|' + logLines(window()).join(u'|') + u'|'
                                + seenOf(window(), m_app->pid)));

        // Cancel the newest from the futures table (one that waits in the pool's queue: a
        // prefetched one is cancelled only when it would start).
        QAbstractItemModel *shown = window().futureView()->model();
        int newest = -1;
        for (int r = 0; r < shown->rowCount(); ++r)
            if (shown->index(r, FutureModel::State).data().toString() == u"queued"
                && (newest < 0 || shown->index(r, FutureModel::Id).data().toULongLong()
                                      > shown->index(newest, FutureModel::Id).data().toULongLong()))
                newest = r;
        window().futureView()->selectRow(newest);
        QTRY_VERIFY(action(window(), "actionCancel")->isEnabled());
        action(window(), "actionCancel")->trigger();
        QTRY_VERIFY2(futures(window()).count(QStringLiteral("app.nap cancelled ")) == 1,
                     qPrintable(futures(window()).join(u',')));

        // Kill one of alpha's workers: its running nap fails, in the application.
        window().selectKey(keyOf(window(), m_app->pid, QStringLiteral("alpha"))); // alpha's workers only
        QTRY_COMPARE(window().workerView()->model()->rowCount(), 2);
        window().workerView()->selectRow(0);
        const qint64 victim = window().workerView()->model()->index(0, 0).data(WorkerModel::PidRole).toLongLong();
        QTRY_VERIFY(action(window(), "actionKillWorker")->isEnabled());
        action(window(), "actionKillWorker")->trigger();
        QTRY_VERIFY(!workersOf(window(), QStringLiteral("alpha")).contains(victim));
        QTRY_VERIFY2(futures(window()).indexOf(QRegularExpression(QStringLiteral("app.nap failed worker [0-9]+ running task .app.nap. was killed by SIGKILL.*"))) >= 0,
                     qPrintable(futures(window()).join(u',')));

        // Terminate: the workers are killed and the pool stops, in the application.
        action(window(), "actionTerminate")->trigger();
        QTRY_COMPARE(namespaceCell(window(), m_app->pid, QStringLiteral("alpha"), NamespaceModel::State),
                     QStringLiteral("stopped"));
        // Stop, on beta.
        window().selectKey(keyOf(window(), m_app->pid, QStringLiteral("beta")));
        QVERIFY(action(window(), "actionStop")->isEnabled());
        action(window(), "actionStop")->trigger();
        QTRY_COMPARE(namespaceCell(window(), m_app->pid, QStringLiteral("beta"), NamespaceModel::State),
                     QStringLiteral("stopped"));
        QTRY_VERIFY(action(window(), "actionStart")->isEnabled());

        // Start it again there: the Start dialog, filled with beta's last options, sends the
        // workers and the limits it shows (beta has a soft and a hard memory limit).
        action(window(), "actionStart")->trigger();
        StartPoolDialog *start = nullptr;
        QTRY_VERIFY((start = window().findChild<StartPoolDialog *>()) != nullptr);
        QVERIFY(start->isAttached());
        QVERIFY(!start->taskTypeField()->isVisibleTo(start));
        QVERIFY(!start->workerEnvironmentField()->isVisibleTo(start));
        QCOMPARE(start->softMemoryField()->value(), 256);
        QCOMPARE(start->hardMemoryField()->value(), 1024);
        window().watcher()->pollNow(); // as the window does while the dialog is open
        start->maxWorkersField()->setValue(3);
        start->softMemoryField()->setValue(0); // cleared there too
        start->niceField()->setValue(5);
        start->cpuTimeField()->setValue(700);
        QVERIFY2(start->isAcceptable(), qPrintable(start->validationError()));
        start->accept();
        QTRY_COMPARE(namespaceCell(window(), m_app->pid, QStringLiteral("beta"), NamespaceModel::State),
                     QStringLiteral("running"));
        QCOMPARE(namespaceCell(window(), m_app->pid, QStringLiteral("beta"), NamespaceModel::MaxWorkers),
                 QStringLiteral("3"));
        const quintptr beta = keyOf(window(), m_app->pid, QStringLiteral("beta"));
        QTRY_VERIFY(window().watcher()->viewByKey(beta)
                    && window().watcher()->viewByKey(beta)->options.resourceLimits.niceValue == 5);
        const PoolOptions started = window().watcher()->viewByKey(beta)->options;
        QCOMPARE(started.resourceLimits.cpuSeconds, 700);
        QCOMPARE(started.softMemoryLimit, qint64(0));
        QCOMPARE(started.hardMemoryLimit, qint64(1) << 30);
        QCOMPARE(started.taskType, QStringLiteral("batch")); // kept

        // Detach: the process leaves the tree and keeps running.
        window().namespaceView()->setCurrentIndex(window().namespaceModel()->indexOfProcess(m_app->pid));
        QVERIFY(action(window(), "actionDetach")->isEnabled());
        action(window(), "actionDetach")->trigger();
        QVERIFY(!window().namespaceModel()->indexOfProcess(m_app->pid).isValid());
        QCOMPARE(keyOf(window(), m_app->pid, QStringLiteral("alpha")), quintptr(0));
        QCOMPARE(m_app->process->state(), QProcess::Running);
    }

    void survivesTheApplicationExitingAndAttachesAgainWhenItComesBack()
    {
        attachAndWait();
        if (QTest::currentTestFailed())
            return;
        const qint64 first = m_app->pid;
        m_app->process->kill(); // no goodbye: its socket file stays behind
        m_app->process->waitForFinished();
        QTRY_COMPARE(processCell(window(), first, NamespaceModel::State), QStringLiteral("exited"));
        // The window goes on: its own polls answer, and the departed process takes no commands.
        window().watcher()->pollNow();
        window().selectKey(keyOf(window(), first, QStringLiteral("alpha")));
        QVERIFY(!action(window(), "actionStop")->isEnabled());
        QVERIFY(!action(window(), "actionSubmit")->isEnabled());

        // The same program with the same arguments comes back: the monitor attaches to it.
        App again;
        QVERIFY(again.start(QStringLiteral("mon")));
        QTRY_COMPARE(processCell(window(), again.pid, NamespaceModel::State), QStringLiteral("attached"));
        QVERIFY(!window().namespaceModel()->indexOfProcess(first).isValid());
        QTRY_VERIFY(keyOf(window(), again.pid, QStringLiteral("alpha")) != 0);
        m_window.reset(); // before `again` goes
    }

    void attachDialogListsTheApplicationWithAFilter()
    {
        AttachDialog dialog({});
        QTreeWidget *list = dialog.list();
        auto item = [&]() -> QTreeWidgetItem * {
            for (int i = 0; i < list->topLevelItemCount(); ++i)
                if (list->topLevelItem(i)->data(1, Qt::DisplayRole).toLongLong() == m_app->pid)
                    return list->topLevelItem(i);
            return nullptr;
        };
        QTRY_VERIFY(item() && item()->text(0) == u"attach_app");
        QTRY_COMPARE(item()->text(3), QStringLiteral("alpha, beta"));
        QTRY_COMPARE(item()->text(4).toInt(), 2);
        // The list follows the process while the dialog is open: alpha terminated from another
        // client takes its two workers out of the count.
        RemoteProcess other(m_app->pid, 1000);
        QTRY_COMPARE(other.status(), RemoteProcess::Status::Attached);
        QString refused = QStringLiteral("no answer");
        other.request({{QStringLiteral("op"), QStringLiteral("terminate")},
                       {QStringLiteral("namespace"), QStringLiteral("alpha")}},
                      [&](const QCborMap &reply) { refused = RemoteProcess::errorOf(reply); });
        QTRY_VERIFY2(refused.isEmpty(), qPrintable(refused));
        QTRY_COMPARE(item()->text(4).toInt(), 0);
        auto *filter = dialog.findChild<QLineEdit *>(QStringLiteral("filter"));
        filter->setText(QStringLiteral("no such program"));
        QVERIFY(item()->isHidden());
        filter->setText(QString::number(m_app->pid));
        QVERIFY(!item()->isHidden());
        item()->setSelected(true);
        QCOMPARE(dialog.selectedPids(), QList<qint64>{m_app->pid});
    }
};

int main(int argc, char **argv)
{
    procpool::workerMain(argc, argv);
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("procpool-tests"));
    QApplication::setApplicationName(QStringLiteral("tst_monitor_attach"));
    TestMonitorAttach test;
    return QTest::qExec(&test, argc, argv);
}

#include "tst_monitor_attach.moc"
