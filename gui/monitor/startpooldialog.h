// procpool monitor — the "Start pool" dialog: the options of ProcessPoolManager::start(), on two
// tabs: the pool itself with the hosts its workers run on, and the limits put on its workers
// (each one, and all together).
#pragma once

#include <procpool/options.h>

#include <QtWidgets/QDialog>

class QCheckBox;
class QComboBox;
class QDialogButtonBox;
class QDoubleSpinBox;
class QFormLayout;
class QGroupBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QSpinBox;
class QTabWidget;

namespace procpool::monitor {

class HostsBox;

class StartPoolDialog : public QDialog
{
    Q_OBJECT
public:
    explicit StartPoolDialog(const QString &namespaceId, QWidget *parent = nullptr);

    //! For a namespace of attached process \a pid, whose pool last ran with \a last: the fields
    //! start from those options, and only what the inspection socket's `start` takes can be
    //! changed (the workers, the hosts and the limits); the rest stays as \a last has it.
    //! Nothing is remembered for the next dialog.
    void setAttached(qint64 pid, const PoolOptions &last);
    bool isAttached() const { return m_attachedPid != 0; }

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
    //! PoolOptions::resourceLimits: nice value (0: inherited), CPU list ("0,2-3"), address
    //! space in MiB and CPU seconds (0: inherited).
    QSpinBox *niceField() const { return m_nice; }
    QLineEdit *cpuAffinityField() const { return m_cpuAffinity; }
    QSpinBox *addressSpaceField() const { return m_addressSpace; }
    QSpinBox *cpuTimeField() const { return m_cpuTime; }
    //! PoolOptions::cgroup: memory in MiB and CPUs (0: none), and the parent cgroup.
    QSpinBox *poolMemoryField() const { return m_poolMemory; }
    QDoubleSpinBox *poolCpusField() const { return m_poolCpus; }
    QLineEdit *cgroupParentField() const { return m_cgroupParent; }
    //! PoolOptions::workerEnvironment: NAME=VALUE lines, {slot} in a value for the worker's slot.
    QPlainTextEdit *workerEnvironmentField() const { return m_environment; }
    //! PoolOptions::hosts: hostfile lines and a launcher; with hosts, Max workers is their slots.
    HostsBox *hostsBox() const { return m_hosts; }
    QTabWidget *tabs() const { return m_tabs; }
    bool isAcceptable() const;

    void accept() override;

private:
    QWidget *poolTab(const QString &namespaceId);
    QWidget *limitsTab();
    void revalidate();
    //! How many limits are set, for the tab's title.
    int limitCount() const;
    void loadSettings();
    void saveSettings() const;
    void loadLimits(const PoolOptions &o);

    QTabWidget *m_tabs;
    QSpinBox *m_maxWorkers;
    QLineEdit *m_taskType;
    QCheckBox *m_daemon;
    QLineEdit *m_prefix;
    QLineEdit *m_program;
    QComboBox *m_startMethod;
    QSpinBox *m_softMemory;
    QSpinBox *m_hardMemory;
    QComboBox *m_cancelPolicy;
    QSpinBox *m_nice;
    QLineEdit *m_cpuAffinity;
    QSpinBox *m_addressSpace;
    QSpinBox *m_cpuTime;
    QSpinBox *m_poolMemory;
    QDoubleSpinBox *m_poolCpus;
    QLineEdit *m_cgroupParent;
    QPlainTextEdit *m_environment;
    HostsBox *m_hosts;
    QFormLayout *m_poolForm = nullptr;
    QGroupBox *m_environmentBox = nullptr;
    QLabel *m_attachedNote = nullptr;
    QLabel *m_error;
    QDialogButtonBox *m_buttons;
    qint64 m_attachedPid = 0;
    PoolOptions m_attachedOptions; //!< what an attached pool last ran with
};

} // namespace procpool::monitor
