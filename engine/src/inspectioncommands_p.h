// procpool — the inspection commands that need a pool manager (docs/inspection.md).
#pragma once

#include <procpool/detail/inspectionframe.h>

#include <QtCore/QFuture>
#include <QtCore/QVariant>

#include <optional>

namespace procpool::detail {

//! Registry thread, where managers are created and deleted: carries out \a request (start,
//! stop, stop now, terminate, resize, submit); the future of a submission. Throws what went
//! wrong, as std::exception.
std::optional<QFuture<QVariant>> runInspectionCommand(const InspectionRequest &request);

} // namespace procpool::detail
