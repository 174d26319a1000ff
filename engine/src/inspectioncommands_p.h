// procpool — the inspection commands that need a pool manager (docs/inspection.md).
#pragma once

#include <procpool/detail/inspectionframe.h>

#include <procpool/processpoolmanager.h>

#include <optional>

namespace procpool::detail {

//! Registry thread, where managers are created and deleted: carries out \a request (start,
//! stop, stop now, terminate, resize, submit); the id and future of a submission. \a hosts are
//! a start's (decodeInspectionHosts()). Throws what went wrong, as std::exception.
std::optional<ProcessPoolManager::TrackedTask>
runInspectionCommand(const InspectionRequest &request,
                     const std::optional<QList<WorkerHost>> &hosts = std::nullopt);

} // namespace procpool::detail
