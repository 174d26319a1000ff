#include "options.h"

#include "hostflags.h"
#include "taskcall.h"

#include <procpool/processpoolmanager.h>
#include <procpool/task.h>

#include <QtCore/QCommandLineParser>
#include <QtCore/QFileInfo>
#include <QtCore/QRegularExpression>
#include <QtCore/QThread>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <sched.h>

namespace procpool::headless {
namespace {

//! Where an option belongs: to the whole run, to the current --namespace section, or to the
//! latest --submit.
enum class Scope { Global, Pool, Submit };

struct OptionDef
{
    QString name;
    QString valueName; //!< empty: a flag
    Scope scope;
    QString description;
};

const QList<OptionDef> &optionDefs()
{
    static const QList<OptionDef> defs = {
        {QStringLiteral("headless"), {}, Scope::Global,
         QStringLiteral("Run without a display (this mode). Required.")},
        {QStringLiteral("namespace"), QStringLiteral("ID"), Scope::Pool,
         QStringLiteral("Start a pool section for namespace ID; the pool and --submit options "
                        "that follow apply to it. Repeat for several pools. Options before the "
                        "first --namespace apply to namespace 'default'.\n"
                        "Example: --namespace cpu --workers 2 --namespace io --workers 8")},
        {QStringLiteral("workers"), QStringLiteral("N"), Scope::Pool,
         QStringLiteral("Most worker processes of the pool (default: CPU count).\n"
                        "Example: --workers 4")},
        {QStringLiteral("task-type"), QStringLiteral("T"), Scope::Pool,
         QStringLiteral("Protect the pool: it accepts only submissions of task type T.\n"
                        "Example: --task-type render")},
        {QStringLiteral("daemon"), {}, Scope::Pool,
         QStringLiteral("Daemon pool: its workers die with this program.\n"
                        "Example: --namespace bg --daemon")},
        {QStringLiteral("prefix"), QStringLiteral("P"), Scope::Pool,
         QStringLiteral("Name the pool's workers P-1, P-2, ... (default: procpool-N).\n"
                        "Example: --prefix cpu")},
        {QStringLiteral("start-method"), QStringLiteral("fork-server|exec"), Scope::Pool,
         QStringLiteral("How the pool starts its workers: forked by a fork server, the program "
                        "started once (default), or each one a fresh start of the program.\n"
                        "Example: --start-method exec")},
        {QStringLiteral("program"), QStringLiteral("PATH"), Scope::Pool,
         QStringLiteral("The pool's workers are another procpool program, so that its own tasks "
                        "run (named and typed as --list-tasks --program PATH lists them).\n"
                        "Example: --namespace render --program ./myapp --submit scale:800,600")},
        {QStringLiteral("host"), QStringLiteral("HOST[:SLOTS]"), Scope::Pool,
         QStringLiteral("Run SLOTS workers of the pool (default 1) on HOST, reached by "
                        "--launcher; also SLOTS/HOST, [IPV6-ADDRESS]:SLOTS, and :SLOTS for this machine. "
                        "Repeatable. "
                        "The pool has as many workers as its hosts have slots, so --workers "
                        "is left out.\nExample: --host node1:8 --host node2:8 --host :2")},
        {QStringLiteral("hostfile"), QStringLiteral("FILE"), Scope::Pool,
         QStringLiteral("The pool's hosts from FILE, one --host entry per line; blank lines and "
                        "'#' comments are skipped.\nExample: --hostfile ~/nodes.txt")},
        {QStringLiteral("launcher"), QStringLiteral("ssh|slurm|local|COMMAND"), Scope::Pool,
         QStringLiteral("How the pool reaches the hosts of --host and --hostfile: ssh (default; "
                        "'ssh -p 2222' adds options), slurm (srun; alone, without --host, the "
                        "nodes of the Slurm allocation this runs in), local, or a COMMAND that "
                        "runs the worker's command line through a shell on HOST ({host} in it "
                        "becomes the host).\n"
                        "Example: --launcher slurm --submit primes --count 100")},
        {QStringLiteral("timeout"), QStringLiteral("SECONDS"), Scope::Pool,
         QStringLiteral("Time limit of each task of the pool; over it the worker is killed and "
                        "the task fails. 0: none (default).\nExample: --timeout 2.5")},
        {QStringLiteral("soft-timeout"), QStringLiteral("SECONDS"), Scope::Pool,
         QStringLiteral("Soft time limit of each task of the pool: past it the task is asked to "
                        "stop (procpool::isCancellationRequested()), and what it then returns is "
                        "its result. 0: none (default).\nExample: --soft-timeout 1 --timeout 5")},
        {QStringLiteral("max-tasks-per-worker"), QStringLiteral("N"), Scope::Pool,
         QStringLiteral("Replace a worker after it has run N tasks. 0: never (default).\n"
                        "Example: --max-tasks-per-worker 100")},
        {QStringLiteral("max-memory"), QStringLiteral("SIZE"), Scope::Pool,
         QStringLiteral("Kill a worker whose resident size goes past SIZE (bytes, or with K, "
                        "M, G, T: powers of 1024); its task fails with WorkerOutOfMemory and "
                        "a fresh worker replaces it. 0: no limit (default).\n"
                        "Example: --max-memory 2G")},
        {QStringLiteral("soft-memory"), QStringLiteral("SIZE"), Scope::Pool,
         QStringLiteral("Retire a worker whose resident size goes past SIZE once its task has "
                        "finished; a fresh worker replaces it. At most --max-memory. 0: no "
                        "limit (default).\nExample: --soft-memory 512M")},
        {QStringLiteral("nice"), QStringLiteral("N"), Scope::Pool,
         QStringLiteral("Run the pool's workers at nice value N, 1 to 19: a lower CPU priority "
                        "than this program's (default: inherited).\nExample: --nice 10")},
        {QStringLiteral("cpu-affinity"), QStringLiteral("LIST"), Scope::Pool,
         QStringLiteral("Let the pool's workers run only on the CPUs of LIST: numbers and "
                        "ranges, commas between (default: inherited).\n"
                        "Example: --cpu-affinity 0,2-3")},
        {QStringLiteral("max-address-space"), QStringLiteral("SIZE"), Scope::Pool,
         QStringLiteral("Limit each worker's address space to SIZE (RLIMIT_AS; as --max-memory "
                        "writes it): an allocation past it fails inside the task, which may "
                        "catch std::bad_alloc. 0: inherited (default).\n"
                        "Example: --max-address-space 4G")},
        {QStringLiteral("cpu-time"), QStringLiteral("SECONDS"), Scope::Pool,
         QStringLiteral("Limit each worker to SECONDS of CPU time over its life (RLIMIT_CPU); "
                        "past it the worker is killed and its task fails with WorkerCrashed. "
                        "0: inherited (default).\nExample: --cpu-time 600 --max-tasks-per-worker 50")},
        {QStringLiteral("worker-env"), QStringLiteral("NAME=VALUE"), Scope::Pool,
         QStringLiteral("Set variable NAME in each worker's environment; {slot} in VALUE "
                        "becomes the worker's slot (0 for the first worker; a replacement "
                        "takes the slot of the worker it replaces). Repeatable.\n"
                        "Example: --workers 2 --worker-env CUDA_VISIBLE_DEVICES={slot}")},
        {QStringLiteral("pool-memory"), QStringLiteral("SIZE"), Scope::Pool,
         QStringLiteral("Limit the memory of all the pool's workers together to SIZE (as "
                        "--max-memory writes it), enforced by the kernel in a control group of "
                        "the pool's own; past it a worker is killed and its task fails with "
                        "WorkerOutOfMemory. Needs a cgroup this program may write (root, or a "
                        "delegated one). 0: no limit (default).\nExample: --pool-memory 8G")},
        {QStringLiteral("pool-cpus"), QStringLiteral("N"), Scope::Pool,
         QStringLiteral("Limit all the pool's workers together to the time of N CPUs (fractions "
                        "allowed), in the pool's control group (see --pool-memory). 0: no "
                        "limit (default).\nExample: --pool-cpus 1.5")},
        {QStringLiteral("cgroup-parent"), QStringLiteral("PATH"), Scope::Pool,
         QStringLiteral("Make the pool's control group (--pool-memory, --pool-cpus) under cgroup "
                        "PATH, a path in the cgroup tree or under /sys/fs/cgroup (default: this "
                        "program's own cgroup).\n"
                        "Example: --pool-memory 8G --cgroup-parent /user.slice/batch.slice")},
        {QStringLiteral("cancel-policy"), QStringLiteral("kill|discard|ask"), Scope::Pool,
         QStringLiteral("What cancelling a running task of the pool does (an attached monitor's "
                        "Cancel): kill its worker (default), let it finish and drop the result, "
                        "or ask it to stop (procpool::isCancellationRequested()), then SIGTERM "
                        "and SIGKILL 2 s apart.\nExample: --cancel-policy ask")},
        {QStringLiteral("submit"), QStringLiteral("TASK[:ARG,...]"), Scope::Pool,
         QStringLiteral("Submit a sample task to the current pool; missing arguments take "
                        "their defaults (see --list-tasks). Repeatable.\n"
                        "Example: --submit primes:100000 --submit sleep:250 --submit crash")},
        {QStringLiteral("count"), QStringLiteral("N"), Scope::Submit,
         QStringLiteral("Submit the preceding --submit N times (default 1).\n"
                        "Example: --submit sleep:100 --count 20")},
        {QStringLiteral("submit-type"), QStringLiteral("T"), Scope::Submit,
         QStringLiteral("Submit the preceding --submit with task type T (a protected pool "
                        "rejects any other).\nExample: --submit echo:16 --submit-type render")},
        {QStringLiteral("priority"), QStringLiteral("N"), Scope::Submit,
         QStringLiteral("Submit the preceding --submit with priority N: queued tasks of a "
                        "higher priority go to workers first (default 0; negative: later).\n"
                        "Example: --submit sleep:100 --count 50 --submit greet --priority 10")},
        {QStringLiteral("retries"), QStringLiteral("N"), Scope::Submit,
         QStringLiteral("Run the preceding --submit up to N times in all while it fails (a "
                        "crash, a timeout, an exception), with a growing delay between "
                        "attempts (default 1: no retry).\n"
                        "Example: --submit crash --retries 3")},
        {QStringLiteral("jobs"), QStringLiteral("FILE"), Scope::Global,
         QStringLiteral("Read jobs from FILE ('-': standard input), one JSON object per line: "
                        "{\"task\": \"sleep\", \"args\": [100], \"task_type\": \"render\", "
                        "\"namespace\": \"cpu\", \"priority\": 5, \"retries\": 3}; only \"task\" "
                        "is required, each key once; a job "
                        "without namespace goes to the first pool; a line holds at most 16 "
                        "MiB. Read as the pools make progress.\n"
                        "Example: --jobs jobs.jsonl")},
        {QStringLiteral("on-bad-line"), QStringLiteral("stop|skip"), Scope::Global,
         QStringLiteral("What a malformed job line (or one over 16 MiB) does: stop reading "
                        "(default; exit status 2) or skip it (it counts as failed).\n"
                        "Example: --on-bad-line=skip")},
        {QStringLiteral("json"), {}, Scope::Global,
         QStringLiteral("Write one JSON object per finished task and a final summary object "
                        "instead of text.\nExample: --json | jq .result")},
        {QStringLiteral("order"), QStringLiteral("submitted|completed"), Scope::Global,
         QStringLiteral("Report results as they complete (default) or in submission order.\n"
                        "Example: --order submitted")},
        {QStringLiteral("list-tasks"), {}, Scope::Global,
         QStringLiteral("List the sample tasks with their parameters and exit.\n"
                        "Example: --list-tasks --json")},
        {QStringLiteral("list"), {}, Scope::Global,
         QStringLiteral("Print the registry (namespaces, managers, workers) once the work is "
                        "done, before the pools stop.\nExample: --namespace a --namespace b --list")},
        {QStringLiteral("ps"), {}, Scope::Global,
         QStringLiteral("List this user's running procpool processes that can be attached to "
                        "(their inspection sockets), and remove the sockets of dead ones.\n"
                        "Example: --ps --json")},
        {QStringLiteral("attach"), QStringLiteral("PID"), Scope::Global,
         QStringLiteral("Work on the pools of running procpool process PID instead of pools of "
                        "this one: --list shows them, --submit runs that process's own tasks "
                        "(named as its catalogue in --list names them), --stop and --resize "
                        "steer its pools.\n"
                        "Example: --attach 4242 --namespace render --submit scale:800,600 --count 4")},
        {QStringLiteral("stop"), QStringLiteral("NS"), Scope::Global,
         QStringLiteral("With --attach: stop the pool of namespace NS once its queued tasks "
                        "are done.\nExample: --attach 4242 --stop render")},
        {QStringLiteral("resize"), QStringLiteral("N"), Scope::Pool,
         QStringLiteral("With --attach: set the current namespace's pool to at most N workers; "
                        "--resize NS N names the namespace itself.\n"
                        "Example: --attach 4242 --resize render 8")},
        {QStringLiteral("watch"), {}, Scope::Global,
         QStringLiteral("While the work runs, redraw a table of the pools and their workers, "
                        "like top (only when standard output is a terminal). With --attach: "
                        "after the rest, print the process's tasks as they change and its "
                        "workers' output, one line each, until it exits.\n"
                        "Example: --submit sleep:500 --count 40 --watch")},
    };
    return defs;
}

const OptionDef *findDef(const QString &name)
{
    for (const OptionDef &d : optionDefs())
        if (d.name == name)
            return &d;
    return nullptr;
}


qint64 integerValue(const QString &option, const QString &value, qint64 minimum)
{
    bool ok = false;
    const qint64 n = value.toLongLong(&ok);
    if (!ok || n < minimum)
        throw UsageError(QStringLiteral("--%1 needs an integer of at least %2, got '%3'")
                             .arg(option)
                             .arg(minimum)
                             .arg(value));
    return n;
}

//! An integer from \a minimum to \a maximum; otherwise a usage error whose \a hint says what
//! the number means.
int boundedValue(const QString &option, const QString &value, qint64 minimum, qint64 maximum,
                 const QString &hint)
{
    bool ok = false;
    const qint64 n = value.toLongLong(&ok);
    if (!ok || n < minimum || n > maximum)
        throw UsageError(QStringLiteral("--%1 needs an integer from %2 to %3 (%4), got '%5'")
                             .arg(option)
                             .arg(minimum)
                             .arg(maximum)
                             .arg(hint, value));
    return int(n);
}

//! Bytes written as "1048576", "512M", "2G", "1.5GiB": K, M, G and T are powers of 1024.
qint64 sizeValue(const QString &option, const QString &value)
{
    static const QRegularExpression pattern(
        QStringLiteral("^\\s*(\\d+(?:\\.\\d+)?)\\s*(?:([KMGT])(?:I?B)?|B)?\\s*$"),
        QRegularExpression::CaseInsensitiveOption);
    const QRegularExpressionMatch match = pattern.match(value);
    const double number = match.hasMatch() ? match.captured(1).toDouble() : -1;
    const QString unit = match.captured(2).toUpper();
    const qsizetype power = unit.isEmpty() ? 0 : QStringLiteral("KMGT").indexOf(unit) + 1;
    const double bytes = number * std::pow(1024.0, double(power));
    const bool whole = match.captured(1).contains(u'.') ? power > 0 : true;
    if (!match.hasMatch() || !whole || bytes > 9e18)
        throw UsageError(QStringLiteral("--%1 needs a size such as 512M, 2G or 1048576 (bytes; "
                                        "K, M, G, T are powers of 1024; 0: no limit), got '%2'")
                             .arg(option, value));
    return qint64(bytes + 0.5);
}

QString nonEmpty(const QString &option, const QString &value)
{
    if (value.isEmpty())
        throw UsageError(QStringLiteral("--%1 needs a non-empty value").arg(option));
    return value;
}

//! The task and the arguments as written; converted once the section's tasks are known (this
//! program's, another program's with --program, or an attached process's).
SubmitSpec parseSubmit(const QString &text)
{
    SubmitSpec spec;
    spec.text = text;
    const qsizetype colon = text.indexOf(u':');
    spec.task = colon < 0 ? text : text.left(colon);
    if (spec.task.isEmpty())
        throw UsageError(QStringLiteral("--submit '%1': no task name; expected TASK[:ARG,...], "
                                        "e.g. --submit sleep:200")
                             .arg(text));
    spec.argumentTexts = colon < 0 ? QStringList() : text.mid(colon + 1).split(u',');
    return spec;
}

//! Converts \a spec's arguments for a task this program links.
void convertLocal(SubmitSpec &spec)
{
    const auto task = findTask(spec.task);
    if (!task)
        throw UsageError(QStringLiteral("--submit '%1': there is no task '%2'; known tasks: %3 "
                                        "(see --list-tasks)")
                             .arg(spec.text, spec.task, registeredTaskNames().join(QStringLiteral(", "))));
    const Arguments args = argumentsFromText(*task, spec.argumentTexts);
    if (!args.error.isEmpty())
        throw UsageError(QStringLiteral("--submit '%1': %2").arg(spec.text, args.error));
    spec.arguments = args.values;
}

//! A CPU list such as "0,2-3" naming at least one CPU this process may run on.
QList<int> cpuListValue(const QString &option, const QString &value)
{
    QString error;
    const std::optional<QList<int>> cpus = limittext::parseCpuList(value, &error);
    if (!cpus)
        throw UsageError(QStringLiteral("--%1 needs %2, got '%3'").arg(option, error, value));
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (::sched_getaffinity(0, sizeof allowed, &allowed) == 0
        && std::none_of(cpus->cbegin(), cpus->cend(), [&](int cpu) { return CPU_ISSET(cpu, &allowed); })) {
        QList<int> here;
        for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
            if (CPU_ISSET(cpu, &allowed))
                here.append(cpu);
        throw UsageError(QStringLiteral("--%1 %2 names no CPU this program may run on; its CPUs "
                                        "are %3")
                             .arg(option, value, limittext::cpuListText(here)));
    }
    return *cpus;
}

//! A number of CPUs, fractions allowed: 0 (no limit), or from 0.01 to 4096.
double cpuCountValue(const QString &option, const QString &value)
{
    bool ok = false;
    const double cpus = value.toDouble(&ok);
    if (!ok || !std::isfinite(cpus) || (cpus != 0 && (cpus < 0.01 || cpus > 4096)))
        throw UsageError(QStringLiteral("--%1 needs a number of CPUs from 0.01 to 4096, fractions "
                                        "allowed (1.5: the time of one and a half CPUs; 0: no "
                                        "limit), got '%2'")
                             .arg(option, value));
    return cpus;
}

QString helpText(const QCommandLineParser &parser)
{
    QString text = parser.helpText();
    text += QStringLiteral(
        "\nEach option's example is in its description. Whole runs:\n"
        "  procpool --headless --namespace cpu --workers 2 --submit primes:200000 --count 4 \\\n"
        "           --namespace render --task-type render --submit echo:16 --submit-type render\n"
        "  procpool --headless --workers 4 --jobs jobs.jsonl --json | jq -c '{id, state, result}'\n"
        "  generate-jobs | procpool --headless --jobs - --on-bad-line=skip\n"
        "\nExit status: 0 when every task finished with a result; 1 when any failed, was "
        "rejected or cancelled (also after Ctrl-C or a closed output); 2 for a usage error or "
        "a malformed job line (--on-bad-line=stop).\n"
        "Ctrl-C once: take no more work, cancel queued tasks, let running ones finish, print "
        "the summary. Twice: kill the workers and exit.\n");
    return text;
}

Config walk(const QStringList &arguments)
{
    Config config;
    PoolSpec *current = nullptr;
    bool implicitDefault = false;
    QStringList seenGlobal;
    const bool attached = std::any_of(arguments.cbegin(), arguments.cend(), [](const QString &a) {
        return a == u"--attach" || a.startsWith(u"--attach=");
    });

    auto newSection = [&](const QString &id) {
        for (const PoolSpec &p : config.pools)
            if (p.namespaceId == id)
                throw UsageError(
                    implicitDefault && id == QString::fromUtf16(defaultNamespace)
                        ? QStringLiteral("namespace 'default' is configured twice: options "
                                         "before the first --namespace already configure it")
                        : QStringLiteral("--namespace %1 is given twice; each namespace has "
                                         "one section")
                              .arg(id));
        PoolSpec spec;
        spec.namespaceId = id;
        spec.options.maxWorkers = std::max(1, QThread::idealThreadCount());
        config.pools.append(spec);
        current = &config.pools.last();
    };
    auto section = [&]() -> PoolSpec & {
        if (!current) {
            newSection(QString::fromUtf16(defaultNamespace));
            implicitDefault = true;
        }
        return *current;
    };

    for (qsizetype i = 1; i < arguments.size(); ++i) {
        const QString &arg = arguments.at(i);
        if (!arg.startsWith(QStringLiteral("--")))
            continue; // -h, positionals: QCommandLineParser already judged them
        QString name = arg.mid(2);
        QString value;
        const qsizetype equals = name.indexOf(u'=');
        const OptionDef *def = findDef(equals < 0 ? name : name.left(equals));
        if (!def)
            continue; // --help
        if (equals >= 0) {
            value = name.mid(equals + 1);
            name = name.left(equals);
        } else if (!def->valueName.isEmpty() && i + 1 < arguments.size()) {
            value = arguments.at(++i);
        }

        if (def->scope == Scope::Global) {
            if (name != u"headless" && name != u"stop" && seenGlobal.contains(name))
                throw UsageError(QStringLiteral("--%1 is given twice").arg(name));
            seenGlobal.append(name);
        }
        if (name == u"namespace") {
            newSection(nonEmpty(name, value));
        } else if (name == u"workers") {
            section().options.maxWorkers = int(std::min<qint64>(integerValue(name, value, 1), 4096));
            section().workersGiven = true;
        } else if (name == u"host" || name == u"hostfile" || name == u"launcher") {
            if (attached)
                throw UsageError(QStringLiteral("--%1 says where pools of this run work; an "
                                                "attached process's pools keep their own hosts")
                                     .arg(name));
            addHostFlag(section(), name, name == u"launcher" ? value : nonEmpty(name, value));
        } else if (name == u"task-type") {
            section().options.taskType = nonEmpty(name, value);
        } else if (name == u"daemon") {
            section().options.daemon = true;
        } else if (name == u"prefix") {
            section().options.processNamePrefix = nonEmpty(name, value);
        } else if (name == u"start-method") {
            if (value == u"fork-server")
                section().options.startContext.method = StartMethod::ForkServer;
            else if (value == u"exec")
                section().options.startContext.method = StartMethod::Exec;
            else
                throw UsageError(QStringLiteral("--start-method is fork-server or exec, not '%1'")
                                     .arg(value));
        } else if (name == u"cancel-policy") {
            if (value == u"kill")
                section().options.cancelPolicy = PoolOptions::CancelPolicy::KillWorker;
            else if (value == u"discard")
                section().options.cancelPolicy = PoolOptions::CancelPolicy::DiscardResult;
            else if (value == u"ask")
                section().options.cancelPolicy = PoolOptions::CancelPolicy::Ask;
            else
                throw UsageError(QStringLiteral("--cancel-policy is kill, discard or ask, not '%1'")
                                     .arg(value));
        } else if (name == u"timeout" || name == u"soft-timeout") {
            bool ok = false;
            const double seconds = value.toDouble(&ok);
            if (!ok || seconds < 0 || seconds > 1e9)
                throw UsageError(QStringLiteral("--%1 needs a number of seconds (0: no "
                                                "limit), got '%2'")
                                     .arg(name, value));
            (name == u"timeout" ? section().options.taskTimeout : section().options.softTaskTimeout) =
                std::chrono::milliseconds(qint64(seconds * 1000 + 0.5));
        } else if (name == u"max-tasks-per-worker") {
            section().options.maxTasksPerWorker =
                int(std::min<qint64>(integerValue(name, value, 0), 1 << 30));
        } else if (name == u"max-memory") {
            section().options.hardMemoryLimit = sizeValue(name, value);
        } else if (name == u"soft-memory") {
            section().options.softMemoryLimit = sizeValue(name, value);
        } else if (name == u"nice") {
            section().options.resourceLimits.niceValue =
                boundedValue(name, value, 1, 19, QStringLiteral("higher: a lower CPU priority"));
        } else if (name == u"cpu-affinity") {
            section().options.resourceLimits.cpuAffinity = cpuListValue(name, value);
        } else if (name == u"max-address-space") {
            section().options.resourceLimits.addressSpace = sizeValue(name, value);
        } else if (name == u"cpu-time") {
            section().options.resourceLimits.cpuSeconds =
                boundedValue(name, value, 0, std::numeric_limits<int>::max(),
                             QStringLiteral("whole seconds of CPU time per worker; 0: no limit"));
        } else if (name == u"worker-env") {
            QString error;
            const auto entry = limittext::parseEnvironmentEntry(value, &error);
            if (!entry)
                throw UsageError(QStringLiteral("--worker-env needs %1, got '%2'").arg(error, value));
            PoolSpec &pool = section();
            pool.workerEnvironment.append(*entry);
            if (!limittext::repeatedName(pool.workerEnvironment).isEmpty())
                throw UsageError(QStringLiteral("--worker-env %1 is given twice for namespace "
                                                "'%2'; give each variable once")
                                     .arg(entry->name, pool.namespaceId));
        } else if (name == u"pool-memory") {
            section().options.cgroup.memoryMax = sizeValue(name, value);
        } else if (name == u"pool-cpus") {
            section().options.cgroup.cpuMax = cpuCountValue(name, value);
        } else if (name == u"cgroup-parent") {
            if (!value.startsWith(u'/') || value.contains(QChar(u'\0')))
                throw UsageError(QStringLiteral("--cgroup-parent needs an absolute path, in the "
                                                "cgroup tree (/user.slice/…) or under "
                                                "/sys/fs/cgroup, got '%1'")
                                     .arg(value));
            section().options.cgroup.parent = value;
        } else if (name == u"submit") {
            section().submits.append(parseSubmit(value));
        } else if (name == u"program") {
            if (attached)
                throw UsageError(QStringLiteral("--program starts pools of this run; an attached "
                                                "process's pools keep their own program"));
            const QFileInfo program(nonEmpty(name, value));
            section().options.startContext.program = program.absoluteFilePath();
        } else if (name == u"resize") {
            if (!attached)
                throw UsageError(QStringLiteral("--resize steers a pool of another process: give "
                                                "--attach PID (a pool of this run takes --workers)"));
            bool count = false;
            value.toLongLong(&count);
            if (count) { // --namespace NS --resize N
                section().resize = int(std::min<qint64>(integerValue(name, value, 1), 4096));
            } else { // --resize NS N: namespace NS, whatever section this is in
                const QString ns = nonEmpty(name, value);
                if (i + 1 >= arguments.size())
                    throw UsageError(QStringLiteral("--resize %1 needs a number of workers after it, "
                                                    "e.g. --resize %1 8")
                                         .arg(ns));
                const QString workers = arguments.at(++i);
                config.secondValues.append(workers);
                const int n = int(std::min<qint64>(integerValue(name, workers, 1), 4096));
                PoolSpec *target = nullptr;
                for (PoolSpec &p : config.pools)
                    if (p.namespaceId == ns)
                        target = &p;
                if (!target) { // a section of its own, which does not become the current one
                    const qsizetype at = current ? current - config.pools.data() : -1;
                    newSection(ns);
                    target = &config.pools.last();
                    current = at >= 0 ? &config.pools[at] : nullptr;
                }
                target->resize = n;
            }
        } else if (def->scope == Scope::Submit) {
            if (!current || current->submits.isEmpty())
                throw UsageError(QStringLiteral("--%1 applies to the --submit before it, and "
                                                "there is none in this section; write e.g. "
                                                "--submit sleep:100 --%1 %2")
                                     .arg(name, value));
            SubmitSpec &submit = current->submits.last();
            if (name == u"count")
                submit.count = integerValue(name, value, 1);
            else if (name == u"priority")
                submit.priority = boundedValue(name, value, std::numeric_limits<int>::min(),
                                               std::numeric_limits<int>::max(),
                                               QStringLiteral("higher runs first"));
            else if (name == u"retries")
                submit.attempts = boundedValue(name, value, 1, maxAttempts,
                                               QStringLiteral("attempts in all; 1: no retry"));
            else
                submit.taskType = nonEmpty(name, value);
        } else if (name == u"jobs") {
            config.jobsPath = nonEmpty(name, value);
        } else if (name == u"on-bad-line") {
            if (value == u"stop")
                config.onBadLine = BadLinePolicy::Stop;
            else if (value == u"skip")
                config.onBadLine = BadLinePolicy::Skip;
            else
                throw UsageError(QStringLiteral("--on-bad-line is 'stop' or 'skip', not '%1'")
                                     .arg(value));
        } else if (name == u"order") {
            if (value == u"completed")
                config.order = Order::Completed;
            else if (value == u"submitted")
                config.order = Order::Submitted;
            else
                throw UsageError(QStringLiteral("--order is 'submitted' or 'completed', not '%1'")
                                     .arg(value));
        } else if (name == u"json") {
            config.json = true;
        } else if (name == u"list-tasks") {
            config.listTasks = true;
        } else if (name == u"list") {
            config.list = true;
        } else if (name == u"watch") {
            config.watch = true;
        } else if (name == u"ps") {
            config.ps = true;
        } else if (name == u"attach") {
            config.attachPid = integerValue(name, value, 1);
        } else if (name == u"stop") {
            if (!attached)
                throw UsageError(QStringLiteral("--stop steers a pool of another process: give "
                                                "--attach PID"));
            config.stops.append(nonEmpty(name, value));
        }
    }
    if (config.pools.isEmpty() && (!config.jobsPath.isEmpty() || config.list) && !attached)
        section();
    if (attached && !config.jobsPath.isEmpty())
        throw UsageError(QStringLiteral("--jobs runs pools of this process; with --attach give "
                                        "--submit"));
    for (PoolSpec &pool : config.pools)
        if (!attached && pool.options.startContext.program.isEmpty())
            for (SubmitSpec &submit : pool.submits)
                convertLocal(submit); // --program's and --attach's: once their catalogue is read
    if (!config.jobsPath.isEmpty()
        && std::any_of(config.pools.cbegin(), config.pools.cend(),
                       [](const PoolSpec &p) { return !p.options.startContext.program.isEmpty(); }))
        throw UsageError(QStringLiteral("--jobs names this program's tasks; a pool with --program "
                                        "takes --submit"));
    for (PoolSpec &pool : config.pools) {
        pool.options.workerEnvironment = limittext::workerEnvironment(pool.workerEnvironment);
        if (!attached)
            applyHostFlags(pool);
    }
    for (const PoolSpec &pool : std::as_const(config.pools)) {
        if (attached)
            break; // the other process's pools keep their own options
        const PoolOptions &o = pool.options;
        if (!o.cgroup.parent.isEmpty() && !o.cgroup.enabled())
            throw UsageError(QStringLiteral("namespace '%1': --cgroup-parent says where the pool's "
                                            "control group goes; give --pool-memory or "
                                            "--pool-cpus too, or leave it out")
                                 .arg(pool.namespaceId));
        if (o.softMemoryLimit > 0 && o.hardMemoryLimit > 0 && o.softMemoryLimit > o.hardMemoryLimit)
            throw UsageError(QStringLiteral("namespace '%1': --soft-memory (%2 bytes) must not be "
                                            "above --max-memory (%3 bytes)")
                                 .arg(pool.namespaceId)
                                 .arg(o.softMemoryLimit)
                                 .arg(o.hardMemoryLimit));
        try {
            pool.options.validate();
        } catch (const std::invalid_argument &e) {
            throw UsageError(QStringLiteral("namespace '%1': %2")
                                 .arg(pool.namespaceId, QString::fromUtf8(e.what())));
        }
    }
    return config;
}

} // namespace

bool Config::hasWork() const
{
    if (!jobsPath.isEmpty())
        return true;
    for (const PoolSpec &p : pools)
        if (!p.submits.isEmpty())
            return true;
    return false;
}

int Config::totalWorkers() const
{
    int n = 0;
    for (const PoolSpec &p : pools)
        n += p.options.maxWorkers;
    return n;
}

ParseResult parseCommandLine(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("procpool headless mode: runs sample tasks in process pools from the "
                       "command line, without a display."));
    const QCommandLineOption help({QStringLiteral("h"), QStringLiteral("help")},
                                  QStringLiteral("Show this help and exit.\nExample: --help"));
    parser.addOption(help);
    for (const OptionDef &d : optionDefs())
        parser.addOption(QCommandLineOption(d.name, d.description, d.valueName));

    ParseResult result;
    if (!parser.parse(arguments)) {
        result.action = ParseResult::Action::Error;
        result.message = parser.errorText();
        return result;
    }
    if (parser.isSet(help)) {
        result.action = ParseResult::Action::Help;
        result.message = helpText(parser);
        return result;
    }
    try {
        result.config = walk(arguments);
    } catch (const UsageError &e) {
        result.action = ParseResult::Action::Error;
        result.message = QString::fromUtf8(e.what());
        return result;
    }
    QStringList seconds = result.config.secondValues;
    for (const QString &positional : parser.positionalArguments()) {
        if (seconds.removeOne(positional))
            continue; // the N of --resize NS N
        result.action = ParseResult::Action::Error;
        result.message = QStringLiteral("unexpected argument '%1'; every value belongs to an "
                                        "option (see --help)")
                             .arg(positional);
        return result;
    }
    return result;
}

} // namespace procpool::headless
