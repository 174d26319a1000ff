// procpool monitor — the submit dialog of an attached process: its own tasks, from the catalogue
// it publishes, with an editor per argument type (a spin box for numbers, a check box for bool,
// a line for text, JSON for anything nested).
#pragma once

#include "remoteprocess.h"
#include "submitoptions.h"

#include <QtCore/QCborArray>
#include <QtWidgets/QDialog>

#include <functional>

class QComboBox;
class QFormLayout;
class QLabel;
class QLineEdit;
class QSpinBox;

namespace procpool::monitor {

class CatalogSubmitDialog : public QDialog
{
    Q_OBJECT
public:
    struct Request
    {
        QString taskName;
        QCborArray arguments;    //!< as the protocol carries them
        QVariantList shown;      //!< the same, for the futures table
        int count = 1;
        QString taskType;
        int priority = 0; //!< SubmitOptions::priority
        int attempts = 1; //!< attempts in all (RetryPolicy::attempts); 1: no retry
    };
    //! Sends a request; an error (the dialog stays open and shows it) or empty (it closes).
    using Submitter = std::function<QString(const Request &)>;

    CatalogSubmitDialog(const QString &title, const QList<RemoteTask> &catalogue,
                        const QString &poolTaskType, Submitter submitter, QWidget *parent = nullptr);

    //! The request the fields describe; empty taskName and \a error when one does not parse.
    Request request(QString *error) const;

    //! Fields, for tests: the task, and the editor of argument \a i.
    QComboBox *taskField() const { return m_task; }
    QWidget *argumentField(int i) const { return m_fields.value(i); }
    QSpinBox *countField() const { return m_count; }

    void accept() override;

private:
    void showArguments();

    QList<RemoteTask> m_catalogue;
    Submitter m_submitter;
    QComboBox *m_task;
    QLabel *m_signature;
    QFormLayout *m_arguments;
    QList<QWidget *> m_fields;
    QSpinBox *m_count;
    QLineEdit *m_taskType;
    SubmitOptionFields m_options;
    QLabel *m_error;
};

} // namespace procpool::monitor
