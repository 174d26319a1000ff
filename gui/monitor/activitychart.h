// procpool monitor — the panels of the Activity chart: completed tasks a second, queue depth,
// busy workers, and the memory of the selected pool's workers drawn under its limits.
#pragma once

#include "enginewatcher.h"

namespace procpool::monitor {

class ChartWidget;
class WorkerModel;

//! The series of the Activity chart, in addActivitySeries() order.
enum ActivitySeries { CompletedSeries, QueueSeries, BusySeries, MemorySeries };

//! Adds the Activity panels to \a chart.
void addActivitySeries(ChartWidget *chart);

//! Appends one sample to each panel: \a rate tasks finished a second, \a totals, and the largest
//! resident size among the live workers in \a workers of pool \a selected (of every pool when
//! null), in MiB, under the selected pool's soft and hard memory limits when they are set.
void sampleActivity(ChartWidget *chart, double rate, const Totals &totals,
                    const ManagerView *selected, const WorkerModel *workers);

} // namespace procpool::monitor
