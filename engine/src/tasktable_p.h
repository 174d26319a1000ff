// procpool — the process-wide task table (name → invoker), filled by Task<> constructors.
#pragma once

#include <procpool/task.h>

#include <memory>

namespace procpool::detail {

//! Returns the task registered under \a name, or null.
std::shared_ptr<const TaskEntry> findTask(const QString &name);

} // namespace procpool::detail
