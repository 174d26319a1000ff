// procpool monitor — icons and the colours that stand for states, in one place.
#pragma once

#include <QtGui/QColor>
#include <QtGui/QIcon>

namespace procpool::monitor::style {

//! The SVG icon resources/icons/NAME.svg (compiled into the executable).
QIcon icon(const char *name);
//! The colour of a pool, worker or task state name ("running", "crashed", "failed", ...).
QColor stateColor(const QString &state);
//! A small filled circle in stateColor(state).
QIcon stateDot(const QString &state);
//! "12.3 MiB"
QString formatBytes(qint64 bytes);
//! "2h 05m", "4m 10s", "12s", "850 ms"
QString formatDuration(qint64 ms);

} // namespace procpool::monitor::style
