// procpool monitor — NamespaceModel: creator process → namespace → manager, live.
#pragma once

#include "enginewatcher.h"

#include <QtCore/QAbstractItemModel>

#include <memory>
#include <vector>

namespace procpool::monitor {

class NamespaceModel : public QAbstractItemModel
{
    Q_OBJECT
public:
    enum Column { Name, State, TaskTypeColumn, MaxWorkers, Workers, Daemon, Prefix, Done, Failed, ColumnCount };
    enum Role {
        ManagerRole = Qt::UserRole + 1, //!< ManagerView::key (quintptr) of manager rows
        NodeKindRole,                   //!< NodeKind
        NamespaceRole,                  //!< the namespace id of namespace and manager rows
        ProcessRole,                    //!< the pid of the process a row belongs to
        RemoteRole,                     //!< bool: the row belongs to an attached process
    };
    enum class NodeKind { Process, Namespace, Manager };

    explicit NamespaceModel(EngineWatcher *watcher, QObject *parent = nullptr);
    ~NamespaceModel() override;

    QModelIndex index(int row, int column, const QModelIndex &parent = {}) const override;
    QModelIndex parent(const QModelIndex &child) const override;
    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    //! The ManagerView::key of the manager a row stands for: the manager row itself, or a
    //! namespace's registered one; 0 for none.
    static quintptr keyAt(const QModelIndex &index);
    //! The row of the manager with ManagerView::key \a key, or an invalid index.
    QModelIndex indexOf(quintptr key) const;
    QModelIndex indexOf(const ProcessPoolManager *manager) const { return indexOf(quintptr(manager)); }
    //! The top-level row of process \a pid, or an invalid index.
    QModelIndex indexOfProcess(qint64 pid) const;

private:
    //! What a process row shows.
    struct ProcessLabel
    {
        QString label;
        QString status; //!< attached processes only
        QString tip;
        bool remote = false;
        bool operator==(const ProcessLabel &) const = default;
    };
    struct Node;
    void update();
    QModelIndex indexOfNode(const Node *node, int column = 0) const;
    Node *nodeAt(const QModelIndex &index) const;
    struct Desired;
    void sync(Node *parent, const std::vector<Desired> &desired);

    EngineWatcher *m_watcher;
    std::unique_ptr<Node> m_root;
};

} // namespace procpool::monitor
