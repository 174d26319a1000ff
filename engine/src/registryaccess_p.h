// procpool — what the engine's own parts (the inspection server) read of the registry and its
// managers, past their public API.
#pragma once

#include <procpool/options.h>

#include <QtCore/QString>

#include <memory>
#include <vector>

namespace procpool {
class ProcessPoolManager;
}

namespace procpool::detail {

class PoolCore;

//! One manager of this process as the registry holds it.
struct ManagerView
{
    QString namespaceId;
    qint64 creatorPid = 0;
    PoolOptions options;
    std::shared_ptr<PoolCore> core; //!< null while no pool runs; keeps it alive while read
};

struct RegistryAccess
{
    //! This process's managers in namespace order, read under the registry's lock, so that
    //! none is deleted meanwhile. Any thread.
    static std::vector<ManagerView> views();
    //! The manager of namespace \a id in this process, or nullptr. For use on the registry's
    //! thread, where managers are deleted.
    static ProcessPoolManager *find(const QString &id);
    //! The pool core of \a manager, or null.
    static std::shared_ptr<PoolCore> coreOf(const ProcessPoolManager *manager);
};

} // namespace procpool::detail
