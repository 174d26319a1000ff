// procpool — reading the hosts a pool's workers run on: one entry, a hostfile, a Slurm
// allocation (PoolOptions::hosts, docs/remote.md).
#pragma once

#include <procpool/options.h>

namespace procpool {

//! One host entry: "HOST", "HOST:SLOTS", or "SLOTS/HOST" as in GNU parallel's
//! --sshloginfile; ":" or ":SLOTS" is this machine. Throws std::invalid_argument with what
//! is wrong and how to write it.
PROCPOOL_ENGINE_EXPORT WorkerHost parseHost(const QString &text, const Launcher &launcher);

//! A hostfile: one entry per line as parseHost() reads it; blank lines and '#' comments are
//! skipped. Throws std::invalid_argument naming the file and line of a bad entry, or saying
//! why it cannot be read.
PROCPOOL_ENGINE_EXPORT QList<WorkerHost> readHostfile(const QString &path, const Launcher &launcher);

//! The nodes of the Slurm allocation this process runs in (`salloc -N4 APP`), each with as
//! many slots as the allocation gives it CPUs: SLURM_JOB_NODELIST expanded by `scontrol show
//! hostnames`, SLURM_JOB_CPUS_PER_NODE read as Slurm writes it ("4(x2),2"). Throws
//! std::runtime_error outside an allocation, or when scontrol cannot be run.
PROCPOOL_ENGINE_EXPORT QList<WorkerHost> slurmAllocationHosts(const Launcher &launcher = Launcher::slurm());

} // namespace procpool
