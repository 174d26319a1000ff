#include "headless.h"

#include "attach.h"
#include "options.h"
#include "program.h"
#include "runner.h"
#include "signals.h"
#include "taskcall.h"
#include "terminal.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonObject>

#include <algorithm>
#include <map>
#include <csignal>

namespace procpool::headless {
namespace {

//! Exit status of a usage error.
constexpr int usageError = 2;

int listTasks(const Config &config, Terminal &terminal, const QList<TaskSignature> &tasks)
{
    for (const TaskSignature &task : tasks) {
        if (config.json) {
            QJsonArray parameters;
            for (const Parameter &p : task.parameters) {
                QJsonObject parameter{{QStringLiteral("name"), p.name},
                                      {QStringLiteral("type"), typeLabel(p.type)}};
                if (const auto value = defaultValue(p))
                    parameter.insert(QStringLiteral("default"), QJsonValue::fromVariant(*value));
                parameters.append(parameter);
            }
            const QJsonObject object{{QStringLiteral("event"), QStringLiteral("task")},
                                     {QStringLiteral("task"), task.name},
                                     {QStringLiteral("parameters"), parameters},
                                     {QStringLiteral("description"), task.description}};
            if (!terminal.writeLine(jsonLine(object)))
                return 1;
        } else if (!terminal.writeLine(QStringLiteral("%1\n    %2").arg(task.synopsis(), task.description))) {
            return 1;
        }
    }
    return 0;
}

//! Converts the submissions of pools whose workers are another program (--program) with that
//! program's catalogue; false after saying why one does not fit.
bool convertProgramSubmissions(Config &config, Terminal &terminal)
{
    std::map<QString, QCborArray> catalogues;
    for (PoolSpec &pool : config.pools) {
        const QString program = pool.options.startContext.program;
        if (program.isEmpty() || pool.submits.isEmpty())
            continue;
        if (!catalogues.count(program)) {
            QString error;
            const std::optional<QCborArray> catalogue = programCatalogue(program, &error);
            if (!catalogue) {
                terminal.diagnostic(QStringLiteral("procpool: %1").arg(error));
                return false;
            }
            catalogues[program] = *catalogue;
        }
        for (SubmitSpec &submit : pool.submits) {
            QString error;
            const std::optional<TaskSignature> task = catalogueTask(catalogues[program], submit.task, &error);
            const Arguments arguments = task ? argumentsFromText(*task, submit.argumentTexts) : Arguments{};
            if (!task || !arguments.error.isEmpty()) {
                terminal.diagnostic(QStringLiteral("procpool: --submit '%1': %2 (--program %3)")
                                        .arg(submit.text, task ? arguments.error : error, program));
                return false;
            }
            submit.arguments = arguments.values;
        }
    }
    return true;
}

} // namespace

int run(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("procpool"));
    // A closed standard output is seen as a failed write (EPIPE), not as a fatal signal.
    std::signal(SIGPIPE, SIG_IGN);

    Terminal terminal;
    const ParseResult parsed = parseCommandLine(QCoreApplication::arguments());
    if (parsed.action == ParseResult::Action::Help)
        return terminal.writeLine(parsed.message.trimmed()) ? 0 : 1;
    if (parsed.action == ParseResult::Action::Error) {
        terminal.diagnostic(QStringLiteral("procpool: %1\nRun 'procpool --headless --help' for "
                                           "the options.")
                                .arg(parsed.message));
        return usageError;
    }
    Config config = parsed.config;
    if (config.listTasks) {
        const auto withProgram = std::find_if(config.pools.cbegin(), config.pools.cend(), [](const PoolSpec &p) {
            return !p.options.startContext.program.isEmpty();
        });
        if (withProgram == config.pools.cend())
            return listTasks(config, terminal, allTasks());
        QString error;
        const std::optional<QCborArray> catalogue = programCatalogue(withProgram->options.startContext.program, &error);
        if (!catalogue) {
            terminal.diagnostic(QStringLiteral("procpool: %1").arg(error));
            return usageError;
        }
        QStringList skipped;
        const int status = listTasks(config, terminal, catalogueTasks(*catalogue, &skipped));
        for (const QString &why : std::as_const(skipped))
            terminal.diagnostic(QStringLiteral("procpool: not listed: %1").arg(why));
        return status;
    }
    if (config.ps)
        return listProcesses(config, terminal);
    if (config.attachPid > 0) {
        if (!config.hasWork() && !config.list && !config.watch && config.stops.isEmpty()
            && std::none_of(config.pools.cbegin(), config.pools.cend(),
                            [](const PoolSpec &p) { return p.resize > 0; })) {
            terminal.diagnostic(QStringLiteral("procpool: --attach needs something to do: --list, "
                                               "--watch, --submit, --stop or --resize (see --help)"));
            return usageError;
        }
        return attachTo(config, terminal);
    }
    if (!config.hasWork() && !config.list) {
        terminal.diagnostic(QStringLiteral("procpool: nothing to do: give --submit, --jobs, "
                                           "--list, --list-tasks, --ps or --attach (see --help)"));
        return usageError;
    }

    if (!convertProgramSubmissions(config, terminal))
        return usageError;

    SignalWatcher signalWatcher;
    Runner runner(config, terminal);
    QObject::connect(&signalWatcher, &SignalWatcher::signalled, &runner, &Runner::interrupt);
    QObject::connect(&runner, &Runner::finished, &app, &QCoreApplication::quit,
                     Qt::QueuedConnection);
    if (!runner.start())
        return usageError;
    app.exec();
    return runner.exitStatus();
}

} // namespace procpool::headless
