// procpool monitor — a small demonstration workload: a few namespaces with running, finished
// and failed tasks, a worker crash and a broken pool. Used by --screenshot and --demo.
#pragma once

#include <QtCore/QObject>

namespace procpool::monitor {

class MainWindow;

//! Starts the workload's pools and submits its tasks through \a window (so that the monitor
//! knows their arguments and results). Pools are daemon pools where tasks run long, so that
//! quitting never waits for them.
void startDemoWorkload(MainWindow *window);

} // namespace procpool::monitor
