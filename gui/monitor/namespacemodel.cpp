#include "namespacemodel.h"

#include "style.h"

#include <QtCore/QFileInfo>
#include <QtGui/QFont>

#include <algorithm>

namespace procpool::monitor {

struct NamespaceModel::Node
{
    NodeKind kind = NodeKind::Process;
    QString key; //!< sort and identity key among its siblings
    Node *parent = nullptr;
    std::vector<std::unique_ptr<Node>> children;
    qint64 creatorPid = 0;
    QString namespaceId;
    ManagerView view; //!< manager rows; a namespace row mirrors its registered manager
    ProcessLabel process; //!< process rows

    int row() const
    {
        if (!parent)
            return 0;
        for (size_t i = 0; i < parent->children.size(); ++i)
            if (parent->children[i].get() == this)
                return int(i);
        return 0;
    }
};

struct NamespaceModel::Desired
{
    QString key;
    NodeKind kind;
    qint64 creatorPid = 0;
    QString namespaceId;
    ManagerView view;
    std::vector<Desired> children;
    ProcessLabel process;
};

namespace {

QString remoteStatus(const RemoteProcess &remote)
{
    switch (remote.status()) {
    case RemoteProcess::Status::Connecting: return QStringLiteral("attaching");
    case RemoteProcess::Status::Attached: return remote.readOnly() ? QStringLiteral("attached, read-only")
                                                                   : QStringLiteral("attached");
    case RemoteProcess::Status::Exited: return QStringLiteral("exited");
    case RemoteProcess::Status::Failed: return QStringLiteral("unreachable");
    }
    return {};
}

} // namespace

NamespaceModel::NamespaceModel(EngineWatcher *watcher, QObject *parent)
    : QAbstractItemModel(parent)
    , m_watcher(watcher)
    , m_root(std::make_unique<Node>())
{
    connect(watcher, &EngineWatcher::polled, this, &NamespaceModel::update);
    update();
}

NamespaceModel::~NamespaceModel() = default;

NamespaceModel::Node *NamespaceModel::nodeAt(const QModelIndex &index) const
{
    return index.isValid() ? static_cast<Node *>(index.internalPointer()) : m_root.get();
}

QModelIndex NamespaceModel::indexOfNode(const Node *node, int column) const
{
    if (!node || node == m_root.get())
        return {};
    return createIndex(node->row(), column, const_cast<Node *>(node));
}

QModelIndex NamespaceModel::index(int row, int column, const QModelIndex &parent) const
{
    const Node *p = nodeAt(parent);
    if (row < 0 || column < 0 || column >= ColumnCount || size_t(row) >= p->children.size())
        return {};
    return createIndex(row, column, p->children[size_t(row)].get());
}

QModelIndex NamespaceModel::parent(const QModelIndex &child) const
{
    if (!child.isValid())
        return {};
    return indexOfNode(nodeAt(child)->parent);
}

int NamespaceModel::rowCount(const QModelIndex &parent) const
{
    if (parent.column() > 0)
        return 0;
    return int(nodeAt(parent)->children.size());
}

int NamespaceModel::columnCount(const QModelIndex &) const
{
    return ColumnCount;
}

QVariant NamespaceModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal)
        return {};
    static const char *const titles[ColumnCount] = {"Namespace", "State",  "Task type",
                                                    "Max",       "Workers", "Daemon",
                                                    "Prefix",    "Done",    "Failed"};
    if (role == Qt::DisplayRole)
        return QString::fromLatin1(titles[section]);
    if (role == Qt::ToolTipRole && section == MaxWorkers)
        return QStringLiteral("Maximum number of worker processes");
    return {};
}

quintptr NamespaceModel::keyAt(const QModelIndex &index)
{
    return index.siblingAtColumn(0).data(ManagerRole).value<quintptr>();
}

QModelIndex NamespaceModel::indexOf(quintptr key) const
{
    for (const auto &process : m_root->children)
        for (const auto &ns : process->children)
            for (const auto &m : ns->children)
                if (m->view.key == key)
                    return indexOfNode(m.get());
    return {};
}

QModelIndex NamespaceModel::indexOfProcess(qint64 pid) const
{
    for (const auto &process : m_root->children)
        if (process->creatorPid == pid)
            return indexOfNode(process.get());
    return {};
}

QVariant NamespaceModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid())
        return {};
    const Node *node = nodeAt(index);
    const ManagerView &v = node->view;
    const bool hasView = v.key != 0;
    switch (role) {
    case ManagerRole:
        if (node->kind == NodeKind::Namespace && !node->children.empty()
            && node->children.front()->view.registered)
            return QVariant::fromValue(node->children.front()->view.key);
        return hasView ? QVariant::fromValue(v.key) : QVariant();
    case NodeKindRole:
        return int(node->kind);
    case NamespaceRole:
        return node->namespaceId;
    case ProcessRole:
        return node->creatorPid;
    case RemoteRole:
        return node->process.remote;
    case Qt::ToolTipRole:
        if (node->kind == NodeKind::Process)
            return node->process.tip;
        return hasView ? QVariant(v.description) : QVariant(); // never touches the manager
    case Qt::DecorationRole:
        if (index.column() == Name) {
            switch (node->kind) {
            case NodeKind::Process: return style::icon("process");
            case NodeKind::Namespace: return style::icon("namespace");
            case NodeKind::Manager: return style::icon("manager");
            }
        }
        if (index.column() == State && hasView)
            return style::stateDot(v.displayState());
        if (index.column() == State && node->kind == NodeKind::Process && node->process.remote)
            return style::stateDot(node->process.status == u"exited" || node->process.status == u"unreachable"
                                       ? stateName(PoolState::Broken) : stateName(PoolState::Running));
        return {};
    case Qt::FontRole:
        if (node->kind != NodeKind::Manager && index.column() == Name) {
            QFont font;
            font.setBold(true);
            return font;
        }
        return {};
    case Qt::ForegroundRole:
        if (index.column() == State && hasView)
            return style::stateColor(v.displayState());
        return {};
    case Qt::TextAlignmentRole:
        if (index.column() >= MaxWorkers && index.column() != Prefix && index.column() != Daemon)
            return int(Qt::AlignRight | Qt::AlignVCenter);
        return {};
    case Qt::DisplayRole:
        break;
    default:
        return {};
    }

    if (index.column() == Name) {
        switch (node->kind) {
        case NodeKind::Process:
            return node->process.label;
        case NodeKind::Namespace:
            return node->namespaceId.isEmpty() ? QStringLiteral("(not registered)") : node->namespaceId;
        case NodeKind::Manager:
            return v.registered ? QStringLiteral("manager")
                                : (v.namespaceId.isEmpty() ? QStringLiteral("manager (unregistered)")
                                                           : QStringLiteral("manager (replaced)"));
        }
    }
    if (node->kind == NodeKind::Process && index.column() == State)
        return node->process.status;
    if (node->kind != NodeKind::Manager || !hasView)
        return {};
    const bool pool = v.state != PoolState::Stopped || v.stopping;
    switch (index.column()) {
    case State: return v.displayState();
    case TaskTypeColumn:
        return v.options.taskType.isEmpty() ? QStringLiteral("any") : v.options.taskType;
    case MaxWorkers: return v.options.maxWorkers;
    case Workers: return v.hasPool ? QVariant(int(v.workers.size())) : QVariant();
    case Daemon: return pool ? QVariant(v.options.daemon ? QStringLiteral("yes") : QStringLiteral("no")) : QVariant();
    case Prefix:
        return v.options.processNamePrefix.isEmpty() && pool ? QStringLiteral("procpool")
                                                             : v.options.processNamePrefix;
    case Done: return v.hasPool ? QVariant(v.stats.completed) : QVariant();
    case Failed: return v.hasPool ? QVariant(v.stats.failed) : QVariant();
    default: return {};
    }
}

void NamespaceModel::update()
{
    // The tree the registry describes now: creator process → namespace → manager.
    std::vector<Desired> processes;
    auto child = [](std::vector<Desired> &list, const QString &key) -> Desired & {
        auto it = std::find_if(list.begin(), list.end(), [&](const Desired &d) { return d.key == key; });
        if (it != list.end())
            return *it;
        list.push_back(Desired{key, NodeKind::Process, 0, {}, {}, {}, {}});
        return list.back();
    };
    auto processKey = [](qint64 pid) { return QStringLiteral("%1").arg(pid, 12, 10, QLatin1Char('0')); };
    for (const ProcessView &p : m_watcher->processes()) {
        Desired &process = child(processes, processKey(p.pid));
        process.kind = NodeKind::Process;
        process.creatorPid = p.pid;
        if (!p.remote) {
            const bool self = p.pid == ProcessPoolManager::currentProcessId();
            process.process.label = self ? QStringLiteral("this process (pid %1)").arg(p.pid)
                                         : QStringLiteral("pid %1").arg(p.pid);
            process.process.tip = self ? QStringLiteral("Managers created by this process (%1)").arg(p.pid)
                                       : QStringLiteral("Managers created by process %1").arg(p.pid);
            continue;
        }
        const QString program = QFileInfo(p.remote->program()).fileName();
        process.process.remote = true;
        process.process.label = program.isEmpty() ? QStringLiteral("pid %1").arg(p.pid)
                                                  : QStringLiteral("%1 (pid %2)").arg(program).arg(p.pid);
        process.process.status = remoteStatus(*p.remote);
        process.process.tip = QStringLiteral("%1\nAttached through its inspection socket%2")
                                  .arg(p.remote->program().isEmpty() ? QStringLiteral("process %1").arg(p.pid)
                                                                     : p.remote->arguments().join(u' '),
                                       p.remote->statusText().isEmpty() ? QString()
                                                                        : QStringLiteral(": ") + p.remote->statusText());
    }
    for (const ManagerView &v : m_watcher->managers()) {
        Desired &process = child(processes, processKey(v.creatorPid));
        if (process.process.label.isEmpty()) { // a process that created managers here, then forked
            process.kind = NodeKind::Process;
            process.creatorPid = v.creatorPid;
            process.process.label = QStringLiteral("pid %1").arg(v.creatorPid);
            process.process.tip = QStringLiteral("Managers created by process %1").arg(v.creatorPid);
        }
        Desired &ns = child(process.children, v.namespaceId);
        ns.kind = NodeKind::Namespace;
        ns.creatorPid = v.creatorPid;
        ns.namespaceId = v.namespaceId;
        // The registered manager first, then replaced or unregistered ones by address.
        const QString key = (v.registered ? QStringLiteral("0") : QStringLiteral("1"))
                            + QStringLiteral("%1").arg(v.key, 16, 16, QLatin1Char('0'));
        Desired &m = child(ns.children, key);
        m.kind = NodeKind::Manager;
        m.creatorPid = v.creatorPid;
        m.namespaceId = v.namespaceId;
        m.view = v;
    }
    auto sortTree = [](auto &self, std::vector<Desired> &list) -> void {
        std::sort(list.begin(), list.end(), [](const Desired &a, const Desired &b) { return a.key < b.key; });
        for (Desired &d : list)
            self(self, d.children);
    };
    sortTree(sortTree, processes);
    sync(m_root.get(), processes);
}

void NamespaceModel::sync(Node *parent, const std::vector<Desired> &desired)
{
    const QModelIndex parentIndex = indexOfNode(parent);
    // Rows that are gone, from the end so that indexes stay valid.
    for (int i = int(parent->children.size()) - 1; i >= 0; --i) {
        const QString &key = parent->children[size_t(i)]->key;
        const bool keep = std::any_of(desired.begin(), desired.end(),
                                      [&](const Desired &d) { return d.key == key; });
        if (!keep) {
            beginRemoveRows(parentIndex, i, i);
            parent->children.erase(parent->children.begin() + i);
            endRemoveRows();
        }
    }
    // Both lists are sorted by key and the children are a subsequence of the desired list.
    for (size_t j = 0; j < desired.size(); ++j) {
        const Desired &d = desired[j];
        if (j >= parent->children.size() || parent->children[j]->key != d.key) {
            beginInsertRows(parentIndex, int(j), int(j));
            auto node = std::make_unique<Node>();
            node->kind = d.kind;
            node->key = d.key;
            node->parent = parent;
            node->creatorPid = d.creatorPid;
            node->namespaceId = d.namespaceId;
            node->view = d.view;
            node->process = d.process;
            parent->children.insert(parent->children.begin() + qsizetype(j), std::move(node));
            endInsertRows();
        }
        Node *node = parent->children[j].get();
        if (d.kind == NodeKind::Process && !(node->process == d.process)) {
            node->process = d.process;
            Q_EMIT dataChanged(indexOfNode(node, 0), indexOfNode(node, ColumnCount - 1));
        }
        if (d.kind == NodeKind::Manager) {
            const ManagerView &old = node->view;
            const ManagerView &now = d.view;
            const bool changed = old.key != now.key || old.remote != now.remote || old.state != now.state
                                 || old.stopping != now.stopping || old.hasPool != now.hasPool
                                 || old.registered != now.registered
                                 || old.options.maxWorkers != now.options.maxWorkers
                                 || old.options.taskType != now.options.taskType
                                 || old.options.daemon != now.options.daemon
                                 || old.options.processNamePrefix != now.options.processNamePrefix
                                 || old.workers.size() != now.workers.size()
                                 || old.stats.completed != now.stats.completed
                                 || old.stats.failed != now.stats.failed;
            node->view = now;
            if (changed)
                Q_EMIT dataChanged(indexOfNode(node, 0), indexOfNode(node, ColumnCount - 1));
        }
        sync(node, d.children);
    }
}

} // namespace procpool::monitor
