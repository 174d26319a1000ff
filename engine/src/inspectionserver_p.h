// procpool — the inspection server: a local socket per process through which the monitor and
// headless mode of another process see and steer this process's pools (docs/inspection.md).
//
// It runs on a thread of its own ("procpool inspect"), never on the engine thread: whatever a
// client does, it costs the engine nothing but the thread-safe reads every monitor makes. Reads
// (snapshots, deltas) happen on that thread; commands that need a manager run on the registry's
// thread, where managers are created and deleted.
#pragma once

namespace procpool::detail {

//! Opens this process's socket unless the mode is Off; called when the registry is created.
void startInspection();

} // namespace procpool::detail
