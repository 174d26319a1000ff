// procpool monitor — the "Start pool" dialog: the options of ProcessPoolManager::start().
#pragma once

#include <procpool/options.h>

#include <QtWidgets/QDialog>

class QCheckBox;
class QComboBox;
class QDialogButtonBox;
class QLabel;
class QLineEdit;
class QSpinBox;

namespace procpool::monitor {

class StartPoolDialog : public QDialog
{
    Q_OBJECT
public:
    explicit StartPoolDialog(const QString &namespaceId, QWidget *parent = nullptr);

    //! The options entered (valid once validationError() is empty).
    PoolOptions options() const;
    //! Why the input cannot be started, or empty. Shown under the fields as the user types.
    QString validationError() const;

    //! The dialog's fields, for tests.
    QSpinBox *maxWorkersField() const { return m_maxWorkers; }
    QLineEdit *taskTypeField() const { return m_taskType; }
    QCheckBox *daemonField() const { return m_daemon; }
    QLineEdit *prefixField() const { return m_prefix; }
    QLineEdit *programField() const { return m_program; }
    QComboBox *startMethodField() const { return m_startMethod; }
    //! PoolOptions::softMemoryLimit and hardMemoryLimit, in MiB; 0: none.
    QSpinBox *softMemoryField() const { return m_softMemory; }
    QSpinBox *hardMemoryField() const { return m_hardMemory; }
    //! PoolOptions::cancelPolicy, as its data.
    QComboBox *cancelPolicyField() const { return m_cancelPolicy; }
    bool isAcceptable() const;

    void accept() override;

private:
    void revalidate();
    void loadSettings();
    void saveSettings() const;

    QSpinBox *m_maxWorkers;
    QLineEdit *m_taskType;
    QCheckBox *m_daemon;
    QLineEdit *m_prefix;
    QLineEdit *m_program;
    QComboBox *m_startMethod;
    QSpinBox *m_softMemory;
    QSpinBox *m_hardMemory;
    QComboBox *m_cancelPolicy;
    QLabel *m_error;
    QDialogButtonBox *m_buttons;
};

} // namespace procpool::monitor
