// procpool — the process-wide task table (name → invoker), filled by Task<> constructors.
#pragma once

#include <procpool/task.h>

#include <memory>

namespace procpool::detail {

//! Returns the task registered under \a name, or null.
std::shared_ptr<const TaskEntry> findTask(const QString &name);

//! A digest of the tasks this process links: each name with its argument and result types.
//! Two builds that can run each other's calls have the same one; a worker's hello carries it,
//! so that a stale build on another host is refused at the handshake. 16 hex digits.
PROCPOOL_ENGINE_EXPORT QString catalogueFingerprint();

} // namespace procpool::detail
