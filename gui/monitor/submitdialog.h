// procpool monitor — the "Submit sample tasks" dialog: tasks offered with named parameters and
// defaults (the procpool executable's sample tasks).
#pragma once

#include "submitoptions.h"

#include <QtCore/QStringList>
#include <QtCore/QVariantList>
#include <QtWidgets/QDialog>

#include <functional>

class QComboBox;
class QDialogButtonBox;
class QFormLayout;
class QLabel;
class QSpinBox;

namespace procpool::monitor {

//! A task the dialog offers, with its parameters named.
struct TaskPreset
{
    QString name;           //!< the registered task name
    QStringList parameters; //!< "name:type=default" (type int or string), in argument order
    QString description;    //!< one line
};

class SubmitDialog : public QDialog
{
    Q_OBJECT
public:
    struct Request
    {
        QString taskName;
        QVariantList arguments;
        int count = 1;
        QString taskType;
        int priority = 0; //!< SubmitOptions::priority
        int attempts = 1; //!< attempts in all (RetryPolicy::attempts); 1: no retry
    };
    //! Submits a request; returns an error message (the dialog stays open and shows it, nothing
    //! was submitted) or an empty string (the dialog closes).
    using Submitter = std::function<QString(const Request &)>;

    SubmitDialog(const QList<TaskPreset> &presets, const QString &namespaceId,
                 const QString &poolTaskType, Submitter submitter, QWidget *parent = nullptr);

    Request request() const;
    QString errorText() const;

    //! Fields, for tests.
    QComboBox *taskField() const { return m_task; }
    QComboBox *taskTypeField() const { return m_taskType; }
    QSpinBox *countField() const { return m_count; }
    QSpinBox *priorityField() const { return m_options.priority; }
    QSpinBox *retriesField() const { return m_options.retries; }

    void accept() override;

private:
    void showParameters();
    void saveSettings() const;

    QList<TaskPreset> m_presets;
    Submitter m_submitter;
    QComboBox *m_task;
    QLabel *m_description;
    QFormLayout *m_parameters;
    QList<QWidget *> m_parameterFields;
    QSpinBox *m_count;
    QComboBox *m_taskType;
    SubmitOptionFields m_options;
    QLabel *m_error;
    QDialogButtonBox *m_buttons;
};

} // namespace procpool::monitor
