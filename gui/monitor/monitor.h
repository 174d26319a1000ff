#pragma once

namespace procpool::monitor {
//! `procpool`: the desktop monitor.
int run(int argc, char **argv);
} // namespace procpool::monitor
