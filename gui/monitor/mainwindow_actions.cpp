// procpool monitor — MainWindow's actions on this process's pools: the slots of the Pool,
// Tasks, View, File and Help menus (attached processes: mainwindow_attach.cpp).
#include "catalogsubmitdialog.h"
#include "enginewatcher.h"
#include "futuremodel.h"
#include "logmodel.h"
#include "mainwindow.h"
#include "namespacemodel.h"
#include "remoteprocess.h"
#include "startpooldialog.h"
#include "submitoptions.h"
#include "workermodel.h"

#include <procpool/task.h>

#include <QtCore/QPointer>
#include <QtCore/QRegularExpression>
#include <QtCore/QSettings>
#include <QtCore/QTimer>
#include <QtWidgets/QDialogButtonBox>
#include <QtWidgets/QFormLayout>
#include <QtWidgets/QInputDialog>
#include <QtWidgets/QLineEdit>
#include <QtWidgets/QMessageBox>
#include <QtWidgets/QSpinBox>
#include <QtWidgets/QTableView>

namespace procpool::monitor {

namespace {

//! Submissions made in one go on the GUI thread (a few milliseconds' worth); more are made in
//! further slices, with the event loop running in between.
constexpr int submitSlice = 2000;

} // namespace

void MainWindow::newNamespace()
{
    auto *dialog = new QInputDialog(this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setWindowTitle(QStringLiteral("New namespace"));
    dialog->setLabelText(QStringLiteral("Namespace id (letters, digits, _ . -):"));
    dialog->setTextValue(QSettings().value(QStringLiteral("newNamespace/last"), QStringLiteral("render")).toString());
    connect(dialog, &QInputDialog::textValueSelected, this, [this](const QString &value) {
        static const QRegularExpression valid(QStringLiteral("^[A-Za-z0-9_.-]+$"));
        const QString id = value.trimmed();
        if (!valid.match(id).hasMatch()) {
            report(id, QStringLiteral("'%1' is not a valid namespace id: use letters, digits and _ . -").arg(id), true);
            return;
        }
        try {
            getOrCreateProcessManager(id, false, true);
            report(id, QStringLiteral("namespace '%1' exists already").arg(id), true);
            return;
        } catch (const ManagerNotFound &) {
        }
        QSettings().setValue(QStringLiteral("newNamespace/last"), id);
        ProcessPoolManager *manager = getOrCreateProcessManager(id);
        m_watcher->pollNow();
        selectManager(manager);
        report(id, QStringLiteral("namespace '%1' created").arg(id));
    });
    dialog->open();
}

void MainWindow::startPool()
{
    if (const ManagerView *v = selectedView(); v && v->remote) {
        startRemotePool(*v);
        return;
    }
    ProcessPoolManager *manager = selectedManager();
    if (!manager)
        return;
    auto *dialog = new StartPoolDialog(manager->namespaceId(), this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    QPointer<ProcessPoolManager> target(manager);
    connect(dialog, &QDialog::accepted, this, [this, dialog, target] {
        if (!target)
            return;
        const PoolOptions options = dialog->options();
        try {
            target->start(options);
            report(target->namespaceId(), QStringLiteral("pool started: %1 workers at most, task type %2")
                                              .arg(options.maxWorkers)
                                              .arg(options.taskType.isEmpty() ? QStringLiteral("any") : options.taskType));
        } catch (const std::exception &e) {
            report(target->namespaceId(), QString::fromUtf8(e.what()), true);
            QMessageBox::warning(this, QStringLiteral("Cannot start the pool"), QString::fromUtf8(e.what()));
        }
        m_watcher->pollNow();
    });
    dialog->open();
}

void MainWindow::stopPool()
{
    if (const ManagerView *v = selectedView(); v && v->remote)
        remoteCommand(v->key, QStringLiteral("stop"), QStringLiteral("stopping: queued and running tasks finish first"));
    else if (ProcessPoolManager *manager = selectedManager()) {
        m_watcher->stopPool(manager, EngineWatcher::StopKind::Wait);
        report(manager->namespaceId(), QStringLiteral("stopping: queued and running tasks finish first"));
    }
    updateActions();
}

void MainWindow::stopPoolNow()
{
    // A confirmation runs an event loop of its own: what was read before it is looked up again.
    if (const ManagerView *v = selectedView(); v && v->remote) {
        const quintptr key = v->key;
        if (confirm(QStringLiteral("Stop now"),
                    QStringLiteral("Stop namespace '%1' of process %2 now? Its queued tasks are cancelled.")
                        .arg(v->namespaceId).arg(v->creatorPid)))
            remoteCommand(key, QStringLiteral("stopNow"), QStringLiteral("stopped without waiting; queued tasks cancelled"));
        return;
    }
    const QPointer<ProcessPoolManager> manager = selectedManager();
    if (!manager)
        return;
    const bool daemon = manager->options().daemon;
    if (!confirm(QStringLiteral("Stop now"),
                 daemon ? QStringLiteral("Stop namespace '%1' now? Its daemon workers are killed and "
                                         "unfinished tasks fail.").arg(manager->namespaceId())
                        : QStringLiteral("Stop namespace '%1' now? New submissions are refused at once; "
                                         "tasks already submitted still finish in the background.")
                              .arg(manager->namespaceId()))
        || !manager)
        return;
    m_watcher->stopPool(manager, EngineWatcher::StopKind::NoWait);
    report(manager->namespaceId(), QStringLiteral("stopped without waiting"));
    updateActions();
}

void MainWindow::terminatePool()
{
    if (const ManagerView *v = selectedView(); v && v->remote) {
        const quintptr key = v->key;
        if (confirm(QStringLiteral("Terminate"),
                    QStringLiteral("Kill every worker of namespace '%1' of process %2? Unfinished tasks fail.")
                        .arg(v->namespaceId).arg(v->creatorPid)))
            remoteCommand(key, QStringLiteral("terminate"), QStringLiteral("terminating: workers are killed"));
        return;
    }
    const QPointer<ProcessPoolManager> manager = selectedManager();
    if (!manager || !confirm(QStringLiteral("Terminate"),
                             QStringLiteral("Kill every worker of namespace '%1'? Unfinished tasks fail "
                                            "with PoolStopped.").arg(manager->namespaceId()))
        || !manager)
        return;
    m_watcher->stopPool(manager, EngineWatcher::StopKind::Terminate);
    report(manager->namespaceId(), QStringLiteral("terminating: workers are killed"));
    updateActions();
}

void MainWindow::removeNamespace()
{
    ProcessPoolManager *manager = selectedManager();
    if (!manager || manager->state() != PoolState::Stopped || m_watcher->isBeingStopped(manager))
        return;
    const QString id = manager->namespaceId();
    if (!confirm(QStringLiteral("Remove namespace"),
                 QStringLiteral("Remove namespace '%1' and delete its manager?").arg(id)))
        return;
    if (removeProcessManager(id))
        report(id, QStringLiteral("namespace '%1' removed").arg(id));
    m_watcher->pollNow();
    updateActions();
}

QString MainWindow::submit(ProcessPoolManager *manager, const SubmitDialog::Request &request, bool log)
{
    if (!manager)
        return QStringLiteral("No namespace is selected.");
    return submitFrom(manager, request, 0, log);
}

QString MainWindow::submitFrom(ProcessPoolManager *manager, const SubmitDialog::Request &request,
                               int done, bool log)
{
    const SubmitOptions options = submitOptions(request.taskType, request.priority, request.attempts);
    const int end = std::min(request.count, done + submitSlice);
    int submitted = done;
    QString error;
    try {
        for (; submitted < end; ++submitted) {
            const ProcessPoolManager::TrackedTask task =
                manager->submitTracked(request.taskName, request.arguments, options);
            m_futures->addSubmission(manager->namespaceId(), manager, request.taskName,
                                     request.taskType, request.arguments, task, request.priority,
                                     request.attempts);
        }
    } catch (const std::exception &e) {
        error = QString::fromUtf8(e.what());
    }
    if (!error.isEmpty()) {
        report(manager->namespaceId(),
               submitted == 0 ? QStringLiteral("nothing submitted: %1").arg(error)
                              : QStringLiteral("%1 of %2 submitted, then: %3").arg(submitted).arg(request.count).arg(error),
               true);
        return submitted == 0 ? error : QString();
    }
    if (submitted < request.count) {
        // Large counts go in slices between which the event loop runs, so that the window
        // stays responsive while tens of thousands of tasks are submitted.
        QTimer::singleShot(0, this, [this, target = QPointer<ProcessPoolManager>(manager), request, submitted, log] {
            if (target)
                submitFrom(target, request, submitted, log);
            else
                report(QString(), QStringLiteral("%1 of %2 submitted; the manager is gone").arg(submitted).arg(request.count), true);
        });
        return {};
    }
    if (log)
        report(manager->namespaceId(), QStringLiteral("submitted %1 × %2").arg(submitted).arg(request.taskName));
    return {};
}

void MainWindow::submitTasks()
{
    if (const ManagerView *v = selectedView(); v && v->remote) {
        submitRemoteTasks(*v);
        return;
    }
    ProcessPoolManager *manager = selectedManager();
    if (!manager || manager->state() != PoolState::Running)
        return;
    QPointer<ProcessPoolManager> target(manager);
    if (m_presets.isEmpty()) { // an application's own window: every task it links
        submitCatalogueTasks(manager);
        return;
    }
    auto *dialog = new SubmitDialog(m_presets, manager->namespaceId(), manager->options().taskType,
                                    [this, target](const SubmitDialog::Request &r) {
                                        if (!target)
                                            return QStringLiteral("The namespace's manager is gone.");
                                        return submit(target, r);
                                    },
                                    this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->open();
}

void MainWindow::submitCatalogueTasks(ProcessPoolManager *manager)
{
    QList<RemoteTask> catalogue;
    for (const QString &name : registeredTaskNames()) {
        RemoteTask task{name, taskDescription(name), {}, QStringLiteral("void")};
        for (const QMetaType &type : taskArgumentTypes(name))
            task.argumentTypes.append(QString::fromLatin1(type.name()));
        if (const QMetaType result = taskResultType(name); result.isValid())
            task.resultType = QString::fromLatin1(result.name());
        catalogue.append(std::move(task));
    }
    QPointer<ProcessPoolManager> target(manager);
    auto submitter = [this, target](const CatalogSubmitDialog::Request &r) {
        if (!target)
            return QStringLiteral("The namespace's manager is gone.");
        return submit(target, SubmitDialog::Request{r.taskName, r.shown, r.count, r.taskType,
                                                    r.priority, r.attempts});
    };
    auto *dialog = new CatalogSubmitDialog(QStringLiteral("Submit — %1").arg(manager->namespaceId()), catalogue,
                                           manager->options().taskType, submitter, this);
    dialog->setObjectName(QStringLiteral("catalogSubmitDialog"));
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->open();
}

void MainWindow::cancelFutures()
{
    const QList<quint64> ids = selectedFutureIds();
    if (ids.isEmpty() || !confirm(QStringLiteral("Cancel futures"),
                                  tr("Cancel %n selected future(s)? A running task's worker is "
                                     "killed (or its result discarded, by the pool's cancel policy).",
                                     nullptr, int(ids.size()))))
        return;
    const int cancelled = m_futures->cancel(ids);
    report(QString(), QStringLiteral("cancelled %1 of %2 selected futures").arg(cancelled).arg(ids.size()));
    m_watcher->pollNow();
}

void MainWindow::killWorker()
{
    const QModelIndexList rows = m_workerView->selectionModel()->selectedRows();
    if (rows.isEmpty())
        return;
    const qint64 pid = rows.first().data(WorkerModel::PidRole).toLongLong();
    const quintptr key = rows.first().data(WorkerModel::ManagerRole).value<quintptr>();
    const ManagerView *v = m_watcher->viewByKey(key);
    if (!v || !v->hasPool || m_watcher->isBeingStopped(v->manager))
        return;
    if (!confirm(QStringLiteral("Kill worker"),
                 QStringLiteral("Send SIGKILL to worker %1 (pid %2)? Its running task fails with "
                                "WorkerCrashed and the pool starts a replacement.")
                     .arg(rows.first().siblingAtColumn(WorkerModel::Name).data().toString())
                     .arg(pid)))
        return;
    // The confirmation ran an event loop: the view is looked up again.
    v = m_watcher->viewByKey(key);
    if (!v || !v->hasPool)
        return;
    ProcessPoolManager *manager = v->manager;
    if (v->remote) {
        remoteCommand(key, QStringLiteral("kill"), QStringLiteral("sent SIGKILL to worker %1").arg(pid),
                      {{QStringLiteral("pid"), pid}});
        return;
    }
    bool killed = false;
    try {
        killed = manager->getPool()->killWorker(pid);
    } catch (const std::exception &) {
        killed = false;
    }
    report(v->namespaceId, killed ? QStringLiteral("sent SIGKILL to worker %1").arg(pid)
                                  : QStringLiteral("worker %1 is not alive any more").arg(pid),
           !killed);
}

void MainWindow::quit()
{
    window()->close(); // inside an application's window, that window
}

void MainWindow::clearLog()
{
    m_log->clear();
}

void MainWindow::findFutures()
{
    m_futureSearch->setFocus();
    m_futureSearch->selectAll();
}

void MainWindow::showPreferences()
{
    auto *dialog = new QDialog(this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setWindowTitle(QStringLiteral("Preferences"));
    auto *history = new QSpinBox(dialog);
    history->setRange(100, 1000000);
    history->setSingleStep(1000);
    history->setGroupSeparatorShown(true);
    history->setValue(m_futures->historyLimit());
    auto *rate = new QSpinBox(dialog);
    rate->setRange(1, 20);
    rate->setSuffix(QStringLiteral(" per second"));
    rate->setValue(1000 / std::max(1, m_watcher->interval()));
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, dialog);
    auto *form = new QFormLayout(dialog);
    form->addRow(QStringLiteral("Finished futures kept:"), history);
    form->addRow(QStringLiteral("View updates:"), rate);
    form->addRow(buttons);
    connect(buttons, &QDialogButtonBox::accepted, dialog, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, dialog, &QDialog::reject);
    connect(dialog, &QDialog::accepted, this, [this, history, rate] {
        m_futures->setHistoryLimit(history->value());
        m_watcher->setInterval(1000 / rate->value());
        saveSettings();
    });
    dialog->open();
}

void MainWindow::showAbout()
{
    QMessageBox::about(this, QStringLiteral("About procpool"),
                       QStringLiteral("<h3>procpool monitor</h3><p>Managed process pools for Qt 6.</p>"
                                      "<p>Shows every pool of this process, and of the procpool "
                                      "applications it is attached to, live: namespaces, workers, "
                                      "futures and their logs.</p>"));
}

} // namespace procpool::monitor
