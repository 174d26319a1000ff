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
        ManagerRole = Qt::UserRole + 1, //!< ProcessPoolManager * (as quintptr), manager rows only
        NodeKindRole,                   //!< NodeKind
        NamespaceRole,                  //!< the namespace id of namespace and manager rows
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

    //! The manager a row stands for: the manager row itself, or a namespace's registered one.
    static ProcessPoolManager *managerAt(const QModelIndex &index);
    //! The row of \a manager, or an invalid index.
    QModelIndex indexOf(const ProcessPoolManager *manager) const;

private:
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
