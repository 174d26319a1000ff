// procpool — the desktop monitor as a loadable module.
//
// The procpool executable links Qt Core only. Its workers are the executable itself, so a
// worker started by the monitor would otherwise map Qt Gui, Widgets and their dependencies
// (some 30 more libraries) at every start for nothing. main() loads this module only when it
// is about to show the window.
#include "monitor.h"

#include <QtCore/qcompilerdetection.h>

extern "C" Q_DECL_EXPORT int procpool_monitor_main(int argc, char **argv)
{
    return procpool::monitor::run(argc, argv);
}
