// procpool — engine constants that tests may change, to pin behaviour down independently of
// how fast the machine running them is.
#pragma once

#include <procpool/procpool_export.h>

#include <QtCore/QtGlobal>

namespace procpool::detail {

//! Automatic prefetch: a worker running a task and holding one more takes further tasks while
//! the work waiting for it is expected to take less than this many nanoseconds (1 ms).
PROCPOOL_ENGINE_EXPORT qint64 automaticPrefetchBudgetNs();
//! For tests: another budget for pools that dispatch from now on.
PROCPOOL_ENGINE_EXPORT void setAutomaticPrefetchBudgetNs(qint64 ns);

} // namespace procpool::detail
