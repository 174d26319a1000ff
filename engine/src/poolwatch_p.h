// procpool — a worker's watch for the end of its pool (poolwatch.cpp): a non-daemon worker
// whose pool died finishes the call it runs, within that call's time limit, and starts nothing
// more.
#pragma once

#include <QtCore/QtGlobal>

namespace procpool::detail {

//! CLOCK_MONOTONIC in nanoseconds.
qint64 monotonicNs();
//! Starts the watcher on the protocol's output descriptor \a out (after the fork server's fork:
//! a fork server must stay single-threaded). With \a daemon (a daemon worker on another host,
//! which no parent-death signal reaches), the worker ends as soon as its pool is gone, even
//! in the middle of a call.
void startPoolWatch(int out, bool daemon);
//! The loop is about to run call \a id with a time limit of \a limitMs (0: none). Does not
//! return when the pool is gone.
void callStarting(quint64 id, qint64 limitMs);
//! The loop's call ended. Does not return when the pool is gone.
void callEnded();

} // namespace procpool::detail
