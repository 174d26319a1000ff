// procpool monitor — MainWindow's side of attached processes: attaching and detaching, and the
// pool actions carried out through an attached process's inspection socket.
#include "attachdialog.h"
#include "catalogsubmitdialog.h"
#include "enginewatcher.h"
#include "futuremodel.h"
#include "hostsbox.h"
#include "mainwindow.h"
#include "namespacemodel.h"
#include "startpooldialog.h"
#include "submitoptions.h"

#include <QtCore/QCborArray>
#include <QtCore/QFileInfo>
#include <QtCore/QPointer>
#include <QtWidgets/QTreeView>

namespace procpool::monitor {

void MainWindow::attachTo(qint64 pid)
{
    RemoteProcess *process = m_watcher->attach(pid);
    report(QString(), QStringLiteral("attaching to process %1").arg(pid));
    // The connection goes with the process (its sender), so the pointer is valid when called.
    connect(process, &RemoteProcess::statusChanged, this, [this, process] {
        const QString text = process->statusText();
        switch (process->status()) {
        case RemoteProcess::Status::Attached:
            report(QString(), QStringLiteral("attached to %1 (pid %2)%3")
                                  .arg(process->program()).arg(process->pid())
                                  .arg(process->readOnly() ? QStringLiteral(", read-only") : QString()));
            break;
        case RemoteProcess::Status::Exited:
        case RemoteProcess::Status::Failed:
            report(QString(), text, true);
            break;
        case RemoteProcess::Status::Connecting:
            break;
        }
        updateActions();
    });
}

void MainWindow::attachToProcess()
{
    QList<qint64> attached;
    for (const ProcessView &p : m_watcher->processes())
        if (p.remote)
            attached.append(p.pid);
    auto *dialog = new AttachDialog(attached, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &QDialog::accepted, this, [this, dialog] {
        for (qint64 pid : dialog->selectedPids())
            attachTo(pid);
    });
    dialog->open();
}

void MainWindow::detachProcess()
{
    const QModelIndex current = m_namespaceView->currentIndex();
    if (!current.data(NamespaceModel::RemoteRole).toBool())
        return;
    const qint64 pid = current.data(NamespaceModel::ProcessRole).toLongLong();
    m_watcher->detach(pid);
    report(QString(), QStringLiteral("detached from process %1; it keeps running").arg(pid));
    updateActions();
}

void MainWindow::remoteCommand(quintptr key, const QString &op, const QString &done, const QCborMap &fields)
{
    const ManagerView *view = m_watcher->viewByKey(key);
    if (!view || !view->remote) {
        report(QString(), QStringLiteral("not sent: the namespace is not shown any more"), true);
        return;
    }
    QCborMap request = fields;
    request.insert(QStringLiteral("op"), op);
    request.insert(QStringLiteral("namespace"), view->namespaceId);
    const QString ns = view->namespaceId;
    const qint64 pid = view->creatorPid;
    view->remote->request(request, [this, ns, pid, done](const QCborMap &reply) {
        const QString error = RemoteProcess::errorOf(reply);
        report(ns, error.isEmpty() ? QStringLiteral("process %1: %2").arg(pid).arg(done)
                                   : QStringLiteral("process %1 refused: %2").arg(pid).arg(error),
               !error.isEmpty());
    });
}

namespace {

//! The fields of an inspection `start` for \a o: the workers and every limit, each sent even
//! when it is none, so that a limit cleared in the dialog is cleared in the pool.
QCborMap startFields(const PoolOptions &o)
{
    QCborArray cpus;
    for (int cpu : o.resourceLimits.cpuAffinity)
        cpus.append(cpu);
    return {{QStringLiteral("workers"), o.maxWorkers},
            {QStringLiteral("softMemoryLimit"), o.softMemoryLimit},
            {QStringLiteral("hardMemoryLimit"), o.hardMemoryLimit},
            {QStringLiteral("addressSpace"), o.resourceLimits.addressSpace},
            {QStringLiteral("cpuSeconds"), o.resourceLimits.cpuSeconds},
            {QStringLiteral("niceValue"), o.resourceLimits.niceValue},
            {QStringLiteral("cpuAffinity"), cpus},
            {QStringLiteral("cgroupMemoryMax"), o.cgroup.memoryMax},
            {QStringLiteral("cgroupCpuMax"), o.cgroup.cpuMax},
            {QStringLiteral("cgroupParent"), o.cgroup.parent}};
}

} // namespace

void MainWindow::startRemotePool(const ManagerView &view)
{
    // The dialog is open while the watcher replaces its views: the namespace is found again by key.
    const quintptr key = view.key;
    auto *dialog = new StartPoolDialog(view.namespaceId, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setAttached(view.creatorPid, view.options);
    connect(dialog, &QDialog::accepted, this, [this, dialog, key, lastHosts = view.options.hosts] {
        const PoolOptions options = dialog->options();
        QCborMap fields = startFields(options);
        if (options.hosts != lastHosts) // left out, the pool keeps the hosts it had
            fields.insert(QStringLiteral("hosts"), inspectionHosts(options.hosts));
        remoteCommand(key, QStringLiteral("start"),
                      QStringLiteral("pool started with %1 workers at most").arg(options.maxWorkers),
                      fields);
    });
    dialog->open();
}

void MainWindow::submitRemoteTasks(const ManagerView &view)
{
    const quintptr key = view.key;
    const QString ns = view.namespaceId;
    QPointer<RemoteProcess> target(view.remote);
    auto submitter = [this, key, ns, target](const CatalogSubmitDialog::Request &r) -> QString {
        RemoteProcess *process = target.data();
        if (!process || process->status() != RemoteProcess::Status::Attached)
            return QStringLiteral("The process is not attached any more.");
        QCborMap request{{QStringLiteral("op"), QStringLiteral("submit")},
                         {QStringLiteral("namespace"), ns},
                         {QStringLiteral("task"), r.taskName},
                         {QStringLiteral("arguments"), r.arguments}};
        if (!r.taskType.isEmpty())
            request.insert(QStringLiteral("taskType"), r.taskType);
        addSubmitFields(request, r.priority, r.attempts);
        for (int i = 0; i < r.count; ++i) {
            process->request(request, [this, key, ns, r](const QCborMap &reply) {
                const QString error = reply.value(QLatin1String("error")).toString(); // `error` or `result`
                const QCborValue task = reply.value(QLatin1String("task"));
                const ManagerView *now = m_watcher->viewByKey(key);
                if (!task.isInteger() || !now) {
                    // Refused before it was queued (or its pool is gone): nothing to show but why.
                    report(ns, QStringLiteral("%1 not submitted: %2").arg(r.taskName, error), true);
                    return;
                }
                const QString result = describeValue(reply.value(QLatin1String("value")).toVariant(), 0);
                m_futures->addRemoteOutcome(*now, quint64(task.toInteger()), r.taskName, r.shown, result, error);
            });
        }
        report(ns, QStringLiteral("submitted %1 × %2 to process %3").arg(r.count).arg(r.taskName).arg(process->pid()));
        return {};
    };
    auto *dialog = new CatalogSubmitDialog(
        QStringLiteral("Submit — %1 of %2 (pid %3)").arg(ns, QFileInfo(view.remote->program()).fileName()).arg(view.creatorPid),
        view.remote->catalogue(), view.options.taskType, submitter, this);
    dialog->setObjectName(QStringLiteral("catalogSubmitDialog"));
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->open();
}

} // namespace procpool::monitor
