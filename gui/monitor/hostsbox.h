// procpool monitor — where a pool's workers run (PoolOptions::hosts), as the Start dialog takes
// it: hostfile lines and a launcher; and how hosts reach an attached process's pool (the
// `hosts` of an inspection `start`).
#pragma once

#include <procpool/options.h>

#include <QtWidgets/QGroupBox>

#include <optional>

class QCborArray;
class QLabel;
class QLineEdit;
class QPlainTextEdit;

namespace procpool::monitor {

class HostsBox : public QGroupBox
{
    Q_OBJECT
public:
    explicit HostsBox(QWidget *parent = nullptr);

    //! The hosts entered: one HOST[:SLOTS] (or SLOTS/HOST, :SLOTS for this machine) a line,
    //! blank lines and '#' comments skipped, each reached by the launcher (empty: ssh). Empty:
    //! the workers run on this machine. nullopt and why (\a error) when a line or the launcher
    //! cannot be read.
    std::optional<QList<WorkerHost>> hosts(QString *error = nullptr) const;
    //! Shows \a hosts as lines, and the launcher of the first one that has one; hasChanged()
    //! is false until the text is edited.
    void setHosts(const QList<WorkerHost> &hosts);
    bool hasChanged() const;
    //! Whether any line names a host: the pool then has as many workers as the hosts' slots.
    bool isEmpty() const;

    //! The fields: hostfile lines, and "ssh", "slurm", "local" or a command.
    QPlainTextEdit *textField() const { return m_text; }
    QLineEdit *launcherField() const { return m_launcher; }

Q_SIGNALS:
    void changed();

private:
    void summarize();

    QPlainTextEdit *m_text;
    QLineEdit *m_launcher;
    QLabel *m_summary;
    QString m_loadedText;
    QString m_loadedLauncher;
};

//! \a hosts as the `hosts` of an inspection `start` (docs/inspection.md). A Command launcher
//! has no place there: the socket refuses it.
QCborArray inspectionHosts(const QList<WorkerHost> &hosts);

} // namespace procpool::monitor
