// procpool — the messages between a pool and a fork server.
//
// A fork server is the worker program started once (PROCPOOL_FORK_SERVER names its end of a
// SOCK_SEQPACKET socket pair) that forks each new worker from itself: the program is already
// loaded and initialised, so a worker starts in a fraction of the time an exec takes.
//
//   server ─► Hello        value: protocol version, status: its pid
//   pool   ─► Spawn        id; status: flags; then "NAME=value\0" entries of the worker's
//                          environment; descriptors: stdin, stdout, stderr [, ring in, ring out]
//   server ─► Spawned      id; value: pid; descriptor: a pidfd of the worker
//   server ─► SpawnFailed  id; value: errno
//   server ─► Exited       id; value: pid; status: the wait status
//
// One message per datagram; both ends are built from this header on the same machine.
#pragma once

#include <QtCore/QtGlobal>

namespace procpool::detail {

struct ForkMessage
{
    enum Kind : quint32 { Hello = 1, Spawn = 2, Spawned = 3, SpawnFailed = 4, Exited = 5 };
    quint32 kind = 0;
    quint32 id = 0;
    qint64 value = 0;
    qint64 status = 0;
};

//! Spawn flags.
inline constexpr qint64 forkSpawnDaemon = 1; //!< the worker dies with its fork server

//! Largest Spawn message (header and environment entries).
inline constexpr int forkMessageMax = 4096;
//! Most descriptors one message carries.
inline constexpr int forkMessageMaxFds = 5;

//! Runs the fork server on \a control (never returns in the server). Returns in each forked
//! worker, with its descriptors and PROCPOOL_* environment in place for workerMain().
void runForkServer(int control);

} // namespace procpool::detail
