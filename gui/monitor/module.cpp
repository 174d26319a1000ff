// procpool — the desktop monitor as a loadable module.
//
// The procpool executable links Qt Core only. Its workers are the executable itself, so a
// worker started by the monitor would otherwise map Qt Gui, Widgets and their dependencies
// (some 30 more libraries) at every start for nothing. main() loads this module only when it
// is about to show the window.
#include "monitor.h"

#include "../sampletasks.h"

#include <QtCore/qcompilerdetection.h>

extern "C" Q_DECL_EXPORT int procpool_monitor_main(int argc, char **argv)
{
    // The sample tasks are the executable's (it registers them); Submit offers them by name.
    QList<procpool::monitor::TaskPreset> presets;
    for (const procpool::samples::SampleTask &t : procpool::samples::sampleTasks())
        presets.append({t.name, t.parameters, t.description});
    return procpool::monitor::run(argc, argv, presets);
}
