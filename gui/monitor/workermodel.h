// procpool monitor — WorkerModel: the worker processes of every pool, live, plus the ones
// that ended recently (shown as crashed or exited for a while, from workerExited).
#pragma once

#include "enginewatcher.h"
#include "procstat_p.h" // the engine's reader of /proc

#include <QtCore/QAbstractTableModel>
#include <QtCore/QElapsedTimer>

namespace procpool::monitor {

class WorkerModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { Pid, Name, Slot, Host, Namespace, State, CurrentTask, Done, Failures, Cpu, Memory, Uptime, Restarts, ColumnCount };
    enum Role {
        ManagerRole = Qt::UserRole + 1, //!< ManagerView::key of its pool (quintptr)
        PidRole,
        AliveRole, //!< false once the worker has ended
    };

    explicit WorkerModel(EngineWatcher *watcher, QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    //! How long an ended worker stays in the list; 60 s by default.
    void setEndedRetentionMs(qint64 ms) { m_retentionMs = ms; }
    //! The row of worker \a pid, or -1.
    int rowOf(qint64 pid) const { return m_rowOfPid.value(pid, -1); }

private:
    struct Row
    {
        qint64 pid = 0;
        QString name;
        int slot = -1; //!< WorkerInfo::slot; -1 until a snapshot has said
        QString host;  //!< WorkerInfo::host: empty on this machine
        QString reportedHost;
        qint64 remotePid = 0;
        QString namespaceId;
        quintptr key = 0; //!< ManagerView::key of its pool
        QString state; //!< a WorkerState name, or "exited" / "crashed" once ended
        QString currentTask;
        quint64 done = 0;
        quint64 failed = 0;
        double cpu = 0;
        qint64 rss = 0;
        QDateTime startedAt;
        qint64 uptimeSeconds = 0;
        quint64 restarts = 0;
        bool ended = false;
        qint64 endedAtMs = 0;
        QString exitReason;
        bool operator==(const Row &) const = default;
    };
    void update();
    //! The Host cell's tooltip: the host name and pid the worker reported there, when known.
    static QVariant hostToolTip(const Row &r);
    Row *rowFor(qint64 pid);
    void append(Row &&row);
    void dropRows(const QList<int> &sortedRows);

    EngineWatcher *m_watcher;
    QList<Row> m_rows;
    QHash<qint64, int> m_rowOfPid;
    detail::ProcStatSampler m_sampler;
    QElapsedTimer m_clock;
    qint64 m_lastSampleMs = -1000000;
    qint64 m_retentionMs = 60000;
};

} // namespace procpool::monitor
