// procpool headless mode — where a pool's workers run: --host, --hostfile and --launcher of a
// section, made into PoolOptions::hosts (procpool/hosts.h reads the entries).
#pragma once

#include "options.h"

namespace procpool::headless {

//! Takes --host, --hostfile or --launcher (\a flag) with \a value into \a pool's section, as
//! written: --launcher may come after the hosts it reaches. Throws UsageError for a second
//! --launcher.
void addHostFlag(PoolSpec &pool, const QString &flag, const QString &value);

//! Sets \a pool's options.hosts from its section's flags, and its maxWorkers to their slots.
//! --launcher slurm alone takes the nodes of the Slurm allocation. Throws UsageError with what
//! is wrong: an entry, a hostfile or a launcher that cannot be read, a launcher without hosts,
//! --workers beside hosts.
void applyHostFlags(PoolSpec &pool);

} // namespace procpool::headless
