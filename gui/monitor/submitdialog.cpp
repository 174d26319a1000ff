#include "submitdialog.h"

#include <QtCore/QSettings>
#include <QtWidgets/QComboBox>
#include <QtWidgets/QDialogButtonBox>
#include <QtWidgets/QFormLayout>
#include <QtWidgets/QGroupBox>
#include <QtWidgets/QLabel>
#include <QtWidgets/QLineEdit>
#include <QtWidgets/QPushButton>
#include <QtWidgets/QSpinBox>
#include <QtWidgets/QVBoxLayout>

namespace procpool::monitor {

namespace {

//! "name:type=default" → its three parts.
struct Parameter
{
    QString name, type, defaultValue;
};

Parameter parseParameter(const QString &spec)
{
    Parameter p;
    const qsizetype colon = spec.indexOf(u':');
    const qsizetype equals = spec.indexOf(u'=');
    p.name = spec.left(colon < 0 ? equals : colon);
    p.type = colon < 0 ? QStringLiteral("string") : spec.mid(colon + 1, equals < 0 ? -1 : equals - colon - 1);
    p.defaultValue = equals < 0 ? QString() : spec.mid(equals + 1);
    return p;
}

QString settingsKey(const QString &task, const QString &parameter)
{
    return QStringLiteral("submitDialog/parameters/%1/%2").arg(task, parameter);
}

} // namespace

SubmitDialog::SubmitDialog(const QList<TaskPreset> &presets, const QString &namespaceId,
                           const QString &poolTaskType, Submitter submitter, QWidget *parent)
    : QDialog(parent)
    , m_presets(presets)
    , m_submitter(std::move(submitter))
    , m_task(new QComboBox(this))
    , m_description(new QLabel(this))
    , m_parameters(new QFormLayout)
    , m_count(new QSpinBox(this))
    , m_taskType(new QComboBox(this))
    , m_options(this)
    , m_error(new QLabel(this))
    , m_buttons(new QDialogButtonBox(QDialogButtonBox::Cancel, this))
{
    setWindowTitle(QStringLiteral("Submit sample tasks — %1").arg(namespaceId));
    for (const TaskPreset &t : m_presets)
        m_task->addItem(t.name);
    m_description->setWordWrap(true);
    m_description->setStyleSheet(QStringLiteral("color: palette(placeholder-text)"));
    m_count->setRange(1, 100000);
    m_count->setGroupSeparatorShown(true);
    m_taskType->setEditable(true);
    m_taskType->setInsertPolicy(QComboBox::NoInsert);
    m_taskType->lineEdit()->setPlaceholderText(QStringLiteral("none"));
    m_taskType->setToolTip(QStringLiteral("Sent with each submission; a pool with a task type refuses any other"));
    m_taskType->addItem(QString());
    if (!poolTaskType.isEmpty())
        m_taskType->addItem(poolTaskType);
    m_error->setWordWrap(true);
    m_error->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_error->setStyleSheet(QStringLiteral("color: #c62828"));
    m_error->setMinimumHeight(fontMetrics().height() * 4); // room for the longest engine message
    m_error->setAlignment(Qt::AlignLeft | Qt::AlignTop);

    auto *submit = m_buttons->addButton(QStringLiteral("&Submit"), QDialogButtonBox::AcceptRole);
    submit->setDefault(true);
    connect(m_buttons, &QDialogButtonBox::accepted, this, &SubmitDialog::accept);
    connect(m_buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

    auto *form = new QFormLayout;
    form->addRow(QStringLiteral("Namespace:"), new QLabel(QStringLiteral("<b>%1</b>").arg(namespaceId.toHtmlEscaped()), this));
    form->addRow(QStringLiteral("&Task:"), m_task);
    form->addRow(QString(), m_description);
    auto *parameters = new QGroupBox(QStringLiteral("Parameters"), this);
    parameters->setLayout(m_parameters);
    auto *form2 = new QFormLayout;
    form2->addRow(QStringLiteral("&How many:"), m_count);
    form2->addRow(QStringLiteral("Task t&ype:"), m_taskType);
    m_options.addRows(form2);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(parameters);
    layout->addLayout(form2);
    layout->addWidget(m_error, 1);
    layout->addWidget(m_buttons);

    QSettings s;
    s.beginGroup(QStringLiteral("submitDialog"));
    const int taskIndex = m_task->findText(s.value(QStringLiteral("task"), QStringLiteral("sleep")).toString());
    m_task->setCurrentIndex(std::max(0, taskIndex));
    m_count->setValue(s.value(QStringLiteral("count"), 10).toInt());
    m_options.priority->setValue(s.value(QStringLiteral("priority"), 0).toInt());
    m_options.retries->setValue(s.value(QStringLiteral("attempts"), 1).toInt());
    // The pool's own task type is the useful default; what was typed last time comes second.
    const QString lastType = s.value(QStringLiteral("taskType")).toString();
    if (!lastType.isEmpty() && m_taskType->findText(lastType) < 0)
        m_taskType->addItem(lastType);
    m_taskType->setCurrentText(poolTaskType);
    restoreGeometry(s.value(QStringLiteral("geometry")).toByteArray());
    s.endGroup();

    connect(m_task, &QComboBox::currentIndexChanged, this, &SubmitDialog::showParameters);
    connect(m_taskType, &QComboBox::currentTextChanged, m_error, &QLabel::clear);
    showParameters();
    if (!s.contains(QStringLiteral("submitDialog/geometry")))
        resize(std::max(sizeHint().width(), 520), sizeHint().height());
}

void SubmitDialog::showParameters()
{
    while (m_parameters->rowCount() > 0)
        m_parameters->removeRow(0);
    m_parameterFields.clear();
    m_error->clear();
    const qsizetype i = m_task->currentIndex();
    if (i < 0 || i >= m_presets.size())
        return;
    const TaskPreset &task = m_presets.at(i);
    m_description->setText(task.description);
    QSettings s;
    for (const QString &spec : task.parameters) {
        const Parameter p = parseParameter(spec);
        const QVariant saved = s.value(settingsKey(task.name, p.name), p.defaultValue);
        QWidget *field;
        if (p.type == QLatin1String("int")) {
            auto *spin = new QSpinBox(this);
            spin->setRange(0, 2000000000);
            spin->setGroupSeparatorShown(true);
            spin->setValue(saved.toInt());
            field = spin;
        } else {
            auto *edit = new QLineEdit(saved.toString(), this);
            field = edit;
        }
        field->setObjectName(p.name);
        m_parameters->addRow(p.name + u':', field);
        m_parameterFields.append(field);
    }
    if (task.parameters.isEmpty())
        m_parameters->addRow(new QLabel(QStringLiteral("This task takes no parameters."), this));
}

SubmitDialog::Request SubmitDialog::request() const
{
    Request r;
    r.taskName = m_task->currentText();
    r.count = m_count->value();
    r.taskType = m_taskType->currentText().trimmed();
    r.priority = m_options.priority->value();
    r.attempts = m_options.retries->value();
    for (QWidget *field : m_parameterFields) {
        if (auto *spin = qobject_cast<QSpinBox *>(field))
            r.arguments.append(spin->value());
        else if (auto *edit = qobject_cast<QLineEdit *>(field))
            r.arguments.append(edit->text());
    }
    return r;
}

QString SubmitDialog::errorText() const
{
    return m_error->text();
}

void SubmitDialog::accept()
{
    const QString error = m_submitter ? m_submitter(request()) : QString();
    if (!error.isEmpty()) {
        m_error->setText(error);
        return;
    }
    saveSettings();
    QDialog::accept();
}

void SubmitDialog::saveSettings() const
{
    QSettings s;
    const Request r = request();
    s.setValue(QStringLiteral("submitDialog/task"), r.taskName);
    s.setValue(QStringLiteral("submitDialog/count"), r.count);
    s.setValue(QStringLiteral("submitDialog/taskType"), r.taskType);
    s.setValue(QStringLiteral("submitDialog/priority"), r.priority);
    s.setValue(QStringLiteral("submitDialog/attempts"), r.attempts);
    s.setValue(QStringLiteral("submitDialog/geometry"), saveGeometry());
    for (QWidget *field : m_parameterFields) {
        QVariant value;
        if (auto *spin = qobject_cast<QSpinBox *>(field))
            value = spin->value();
        else if (auto *edit = qobject_cast<QLineEdit *>(field))
            value = edit->text();
        s.setValue(settingsKey(r.taskName, field->objectName()), value);
    }
}

} // namespace procpool::monitor
