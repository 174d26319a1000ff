// procpool — what a worker (or a fork server) inherits: its standard descriptors and the ones
// procpool hands it, nothing else.
//
// An application may hold descriptors without close-on-exec (older libraries open them that
// way, a launching shell may pass a pipe end down), and a child inherits every such descriptor
// through fork and exec unless it gets rid of them itself. A worker holding them keeps files
// and pipe ends of the application open for as long as it lives (a pipe's reader never sees
// its end), and hands them on to whatever its tasks start.
//
// Both functions run in a child between fork and exec, or in the fork server's child that runs
// on without exec: async-signal-safe, no allocation. They use close_range() where the kernel
// has it (Linux 5.9, CLOSE_RANGE_CLOEXEC since 5.11) and list /proc/self/fd otherwise.
#pragma once

#include <procpool/procpool_export.h>

namespace procpool::detail {

//! For a child about to exec: marks every descriptor from 3 on close-on-exec, then clears the
//! flag on the \a count descriptors of \a keep (negative entries are skipped), which the
//! program is to inherit. Until the exec, every descriptor still works, the close-on-exec pipe
//! by which QProcess learns of a failed exec included. False if some could not be marked.
PROCPOOL_ENGINE_EXPORT bool inheritOnly(const int *keep, int count);

//! For a child that runs on without exec: makes \a keep[i] descriptor i, for every i below
//! \a count (at least 3: standard input, output and error come first), and closes every
//! other descriptor. \a keep is updated as its descriptors move. False if a descriptor could
//! not be moved or some could not be closed.
PROCPOOL_ENGINE_EXPORT bool keepOnly(int *keep, int count);

//! The same without close_range(), as on kernels before it: for tests of that path.
PROCPOOL_ENGINE_EXPORT bool inheritOnlyWithoutCloseRange(const int *keep, int count);
PROCPOOL_ENGINE_EXPORT bool keepOnlyWithoutCloseRange(int *keep, int count);

} // namespace procpool::detail
