// procpool — the hosts of an inspection `start` (docs/inspection.md). A client may say where a
// pool's workers run and how many on each host, never what command starts them: a Command
// launcher is refused, and of ssh's and srun's options only those that cannot make this process
// (or the host's shell) run a command of the client's choosing are passed on.
#pragma once

#include <procpool/options.h>

#include <QtCore/QCborMap>
#include <QtCore/QList>
#include <QtCore/QString>

#include <optional>

namespace procpool::detail {

//! Most options a host's launcher may carry in a `start`.
constexpr qsizetype maxInspectionLauncherOptions = 32;

//! The "hosts" of start request \a message into \a hosts: nullopt when it names none (the pool
//! keeps the hosts it last had), an empty list for this machine alone. False and why when it is
//! not an array of hosts in range, or names a launcher a client may not choose.
bool decodeInspectionHosts(const QCborMap &message, std::optional<QList<WorkerHost>> *hosts,
                           QString *error);

} // namespace procpool::detail
