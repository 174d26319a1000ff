// procpool monitor — FutureModel: every task of every pool, from ProcessPool::taskRecords(),
// merged by id with what the monitor submitted itself (arguments, QFuture, result).
//
// The history is bounded (10,000 finished tasks by default; queued and running ones are always
// kept), and the counters cover every task ever seen. Updates arrive once per poll: changed
// rows are announced with one dataChanged per contiguous run and new rows with one
// rowsInserted, never one signal per task.
#pragma once

#include "enginewatcher.h"

#include <QtCore/QAbstractTableModel>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFuture>
#include <QtCore/QSortFilterProxyModel>

#include <array>
#include <optional>



namespace procpool::monitor {

class FutureModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { Id, Task, Type, Namespace, State, Worker, Priority, Attempts, Submitted, Started, Finished, Duration, Progress, Outcome, ColumnCount };
    enum Role {
        IdRole = Qt::UserRole + 1, //!< quint64: RecordUpdate::uid (the task id, for this process)
        StateRole,                 //!< TaskState as int
        NamespaceRole,
        TaskTypeRole,
        ProgressValueRole,
        ProgressMaximumRole,
        ProgressTextRole,
        CancellableRole, //!< the monitor holds the future and it has not finished
        SortRole,
    };

    explicit FutureModel(EngineWatcher *watcher, QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    //! Finished tasks kept (oldest dropped first); queued and running tasks are always kept.
    void setHistoryLimit(int limit);
    int historyLimit() const { return m_historyLimit; }

    //! A task the monitor submitted: its row appears at once, with its arguments and future,
    //! and the priority and attempts it was submitted with.
    void addSubmission(const QString &namespaceId, ProcessPoolManager *manager,
                       const QString &taskName, const QString &taskType,
                       const QVariantList &arguments, const ProcessPoolManager::TrackedTask &task,
                       int priority = 0, int maxAttempts = 1);
    //! What an attached process answered to a submission sent from here: its task \a id in
    //! pool \a view, and the result's text or the error.
    void addRemoteOutcome(const ManagerView &view, quint64 id, const QString &taskName,
                          const QVariantList &arguments, const QString &result, const QString &error);
    //! Cancels the tasks of \a ids (IdRole): the futures the monitor holds, or through their
    //! pools; returns how many it cancelled or asked an attached process to cancel.
    int cancel(const QList<quint64> &ids);

    //! Everything known of task \a id, as text for the details pane (empty if unknown).
    QString details(quint64 id) const;
    int rowOf(quint64 id) const;

    //! How many tasks in each TaskState the monitor has seen (history-independent).
    quint64 count(TaskState state) const { return m_counts[size_t(state)]; }
    //! Tasks submitted elsewhere that ended while their pool kept no record of how.
    quint64 lostCount() const { return m_lost; }
    quint64 seen() const { return m_seen; }
    QStringList namespaces() const { return m_namespaces; }
    QStringList taskTypes() const { return m_taskTypes; }

Q_SIGNALS:
    //! A namespace or task type appeared for the first time (for filter menus).
    void vocabularyChanged();

private:
    struct Row
    {
        TaskRecord record;
        QString namespaceId;
        ProcessPoolManager *manager = nullptr;
        quintptr key = 0;  //!< ManagerView::key of its pool
        quint64 uid = 0;   //!< RecordUpdate::uid
        bool own = false;
        bool sentFromHere = false; //!< submitted to an attached process from this monitor
        QVariantList arguments;
        QFuture<QVariant> future;
        bool futureSettled = false; //!< result or error already taken from the future
        QString result;
        //! Submitted elsewhere, and ended without the monitor seeing how: the pool dropped its
        //! record (history limit) between two polls, or the pool is gone.
        bool lost = false;
    };
    void update();
    void merge(const RecordUpdate &update, QList<int> &changed, QList<Row> &added);
    void setState(Row &row, TaskState state);
    bool settleFromFuture(Row &row);
    void appendRows(QList<Row> &&rows);
    void trimHistory();
    void noteVocabulary(const Row &row);
    void announce(QList<int> &changed);
    void reconcileOthers(QList<int> &changed);
    void setLost(Row &row, bool lost);

    EngineWatcher *m_watcher;
    QList<Row> m_rows;
    int m_finishedRows = 0; //!< rows in a final state (what the history limit bounds)
    QHash<quint64, int> m_rowOfId;
    QList<quint64> m_openOwn; //!< ids of own submissions whose future has not settled
    QList<quint64> m_openOthers; //!< ids of other submissions last seen queued or running
    quint64 m_lost = 0;
    QElapsedTimer m_durationClock;
    int m_historyLimit = 10000;
    std::array<quint64, 5> m_counts{};
    quint64 m_seen = 0;
    QStringList m_namespaces, m_taskTypes;
};

//! Filters futures by state, namespace, task type and text.
class FutureFilterModel : public QSortFilterProxyModel
{
    Q_OBJECT
public:
    using QSortFilterProxyModel::QSortFilterProxyModel;
    //! Empty: every state; otherwise the TaskStates shown.
    void setStates(const QList<TaskState> &states);
    void setNamespace(const std::optional<QString> &namespaceId); //!< nullopt: all
    void setTaskType(const std::optional<QString> &taskType);     //!< nullopt: all
    void setText(const QString &text);

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;

private:
    QList<TaskState> m_states;
    std::optional<QString> m_namespace, m_taskType;
    QString m_text;
};

//! The text the monitor shows for a task result.
QString describeValue(const QVariant &value, int maxLength = 200);

} // namespace procpool::monitor
