#pragma once

#include "submitdialog.h"

namespace procpool::monitor {
//! `procpool`: the desktop monitor; Submit offers \a presets on this process's pools.
int run(int argc, char **argv, const QList<TaskPreset> &presets);
} // namespace procpool::monitor
