#include "startpooldialog.h"

#include "hostsbox.h"
#include "../limittext.h"

#include <QtCore/QFileInfo>
#include <QtCore/QThread>
#include <QtCore/QRegularExpression>
#include <QtCore/QSettings>
#include <QtWidgets/QCheckBox>
#include <QtWidgets/QComboBox>
#include <QtWidgets/QDialogButtonBox>
#include <QtWidgets/QDoubleSpinBox>
#include <QtWidgets/QFileDialog>
#include <QtWidgets/QFormLayout>
#include <QtWidgets/QGroupBox>
#include <QtWidgets/QHBoxLayout>
#include <QtWidgets/QLabel>
#include <QtWidgets/QLineEdit>
#include <QtWidgets/QPlainTextEdit>
#include <QtWidgets/QPushButton>
#include <QtWidgets/QSpinBox>
#include <QtWidgets/QTabWidget>

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace procpool::monitor {

namespace {
// Worker names are PREFIX-N and Linux keeps 15 bytes of a process name (/proc/PID/comm):
// a prefix of up to 11 characters leaves room for "-" and three digits.
constexpr int maxPrefixLength = 11;
constexpr qint64 mebibyte = 1024 * 1024;
constexpr int limitsTabIndex = 1;

//! A memory limit field: MiB, 0 shown as \a none.
QSpinBox *memoryField(QWidget *parent, const char *objectName, const QString &toolTip,
                      const QString &none = QStringLiteral("none"))
{
    auto *field = new QSpinBox(parent);
    field->setObjectName(QLatin1String(objectName));
    field->setRange(0, 16 * 1024 * 1024); // 16 TiB
    field->setSuffix(QStringLiteral(" MiB"));
    field->setSpecialValueText(none);
    field->setGroupSeparatorShown(true);
    field->setToolTip(toolTip);
    return field;
}

//! A memory limit in MiB, for a field: bytes rounded up, so that no limit becomes none.
int mebibytes(qint64 bytes)
{
    return int(std::min<qint64>((bytes + mebibyte - 1) / mebibyte, 16 * 1024 * 1024));
}

//! The NAME=VALUE lines of \a text (blank lines skipped); nullopt and why when one is not.
std::optional<QList<limittext::EnvironmentEntry>> environmentEntries(const QString &text, QString *error)
{
    QList<limittext::EnvironmentEntry> entries;
    const QStringList lines = text.split(u'\n');
    for (qsizetype i = 0; i < lines.size(); ++i) {
        const QString line = lines.at(i).trimmed();
        if (line.isEmpty())
            continue;
        QString why;
        const auto entry = limittext::parseEnvironmentEntry(line, &why);
        if (!entry) {
            *error = QStringLiteral("Worker environment, line %1: write %2.").arg(i + 1).arg(why);
            return std::nullopt;
        }
        entries.append(*entry);
    }
    const QString twice = limittext::repeatedName(entries);
    if (!twice.isEmpty()) {
        *error = QStringLiteral("Worker environment: %1 is set twice; give each variable once.").arg(twice);
        return std::nullopt;
    }
    return entries;
}
} // namespace

StartPoolDialog::StartPoolDialog(const QString &namespaceId, QWidget *parent)
    : QDialog(parent)
    , m_tabs(new QTabWidget(this))
    , m_maxWorkers(new QSpinBox(this))
    , m_taskType(new QLineEdit(this))
    , m_daemon(new QCheckBox(QStringLiteral("Daemon workers (killed when the application exits)"), this))
    , m_prefix(new QLineEdit(this))
    , m_program(new QLineEdit(this))
    , m_startMethod(new QComboBox(this))
    , m_softMemory(memoryField(this, "softMemory",
                               QStringLiteral("A worker whose resident size goes past this takes "
                                              "no more tasks once its task has finished; a fresh "
                                              "worker replaces it")))
    , m_hardMemory(memoryField(this, "hardMemory",
                               QStringLiteral("A worker whose resident size goes past this is "
                                              "killed at once: its task fails with "
                                              "WorkerOutOfMemory and a fresh worker replaces it")))
    , m_cancelPolicy(new QComboBox(this))
    , m_nice(new QSpinBox(this))
    , m_cpuAffinity(new QLineEdit(this))
    , m_addressSpace(memoryField(this, "addressSpace",
                                 QStringLiteral("RLIMIT_AS of each worker: an allocation past it "
                                                "fails inside the task (std::bad_alloc), which "
                                                "may catch it"),
                                 QStringLiteral("inherited")))
    , m_cpuTime(new QSpinBox(this))
    , m_poolMemory(memoryField(this, "poolMemory",
                               QStringLiteral("Memory of all the workers together, enforced by the "
                                              "kernel in a control group of the pool's own: past "
                                              "it the kernel's OOM killer ends a worker, whose "
                                              "task fails with WorkerOutOfMemory")))
    , m_poolCpus(new QDoubleSpinBox(this))
    , m_cgroupParent(new QLineEdit(this))
    , m_environment(new QPlainTextEdit(this))
    , m_hosts(new HostsBox(this))
    , m_error(new QLabel(this))
    , m_buttons(new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this))
{
    setWindowTitle(QStringLiteral("Start pool — %1").arg(namespaceId));
    m_tabs->addTab(poolTab(namespaceId), QStringLiteral("&Pool"));
    m_tabs->addTab(limitsTab(), QStringLiteral("&Limits"));

    m_error->setWordWrap(true);
    m_error->setStyleSheet(QStringLiteral("color: #c62828"));
    m_error->setMinimumHeight(fontMetrics().height() * 2);

    auto *layout = new QVBoxLayout(this);
    layout->addWidget(m_tabs);
    layout->addWidget(m_error);
    layout->addWidget(m_buttons);
    connect(m_buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(m_buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

    loadSettings();
    for (QSpinBox *spin : {m_maxWorkers, m_softMemory, m_hardMemory, m_nice, m_addressSpace, m_cpuTime, m_poolMemory})
        connect(spin, &QSpinBox::valueChanged, this, &StartPoolDialog::revalidate);
    connect(m_poolCpus, &QDoubleSpinBox::valueChanged, this, &StartPoolDialog::revalidate);
    for (QLineEdit *edit : {m_taskType, m_prefix, m_program, m_cpuAffinity, m_cgroupParent})
        connect(edit, &QLineEdit::textChanged, this, &StartPoolDialog::revalidate);
    connect(m_environment, &QPlainTextEdit::textChanged, this, &StartPoolDialog::revalidate);
    connect(m_hosts, &HostsBox::changed, this, &StartPoolDialog::revalidate);
    revalidate();
    resize(std::max(width(), sizeHint().width()), sizeHint().height());
}

QWidget *StartPoolDialog::poolTab(const QString &namespaceId)
{
    auto *tab = new QWidget(this);
    m_maxWorkers->setRange(1, 512);
    m_maxWorkers->setToolTip(QStringLiteral("Upper bound of worker processes; workers start as tasks need them"));
    m_taskType->setPlaceholderText(QStringLiteral("any (accept every submission)"));
    m_taskType->setToolTip(QStringLiteral("When set, only submissions of this task type are accepted"));
    m_prefix->setPlaceholderText(QStringLiteral("procpool"));
    m_prefix->setToolTip(QStringLiteral("Workers are named PREFIX-1, PREFIX-2, ..."));
    m_program->setPlaceholderText(QStringLiteral("this executable"));
    m_program->setToolTip(QStringLiteral("A program that links the same tasks and calls procpool::workerMain() first"));
    auto *browse = new QPushButton(QStringLiteral("Browse…"), tab);
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString file = QFileDialog::getOpenFileName(this, QStringLiteral("Worker program"));
        if (!file.isEmpty())
            m_program->setText(file);
    });
    m_startMethod->addItem(QStringLiteral("Fork server (workers ready in under a millisecond)"),
                           int(StartMethod::ForkServer));
    m_startMethod->addItem(QStringLiteral("Exec (each worker a fresh start of the program)"),
                           int(StartMethod::Exec));
    m_startMethod->setToolTip(QStringLiteral(
        "Fork server: the program starts once and forks each worker from itself. "
        "Exec: every worker starts the program anew"));
    m_cancelPolicy->setObjectName(QStringLiteral("cancelPolicy"));
    m_cancelPolicy->addItem(QStringLiteral("Kill its worker (a fresh one replaces it)"),
                            int(PoolOptions::CancelPolicy::KillWorker));
    m_cancelPolicy->addItem(QStringLiteral("Let it finish, drop the result"),
                            int(PoolOptions::CancelPolicy::DiscardResult));
    m_cancelPolicy->addItem(QStringLiteral("Ask it to stop, then SIGTERM, then SIGKILL"),
                            int(PoolOptions::CancelPolicy::Ask));
    m_cancelPolicy->setToolTip(QStringLiteral(
        "What Cancel does to a running task. Ask: procpool::isCancellationRequested() turns "
        "true in the task; a task still running 2 s later gets SIGTERM, 2 s after that "
        "SIGKILL. A task a worker holds but has not started is dropped without killing it"));
    auto *programRow = new QHBoxLayout;
    programRow->addWidget(m_program, 1);
    programRow->addWidget(browse);

    m_poolForm = new QFormLayout;
    m_poolForm->addRow(QStringLiteral("Namespace:"),
                       new QLabel(QStringLiteral("<b>%1</b>").arg(namespaceId.toHtmlEscaped()), tab));
    m_poolForm->addRow(QStringLiteral("&Max workers:"), m_maxWorkers);
    m_poolForm->addRow(QStringLiteral("&Task type:"), m_taskType);
    m_poolForm->addRow(QString(), m_daemon);
    m_poolForm->addRow(QStringLiteral("Process name p&refix:"), m_prefix);
    auto *programLabel = new QLabel(QStringLiteral("Worker pro&gram:"), tab);
    programLabel->setBuddy(m_program);
    m_poolForm->addRow(programLabel, programRow);
    m_poolForm->addRow(QStringLiteral("&Start workers by:"), m_startMethod);
    m_poolForm->addRow(QStringLiteral("&Cancelling a running task:"), m_cancelPolicy);
    // Outside the form: Qt 6.4's QFormLayout overruns its height-for-width data when a row
    // holds a word-wrapped label that is hidden.
    m_attachedNote = new QLabel(tab);
    m_attachedNote->setWordWrap(true);
    m_attachedNote->setVisible(false);
    auto *layout = new QVBoxLayout(tab);
    layout->addLayout(m_poolForm);
    layout->addWidget(m_hosts);
    layout->addWidget(m_attachedNote);
    layout->addStretch(1);
    return tab;
}

QWidget *StartPoolDialog::limitsTab()
{
    auto *tab = new QWidget(this);
    m_nice->setObjectName(QStringLiteral("niceValue"));
    m_nice->setRange(0, 19);
    m_nice->setSpecialValueText(QStringLiteral("inherited"));
    m_nice->setToolTip(QStringLiteral("Nice value of each worker, 1 to 19: a higher value is a "
                                      "lower CPU priority than the application's"));
    m_cpuAffinity->setObjectName(QStringLiteral("cpuAffinity"));
    m_cpuAffinity->setPlaceholderText(QStringLiteral("all (inherited), or e.g. 0,2-3"));
    m_cpuAffinity->setToolTip(QStringLiteral("The CPUs the workers may run on: numbers and ranges, "
                                             "commas between"));
    m_cpuTime->setObjectName(QStringLiteral("cpuTime"));
    m_cpuTime->setRange(0, std::numeric_limits<int>::max());
    m_cpuTime->setSuffix(QStringLiteral(" s"));
    m_cpuTime->setSpecialValueText(QStringLiteral("inherited"));
    m_cpuTime->setGroupSeparatorShown(true);
    m_cpuTime->setToolTip(QStringLiteral("RLIMIT_CPU of each worker: past this much CPU time in "
                                         "its life it is killed, and its task fails with "
                                         "WorkerCrashed"));
    m_poolCpus->setObjectName(QStringLiteral("poolCpus"));
    m_poolCpus->setRange(0, 4096);
    m_poolCpus->setDecimals(2);
    m_poolCpus->setSingleStep(0.5);
    m_poolCpus->setSuffix(QStringLiteral(" CPUs"));
    m_poolCpus->setSpecialValueText(QStringLiteral("none"));
    m_poolCpus->setToolTip(QStringLiteral("CPU time of all the workers together, in CPUs (1.5: "
                                          "one and a half CPUs' time), enforced by the kernel in "
                                          "the pool's control group"));
    m_cgroupParent->setObjectName(QStringLiteral("cgroupParent"));
    m_cgroupParent->setPlaceholderText(QStringLiteral("this process's own cgroup"));
    m_cgroupParent->setToolTip(QStringLiteral("Where the pool's control group is made: a path in "
                                              "the cgroup tree (/user.slice/…) or under "
                                              "/sys/fs/cgroup. It must be writable by this "
                                              "process (root, or a delegated cgroup)"));
    m_environment->setObjectName(QStringLiteral("workerEnvironment"));
    m_environment->setPlaceholderText(QStringLiteral("CUDA_VISIBLE_DEVICES={slot}\nOMP_NUM_THREADS=4"));
    m_environment->setToolTip(QStringLiteral("One NAME=VALUE a line, set in each worker's "
                                             "environment; {slot} becomes the worker's slot: 0 for "
                                             "the first worker, and a replacement takes the slot "
                                             "of the worker it replaces"));
    m_environment->setTabChangesFocus(true);
    m_environment->setLineWrapMode(QPlainTextEdit::NoWrap);
    m_environment->setFixedHeight(fontMetrics().lineSpacing() * 3 + 2 * m_environment->frameWidth() + 8);

    auto *each = new QGroupBox(QStringLiteral("Each worker"), tab);
    auto *eachForm = new QFormLayout(each);
    eachForm->addRow(QStringLiteral("S&oft memory limit:"), m_softMemory);
    eachForm->addRow(QStringLiteral("&Hard memory limit:"), m_hardMemory);
    eachForm->addRow(QStringLiteral("&Address space:"), m_addressSpace);
    eachForm->addRow(QStringLiteral("CPU &time:"), m_cpuTime);
    eachForm->addRow(QStringLiteral("&Nice value:"), m_nice);
    eachForm->addRow(QStringLiteral("CPU a&ffinity:"), m_cpuAffinity);

    auto *together = new QGroupBox(QStringLiteral("All workers together (control group)"), tab);
    auto *togetherForm = new QFormLayout(together);
    togetherForm->addRow(QStringLiteral("Pool m&emory:"), m_poolMemory);
    togetherForm->addRow(QStringLiteral("Pool C&PUs:"), m_poolCpus);
    togetherForm->addRow(QStringLiteral("Parent c&group:"), m_cgroupParent);

    m_environmentBox = new QGroupBox(QStringLiteral("Worker en&vironment (NAME=VALUE a line; "
                                                    "{slot}: the worker's slot)"),
                                     tab);
    auto *environmentLayout = new QVBoxLayout(m_environmentBox);
    environmentLayout->addWidget(m_environment);

    // One label column for both groups, so that their fields line up.
    int labelWidth = 0;
    for (QFormLayout *form : {eachForm, togetherForm})
        for (int row = 0; row < form->rowCount(); ++row)
            if (QLayoutItem *label = form->itemAt(row, QFormLayout::LabelRole))
                labelWidth = std::max(labelWidth, label->widget()->sizeHint().width());
    for (QFormLayout *form : {eachForm, togetherForm})
        for (int row = 0; row < form->rowCount(); ++row)
            if (QLayoutItem *label = form->itemAt(row, QFormLayout::LabelRole))
                label->widget()->setMinimumWidth(labelWidth);

    auto *layout = new QVBoxLayout(tab);
    layout->addWidget(each);
    layout->addWidget(together);
    layout->addWidget(m_environmentBox);
    layout->addStretch(1);
    return tab;
}

void StartPoolDialog::setAttached(qint64 pid, const PoolOptions &last)
{
    m_attachedPid = pid;
    m_attachedOptions = last;
    setWindowTitle(windowTitle() + QStringLiteral(" of process %1").arg(pid));
    m_maxWorkers->setRange(1, 4096);
    m_maxWorkers->setValue(std::max(1, last.maxWorkers));
    // What the `start` command cannot change stays as the pool last had it: not shown.
    for (QWidget *field : std::initializer_list<QWidget *>{m_taskType, m_daemon, m_prefix, m_startMethod, m_cancelPolicy})
        m_poolForm->setRowVisible(field, false);
    for (int row = 0; row < m_poolForm->rowCount(); ++row) {
        QLayoutItem *item = m_poolForm->itemAt(row, QFormLayout::FieldRole);
        if (item && item->layout() && item->layout()->indexOf(m_program) >= 0)
            m_poolForm->setRowVisible(row, false);
    }
    m_environmentBox->setVisible(false);
    m_attachedNote->setText(QStringLiteral("The pool of process %1 starts with these workers, "
                                           "hosts and limits; its task type, program, worker "
                                           "environment and other options stay as it last had "
                                           "them.")
                                .arg(pid));
    m_attachedNote->setVisible(true);
    m_hosts->setHosts(last.hosts);
    loadLimits(last);
    revalidate();
    resize(width(), sizeHint().height());
}

void StartPoolDialog::loadLimits(const PoolOptions &o)
{
    m_softMemory->setValue(mebibytes(o.softMemoryLimit));
    m_hardMemory->setValue(mebibytes(o.hardMemoryLimit));
    m_nice->setValue(o.resourceLimits.niceValue);
    m_cpuAffinity->setText(limittext::cpuListText(o.resourceLimits.cpuAffinity));
    m_addressSpace->setValue(mebibytes(o.resourceLimits.addressSpace));
    m_cpuTime->setValue(o.resourceLimits.cpuSeconds);
    m_poolMemory->setValue(mebibytes(o.cgroup.memoryMax));
    m_poolCpus->setValue(o.cgroup.cpuMax);
    m_cgroupParent->setText(o.cgroup.parent);
}

PoolOptions StartPoolDialog::options() const
{
    PoolOptions o = isAttached() ? m_attachedOptions : PoolOptions();
    o.maxWorkers = m_maxWorkers->value();
    if (!isAttached() || m_hosts->hasChanged()) // unchanged, an attached pool's stay exactly
        o.hosts = m_hosts->hosts().value_or(QList<WorkerHost>());
    if (!o.hosts.isEmpty())
        o.maxWorkers = o.hostSlots();
    if (!isAttached()) {
        const QString taskType = m_taskType->text().trimmed();
        o.taskType = taskType.isEmpty() ? QString() : taskType;
        o.daemon = m_daemon->isChecked();
        const QString prefix = m_prefix->text().trimmed();
        o.processNamePrefix = prefix.isEmpty() ? QString() : prefix;
        const QString program = m_program->text().trimmed();
        o.startContext.program = program.isEmpty() ? QString() : program; // null: this executable
        o.startContext.method = StartMethod(m_startMethod->currentData().toInt());
        o.cancelPolicy = PoolOptions::CancelPolicy(m_cancelPolicy->currentData().toInt());
        QString ignored;
        o.workerEnvironment = limittext::workerEnvironment(
            environmentEntries(m_environment->toPlainText(), &ignored).value_or(QList<limittext::EnvironmentEntry>()));
    }
    o.softMemoryLimit = m_softMemory->value() * mebibyte;
    o.hardMemoryLimit = m_hardMemory->value() * mebibyte;
    o.resourceLimits.niceValue = m_nice->value();
    QString ignored;
    o.resourceLimits.cpuAffinity = m_cpuAffinity->text().trimmed().isEmpty()
                                       ? QList<int>()
                                       : limittext::parseCpuList(m_cpuAffinity->text(), &ignored).value_or(QList<int>());
    o.resourceLimits.addressSpace = m_addressSpace->value() * mebibyte;
    o.resourceLimits.cpuSeconds = m_cpuTime->value();
    o.cgroup.memoryMax = m_poolMemory->value() * mebibyte;
    o.cgroup.cpuMax = m_poolCpus->value();
    o.cgroup.parent = m_cgroupParent->text().trimmed();
    return o;
}

QString StartPoolDialog::validationError() const
{
    static const QRegularExpression word(QStringLiteral("^[A-Za-z0-9_.:-]*$"));
    static const QRegularExpression name(QStringLiteral("^[A-Za-z0-9_.-]*$"));
    const PoolOptions o = options();
    if (!isAttached()) {
        if (!word.match(o.taskType).hasMatch())
            return QStringLiteral("The task type may contain letters, digits and _ . : - only (no spaces).");
        if (!name.match(o.processNamePrefix).hasMatch())
            return QStringLiteral("The process name prefix may contain letters, digits and _ . - only.");
        if (o.processNamePrefix.size() > maxPrefixLength)
            return QStringLiteral("The process name prefix is too long: at most %1 characters, so that "
                                  "PREFIX-N fits the 15 characters Linux keeps of a process name.")
                .arg(maxPrefixLength);
        if (!o.startContext.program.isEmpty()) {
            const QFileInfo program(o.startContext.program);
            if (!program.exists())
                return QStringLiteral("The worker program %1 does not exist.").arg(o.startContext.program);
            if (!program.isFile() || !program.isExecutable())
                return QStringLiteral("The worker program %1 is not an executable file.").arg(o.startContext.program);
        }
    }
    if (o.softMemoryLimit > 0 && o.hardMemoryLimit > 0 && o.softMemoryLimit > o.hardMemoryLimit)
        return QStringLiteral("The soft memory limit must not be above the hard one: a worker is "
                              "retired at the soft limit and killed at the hard one.");
    QString why;
    if ((!isAttached() || m_hosts->hasChanged()) && !m_hosts->hosts(&why))
        return why;
    if (isAttached() && o.hosts != m_attachedOptions.hosts
        && std::any_of(o.hosts.cbegin(), o.hosts.cend(),
                       [](const WorkerHost &h) { return h.launcher.kind == Launcher::Kind::Command; }))
        return QStringLiteral("The launcher must be ssh, slurm or local: process %1 takes no command "
                              "from outside (its inspection socket refuses one, so that no client "
                              "makes it run a command of its choosing).")
            .arg(m_attachedPid);
    if (!m_cpuAffinity->text().trimmed().isEmpty() && !limittext::parseCpuList(m_cpuAffinity->text(), &why))
        return QStringLiteral("The CPU affinity must be %1.").arg(why);
    if (!o.cgroup.parent.isEmpty() && !o.cgroup.parent.startsWith(u'/'))
        return QStringLiteral("The parent cgroup must be an absolute path, in the cgroup tree "
                              "(/user.slice/…) or under /sys/fs/cgroup.");
    if (!o.cgroup.parent.isEmpty() && !o.cgroup.enabled())
        return QStringLiteral("The parent cgroup says where the pool's control group goes: set a "
                              "pool memory or CPU limit too, or leave it empty.");
    if (!isAttached() && !environmentEntries(m_environment->toPlainText(), &why))
        return why;
    try {
        o.validate();
    } catch (const std::invalid_argument &e) {
        return QString::fromUtf8(e.what());
    }
    return {};
}

bool StartPoolDialog::isAcceptable() const
{
    return m_buttons->button(QDialogButtonBox::Ok)->isEnabled();
}

int StartPoolDialog::limitCount() const
{
    int n = 0;
    for (const QSpinBox *spin : {m_softMemory, m_hardMemory, m_nice, m_addressSpace, m_cpuTime, m_poolMemory})
        n += spin->value() != 0;
    n += m_poolCpus->value() != 0;
    for (const QLineEdit *edit : {m_cpuAffinity, m_cgroupParent})
        n += !edit->text().trimmed().isEmpty();
    if (!isAttached())
        n += !m_environment->toPlainText().trimmed().isEmpty();
    return n;
}

void StartPoolDialog::revalidate()
{
    const QString error = validationError();
    m_error->setText(error);
    m_maxWorkers->setEnabled(m_hosts->isEmpty()); // with hosts: their slots
    m_buttons->button(QDialogButtonBox::Ok)->setEnabled(error.isEmpty());
    const int limits = limitCount();
    m_tabs->setTabText(limitsTabIndex, limits == 0 ? QStringLiteral("&Limits")
                                                   : QStringLiteral("&Limits (%1)").arg(limits));
}

void StartPoolDialog::accept()
{
    if (!validationError().isEmpty())
        return;
    if (!isAttached())
        saveSettings();
    QDialog::accept();
}

void StartPoolDialog::loadSettings()
{
    QSettings s;
    s.beginGroup(QStringLiteral("startDialog"));
    m_maxWorkers->setValue(s.value(QStringLiteral("maxWorkers"), std::max(2, QThread::idealThreadCount())).toInt());
    m_taskType->setText(s.value(QStringLiteral("taskType")).toString());
    m_daemon->setChecked(s.value(QStringLiteral("daemon"), false).toBool());
    m_prefix->setText(s.value(QStringLiteral("prefix")).toString());
    m_program->setText(s.value(QStringLiteral("program")).toString());
    const int method = m_startMethod->findData(
        s.value(QStringLiteral("startMethod"), int(StartMethod::ForkServer)).toInt());
    m_startMethod->setCurrentIndex(std::max(method, 0));
    m_softMemory->setValue(s.value(QStringLiteral("softMemoryMiB"), 0).toInt());
    m_hardMemory->setValue(s.value(QStringLiteral("hardMemoryMiB"), 0).toInt());
    const int policy = m_cancelPolicy->findData(
        s.value(QStringLiteral("cancelPolicy"), int(PoolOptions::CancelPolicy::KillWorker)).toInt());
    m_cancelPolicy->setCurrentIndex(std::max(policy, 0));
    m_nice->setValue(s.value(QStringLiteral("niceValue"), 0).toInt());
    m_cpuAffinity->setText(s.value(QStringLiteral("cpuAffinity")).toString());
    m_addressSpace->setValue(s.value(QStringLiteral("addressSpaceMiB"), 0).toInt());
    m_cpuTime->setValue(s.value(QStringLiteral("cpuSeconds"), 0).toInt());
    m_poolMemory->setValue(s.value(QStringLiteral("poolMemoryMiB"), 0).toInt());
    m_poolCpus->setValue(s.value(QStringLiteral("poolCpus"), 0.0).toDouble());
    m_cgroupParent->setText(s.value(QStringLiteral("cgroupParent")).toString());
    m_environment->setPlainText(s.value(QStringLiteral("workerEnvironment")).toString());
    m_hosts->textField()->setPlainText(s.value(QStringLiteral("hosts")).toString());
    m_hosts->launcherField()->setText(s.value(QStringLiteral("launcher")).toString());
    m_tabs->setCurrentIndex(std::clamp(s.value(QStringLiteral("tab"), 0).toInt(), 0, m_tabs->count() - 1));
    restoreGeometry(s.value(QStringLiteral("geometry")).toByteArray());
}

void StartPoolDialog::saveSettings() const
{
    QSettings s;
    s.beginGroup(QStringLiteral("startDialog"));
    s.setValue(QStringLiteral("maxWorkers"), m_maxWorkers->value());
    s.setValue(QStringLiteral("taskType"), m_taskType->text());
    s.setValue(QStringLiteral("daemon"), m_daemon->isChecked());
    s.setValue(QStringLiteral("prefix"), m_prefix->text());
    s.setValue(QStringLiteral("program"), m_program->text());
    s.setValue(QStringLiteral("startMethod"), m_startMethod->currentData());
    s.setValue(QStringLiteral("softMemoryMiB"), m_softMemory->value());
    s.setValue(QStringLiteral("hardMemoryMiB"), m_hardMemory->value());
    s.setValue(QStringLiteral("cancelPolicy"), m_cancelPolicy->currentData());
    s.setValue(QStringLiteral("niceValue"), m_nice->value());
    s.setValue(QStringLiteral("cpuAffinity"), m_cpuAffinity->text());
    s.setValue(QStringLiteral("addressSpaceMiB"), m_addressSpace->value());
    s.setValue(QStringLiteral("cpuSeconds"), m_cpuTime->value());
    s.setValue(QStringLiteral("poolMemoryMiB"), m_poolMemory->value());
    s.setValue(QStringLiteral("poolCpus"), m_poolCpus->value());
    s.setValue(QStringLiteral("cgroupParent"), m_cgroupParent->text());
    s.setValue(QStringLiteral("workerEnvironment"), m_environment->toPlainText());
    s.setValue(QStringLiteral("hosts"), m_hosts->textField()->toPlainText());
    s.setValue(QStringLiteral("launcher"), m_hosts->launcherField()->text());
    s.setValue(QStringLiteral("tab"), m_tabs->currentIndex());
    s.setValue(QStringLiteral("geometry"), saveGeometry());
}

} // namespace procpool::monitor
