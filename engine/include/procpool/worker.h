// procpool — the worker side.
//
// A worker is this application's own executable started again (or a dedicated program that
// links the same tasks). The first line of main() hands control to the worker loop when the
// process was started as a worker, before any Q*Application exists:
//
//     int main(int argc, char **argv)
//     {
//         procpool::workerMain(argc, argv); // returns at once unless started as a worker
//         QApplication app(argc, argv);
//         ...
//     }
#pragma once

#include <procpool/procpool_export.h>

#include <QtCore/QString>

namespace procpool {

//! If this process was started by procpool as a worker, runs the worker loop and exits the
//! process when the pool lets it go; otherwise returns immediately and does nothing. Started
//! with PROCPOOL_CATALOGUE set, it prints the tasks the program links as JSON (each task's
//! name, description, argument types and result type) and exits: how `procpool --headless
//! --program PATH` learns what another procpool program can run.
PROCPOOL_ENGINE_EXPORT void workerMain(int argc, char **argv);

//! True inside a worker process (after workerMain() took over).
PROCPOOL_ENGINE_EXPORT bool isWorkerProcess();

//! The worker's name (PREFIX-N), or an empty string outside a worker.
PROCPOOL_ENGINE_EXPORT QString workerName();

//! From inside a running task: true once the pool has asked it to stop, because its QFuture
//! was cancelled under PoolOptions::CancelPolicy::Ask (its future stays cancelled, whatever it
//! returns), or because it passed its soft time limit (what it returns or throws then is its
//! outcome). The task returns (or throws) when it sees fit, and its worker takes the next
//! task. As
//! QPromise::isCanceled() is asked in QtConcurrent:
//!     for (const QString &file : files) {
//!         if (procpool::isCancellationRequested())
//!             return done;
//!         done += convert(file);
//!     }
//! Cheap enough for a loop: it looks at what the pool sent at most once a millisecond. False
//! outside a worker. Call it from the thread that runs the task.
PROCPOOL_ENGINE_EXPORT bool isCancellationRequested();

//! From inside a running task: reports progress to the task's QFuture
//! (progressValue(), progressMaximum(), progressText()). Does nothing outside a worker.
PROCPOOL_ENGINE_EXPORT void reportProgress(int value, int maximum = 100,
                                           const QString &text = QString());

} // namespace procpool
