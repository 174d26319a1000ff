#include "attachdialog.h"

#include "remoteprocess.h"

#include <procpool/inspection.h>
#include <procpool/processpoolmanager.h>

#include <QtCore/QDir>
#include <QtCore/QFileInfo>
#include <QtWidgets/QDialogButtonBox>
#include <QtWidgets/QHeaderView>
#include <QtWidgets/QLabel>
#include <QtWidgets/QLineEdit>
#include <QtWidgets/QPushButton>
#include <QtWidgets/QTreeWidget>
#include <QtWidgets/QVBoxLayout>

namespace procpool::monitor {

namespace {

enum Column { Program, Pid, Started, Namespaces, Workers, Status, ColumnCount };

//! Probes keep watching while the dialog is open, so that its numbers are today's: a process
//! that has just started lists its workers as they come up, not as they were at the first look.
constexpr int probeIntervalMs = 1000;

} // namespace

AttachDialog::AttachDialog(const QList<qint64> &attached, QWidget *parent)
    : QDialog(parent)
    , m_attached(attached)
    , m_filter(new QLineEdit(this))
    , m_list(new QTreeWidget(this))
{
    setWindowTitle(QStringLiteral("Attach to Process"));
    resize(760, 380);
    m_filter->setObjectName(QStringLiteral("filter"));
    m_filter->setPlaceholderText(QStringLiteral("Filter by program, arguments or pid"));
    m_filter->setClearButtonEnabled(true);
    m_list->setObjectName(QStringLiteral("processList"));
    m_list->setRootIsDecorated(false);
    m_list->setAlternatingRowColors(true);
    m_list->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_list->setHeaderLabels({QStringLiteral("Program"), QStringLiteral("PID"), QStringLiteral("Started"),
                             QStringLiteral("Namespaces"), QStringLiteral("Workers"), QStringLiteral("Status")});
    m_list->header()->resizeSection(Program, 260);
    m_list->setSortingEnabled(true);
    m_list->sortByColumn(Pid, Qt::AscendingOrder);
    auto *hint = new QLabel(QStringLiteral("Processes of this user that use procpool, found in %1")
                                .arg(QDir::toNativeSeparators(inspectionDirectory())), this);
    hint->setStyleSheet(QStringLiteral("color: palette(placeholder-text)"));
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Cancel, this);
    QPushButton *attach = buttons->addButton(QStringLiteral("Attach"), QDialogButtonBox::AcceptRole);
    attach->setDefault(true);
    QPushButton *again = buttons->addButton(QStringLiteral("Refresh"), QDialogButtonBox::ActionRole);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(again, &QPushButton::clicked, this, &AttachDialog::refresh);
    connect(m_filter, &QLineEdit::textChanged, this, &AttachDialog::applyFilter);
    connect(m_list, &QTreeWidget::itemDoubleClicked, this, [this] { accept(); });
    connect(m_list, &QTreeWidget::itemSelectionChanged, this,
            [this, attach] { attach->setEnabled(!selectedPids().isEmpty()); });
    attach->setEnabled(false);
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(m_filter);
    layout->addWidget(m_list);
    layout->addWidget(hint);
    layout->addWidget(buttons);
    refresh();
}

void AttachDialog::refresh()
{
    qDeleteAll(m_probes);
    m_probes.clear();
    m_list->clear();
    const QDir dir(inspectionDirectory());
    for (const QString &name : dir.entryList({QStringLiteral("*.sock")}, QDir::System, QDir::Name)) {
        const qint64 pid = name.chopped(5).toLongLong();
        if (pid <= 0 || pid == ProcessPoolManager::currentProcessId())
            continue;
        auto *item = new QTreeWidgetItem(m_list);
        item->setData(Pid, Qt::DisplayRole, pid);
        item->setText(Program, QStringLiteral("…"));
        item->setText(Status, QStringLiteral("asking"));
        if (m_attached.contains(pid)) {
            item->setText(Status, QStringLiteral("attached already"));
            item->setFlags(item->flags() & ~Qt::ItemIsSelectable);
        }
        auto *probe = new RemoteProcess(pid, probeIntervalMs, this);
        m_probes.append(probe);
        connect(probe, &RemoteProcess::statusChanged, this, [this, probe] { showProbe(probe); });
        connect(probe, &RemoteProcess::updated, this, [this, probe] { showProbe(probe); });
    }
    applyFilter();
}

void AttachDialog::showProbe(RemoteProcess *process)
{
    for (int i = 0; i < m_list->topLevelItemCount(); ++i) {
        QTreeWidgetItem *item = m_list->topLevelItem(i);
        if (item->data(Pid, Qt::DisplayRole).toLongLong() != process->pid())
            continue;
        if (process->status() == RemoteProcess::Status::Exited
            || process->status() == RemoteProcess::Status::Failed) {
            // A killed process's socket file stays behind; one that cannot be reached is no choice.
            if (!QFileInfo::exists(QStringLiteral("/proc/%1").arg(process->pid()))) {
                delete item;
                return;
            }
            item->setText(Status, process->statusText());
            item->setToolTip(Status, process->statusText());
            item->setFlags(item->flags() & ~Qt::ItemIsSelectable);
            return;
        }
        item->setText(Program, QFileInfo(process->program()).fileName());
        item->setToolTip(Program, process->arguments().join(u' '));
        item->setText(Started, process->started().toLocalTime().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss")));
        int workers = 0;
        for (const RemoteNamespace &ns : process->namespaces())
            workers += int(ns.workers.size());
        QStringList names;
        for (const RemoteNamespace &ns : process->namespaces())
            names.append(ns.id);
        item->setText(Namespaces, names.join(QStringLiteral(", ")));
        item->setData(Workers, Qt::DisplayRole, workers);
        if (!m_attached.contains(process->pid()))
            item->setText(Status, process->readOnly() ? QStringLiteral("read-only") : QStringLiteral("running"));
        applyFilter();
        return;
    }
}

void AttachDialog::applyFilter()
{
    const QString text = m_filter->text().trimmed();
    for (int i = 0; i < m_list->topLevelItemCount(); ++i) {
        QTreeWidgetItem *item = m_list->topLevelItem(i);
        const bool match = text.isEmpty() || item->text(Program).contains(text, Qt::CaseInsensitive)
                           || item->toolTip(Program).contains(text, Qt::CaseInsensitive)
                           || item->text(Pid) == text || item->text(Namespaces).contains(text, Qt::CaseInsensitive);
        item->setHidden(!match);
    }
}

QList<qint64> AttachDialog::selectedPids() const
{
    QList<qint64> pids;
    for (QTreeWidgetItem *item : m_list->selectedItems())
        if (!item->isHidden() && (item->flags() & Qt::ItemIsSelectable))
            pids.append(item->data(Pid, Qt::DisplayRole).toLongLong());
    return pids;
}

} // namespace procpool::monitor
