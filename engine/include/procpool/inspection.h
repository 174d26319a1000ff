// procpool — the inspection socket: how the monitor and headless mode of another process see and
// steer this process's pools (docs/inspection.md).
#pragma once

#include <procpool/procpool_export.h>

#include <QtCore/QString>

namespace procpool {

//! What the inspection socket of this process allows.
enum class InspectionMode {
    Off,      //!< no socket
    ReadOnly, //!< snapshots, deltas and log lines; every command is refused
    Full,     //!< also start, stop, resize, cancel, kill and submit
};

//! The mode of this process: setInspectionMode() if it was called, otherwise the environment
//! variable PROCPOOL_INSPECT (off, read-only or on), otherwise Full.
PROCPOOL_ENGINE_EXPORT InspectionMode inspectionMode();

//! Sets the mode of this process's inspection socket; Off closes it (and removes its file),
//! another mode opens it if a manager exists. Overrides PROCPOOL_INSPECT.
PROCPOOL_ENGINE_EXPORT void setInspectionMode(InspectionMode mode);

//! The directory of the inspection sockets of this user's processes:
//! $XDG_RUNTIME_DIR/procpool, or /tmp/procpool-UID without XDG_RUNTIME_DIR.
PROCPOOL_ENGINE_EXPORT QString inspectionDirectory();

//! The socket of process \a pid in inspectionDirectory(): PID.sock.
PROCPOOL_ENGINE_EXPORT QString inspectionSocketPath(qint64 pid);

//! The path this process listens on, or an empty string while it does not (the mode is Off,
//! no manager was created yet, or the directory was unsafe: see the warning it printed).
PROCPOOL_ENGINE_EXPORT QString inspectionListeningPath();

} // namespace procpool
