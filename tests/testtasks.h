// procpool tests — tasks shared by the suites (declared in testtasks.cpp).
#pragma once

#include <procpool/task.h>

#include <QtCore/QVariant>

namespace tasks {
extern const procpool::Task<int(int, int)> add;
extern const procpool::Task<int(int)> increment;
extern const procpool::Task<qint64()> pid;                //!< the worker's pid
extern const procpool::Task<QString()> comm;              //!< /proc/self/comm of the worker
extern const procpool::Task<QString()> cmdline;           //!< /proc/self/cmdline, NULs as spaces
extern const procpool::Task<void(QString)> touch;         //!< creates a file
extern const procpool::Task<int(int, QString)> sleepThenTouch; //!< sleeps ms, then creates a file
extern const procpool::Task<int(QString)> throwRuntime;   //!< throws std::runtime_error
extern const procpool::Task<int()> throwInt;              //!< throws an int
extern const procpool::Task<int(QString)> printBoth;      //!< prints to stdout and stderr
extern const procpool::Task<int(int)> sleepMs;
extern const procpool::Task<int()> segfault;
extern const procpool::Task<QVariant(QVariant)> echoVariant;
extern const procpool::Task<QByteArray(QByteArray)> echoBytes;
extern const procpool::Task<QStringList(QString, int)> nested; //!< runs a nested pool
//! Writes that many numbered lines to stderr, then waits until its pool has read them all.
extern const procpool::Task<int(int)> floodStderr;
} // namespace tasks
