// procpool — the sample tasks shared by the desktop monitor and headless mode.
#pragma once

#include <QtCore/QList>
#include <QtCore/qcompilerdetection.h>
#include <QtCore/QString>
#include <QtCore/QStringList>

namespace procpool::samples {

struct SampleTask
{
    QString name;        //!< the registered task name
    QStringList parameters; //!< "name:type=default", in argument order
    QString description; //!< one line
};

//! Every sample task, in the order a menu shows them. Exported from the procpool executable,
//! which registers the tasks, to the monitor module it loads.
Q_DECL_EXPORT const QList<SampleTask> &sampleTasks();

} // namespace procpool::samples
