// procpool monitor — File › Attach to Process…: this user's running procpool applications (every
// inspection socket that answers), with a filter, as debuggers list the processes to attach to.
#pragma once

#include <QtWidgets/QDialog>

class QLineEdit;
class QTreeWidget;

namespace procpool::monitor {

class RemoteProcess;

class AttachDialog : public QDialog
{
    Q_OBJECT
public:
    //! \a attached: pids already shown (listed, but not offered again).
    explicit AttachDialog(const QList<qint64> &attached, QWidget *parent = nullptr);

    //! The processes chosen.
    QList<qint64> selectedPids() const;
    //! Lists the processes again.
    void refresh();
    QTreeWidget *list() const { return m_list; }

private:
    void applyFilter();
    void showProbe(RemoteProcess *process);

    QList<qint64> m_attached;
    QLineEdit *m_filter;
    QTreeWidget *m_list;
    QList<RemoteProcess *> m_probes;
};

} // namespace procpool::monitor
