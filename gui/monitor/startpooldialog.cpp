#include "startpooldialog.h"

#include <QtCore/QFileInfo>
#include <QtCore/QThread>
#include <QtCore/QRegularExpression>
#include <QtCore/QSettings>
#include <QtWidgets/QCheckBox>
#include <QtWidgets/QComboBox>
#include <QtWidgets/QDialogButtonBox>
#include <QtWidgets/QFileDialog>
#include <QtWidgets/QFormLayout>
#include <QtWidgets/QHBoxLayout>
#include <QtWidgets/QLabel>
#include <QtWidgets/QLineEdit>
#include <QtWidgets/QPushButton>
#include <QtWidgets/QSpinBox>

#include <stdexcept>

namespace procpool::monitor {

namespace {
// Worker names are PREFIX-N and Linux keeps 15 bytes of a process name (/proc/PID/comm):
// a prefix of up to 11 characters leaves room for "-" and three digits.
constexpr int maxPrefixLength = 11;
constexpr qint64 mebibyte = 1024 * 1024;

//! A memory limit field: MiB, 0 shown as "none".
QSpinBox *memoryField(QWidget *parent, const char *objectName, const QString &toolTip)
{
    auto *field = new QSpinBox(parent);
    field->setObjectName(QLatin1String(objectName));
    field->setRange(0, 16 * 1024 * 1024); // 16 TiB
    field->setSuffix(QStringLiteral(" MiB"));
    field->setSpecialValueText(QStringLiteral("none"));
    field->setGroupSeparatorShown(true);
    field->setToolTip(toolTip);
    return field;
}
} // namespace

StartPoolDialog::StartPoolDialog(const QString &namespaceId, QWidget *parent)
    : QDialog(parent)
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
    , m_error(new QLabel(this))
    , m_buttons(new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this))
{
    setWindowTitle(QStringLiteral("Start pool — %1").arg(namespaceId));
    m_maxWorkers->setRange(1, 512);
    m_maxWorkers->setToolTip(QStringLiteral("Upper bound of worker processes; workers start as tasks need them"));
    m_taskType->setPlaceholderText(QStringLiteral("any (accept every submission)"));
    m_taskType->setToolTip(QStringLiteral("When set, only submissions of this task type are accepted"));
    m_prefix->setPlaceholderText(QStringLiteral("procpool"));
    m_prefix->setToolTip(QStringLiteral("Workers are named PREFIX-1, PREFIX-2, ..."));
    m_program->setPlaceholderText(QStringLiteral("this executable"));
    m_program->setToolTip(QStringLiteral("A program that links the same tasks and calls procpool::workerMain() first"));
    auto *browse = new QPushButton(QStringLiteral("Browse…"), this);
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

    m_error->setWordWrap(true);
    m_error->setStyleSheet(QStringLiteral("color: #c62828"));
    m_error->setMinimumHeight(fontMetrics().height() * 2);

    auto *form = new QFormLayout;
    form->addRow(QStringLiteral("Namespace:"), new QLabel(QStringLiteral("<b>%1</b>").arg(namespaceId.toHtmlEscaped()), this));
    form->addRow(QStringLiteral("&Max workers:"), m_maxWorkers);
    form->addRow(QStringLiteral("&Task type:"), m_taskType);
    form->addRow(QString(), m_daemon);
    form->addRow(QStringLiteral("Process name &prefix:"), m_prefix);
    auto *programLabel = new QLabel(QStringLiteral("Worker p&rogram:"), this);
    programLabel->setBuddy(m_program);
    form->addRow(programLabel, programRow);
    form->addRow(QStringLiteral("&Start workers by:"), m_startMethod);
    form->addRow(QStringLiteral("S&oft memory limit:"), m_softMemory);
    form->addRow(QStringLiteral("&Hard memory limit:"), m_hardMemory);
    form->addRow(QStringLiteral("&Cancelling a running task:"), m_cancelPolicy);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(m_error);
    layout->addWidget(m_buttons);
    connect(m_buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(m_buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

    loadSettings();
    for (QSpinBox *spin : {m_maxWorkers, m_softMemory, m_hardMemory})
        connect(spin, &QSpinBox::valueChanged, this, &StartPoolDialog::revalidate);
    for (QLineEdit *edit : {m_taskType, m_prefix, m_program})
        connect(edit, &QLineEdit::textChanged, this, &StartPoolDialog::revalidate);
    revalidate();
    resize(std::max(width(), 460), sizeHint().height());
}

PoolOptions StartPoolDialog::options() const
{
    PoolOptions o;
    o.maxWorkers = m_maxWorkers->value();
    const QString taskType = m_taskType->text().trimmed();
    o.taskType = taskType.isEmpty() ? QString() : taskType;
    o.daemon = m_daemon->isChecked();
    const QString prefix = m_prefix->text().trimmed();
    o.processNamePrefix = prefix.isEmpty() ? QString() : prefix;
    const QString program = m_program->text().trimmed();
    o.startContext.program = program.isEmpty() ? QString() : program; // null: this executable
    o.startContext.method = StartMethod(m_startMethod->currentData().toInt());
    o.softMemoryLimit = m_softMemory->value() * mebibyte;
    o.hardMemoryLimit = m_hardMemory->value() * mebibyte;
    o.cancelPolicy = PoolOptions::CancelPolicy(m_cancelPolicy->currentData().toInt());
    return o;
}

QString StartPoolDialog::validationError() const
{
    static const QRegularExpression word(QStringLiteral("^[A-Za-z0-9_.:-]*$"));
    static const QRegularExpression name(QStringLiteral("^[A-Za-z0-9_.-]*$"));
    const PoolOptions o = options();
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
    if (o.softMemoryLimit > 0 && o.hardMemoryLimit > 0 && o.softMemoryLimit > o.hardMemoryLimit)
        return QStringLiteral("The soft memory limit must not be above the hard one: a worker is "
                              "retired at the soft limit and killed at the hard one.");
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

void StartPoolDialog::revalidate()
{
    const QString error = validationError();
    m_error->setText(error);
    m_buttons->button(QDialogButtonBox::Ok)->setEnabled(error.isEmpty());
}

void StartPoolDialog::accept()
{
    if (!validationError().isEmpty())
        return;
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
    s.setValue(QStringLiteral("geometry"), saveGeometry());
}

} // namespace procpool::monitor
