// procpool — how a remote worker is started: the launcher's command line around the worker's.
#pragma once

#include <procpool/options.h>

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QString>
#include <QtCore/QStringList>

#include <utility>

namespace procpool::detail {

//! \a word quoted for sh: it reaches the command as one argument, byte for byte.
PROCPOOL_ENGINE_EXPORT QString shellQuote(const QString &word);

struct LaunchCommand
{
    QString program;
    QStringList arguments;
};

//! The command that starts \a program with \a arguments on \a host through its launcher, with
//! \a environment set there and, if not empty, \a workingDirectory as its directory.
PROCPOOL_ENGINE_EXPORT LaunchCommand launchCommand(const WorkerHost &host, const QString &program,
                                                   const QStringList &arguments,
                                                   const QList<std::pair<QByteArray, QByteArray>> &environment,
                                                   const QString &workingDirectory);

} // namespace procpool::detail
