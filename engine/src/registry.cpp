#include <procpool/processpoolmanager.h>

#include "engine_p.h"
#include "inspectionserver_p.h"
#include "registryaccess_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QThread>

#include <algorithm>
#include <stdexcept>

namespace procpool {

struct ManagerRegistry::Private
{
    mutable QRecursiveMutex mutex; // a manager's constructor registers itself while we create it
    RegistryMap map;
    QList<ProcessPoolManager *> instances;
    QList<ProcessPoolManager *> retired; //!< replaced by forceCreate; alive until exit
};

ManagerRegistry::ManagerRegistry()
    : d(std::make_unique<Private>())
{
}

ManagerRegistry::~ManagerRegistry() = default;

ManagerRegistry *ManagerRegistry::instance()
{
    // Created after the engine, so that the engine (whose destructor drains the pools at exit)
    // outlives it; never deleted, so that managers may be used from static destructors.
    static ManagerRegistry *registry = [] {
        detail::Engine::instance();
        return new ManagerRegistry;
    }();
    return registry;
}

RegistryMap ManagerRegistry::snapshot() const
{
    QMutexLocker locker(&d->mutex);
    return d->map;
}

QList<ProcessPoolManager *> ManagerRegistry::allInstances() const
{
    QMutexLocker locker(&d->mutex);
    return d->instances;
}

void ManagerRegistry::track(ProcessPoolManager *manager)
{
    QMutexLocker locker(&d->mutex);
    d->instances.append(manager);
}

void ManagerRegistry::untrack(ProcessPoolManager *manager)
{
    bool wasRegistered = false;
    {
        QMutexLocker locker(&d->mutex);
        d->instances.removeOne(manager);
        d->retired.removeOne(manager);
        auto pidIt = d->map.find(manager->creatorPid());
        if (pidIt != d->map.end()) {
            for (auto it = pidIt->begin(); it != pidIt->end(); ++it) {
                if (it.value() == manager) {
                    pidIt->erase(it);
                    wasRegistered = true;
                    break;
                }
            }
            if (pidIt->isEmpty())
                d->map.erase(pidIt);
        }
    }
    if (wasRegistered)
        Q_EMIT managerRemoved(manager);
}

bool ManagerRegistry::remove(const QString &id)
{
    const QString ns = id.isEmpty() ? QString::fromUtf16(defaultNamespace) : id;
    ProcessPoolManager *manager = nullptr;
    {
        QMutexLocker locker(&d->mutex);
        auto pidIt = d->map.find(ProcessPoolManager::currentProcessId());
        if (pidIt == d->map.end() || !pidIt->contains(ns))
            return false;
        manager = pidIt->take(ns);
        if (pidIt->isEmpty())
            d->map.erase(pidIt);
    }
    Q_EMIT managerRemoved(manager);
    manager->stop(false); // a non-daemon pool still drains: its core outlives the manager
    if (manager->thread() == QThread::currentThread())
        delete manager;
    else
        manager->deleteLater();
    return true;
}

ProcessPoolManager *getOrCreateProcessManager(const QString &id, bool forceCreate, bool strictlyGet)
{
    if (forceCreate && strictlyGet)
        throw std::invalid_argument("procpool: getOrCreateProcessManager() takes forceCreate or "
                                    "strictlyGet, not both: one asks for a new manager, the other "
                                    "forbids creating one");
    ManagerRegistry *registry = ManagerRegistry::instance();
    detail::startInspection(); // once per process: the socket through which others see it
    const QString ns = id.isEmpty() ? QString::fromUtf16(defaultNamespace) : id;
    const qint64 pid = ProcessPoolManager::currentProcessId();

    ProcessPoolManager *replaced = nullptr;
    ProcessPoolManager *created = nullptr;
    {
        QMutexLocker locker(&registry->d->mutex);
        auto &namespaces = registry->d->map[pid];
        ProcessPoolManager *existing = namespaces.value(ns);
        if (existing && !forceCreate)
            return existing;
        if (!existing && strictlyGet) {
            if (namespaces.isEmpty())
                registry->d->map.remove(pid);
            throw ManagerNotFound(ns);
        }
        created = new ProcessPoolManager(pid);
        created->setNamespaceId(ns);
        if (QCoreApplication *app = QCoreApplication::instance())
            created->moveToThread(app->thread()); // signals are delivered to a living thread
        replaced = existing;
        namespaces.insert(ns, created);
        if (replaced)
            registry->d->retired.append(replaced);
    }
    if (replaced)
        Q_EMIT registry->managerRemoved(replaced);
    Q_EMIT registry->managerAdded(created);
    return created;
}

ProcessPoolManager *getOrCreateProcessManager(const QString &id, ManagerLookup lookup)
{
    return getOrCreateProcessManager(id, lookup == ManagerLookup::ForceCreate,
                                     lookup == ManagerLookup::StrictlyGet);
}

bool removeProcessManager(const QString &id)
{
    return ManagerRegistry::instance()->remove(id);
}

namespace detail {

std::vector<ManagerView> RegistryAccess::views()
{
    ManagerRegistry *registry = ManagerRegistry::instance();
    std::vector<ManagerView> views;
    QMutexLocker locker(&registry->d->mutex);
    const QMap<QString, ProcessPoolManager *> own =
        registry->d->map.value(ProcessPoolManager::currentProcessId());
    for (const auto &[ns, manager] : own.asKeyValueRange())
        views.push_back(ManagerView{ns, manager->creatorPid(), manager->options(), coreOf(manager)});
    return views;
}

ProcessPoolManager *RegistryAccess::find(const QString &id)
{
    ManagerRegistry *registry = ManagerRegistry::instance();
    QMutexLocker locker(&registry->d->mutex);
    return registry->d->map.value(ProcessPoolManager::currentProcessId()).value(id);
}

} // namespace detail

} // namespace procpool
