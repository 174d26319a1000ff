#include "catalogsubmitdialog.h"

#include <QtCore/QCborValue>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonArray>
#include <QtCore/QRegularExpression>
#include <QtGui/QRegularExpressionValidator>
#include <QtWidgets/QCheckBox>
#include <QtWidgets/QComboBox>
#include <QtWidgets/QDialogButtonBox>
#include <QtWidgets/QDoubleSpinBox>
#include <QtWidgets/QFormLayout>
#include <QtWidgets/QLabel>
#include <QtWidgets/QLineEdit>
#include <QtWidgets/QPlainTextEdit>
#include <QtWidgets/QPushButton>
#include <QtWidgets/QSpinBox>
#include <QtWidgets/QVBoxLayout>

#include <limits>

namespace procpool::monitor {

namespace {

enum class Editor { Int, LongInt, Real, Bool, Text, Json };

Editor editorFor(const QString &type)
{
    static const QStringList ints{QStringLiteral("int"), QStringLiteral("uint"), QStringLiteral("short"),
                                  QStringLiteral("ushort"), QStringLiteral("signed char"), QStringLiteral("uchar")};
    static const QStringList longs{QStringLiteral("qlonglong"), QStringLiteral("qulonglong"),
                                   QStringLiteral("long"), QStringLiteral("ulong")};
    if (ints.contains(type))
        return Editor::Int;
    if (longs.contains(type))
        return Editor::LongInt;
    if (type == u"double" || type == u"float")
        return Editor::Real;
    if (type == u"bool")
        return Editor::Bool;
    if (type == u"QString" || type == u"QByteArray" || type == u"QChar")
        return Editor::Text;
    return Editor::Json;
}

} // namespace

CatalogSubmitDialog::CatalogSubmitDialog(const QString &title, const QList<RemoteTask> &catalogue,
                                         const QString &poolTaskType, Submitter submitter, QWidget *parent)
    : QDialog(parent)
    , m_catalogue(catalogue)
    , m_submitter(std::move(submitter))
    , m_task(new QComboBox(this))
    , m_signature(new QLabel(this))
    , m_arguments(new QFormLayout)
    , m_count(new QSpinBox(this))
    , m_taskType(new QLineEdit(poolTaskType, this))
    , m_options(this)
    , m_error(new QLabel(this))
{
    setWindowTitle(title);
    m_task->setObjectName(QStringLiteral("task"));
    for (const RemoteTask &t : m_catalogue)
        m_task->addItem(t.name);
    m_signature->setWordWrap(true);
    m_signature->setTextFormat(Qt::PlainText);
    m_signature->setStyleSheet(QStringLiteral("color: palette(placeholder-text)"));
    m_count->setRange(1, 100000);
    m_count->setObjectName(QStringLiteral("count"));
    m_taskType->setObjectName(QStringLiteral("taskType"));
    m_taskType->setPlaceholderText(QStringLiteral("none"));
    m_error->setWordWrap(true);
    m_error->setStyleSheet(QStringLiteral("color: #c62828"));
    m_error->hide();

    auto *form = new QFormLayout;
    form->addRow(QStringLiteral("Task:"), m_task);
    form->addRow(QString(), m_signature);
    form->addRow(QStringLiteral("Count:"), m_count);
    form->addRow(QStringLiteral("Task type:"), m_taskType);
    m_options.addRows(form);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Cancel, this);
    buttons->addButton(QStringLiteral("Submit"), QDialogButtonBox::AcceptRole)->setDefault(true);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addLayout(m_arguments);
    layout->addWidget(m_error);
    layout->addWidget(buttons);
    connect(m_task, &QComboBox::currentIndexChanged, this, &CatalogSubmitDialog::showArguments);
    showArguments();
}

void CatalogSubmitDialog::showArguments()
{
    while (m_arguments->rowCount() > 0)
        m_arguments->removeRow(0);
    m_fields.clear();
    const int at = m_task->currentIndex();
    if (at < 0 || at >= m_catalogue.size()) {
        m_signature->setText(QStringLiteral("This process publishes no tasks."));
        return;
    }
    const RemoteTask &task = m_catalogue.at(at);
    m_signature->setText(QStringLiteral("%1(%2) → %3%4")
                             .arg(task.name, task.argumentTypes.join(QStringLiteral(", ")), task.resultType,
                                  task.description.isEmpty() ? QString() : QStringLiteral("\n") + task.description));
    for (qsizetype i = 0; i < task.argumentTypes.size(); ++i) {
        const QString &type = task.argumentTypes.at(i);
        QWidget *field = nullptr;
        switch (editorFor(type)) {
        case Editor::Int: {
            auto *spin = new QSpinBox(this);
            spin->setRange(type.startsWith(u'u') ? 0 : std::numeric_limits<int>::min(), std::numeric_limits<int>::max());
            field = spin;
            break;
        }
        case Editor::LongInt: {
            auto *line = new QLineEdit(QStringLiteral("0"), this);
            line->setValidator(new QRegularExpressionValidator(QRegularExpression(QStringLiteral("-?[0-9]{1,19}")), line));
            field = line;
            break;
        }
        case Editor::Real: {
            auto *spin = new QDoubleSpinBox(this);
            spin->setRange(-1e15, 1e15);
            spin->setDecimals(6);
            field = spin;
            break;
        }
        case Editor::Bool:
            field = new QCheckBox(this);
            break;
        case Editor::Text:
            field = new QLineEdit(this);
            break;
        case Editor::Json: {
            auto *edit = new QPlainTextEdit(this);
            edit->setPlaceholderText(QStringLiteral("JSON, e.g. [1, 2] or {\"key\": \"value\"}"));
            edit->setTabChangesFocus(true);
            edit->setFixedHeight(edit->fontMetrics().height() * 4);
            field = edit;
            break;
        }
        }
        field->setObjectName(QStringLiteral("argument%1").arg(i));
        m_arguments->addRow(QStringLiteral("Argument %1 (%2):").arg(i + 1).arg(type), field);
        m_fields.append(field);
    }
}

CatalogSubmitDialog::Request CatalogSubmitDialog::request(QString *error) const
{
    Request r;
    const int at = m_task->currentIndex();
    if (at < 0 || at >= m_catalogue.size()) {
        *error = QStringLiteral("Choose a task.");
        return r;
    }
    const RemoteTask &task = m_catalogue.at(at);
    for (qsizetype i = 0; i < task.argumentTypes.size() && i < m_fields.size(); ++i) {
        QWidget *field = m_fields.at(i);
        QCborValue value;
        if (auto *spin = qobject_cast<QSpinBox *>(field)) {
            value = spin->value();
        } else if (auto *real = qobject_cast<QDoubleSpinBox *>(field)) {
            value = real->value();
        } else if (auto *box = qobject_cast<QCheckBox *>(field)) {
            value = box->isChecked();
        } else if (auto *line = qobject_cast<QLineEdit *>(field)) {
            if (line->validator()) {
                bool ok = false;
                const qint64 n = line->text().toLongLong(&ok);
                if (!ok) {
                    *error = QStringLiteral("Argument %1 must be an integer.").arg(i + 1);
                    return {};
                }
                value = n;
            } else {
                value = line->text();
            }
        } else if (auto *json = qobject_cast<QPlainTextEdit *>(field)) {
            // Wrapped in an array, so that a bare number or string is JSON too.
            QJsonParseError parse;
            const QJsonDocument doc = QJsonDocument::fromJson(
                QStringLiteral("[%1]").arg(json->toPlainText().trimmed()).toUtf8(), &parse);
            if (parse.error != QJsonParseError::NoError || doc.array().size() != 1) {
                *error = QStringLiteral("Argument %1 (%2) is not one JSON value: %3")
                             .arg(i + 1).arg(task.argumentTypes.at(i),
                                             parse.error != QJsonParseError::NoError ? parse.errorString()
                                                                                     : QStringLiteral("write one value"));
                return {};
            }
            value = QCborValue::fromJsonValue(doc.array().at(0));
        }
        r.arguments.append(value);
        r.shown.append(value.toVariant());
    }
    r.taskName = task.name;
    r.count = m_count->value();
    r.taskType = m_taskType->text().trimmed();
    r.priority = m_options.priority->value();
    r.attempts = m_options.retries->value();
    return r;
}

void CatalogSubmitDialog::accept()
{
    QString error;
    const Request r = request(&error);
    if (error.isEmpty() && m_submitter)
        error = m_submitter(r);
    if (!error.isEmpty()) {
        m_error->setText(error);
        m_error->show();
        return;
    }
    QDialog::accept();
}

} // namespace procpool::monitor
