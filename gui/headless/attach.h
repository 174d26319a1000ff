// procpool headless mode — other processes' pools, through their inspection sockets
// (docs/inspection.md): --ps and --attach PID.
#pragma once

namespace procpool::headless {

struct Config;
class Terminal;

//! --ps: this user's attachable processes. Exit status 0, or 1 when the output closed.
int listProcesses(const Config &config, Terminal &terminal);

//! --attach PID: --list, --submit, --stop and --resize on that process's pools. Exit status 0
//! when everything succeeded, 1 when a task or a command failed, 2 when the process cannot be
//! reached.
int attachTo(const Config &config, Terminal &terminal);

} // namespace procpool::headless
