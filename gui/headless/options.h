// procpool headless mode — the command line, parsed into what to run.
#pragma once

#include "limittext.h"

#include <procpool/options.h>

#include <QtCore/QList>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QVariant>

#include <optional>
#include <stdexcept>
#include <utility>

namespace procpool::headless {

//! Most attempts --retries (and a job's "retries") may ask for.
constexpr int maxAttempts = 1000;

//! One `--submit TASK[:ARG,...]` with its `--count`, `--submit-type`, `--priority` and
//! `--retries`.
struct SubmitSpec
{
    QString text;     //!< as given, for messages
    QString task;
    QVariantList arguments;
    QString taskType; //!< --submit-type: the type the submission carries
    qint64 count = 1;
    int priority = 0; //!< --priority: SubmitOptions::priority
    int attempts = 1; //!< --retries: attempts in all (RetryPolicy::attempts); 1: no retry
    //! The arguments as written; `arguments` holds them converted once the task is known.
    QStringList argumentTexts;
};

//! One `--namespace ID` section: a pool and the submissions aimed at it.
struct PoolSpec
{
    QString namespaceId;
    PoolOptions options;
    QList<SubmitSpec> submits;
    int resize = 0; //!< --resize with --attach; 0: none
    //! --worker-env, as written; options.workerEnvironment is made of them.
    QList<limittext::EnvironmentEntry> workerEnvironment;
    //! --host and --hostfile ("host" or "hostfile" and the value) in order, and --launcher, as
    //! written; options.hosts is made of them once the section is complete (hostflags.h).
    QList<std::pair<QString, QString>> hostSources;
    std::optional<QString> launcher;
    bool workersGiven = false; //!< --workers, which a pool with hosts leaves out
};

enum class Order { Completed, Submitted };
enum class BadLinePolicy { Stop, Skip };

struct Config
{
    QList<PoolSpec> pools; //!< in command-line order; jobs without a namespace go to the first
    QString jobsPath;      //!< --jobs; "-" is stdin; empty: none
    bool json = false;
    Order order = Order::Completed;
    BadLinePolicy onBadLine = BadLinePolicy::Stop;
    bool listTasks = false;
    bool list = false;
    bool watch = false;
    bool ps = false;          //!< --ps
    qint64 attachPid = 0;     //!< --attach; 0: this process runs its own pools
    QStringList stops;        //!< --stop with --attach
    //! Arguments that are values of an option taking two (the N of --resize NS N), which the
    //! command-line parser takes for positional arguments.
    QStringList secondValues;

    bool hasWork() const;
    int totalWorkers() const;
};

//! A command line that cannot be run: the message says what was wrong and what to write.
class UsageError : public std::runtime_error
{
public:
    explicit UsageError(const QString &message) : std::runtime_error(message.toStdString()) {}
};

//! What parsing the command line came to.
struct ParseResult
{
    enum class Action { Run, Help, Error } action = Action::Run;
    Config config;
    QString message; //!< the help text, or the error
};

ParseResult parseCommandLine(const QStringList &arguments);

} // namespace procpool::headless
