// Headless mode: runs the real procpool executable (`procpool --headless …`) as a child process
// and checks what it prints, its exit status and that no worker process outlives it.
//
// Every wait is a hang guard with a generous bound, never a performance expectation: a test
// waits for the line that says the run reached a given point (a worker printed "ready", the
// interrupt was acknowledged) rather than for an amount of time.
#include "faultsupport.h"
#include "testmain.h"

#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QMap>
#include <QtCore/QProcess>
#include <QtCore/QRegularExpression>
#include <QtCore/QSet>
#include <QtCore/QTemporaryDir>

#include <algorithm>
#include <numeric>
#include <csignal>
#include <limits>
#include <memory>
#include <optional>
#include <cerrno>
#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef PROCPOOL_EXECUTABLE
#error "PROCPOOL_EXECUTABLE must name the procpool executable under test"
#endif

namespace {

using faultsupport::hangGuardMs;
using faultsupport::processAlive;
using faultsupport::processesNamed;

struct Run
{
    int exitCode = -1;
    QProcess::ExitStatus exitStatus = QProcess::CrashExit;
    QByteArray out;
    QByteArray err;
};

//! A command line written as one string: "--workers 2 --submit sleep" → its words.
QStringList words(const QString &commandLine)
{
    return commandLine.split(u' ', Qt::SkipEmptyParts);
}

QList<QJsonObject> jsonLines(const QByteArray &out)
{
    QList<QJsonObject> objects;
    for (const QByteArray &line : out.split('\n')) {
        if (line.trimmed().isEmpty())
            continue;
        QJsonParseError error;
        const QJsonDocument doc = QJsonDocument::fromJson(line, &error);
        if (error.error != QJsonParseError::NoError || !doc.isObject()) {
            qWarning() << "not a JSON object line:" << line;
            return {};
        }
        objects.append(doc.object());
    }
    return objects;
}

QList<QJsonObject> events(const QList<QJsonObject> &objects, const QString &event)
{
    QList<QJsonObject> matching;
    for (const QJsonObject &o : objects)
        if (o.value(QStringLiteral("event")).toString() == event)
            matching.append(o);
    return matching;
}

//! Writes \a content to jobs.jsonl in \a dir; returns its path, empty when it cannot.
QString writeJobs(const QTemporaryDir &dir, const QByteArray &content)
{
    QFile jobs(dir.filePath(QStringLiteral("jobs.jsonl")));
    if (!jobs.open(QIODevice::WriteOnly) || jobs.write(content) != content.size())
        return {};
    return jobs.fileName();
}

//! The jobs lines of the "result" events, in ascending order.
QList<qint64> resultLines(const QList<QJsonObject> &all)
{
    QList<qint64> lines;
    for (const QJsonObject &o : events(all, QStringLiteral("result")))
        lines.append(o.value(QStringLiteral("line")).toInteger());
    std::sort(lines.begin(), lines.end());
    return lines;
}

//! The "error" of each "bad_line" event, by line.
QMap<qint64, QString> badLineErrors(const QList<QJsonObject> &all)
{
    QMap<qint64, QString> errors;
    for (const QJsonObject &o : events(all, QStringLiteral("bad_line")))
        errors.insert(o.value(QStringLiteral("line")).toInteger(),
                      o.value(QStringLiteral("error")).toString());
    return errors;
}

//! Where \a bytes (UTF-8) holds a character a terminal acts on, newline and tab aside: a C0
//! control, DEL or a C1 control. -1 when it holds none.
qsizetype terminalControlAt(const QByteArray &bytes)
{
    for (qsizetype i = 0; i < bytes.size(); ++i) {
        const uchar c = uchar(bytes.at(i));
        const uchar next = i + 1 < bytes.size() ? uchar(bytes.at(i + 1)) : 0;
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f
            || (c == 0xc2 && next >= 0x80 && next <= 0x9f))
            return i;
    }
    return -1;
}

//! The lowest CPU this process may run on; -1 when it cannot be read.
int firstAllowedCpu()
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0)
        return -1;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (CPU_ISSET(cpu, &set))
            return cpu;
    return -1;
}

//! A soft resource limit of this process; -1 when there is none.
qint64 softLimit(__rlimit_resource_t resource)
{
    struct rlimit limit {};
    if (::getrlimit(resource, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
        return -1;
    return qint64(limit.rlim_cur);
}

} // namespace

class TestHeadless : public QObject
{
    Q_OBJECT

private:
    //! Unique per test process, so the worker scans only ever see this run's workers; with
    //! "-N" appended it fits the 15 bytes of /proc/PID/comm.
    QString m_prefix = QStringLiteral("th%1").arg(::getpid() % 100000);
    std::unique_ptr<QProcess> m_process;

    QStringList headless(const QStringList &arguments) const
    {
        return QStringList{QStringLiteral("--headless")} + arguments;
    }

    Run run(const QStringList &arguments, const QByteArray &input = QByteArray(),
            bool withInput = false)
    {
        QProcess p;
        p.setProgram(QStringLiteral(PROCPOOL_EXECUTABLE));
        p.setArguments(headless(arguments));
        p.start();
        if (!p.waitForStarted(hangGuardMs))
            qFatal("cannot start %s", PROCPOOL_EXECUTABLE);
        if (withInput) {
            p.write(input);
            p.closeWriteChannel();
        } else {
            p.closeWriteChannel();
        }
        Run r;
        if (!p.waitForFinished(hangGuardMs)) {
            p.kill();
            p.waitForFinished();
            qWarning("procpool --headless %s did not finish", qPrintable(arguments.join(u' ')));
        }
        r.exitCode = p.exitCode();
        r.exitStatus = p.exitStatus();
        r.out = p.readAllStandardOutput();
        r.err = p.readAllStandardError();
        return r;
    }

    //! Runs procpool --headless \a arguments on a pseudo-terminal, with script(1): stdout and
    //! stderr both arrive in Run::out. nullopt when script(1) cannot be started.
    std::optional<Run> runOnTerminal(const QStringList &arguments)
    {
        QString command = QStringLiteral("'%1'").arg(QStringLiteral(PROCPOOL_EXECUTABLE));
        for (const QString &word : headless(arguments))
            command += QStringLiteral(" '%1'").arg(word);
        QProcess script;
        script.start(QStringLiteral("script"),
                     {QStringLiteral("-qec"), command, QStringLiteral("/dev/null")});
        if (!script.waitForStarted(hangGuardMs))
            return std::nullopt;
        script.closeWriteChannel();
        if (!script.waitForFinished(hangGuardMs)) {
            script.kill();
            script.waitForFinished();
            qWarning("%s did not finish", qPrintable(command));
        }
        Run r;
        r.exitCode = script.exitCode();
        r.exitStatus = script.exitStatus();
        r.out = script.readAllStandardOutput();
        return r;
    }

    //! Starts a run to be interrupted; stdout and stderr stay separate.
    void startInteractive(const QStringList &arguments)
    {
        m_process = std::make_unique<QProcess>();
        m_process->setProgram(QStringLiteral(PROCPOOL_EXECUTABLE));
        m_process->setArguments(headless(arguments));
        m_process->start();
        QVERIFY(m_process->waitForStarted(hangGuardMs));
        m_process->closeWriteChannel();
    }

    //! Waits until the child's stderr contains \a text; returns all of stderr read so far.
    bool waitForStderr(QByteArray *err, const QByteArray &text)
    {
        QElapsedTimer guard;
        guard.start();
        while (!err->contains(text)) {
            if (guard.elapsed() > hangGuardMs || m_process->state() == QProcess::NotRunning)
                return false;
            m_process->waitForReadyRead(200);
            *err += m_process->readAllStandardError();
        }
        return true;
    }

    void verifyNoWorkersLeft(const QList<QJsonObject> &results)
    {
        for (const QJsonObject &r : results) {
            const qint64 pid = r.value(QStringLiteral("worker_pid")).toInteger();
            if (pid > 0)
                QVERIFY2(!processAlive(pid), qPrintable(QStringLiteral("worker %1 is alive").arg(pid)));
        }
        QCOMPARE(processesNamed(m_prefix + u'-'), QList<qint64>());
    }

private Q_SLOTS:
    void cleanup()
    {
        if (m_process && m_process->state() != QProcess::NotRunning) {
            m_process->kill();
            m_process->waitForFinished();
        }
        m_process.reset();
        for (const qint64 pid : processesNamed(m_prefix + u'-'))
            ::kill(pid_t(pid), SIGKILL);
    }

    void helpDocumentsEveryFlag()
    {
        const Run r = run({QStringLiteral("--help")});
        QCOMPARE(r.exitCode, 0);
        const QString help = QString::fromUtf8(r.out);
        const QStringList flags = {
            QStringLiteral("--namespace"), QStringLiteral("--workers"),
            QStringLiteral("--task-type"), QStringLiteral("--daemon"),
            QStringLiteral("--prefix"), QStringLiteral("--timeout"),
            QStringLiteral("--max-tasks-per-worker"), QStringLiteral("--start-method"),
            QStringLiteral("--submit"),
            QStringLiteral("--count"), QStringLiteral("--submit-type"),
            QStringLiteral("--priority"), QStringLiteral("--retries"),
            QStringLiteral("--max-memory"), QStringLiteral("--soft-memory"),
            QStringLiteral("--cancel-policy"), QStringLiteral("--soft-timeout"),
            QStringLiteral("--nice"), QStringLiteral("--cpu-affinity"),
            QStringLiteral("--max-address-space"), QStringLiteral("--cpu-time"),
            QStringLiteral("--worker-env"), QStringLiteral("--pool-memory"),
            QStringLiteral("--pool-cpus"), QStringLiteral("--cgroup-parent"),
            QStringLiteral("--host"), QStringLiteral("--hostfile"), QStringLiteral("--launcher"),
            QStringLiteral("--jobs"), QStringLiteral("--on-bad-line"),
            QStringLiteral("--json"), QStringLiteral("--order"),
            QStringLiteral("--list-tasks"), QStringLiteral("--list"),
            QStringLiteral("--watch"), QStringLiteral("--help")};
        for (const QString &flag : flags)
            QVERIFY2(help.contains(flag + u' ') || help.contains(flag + u','),
                     qPrintable(flag + QStringLiteral(" is not in --help")));
        QVERIFY(help.count(QStringLiteral("Example: ")) >= flags.size());
        QVERIFY(help.contains(QStringLiteral("Exit status")));
    }

    // Without --headless and without a display, the executable must not abort in Qt's
    // platform plugin: --help answers, and a plain start says what to do instead.
    void monitorWithoutDisplaySaysWhatToDo()
    {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        for (const char *name : {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"})
            env.remove(QString::fromLatin1(name));
        auto monitor = [&](const QStringList &arguments) {
            QProcess p;
            p.setProcessEnvironment(env);
            p.start(QStringLiteral(PROCPOOL_EXECUTABLE), arguments);
            if (!p.waitForFinished(hangGuardMs))
                p.kill();
            Run r;
            r.exitCode = p.exitCode();
            r.exitStatus = p.exitStatus();
            r.out = p.readAllStandardOutput();
            r.err = p.readAllStandardError();
            return r;
        };
        const Run help = monitor({QStringLiteral("--help")});
        QCOMPARE(help.exitStatus, QProcess::NormalExit);
        QCOMPARE(help.exitCode, 0);
        QVERIFY2(help.out.contains("--screenshot <file>"), help.out.constData());
        const Run plain = monitor({});
        QCOMPARE(plain.exitStatus, QProcess::NormalExit);
        QCOMPARE(plain.exitCode, 2);
        QVERIFY2(plain.err.contains("no display to open the monitor on")
                     && plain.err.contains("procpool --headless --help"),
                 plain.err.constData());
    }

    void listTasks()
    {
        const Run human = run({QStringLiteral("--list-tasks")});
        QCOMPARE(human.exitCode, 0);
        QVERIFY(human.out.contains("sleep(ms:int=200)"));
        QVERIFY(human.out.contains("Crashes its worker with SIGSEGV"));

        const Run json = run({QStringLiteral("--list-tasks"), QStringLiteral("--json")});
        QCOMPARE(json.exitCode, 0);
        const QList<QJsonObject> tasks = events(jsonLines(json.out), QStringLiteral("task"));
        QStringList names;
        for (const QJsonObject &t : tasks)
            names.append(t.value(QStringLiteral("task")).toString());
        for (const char *expected : {"sleep", "primes", "echo", "progress", "throw", "print",
                                     "greet", "flaky", "crash", "abort", "hang", "allocate", "limits"})
            QVERIFY2(names.contains(QString::fromLatin1(expected)), expected);
        const QJsonObject sleep = tasks.at(names.indexOf(QStringLiteral("sleep")));
        const QJsonArray parameters = sleep.value(QStringLiteral("parameters")).toArray();
        QCOMPARE(parameters.size(), 1);
        QCOMPARE(parameters.at(0)[QStringLiteral("name")].toString(), QStringLiteral("ms"));
        QCOMPARE(parameters.at(0)[QStringLiteral("type")].toString(), QStringLiteral("int"));
        QCOMPARE(parameters.at(0)[QStringLiteral("default")].toInt(), 200);
        QVERIFY(!sleep.value(QStringLiteral("description")).toString().isEmpty());
    }

    void usageErrors_data()
    {
        QTest::addColumn<QStringList>("arguments");
        QTest::addColumn<QString>("message");
        const auto s = [](const char *text) { return QString::fromUtf8(text); };
        QTest::newRow("unknown flag") << words(s("--bogus")) << s("bogus");
        QTest::newRow("no task name") << words(s("--submit :5")) << s("no task name");
        QTest::newRow("unknown task") << words(s("--submit nosuch")) << s("no task 'nosuch'");
        QTest::newRow("too many args") << words(s("--submit sleep:1,2")) << s("takes 1 argument");
        QTest::newRow("wrong arg type") << words(s("--submit sleep:soon")) << s("not an integer");
        QTest::newRow("count first") << words(s("--count 3 --submit sleep")) << s("--count applies to the --submit before it");
        QTest::newRow("count zero") << words(s("--submit sleep --count 0")) << s("--count needs an integer");
        QTest::newRow("workers zero") << words(s("--workers 0 --submit sleep")) << s("--workers needs");
        QTest::newRow("bad timeout") << words(s("--timeout soon --submit sleep")) << s("--timeout needs");
        QTest::newRow("bad order") << words(s("--order sideways --submit sleep")) << s("--order is");
        QTest::newRow("bad soft timeout") << words(s("--soft-timeout soon --submit sleep")) << s("--soft-timeout needs a number of seconds (0: no limit), got 'soon'");
        QTest::newRow("bad cancel policy") << words(s("--cancel-policy later --submit sleep")) << s("--cancel-policy is kill, discard or ask, not 'later'");
        QTest::newRow("bad start method") << words(s("--start-method spawn --submit sleep")) << s("--start-method is fork-server or exec, not 'spawn'");
        QTest::newRow("bad on-bad-line") << words(s("--on-bad-line=maybe --jobs -")) << s("--on-bad-line is");
        QTest::newRow("positional") << words(s("--submit sleep later")) << s("unexpected argument 'later'");
        QTest::newRow("namespace twice") << words(s("--namespace a --namespace a --list")) << s("given twice");
        QTest::newRow("nothing to do") << QStringList{} << s("nothing to do");
        // Integers are read exactly, and a message shows the number as it was written.
        QTest::newRow("int64 max for an int")
            << words(s("--submit sleep:9223372036854775807"))
            << s("9223372036854775807 is out of range for int (-2147483648 … 2147483647)");
        QTest::newRow("below int64 min")
            << words(s("--submit primes:-9223372036854775809"))
            << s("-9223372036854775809 is out of range for int64 (-9223372036854775808 … "
                 "9223372036854775807)");
        // Priorities, retries and memory limits: a bad value says what to write.
        QTest::newRow("priority first") << words(s("--priority 3 --submit sleep")) << s("--priority applies to the --submit before it");
        QTest::newRow("bad priority") << words(s("--submit sleep --priority high")) << s("--priority needs an integer from -2147483648 to 2147483647 (higher runs first), got 'high'");
        QTest::newRow("priority too big") << words(s("--submit sleep --priority 2147483648")) << s("--priority needs an integer from");
        QTest::newRow("retries zero") << words(s("--submit sleep --retries 0")) << s("--retries needs an integer from 1 to 1000 (attempts in all; 1: no retry), got '0'");
        QTest::newRow("retries first") << words(s("--retries 2 --submit crash")) << s("--retries applies to the --submit before it");
        QTest::newRow("bad max-memory") << words(s("--max-memory lots --submit sleep")) << s("--max-memory needs a size such as 512M, 2G or 1048576 (bytes; K, M, G, T are powers of 1024; 0: no limit), got 'lots'");
        QTest::newRow("fraction of a byte") << words(s("--soft-memory 1.5 --submit sleep")) << s("--soft-memory needs a size such as 512M");
        QTest::newRow("negative size") << words(s("--max-memory -1G --submit sleep")) << s("--max-memory needs a size");
        QTest::newRow("soft above hard") << words(s("--soft-memory 2G --max-memory 1G --submit sleep"))
                                         << s("namespace 'default': --soft-memory (2147483648 bytes) must not be above --max-memory (1073741824 bytes)");
        // Resource limits, the worker environment and the control group: the same.
        QTest::newRow("nice zero") << words(s("--nice 0 --submit sleep")) << s("--nice needs an integer from 1 to 19 (higher: a lower CPU priority), got '0'");
        QTest::newRow("nice too high") << words(s("--nice 20 --submit sleep")) << s("--nice needs an integer from 1 to 19");
        QTest::newRow("bad cpu list") << words(s("--cpu-affinity 0,x --submit sleep")) << s("--cpu-affinity needs a list of CPU numbers and ranges such as 0,2-3, got '0,x'");
        QTest::newRow("empty cpu list") << QStringList{QStringLiteral("--cpu-affinity="), QStringLiteral("--submit"), QStringLiteral("sleep")} << s("--cpu-affinity needs a list of CPU numbers and ranges such as 0,2-3, got ''");
        QTest::newRow("backwards cpu range") << words(s("--cpu-affinity 3-1 --submit sleep")) << s("--cpu-affinity needs a range from a lower CPU to a higher one (1-3, not 3-1), got '3-1'");
        QTest::newRow("cpu past the set") << words(s("--cpu-affinity 0,5000 --submit sleep")) << s("--cpu-affinity needs CPU numbers from 0 to 1023, got '0,5000'");
        QTest::newRow("no cpu of this machine") << words(s("--cpu-affinity 1000-1023 --submit sleep")) << s("--cpu-affinity 1000-1023 names no CPU this program may run on; its CPUs are ");
        QTest::newRow("bad address space") << words(s("--max-address-space lots --submit sleep")) << s("--max-address-space needs a size such as 512M, 2G or 1048576");
        QTest::newRow("fractional cpu time") << words(s("--cpu-time 1.5 --submit sleep")) << s("--cpu-time needs an integer from 0 to 2147483647 (whole seconds of CPU time per worker; 0: no limit), got '1.5'");
        QTest::newRow("env without value") << words(s("--worker-env GPU --submit sleep")) << s("--worker-env needs NAME=VALUE, NAME of letters, digits and _ (not first a digit), e.g. CUDA_VISIBLE_DEVICES={slot}, got 'GPU'");
        QTest::newRow("env bad name") << words(s("--worker-env 1GPU=0 --submit sleep")) << s("--worker-env needs NAME=VALUE");
        QTest::newRow("env twice") << words(s("--worker-env A=1 --worker-env A=2 --submit sleep")) << s("--worker-env A is given twice for namespace 'default'; give each variable once");
        QTest::newRow("bad pool memory") << words(s("--pool-memory -1G --submit sleep")) << s("--pool-memory needs a size such as 512M");
        QTest::newRow("bad pool cpus") << words(s("--pool-cpus many --submit sleep")) << s("--pool-cpus needs a number of CPUs from 0.01 to 4096, fractions allowed (1.5: the time of one and a half CPUs; 0: no limit), got 'many'");
        QTest::newRow("too few pool cpus") << words(s("--pool-cpus 0.001 --submit sleep")) << s("--pool-cpus needs a number of CPUs from 0.01 to 4096");
        QTest::newRow("too many pool cpus") << words(s("--pool-cpus 5000 --submit sleep")) << s("--pool-cpus needs a number of CPUs from 0.01 to 4096");
        QTest::newRow("relative cgroup parent") << words(s("--pool-cpus 1 --cgroup-parent batch.slice --submit sleep")) << s("--cgroup-parent needs an absolute path, in the cgroup tree (/user.slice/…) or under /sys/fs/cgroup, got 'batch.slice'");
        QTest::newRow("cgroup parent alone") << words(s("--cgroup-parent /batch.slice --submit sleep")) << s("namespace 'default': --cgroup-parent says where the pool's control group goes; give --pool-memory or --pool-cpus too, or leave it out");
        QTest::newRow("missing jobs file") << words(s("--jobs /nonexistent/jobs.jsonl")) << s("cannot open jobs file");
        // Hosts: a bad entry, hostfile or launcher says what is wrong and what to write.
        QTest::newRow("host without slots") << words(s("--host node1:0 --submit sleep")) << s("--host: bad host 'node1:0': the slots must be a number from 1 to 4096; write HOST, HOST:SLOTS, SLOTS/HOST, [IPV6-ADDRESS]:SLOTS, or :SLOTS for this machine");
        QTest::newRow("host with a space") << QStringList{s("--host"), s("node 1"), s("--submit"), s("sleep")} << s("--host: bad host 'node 1': a host name cannot hold spaces, quotes or start with '-'");
        QTest::newRow("empty host") << QStringList{s("--host="), s("--submit"), s("sleep")} << s("--host needs a non-empty value");
        QTest::newRow("missing hostfile") << words(s("--hostfile /nonexistent/hosts --submit sleep")) << s("--hostfile: cannot read the hostfile '/nonexistent/hosts': ");
        QTest::newRow("hostfile without hosts") << words(s("--hostfile /dev/null --submit sleep")) << s("--hostfile: the hostfile '/dev/null' names no host");
        QTest::newRow("empty launcher") << QStringList{s("--launcher="), s("--host"), s("node1"), s("--submit"), s("sleep")} << s("--launcher: an empty launcher; write ssh, slurm, local or a command");
        QTest::newRow("launcher without hosts") << words(s("--launcher ssh --submit sleep")) << s("--launcher ssh says how to reach the hosts of --host and --hostfile; give them too (--launcher slurm alone takes the nodes of the Slurm allocation)");
        QTest::newRow("launcher twice") << words(s("--host node1 --launcher ssh --launcher slurm --submit sleep")) << s("--launcher is given twice for namespace 'default'");
        QTest::newRow("workers beside hosts") << words(s("--workers 4 --host node1:2 --host :1 --submit sleep")) << s("namespace 'default': with --host or --hostfile the pool has as many workers as its hosts have slots (3); leave --workers out");
        QTest::newRow("hosts with attach") << words(s("--attach 1 --host node1 --list")) << s("--host says where pools of this run work; an attached process's pools keep their own hosts");
        if (qEnvironmentVariableIsEmpty("SLURM_JOB_NODELIST") && qEnvironmentVariableIsEmpty("SLURM_NODELIST"))
            QTest::newRow("slurm outside an allocation") << words(s("--launcher slurm --submit sleep")) << s("--launcher slurm: not inside a Slurm allocation (SLURM_JOB_NODELIST is not set); run under salloc or sbatch, or name the hosts");
    }

    void usageErrors()
    {
        QFETCH(QStringList, arguments);
        QFETCH(QString, message);
        const Run r = run(arguments);
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(QString::fromUtf8(r.err).contains(message), r.err.constData());
        QVERIFY2(r.out.isEmpty(), r.out.constData()); // nothing was submitted or reported
    }

    void jsonResultsOfTwoNamespaces()
    {
        const Run r = run(words(QStringLiteral(
                "--json --namespace cpu --workers 2 --prefix %1 --submit "
                "primes:1000 --count 3 --submit crash --submit throw:oops "
                "--namespace render --workers 1 --prefix %1 --task-type render "
                "--submit echo:4 --submit-type render --submit sleep:1").arg(m_prefix)));
        QCOMPARE(r.exitCode, 1); // a crash, a throw and a rejection
        const QList<QJsonObject> all = jsonLines(r.out);
        const QList<QJsonObject> results = events(all, QStringLiteral("result"));
        QCOMPARE(results.size(), 7);
        QSet<qint64> seqs;
        for (const QJsonObject &o : results) {
            seqs.insert(o.value(QStringLiteral("seq")).toInteger());
            const QString task = o.value(QStringLiteral("task")).toString();
            const QString state = o.value(QStringLiteral("state")).toString();
            const QString ns = o.value(QStringLiteral("namespace")).toString();
            if (task == u"primes") {
                QCOMPARE(ns, QStringLiteral("cpu"));
                QCOMPARE(state, QStringLiteral("ok"));
                QCOMPARE(o.value(QStringLiteral("result")).toInteger(), 168);
                QVERIFY(o.value(QStringLiteral("id")).toInteger() > 0);
                QVERIFY(o.value(QStringLiteral("worker_pid")).toInteger() > 0);
                QVERIFY(o.value(QStringLiteral("duration_ms")).isDouble());
                QCOMPARE(o.value(QStringLiteral("args")).toArray(), QJsonArray{1000});
                QVERIFY(o.value(QStringLiteral("task_type")).isNull());
            } else if (task == u"crash") {
                QCOMPARE(state, QStringLiteral("failed"));
                QCOMPARE(o.value(QStringLiteral("error_type")).toString(), QStringLiteral("WorkerCrashed"));
                QVERIFY(o.value(QStringLiteral("error")).toString().contains(QStringLiteral("SIGSEGV")));
                QVERIFY(o.value(QStringLiteral("worker_pid")).toInteger() > 0);
            } else if (task == u"throw") {
                QCOMPARE(state, QStringLiteral("failed"));
                QCOMPARE(o.value(QStringLiteral("error_type")).toString(), QStringLiteral("TaskException"));
                QVERIFY(o.value(QStringLiteral("error")).toString().contains(QStringLiteral("oops")));
            } else if (task == u"echo") {
                QCOMPARE(ns, QStringLiteral("render"));
                QCOMPARE(state, QStringLiteral("ok"));
                QCOMPARE(o.value(QStringLiteral("task_type")).toString(), QStringLiteral("render"));
                QCOMPARE(o.value(QStringLiteral("result")).toString(), QStringLiteral("xxxx"));
            } else if (task == u"sleep") {
                // Task-type protection: the UnknownTaskError text, before anything was queued.
                QCOMPARE(state, QStringLiteral("rejected"));
                QCOMPARE(o.value(QStringLiteral("error_type")).toString(), QStringLiteral("UnknownTaskError"));
                QVERIFY(o.value(QStringLiteral("error")).toString().contains(QStringLiteral("'render'")));
                QVERIFY(o.value(QStringLiteral("id")).isNull());
            } else {
                QFAIL(qPrintable(QStringLiteral("unexpected task ") + task));
            }
        }
        QCOMPARE(seqs.size(), 7);
        const QList<QJsonObject> summaries = events(all, QStringLiteral("summary"));
        QCOMPARE(summaries.size(), 1);
        QCOMPARE(all.last(), summaries.first()); // the summary comes last
        const QJsonObject summary = summaries.first();
        QCOMPARE(summary.value(QStringLiteral("total")).toInt(), 7);
        QCOMPARE(summary.value(QStringLiteral("ok")).toInt(), 4);
        QCOMPARE(summary.value(QStringLiteral("failed")).toInt(), 2);
        QCOMPARE(summary.value(QStringLiteral("rejected")).toInt(), 1);
        QCOMPARE(summary.value(QStringLiteral("cancelled")).toInt(), 0);
        QCOMPARE(summary.value(QStringLiteral("exit_status")).toInt(), 1);
        const QJsonArray namespaces = summary.value(QStringLiteral("namespaces")).toArray();
        QCOMPARE(namespaces.size(), 2);
        // The stats are read right after the last future finished: the crash must be counted.
        QCOMPARE(namespaces.at(0)[QStringLiteral("namespace")].toString(), QStringLiteral("cpu"));
        QCOMPARE(namespaces.at(0)[QStringLiteral("workers_crashed")].toInt(), 1);
        QCOMPARE(namespaces.at(1)[QStringLiteral("workers_crashed")].toInt(), 0);
        QVERIFY(r.err.contains("about to crash with SIGSEGV")); // the worker's log, on stderr
        verifyNoWorkersLeft(results);
    }

    void humanOutputAndExitZero()
    {
        const Run r = run(words(
            QStringLiteral("--order completed --workers 2 --prefix %1 --submit sleep:5 --count 4 "
                           "--submit echo")
                .arg(m_prefix)));
        QCOMPARE(r.exitCode, 0);
        QCOMPARE(r.out.count(" ok [default] sleep(5) = 5 (worker "), 4);
        QVERIFY(r.out.contains("ok [default] echo(1024) = <1024 bytes>")); // the default argument
        QVERIFY(r.out.contains("summary: 5 task(s)"));
        QVERIFY(r.out.contains("exit status 0"));
        QVERIFY(!r.out.contains('\033')); // nothing decorative without a terminal
        QVERIFY(!r.err.contains('\033'));
        QVERIFY(!r.err.contains('\r'));
    }

    void orderSubmitted()
    {
        // The first task is the slowest: in completion order it would come last.
        const Run r = run(words(QStringLiteral(
                "--json --order submitted --workers 2 --submit sleep:300 "
                "--submit sleep:0 --count 10")));
        QCOMPARE(r.exitCode, 0);
        const QList<QJsonObject> results = events(jsonLines(r.out), QStringLiteral("result"));
        QCOMPARE(results.size(), 11);
        for (qsizetype i = 0; i < results.size(); ++i)
            QCOMPARE(results.at(i).value(QStringLiteral("seq")).toInteger(), i + 1);
    }

    void poolOptions()
    {
        // --timeout fails a task that runs too long; --max-tasks-per-worker replaces workers;
        // --prefix, --daemon, --task-type and --start-method show in the --list registry.
        const Run r = run(words(QStringLiteral(
                "--json --list --namespace limits --workers 1 --prefix %1 --start-method exec "
                "--timeout 0.5 --max-tasks-per-worker 1 --cancel-policy ask --submit sleep:0 "
                "--count 3 --submit hang --namespace bg --daemon --task-type "
                "batch --prefix %1b --submit sleep:0 --submit-type batch").arg(m_prefix)));
        QCOMPARE(r.exitCode, 1); // the hang timed out
        const QList<QJsonObject> all = jsonLines(r.out);
        const QList<QJsonObject> results = events(all, QStringLiteral("result"));
        QCOMPARE(results.size(), 5);
        QSet<qint64> sleepWorkers;
        for (const QJsonObject &o : results) {
            if (o.value(QStringLiteral("namespace")).toString() != u"limits")
                continue;
            if (o.value(QStringLiteral("task")).toString() == u"hang") {
                QCOMPARE(o.value(QStringLiteral("state")).toString(), QStringLiteral("failed"));
                QCOMPARE(o.value(QStringLiteral("error_type")).toString(), QStringLiteral("TaskTimeout"));
            } else {
                sleepWorkers.insert(o.value(QStringLiteral("worker_pid")).toInteger());
            }
        }
        QCOMPARE(sleepWorkers.size(), 3); // one task per worker

        const QList<QJsonObject> registry = events(all, QStringLiteral("registry"));
        QCOMPARE(registry.size(), 1);
        const QJsonArray managers = registry.first().value(QStringLiteral("managers")).toArray();
        QCOMPARE(managers.size(), 2);
        for (const QJsonValue &value : managers) {
            const QJsonObject m = value.toObject();
            QVERIFY(m.value(QStringLiteral("creator_pid")).toInteger() > 0);
            if (m.value(QStringLiteral("namespace")).toString() == u"bg") {
                QCOMPARE(m.value(QStringLiteral("daemon")).toBool(), true);
                QCOMPARE(m.value(QStringLiteral("task_type")).toString(), QStringLiteral("batch"));
                QCOMPARE(m.value(QStringLiteral("prefix")).toString(), m_prefix + u'b');
                QCOMPARE(m.value(QStringLiteral("start_method")).toString(), QStringLiteral("fork-server"));
                QVERIFY(!m.contains(QStringLiteral("cancel_policy"))); // the default: kill
                const QJsonArray workers = m.value(QStringLiteral("workers")).toArray();
                QCOMPARE(workers.size(), 1);
                QVERIFY(workers.at(0)[QStringLiteral("name")].toString().startsWith(m_prefix + u'b'));
                QCOMPARE(workers.at(0)[QStringLiteral("tasks_done")].toInt(), 1);
            } else {
                QCOMPARE(m.value(QStringLiteral("namespace")).toString(), QStringLiteral("limits"));
                QCOMPARE(m.value(QStringLiteral("max_workers")).toInt(), 1);
                QCOMPARE(m.value(QStringLiteral("daemon")).toBool(), false);
                QCOMPARE(m.value(QStringLiteral("start_method")).toString(), QStringLiteral("exec"));
                QCOMPARE(m.value(QStringLiteral("cancel_policy")).toString(), QStringLiteral("ask"));
            }
        }
        verifyNoWorkersLeft(results);
    }

    void retriesAndPriorityShowInTheResults()
    {
        // flaky fails on its first N attempts, counted in a marker file: with --retries 3 and
        // two failures, the third attempt succeeds; throw fails every time, so its two attempts
        // are used up; sleep is submitted plainly and reports none of it.
        QTemporaryDir dir;
        const QString marker = dir.filePath(QStringLiteral("flaky"));
        const Run r = run(words(QStringLiteral(
                "--json --workers 1 --prefix %1 --submit flaky:%2,2 --retries 3 --priority 5 "
                "--submit throw:never --retries 2 --submit sleep:0").arg(m_prefix, marker)));
        QCOMPARE(r.exitCode, 1); // throw failed
        const QList<QJsonObject> results = events(jsonLines(r.out), QStringLiteral("result"));
        QCOMPARE(results.size(), 3);
        for (const QJsonObject &o : results) {
            const QString task = o.value(QStringLiteral("task")).toString();
            if (task == u"flaky") {
                QCOMPARE(o.value(QStringLiteral("state")).toString(), QStringLiteral("ok"));
                QCOMPARE(o.value(QStringLiteral("result")).toInt(), 3);
                QCOMPARE(o.value(QStringLiteral("priority")).toInt(), 5);
                QCOMPARE(o.value(QStringLiteral("attempts")).toInt(), 3);
                QCOMPARE(o.value(QStringLiteral("max_attempts")).toInt(), 3);
                const QJsonArray errors = o.value(QStringLiteral("attempt_errors")).toArray();
                QCOMPARE(errors.size(), 2);
                QVERIFY2(errors.at(0).toString().contains(QStringLiteral("attempt 1 fails on purpose")),
                         qPrintable(errors.at(0).toString()));
                QVERIFY(errors.at(1).toString().contains(QStringLiteral("attempt 2 fails on purpose")));
                QVERIFY2(o.value(QStringLiteral("output")).toString().contains(QStringLiteral("flaky: attempt 3")),
                         qPrintable(o.value(QStringLiteral("output")).toString()));
            } else if (task == u"throw") {
                QCOMPARE(o.value(QStringLiteral("state")).toString(), QStringLiteral("failed"));
                QCOMPARE(o.value(QStringLiteral("error_type")).toString(), QStringLiteral("TaskException"));
                QCOMPARE(o.value(QStringLiteral("attempts")).toInt(), 2);
                QCOMPARE(o.value(QStringLiteral("max_attempts")).toInt(), 2);
                const QJsonArray errors = o.value(QStringLiteral("attempt_errors")).toArray();
                QCOMPARE(errors.size(), 1); // the first; the last is "error"
                QVERIFY(errors.at(0).toString().contains(QStringLiteral("never")));
                QVERIFY(o.value(QStringLiteral("error")).toString().contains(QStringLiteral("never")));
                QVERIFY(!o.contains(QStringLiteral("priority")));
            } else {
                QCOMPARE(task, QStringLiteral("sleep"));
                QCOMPARE(o.value(QStringLiteral("state")).toString(), QStringLiteral("ok"));
                for (const char *key : {"priority", "attempts", "max_attempts", "attempt_errors", "output"})
                    QVERIFY2(!o.contains(QLatin1String(key)), key);
            }
        }
        verifyNoWorkersLeft(results);

        // In text, the attempt and the priority join the details of the line.
        const Run human = run(words(QStringLiteral("--workers 1 --prefix %1 --submit flaky:%2,1 "
                                                   "--retries 2 --priority -3")
                                        .arg(m_prefix, dir.filePath(QStringLiteral("again")))));
        QCOMPARE(human.exitCode, 0);
        QVERIFY2(human.out.contains(" ms, attempt 2 of 2, priority -3)"), human.out.constData());
    }

    void memoryLimitsReachThePool()
    {
        const Run r = run(words(QStringLiteral(
                "--json --list --namespace a --workers 1 --prefix %1 --soft-memory 512M "
                "--max-memory 2g --submit sleep:0 --namespace b --workers 1 --prefix %1 "
                "--max-memory 1048576000 --namespace c --workers 1 --prefix %1 "
                "--soft-memory 1.5GiB").arg(m_prefix)));
        QCOMPARE(r.exitCode, 0);
        const QList<QJsonObject> registry = events(jsonLines(r.out), QStringLiteral("registry"));
        QCOMPARE(registry.size(), 1);
        QMap<QString, QJsonObject> managers;
        for (const QJsonValue &m : registry.first().value(QStringLiteral("managers")).toArray())
            managers.insert(m[QStringLiteral("namespace")].toString(), m.toObject());
        QCOMPARE(managers.size(), 3);
        const QJsonObject a = managers.value(QStringLiteral("a"));
        QCOMPARE(a.value(QStringLiteral("soft_memory_limit")).toInteger(), qint64(512) << 20);
        QCOMPARE(a.value(QStringLiteral("hard_memory_limit")).toInteger(), qint64(2) << 30);
        const QJsonObject b = managers.value(QStringLiteral("b"));
        QCOMPARE(b.value(QStringLiteral("hard_memory_limit")).toInteger(), qint64(1048576000));
        QVERIFY(!b.contains(QStringLiteral("soft_memory_limit"))); // none: not written
        QCOMPARE(managers.value(QStringLiteral("c")).value(QStringLiteral("soft_memory_limit")).toInteger(),
                 qint64(3) << 29);
    }

    void resourceLimitsAndEnvironmentReachTheWorkers()
    {
        // The sample task "limits" reports what its worker runs with. Two sleeps first, so that
        // both workers start; each worker's variable is made of its own slot.
        const int cpu = firstAllowedCpu();
        QVERIFY(cpu >= 0);
        errno = 0;
        const int ownNice = ::getpriority(PRIO_PROCESS, 0);
        const int nice = std::max(7, ownNice); // a worker keeps a higher nice value it inherited
        // Under a sanitizer, a limit above its shadow memory's reservation (some 20 TiB).
        const qint64 space = faultsupport::sanitized ? qint64(1) << 46 : qint64(4) << 30;
        const Run r = run(words(QStringLiteral(
                "--json --list --workers 2 --prefix %1 --nice 7 --cpu-affinity %2 "
                "--max-address-space %3 --cpu-time 600 --worker-env PROCPOOL_TEST_GPU=gpu{slot} "
                "--worker-env PROCPOOL_TEST_FIXED=same --submit sleep:300 --count 2 "
                "--submit limits:PROCPOOL_TEST_GPU --count 4 --submit limits:PROCPOOL_TEST_FIXED")
                                  .arg(m_prefix)
                                  .arg(cpu)
                                  .arg(space)));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const QList<QJsonObject> all = jsonLines(r.out);
        const QList<QJsonObject> registry = events(all, QStringLiteral("registry"));
        QCOMPARE(registry.size(), 1);
        const QJsonObject pool = registry.first().value(QStringLiteral("managers")).toArray().at(0).toObject();
        QCOMPARE(pool.value(QStringLiteral("nice")).toInt(), 7);
        QCOMPARE(pool.value(QStringLiteral("cpu_affinity")).toArray(), QJsonArray({cpu}));
        QCOMPARE(pool.value(QStringLiteral("address_space_limit")).toInteger(), space);
        QCOMPARE(pool.value(QStringLiteral("cpu_time_limit")).toInt(), 600);
        QCOMPARE(pool.value(QStringLiteral("worker_environment")).toObject(),
                 QJsonObject({{QStringLiteral("PROCPOOL_TEST_GPU"), QStringLiteral("gpu{slot}")},
                              {QStringLiteral("PROCPOOL_TEST_FIXED"), QStringLiteral("same")}}));
        for (const char *key : {"pool_memory_limit", "pool_cpu_limit", "cgroup_parent", "soft_memory_limit"})
            QVERIFY2(!pool.contains(QLatin1String(key)), key);
        QMap<qint64, int> slotOf; // worker pid → slot, as --list says
        for (const QJsonValue &w : pool.value(QStringLiteral("workers")).toArray())
            slotOf.insert(w[QStringLiteral("pid")].toInteger(), w[QStringLiteral("slot")].toInt(-1));
        QCOMPARE(slotOf.size(), 2);
        QCOMPARE(QSet<int>(slotOf.cbegin(), slotOf.cend()), QSet<int>({0, 1}));

        int limitsResults = 0;
        for (const QJsonObject &o : events(all, QStringLiteral("result"))) {
            QCOMPARE(o.value(QStringLiteral("state")).toString(), QStringLiteral("ok"));
            if (o.value(QStringLiteral("task")).toString() != u"limits")
                continue;
            ++limitsResults;
            const QJsonObject result = o.value(QStringLiteral("result")).toObject();
            const qint64 worker = o.value(QStringLiteral("worker_pid")).toInteger();
            QVERIFY2(slotOf.contains(worker), qPrintable(QString::number(worker)));
            QCOMPARE(result.value(QStringLiteral("nice")).toInt(), nice);
            QCOMPARE(result.value(QStringLiteral("cpus")).toString(), QString::number(cpu));
            QCOMPARE(result.value(QStringLiteral("address_space")).toInteger(), space);
            QCOMPARE(result.value(QStringLiteral("cpu_time")).toInt(), 600);
            const QString variable = o.value(QStringLiteral("args")).toArray().at(0).toString();
            QCOMPARE(result.value(QStringLiteral("env")).toString(),
                     variable == u"PROCPOOL_TEST_GPU" ? QStringLiteral("gpu%1").arg(slotOf.value(worker))
                                                      : QStringLiteral("same"));
        }
        QCOMPARE(limitsResults, 5);
        verifyNoWorkersLeft(events(all, QStringLiteral("result")));

        // The text listing names them on a line of their own, and each worker's slot.
        const Run human = run(words(QStringLiteral("--list --workers 1 --prefix %1 --nice 7 "
                                                   "--cpu-affinity %2 --cpu-time 600 "
                                                   "--worker-env GPU={slot} --submit sleep:0")
                                        .arg(m_prefix)
                                        .arg(cpu)));
        QVERIFY2(human.exitCode == 0, human.err.constData());
        QVERIFY2(human.out.contains(QStringLiteral("    limits: nice 7, CPUs %1, CPU time 600 s, env GPU={slot}\n")
                                        .arg(cpu)
                                        .toUtf8()),
                 human.out.constData());
        QVERIFY2(human.out.contains("(slot 0) idle"), human.out.constData());
        // Without a limit, the worker runs with what it inherited.
        const Run plain = run(words(QStringLiteral("--json --workers 1 --prefix %1 --submit limits:PROCPOOL_TEST_GPU")
                                        .arg(m_prefix)));
        QCOMPARE(plain.exitCode, 0);
        const QJsonObject unlimited = events(jsonLines(plain.out), QStringLiteral("result")).value(0)
                                          .value(QStringLiteral("result")).toObject();
        QCOMPARE(unlimited.value(QStringLiteral("nice")).toInt(), ownNice);
        QVERIFY(!unlimited.contains(QStringLiteral("env")));
        QCOMPARE(unlimited.value(QStringLiteral("address_space")).toInteger(), softLimit(RLIMIT_AS));
    }

    void controlGroupFlagsShowInTheListing()
    {
        // Only the options are checked here: whether the kernel enforces them is the engine's.
        const Run r = run(words(QStringLiteral("--json --list --namespace g --workers 1 --prefix %1 "
                                               "--pool-memory 1536M --pool-cpus 1.5 --namespace plain "
                                               "--workers 1 --prefix %1")
                                    .arg(m_prefix)));
        if (r.exitCode != 0 && r.err.contains("cannot start the pool of namespace 'g'"))
            QSKIP(qPrintable(QStringLiteral("this host has no control group the pool may use: ")
                             + QString::fromUtf8(r.err)));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const QList<QJsonObject> registry = events(jsonLines(r.out), QStringLiteral("registry"));
        QCOMPARE(registry.size(), 1);
        QMap<QString, QJsonObject> managers;
        for (const QJsonValue &m : registry.first().value(QStringLiteral("managers")).toArray())
            managers.insert(m[QStringLiteral("namespace")].toString(), m.toObject());
        const QJsonObject g = managers.value(QStringLiteral("g"));
        QCOMPARE(g.value(QStringLiteral("pool_memory_limit")).toInteger(), qint64(1536) << 20);
        QCOMPARE(g.value(QStringLiteral("pool_cpu_limit")).toDouble(), 1.5);
        QVERIFY(!g.contains(QStringLiteral("cgroup_parent"))); // this program's own cgroup
        for (const char *key : {"pool_memory_limit", "pool_cpu_limit", "cgroup_parent"})
            QVERIFY2(!managers.value(QStringLiteral("plain")).contains(QLatin1String(key)), key);
    }

    void watchShowsTheAttemptAndPriorityOfRunningTasks()
    {
        // Under the worker's line, the --watch table says what its task's result line will.
        const std::optional<Run> r = runOnTerminal(
            words(QStringLiteral("--watch --workers 1 --prefix %1 --submit sleep:1500 --priority 5 "
                                 "--retries 2")
                      .arg(m_prefix)));
        if (!r)
            QSKIP("script(1) from util-linux is needed to run on a pseudo-terminal");
        QCOMPARE(r->exitCode, 0);
        static const QRegularExpression workerLine(
            QStringLiteral("busy +sleep +0 +0 [^\n]*\n {24}attempt 1 of 2, priority 5"));
        QVERIFY2(QString::fromUtf8(r->out).contains(workerLine), r->out.constData());
    }

    void jobsCarryPriorityAndRetries()
    {
        QTemporaryDir dir;
        const QString marker = dir.filePath(QStringLiteral("flaky"));
        const QString jobs = writeJobs(
            dir, QStringLiteral("{\"task\": \"flaky\", \"args\": [\"%1\", 1], \"retries\": 2, \"priority\": 4}\n"
                                "{\"task\": \"sleep\", \"args\": [0], \"retries\": 0}\n"
                                "{\"task\": \"sleep\", \"args\": [0], \"priority\": \"high\"}\n")
                     .arg(marker)
                     .toUtf8());
        QVERIFY(!jobs.isEmpty());
        const Run r = run({QStringLiteral("--json"), QStringLiteral("--on-bad-line=skip"), QStringLiteral("--workers"),
                           QStringLiteral("1"), QStringLiteral("--prefix"), m_prefix, QStringLiteral("--jobs"), jobs});
        QCOMPARE(r.exitCode, 1); // two bad lines
        const QList<QJsonObject> all = jsonLines(r.out);
        const QMap<qint64, QString> bad = badLineErrors(all);
        QCOMPARE(bad.keys(), QList<qint64>({2, 3}));
        QVERIFY2(bad.value(2).contains(QStringLiteral("\"retries\" must be an integer from 1 to 1000")),
                 qPrintable(bad.value(2)));
        QVERIFY2(bad.value(3).contains(QStringLiteral("\"priority\" must be an integer")), qPrintable(bad.value(3)));
        const QList<QJsonObject> results = events(all, QStringLiteral("result"));
        QCOMPARE(results.size(), 1);
        QCOMPARE(results.first().value(QStringLiteral("state")).toString(), QStringLiteral("ok"));
        QCOMPARE(results.first().value(QStringLiteral("attempts")).toInt(), 2);
        QCOMPARE(results.first().value(QStringLiteral("priority")).toInt(), 4);
    }

    void hostsRunWorkersThroughTheLauncher()
    {
        // `sh -c` as the launcher runs each worker here through the whole launcher path, as
        // ssh would on host "x": its results come back, and --list says where each worker runs.
        const Run r = run({QStringLiteral("--json"), QStringLiteral("--list"), QStringLiteral("--prefix"), m_prefix,
                           QStringLiteral("--host"), QStringLiteral("x:2"), QStringLiteral("--launcher"),
                           QStringLiteral("sh -c"), QStringLiteral("--submit"), QStringLiteral("primes:1000"),
                           QStringLiteral("--count"), QStringLiteral("6")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const QList<QJsonObject> all = jsonLines(r.out);
        const QList<QJsonObject> results = events(all, QStringLiteral("result"));
        QCOMPARE(results.size(), 6);
        for (const QJsonObject &o : results) {
            QCOMPARE(o.value(QStringLiteral("state")).toString(), QStringLiteral("ok"));
            QCOMPARE(o.value(QStringLiteral("result")).toInt(), 168);
        }
        const QList<QJsonObject> registry = events(all, QStringLiteral("registry"));
        QCOMPARE(registry.size(), 1);
        const QJsonObject manager = registry.first().value(QStringLiteral("managers")).toArray().at(0).toObject();
        QCOMPARE(manager.value(QStringLiteral("max_workers")).toInt(), 2); // the slots of the hosts
        QCOMPARE(manager.value(QStringLiteral("hosts")).toArray(),
                 QJsonArray({QJsonObject{{QStringLiteral("host"), QStringLiteral("x")},
                                         {QStringLiteral("workers"), 2},
                                         {QStringLiteral("launcher"), QStringLiteral("sh -c")}}}));
        int done = 0;
        for (const QJsonValue &w : manager.value(QStringLiteral("workers")).toArray()) {
            QCOMPARE(w[QStringLiteral("host")].toString(), QStringLiteral("x"));
            if (w[QStringLiteral("tasks_done")].toInt() == 0)
                continue; // it may still be starting: it has not said where it runs yet
            QVERIFY(!w[QStringLiteral("reported_host")].toString().isEmpty());
            QVERIFY(w[QStringLiteral("remote_pid")].toInteger() > 0);
            done += w[QStringLiteral("tasks_done")].toInt();
        }
        QCOMPARE(done, 6);
        verifyNoWorkersLeft(results);
    }

    void hostfileEntriesAndComments()
    {
        QTemporaryDir dir;
        QFile file(dir.filePath(QStringLiteral("hosts")));
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("# the test's hosts\nx:1\n\n2/y   # two on y\n");
        file.close();
        const Run r = run({QStringLiteral("--list"), QStringLiteral("--prefix"), m_prefix, QStringLiteral("--hostfile"),
                           file.fileName(), QStringLiteral("--launcher"), QStringLiteral("sh -c"),
                           QStringLiteral("--submit"), QStringLiteral("sleep:10"), QStringLiteral("--count"),
                           QStringLiteral("3")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QCOMPARE(r.out.count(" ok [default] sleep(10) = 10"), 3);
        QVERIFY2(r.out.contains("max_workers=3"), r.out.constData());
        QVERIFY2(r.out.contains("    hosts: 1 on x (sh -c), 2 on y (sh -c)\n"), r.out.constData());
        static const QRegularExpression worker(QStringLiteral("    worker \\d+ [^\n]* on (x|y) \\(reported host [^,]+, pid \\d+\\)\n"));
        QVERIFY2(QString::fromUtf8(r.out).contains(worker), r.out.constData());
        QCOMPARE(processesNamed(m_prefix + u'-'), QList<qint64>());
    }

    void listAfterTheWork()
    {
        // --list comes after the last future: every worker is idle and has counted its tasks.
        const Run r = run(words(QStringLiteral("--json --list --workers 2 --submit sleep:20 --count 6")));
        QCOMPARE(r.exitCode, 0);
        const QList<QJsonObject> registry = events(jsonLines(r.out), QStringLiteral("registry"));
        QCOMPARE(registry.size(), 1);
        const QJsonArray managers = registry.first().value(QStringLiteral("managers")).toArray();
        QCOMPARE(managers.size(), 1);
        int done = 0;
        for (const QJsonValue &w : managers.at(0)[QStringLiteral("workers")].toArray()) {
            QCOMPARE(w[QStringLiteral("state")].toString(), QStringLiteral("idle"));
            QVERIFY(w[QStringLiteral("current_task")].isNull());
            done += w[QStringLiteral("tasks_done")].toInt();
        }
        QCOMPARE(done, 6);
    }

    void listHuman()
    {
        const Run r = run(words(QStringLiteral("--list --namespace alpha --namespace beta --workers 3")));
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("registry of process "));
        QVERIFY(r.out.contains("namespace='alpha'"));
        QVERIFY(r.out.contains("namespace='beta'"));
        QVERIFY(r.out.contains("max_workers=3"));
        QVERIFY(r.out.contains("no workers"));
    }

    void jobsFileBadLine_data()
    {
        QTest::addColumn<QString>("policy");
        QTest::addColumn<int>("exitCode");
        QTest::addColumn<int>("results");
        QTest::newRow("stop") << QStringLiteral("stop") << 2 << 2;
        QTest::newRow("skip") << QStringLiteral("skip") << 1 << 4;
    }

    void jobsFileBadLine()
    {
        QFETCH(QString, policy);
        QFETCH(int, exitCode);
        QFETCH(int, results);
        QTemporaryDir dir;
        const QString jobs = writeJobs(
            dir, "{\"task\": \"sleep\", \"args\": [1]}\n"
                 "\n"
                 "{\"task\": \"primes\", \"args\": [100], \"namespace\": \"a\"}\n"
                 "{\"task\": \"sleep\", \"args\": [\"soon\"]}\n"
                 "{\"task\": \"echo\", \"args\": [2], \"namespace\": \"b\"}\n"
                 "{\"task\": \"sleep\", \"args\": [1], \"namespace\": \"b\", \"task_type\": \"wrong\"}\n");
        QVERIFY(!jobs.isEmpty());
        const Run r = run({QStringLiteral("--json"), QStringLiteral("--on-bad-line=") + policy,
                           QStringLiteral("--jobs"), jobs,
                           QStringLiteral("--namespace"), QStringLiteral("a"),
                           QStringLiteral("--namespace"), QStringLiteral("b"),
                           QStringLiteral("--task-type"), QStringLiteral("io")});
        QCOMPARE(r.exitCode, exitCode);
        QVERIFY2(r.err.contains("jobs line 4: argument 1 (ms:int) of task 'sleep': expected an "
                                "integer, got a string"),
                 r.err.constData());
        const QList<QJsonObject> all = jsonLines(r.out);
        QCOMPARE(events(all, QStringLiteral("result")).size(), results);
        QCOMPARE(events(all, QStringLiteral("bad_line")).size(), 1);
        QCOMPARE(events(all, QStringLiteral("bad_line")).first().value(QStringLiteral("line")).toInt(), 4);
        const QJsonObject summary = events(all, QStringLiteral("summary")).first();
        QCOMPARE(summary.value(QStringLiteral("bad_lines")).toInt(), 1);
        QCOMPARE(summary.value(QStringLiteral("exit_status")).toInt(), exitCode);
        for (const QJsonObject &o : events(all, QStringLiteral("result"))) {
            const qint64 line = o.value(QStringLiteral("line")).toInteger();
            QVERIFY(line == 1 || line == 3 || line == 5 || line == 6);
            if (line == 1)
                QCOMPARE(o.value(QStringLiteral("namespace")).toString(), QStringLiteral("a"));
            if (line == 5) // b accepts only task type "io"
                QCOMPARE(o.value(QStringLiteral("state")).toString(), QStringLiteral("rejected"));
            if (line == 6)
                QVERIFY(o.value(QStringLiteral("error")).toString().contains(QStringLiteral("'io'")));
        }
    }

    void jobsFromStdin()
    {
        QByteArray input;
        for (int i = 0; i < 200; ++i)
            input += QStringLiteral("{\"task\": \"sleep\", \"args\": [%1]}\n").arg(i % 3).toUtf8();
        input += "{\"task\": \"nosuch\"}\n"; // the last line, a bad one, with skip
        const Run r = run(words(QStringLiteral("--json --jobs - --on-bad-line skip --workers 2")),
                          input, true);
        QCOMPARE(r.exitCode, 1);
        const QList<QJsonObject> all = jsonLines(r.out);
        QCOMPARE(events(all, QStringLiteral("result")).size(), 200);
        QVERIFY(r.err.contains("jobs line 201: there is no task 'nosuch'"));

        const Run clean = run({QStringLiteral("--jobs"), QStringLiteral("-")},
                              "{\"task\": \"sleep\", \"args\": [0]}\n"
                              "{\"task\": \"echo\", \"args\": [1]}", // no final newline
                              true);
        QCOMPARE(clean.exitCode, 0);
        QVERIFY(clean.out.contains("summary: 2 task(s)"));
    }

    // A jobs stream is read only as fast as the workers take its tasks: each pool's queue is
    // bounded (twice its workers, at least 8), and a job the full queue refuses waits in
    // headless mode until a task has finished; none is lost or reordered.
    void jobsWaitForRoomInABoundedQueue()
    {
        QByteArray input;
        for (int i = 0; i < 60; ++i)
            input += QStringLiteral("{\"task\": \"sleep\", \"args\": [%1]}\n").arg(i % 4).toUtf8();
        const Run r = run(words(QStringLiteral("--json --jobs - --workers 1 --list")), input, true);
        QCOMPARE(r.exitCode, 0);
        const QList<QJsonObject> all = jsonLines(r.out);
        QList<qint64> lines;
        for (const QJsonObject &o : events(all, QStringLiteral("result"))) {
            QCOMPARE(o.value(QStringLiteral("state")).toString(), QStringLiteral("ok"));
            lines.append(o.value(QStringLiteral("line")).toInteger());
        }
        QList<qint64> expected(60);
        std::iota(expected.begin(), expected.end(), 1);
        QCOMPARE(lines, expected); // every job, in the order submitted
        const QList<QJsonObject> registry = events(all, QStringLiteral("registry"));
        QCOMPARE(registry.size(), 1);
        const QJsonObject manager =
            registry.first().value(QStringLiteral("managers")).toArray().first().toObject();
        QCOMPARE(manager.value(QStringLiteral("max_queued")).toInt(), 8);
    }

    void overlongJobLine_data()
    {
        QTest::addColumn<bool>("fromStdin");
        QTest::addColumn<QString>("policy");
        QTest::newRow("file, skip") << false << QStringLiteral("skip");
        QTest::newRow("stdin, skip") << true << QStringLiteral("skip");
        QTest::newRow("file, stop") << false << QStringLiteral("stop");
        QTest::newRow("stdin, stop") << true << QStringLiteral("stop");
    }

    void overlongJobLine()
    {
        // Line 2 is exactly as long as a line may be (blank, so skipped without a word). Line 3
        // is far longer, line 4 one byte longer: it comes with its newline in the same read.
        // A regular file and a pipe are read differently.
        QFETCH(bool, fromStdin);
        QFETCH(QString, policy);
        constexpr qsizetype limit = 16 * 1024 * 1024;
        const QByteArray padded = "{\"task\": \"echo\", \"args\": [3], \"pad\": \"";
        auto overlong = [&](qsizetype length) {
            return padded + QByteArray(length - padded.size() - 2, 'x') + "\"}\n";
        };
        QByteArray input = "{\"task\": \"sleep\", \"args\": [1]}\n";
        input += QByteArray(limit, ' ') + '\n';
        input += overlong(limit + 1024 * 1024);
        input += overlong(limit + 1);
        input += "{\"task\": \"echo\", \"args\": [5]}\n";
        input += "{\"task\": \"sleep\", \"args\": [6]}"; // no final newline
        QTemporaryDir dir;
        const QString path = fromStdin ? QStringLiteral("-") : writeJobs(dir, input);
        QVERIFY(!path.isEmpty());
        const QStringList arguments = {QStringLiteral("--json"), QStringLiteral("--workers"),
                                       QStringLiteral("1"), QStringLiteral("--on-bad-line=") + policy,
                                       QStringLiteral("--jobs"), path};
        const Run r = run(arguments, input, fromStdin);
        const bool skip = policy == u"skip";
        QCOMPARE(r.exitCode, skip ? 1 : 2);
        QVERIFY2(r.err.contains("procpool: jobs line 3: longer than 16 MiB, the most one job line "
                                "may hold; write one job per line"),
                 r.err.constData());
        const QList<QJsonObject> all = jsonLines(r.out);
        QCOMPARE(badLineErrors(all).keys(), skip ? QList<qint64>({3, 4}) : QList<qint64>{3});
        QCOMPARE(resultLines(all), skip ? QList<qint64>({1, 5, 6}) : QList<qint64>{1});
        for (const QJsonObject &o : events(all, QStringLiteral("result")))
            QCOMPARE(o.value(QStringLiteral("state")).toString(), QStringLiteral("ok"));
        if (skip)
            QVERIFY2(r.err.contains("procpool: jobs line 4: longer than 16 MiB"), r.err.constData());
        else
            QVERIFY2(r.err.contains("stopped reading the jobs at line 3"), r.err.constData());
    }

    void integersRoundTripExactly()
    {
        // Pool "guard" rejects every job, so its arguments are reported without running
        // primes for ever; pool "run" hands the extremes to a worker and prints what comes back.
        QTemporaryDir dir;
        const QString jobs = writeJobs(
            dir, "{\"task\": \"primes\", \"args\": [9223372036854775807], \"namespace\": \"guard\"}\n"
                 "{\"task\": \"primes\", \"args\": [-9223372036854775808], \"namespace\": \"guard\"}\n"
                 "{\"task\": \"sleep\", \"args\": [-2147483648]}\n"
                 "{\"task\": \"primes\", \"args\": [-9223372036854775808]}\n"
                 "{\"task\": \"sleep\", \"args\": [9223372036854775807]}\n"
                 "{\"task\": \"primes\", \"args\": [-9223372036854775809], \"namespace\": \"guard\"}\n"
                 "{\"task\": \"primes\", \"args\": [9223372036854775808], \"namespace\": \"guard\"}\n"
                 "{\"task\": \"primes\", \"args\": [9.007199254740993e15], \"namespace\": \"guard\"}\n"
                 "{\"task\": \"primes\", \"args\": [1e3], \"namespace\": \"guard\"}\n");
        QVERIFY(!jobs.isEmpty());
        const QStringList arguments = {
            QStringLiteral("--on-bad-line=skip"), QStringLiteral("--jobs"), jobs,
            QStringLiteral("--order"), QStringLiteral("submitted"),
            QStringLiteral("--namespace"), QStringLiteral("run"), QStringLiteral("--workers"),
            QStringLiteral("1"), QStringLiteral("--namespace"), QStringLiteral("guard"),
            QStringLiteral("--task-type"), QStringLiteral("guard")};
        constexpr qint64 max = std::numeric_limits<qint64>::max();
        constexpr qint64 min = std::numeric_limits<qint64>::min();

        const Run json = run(QStringList{QStringLiteral("--json")} + arguments);
        QCOMPARE(json.exitCode, 1);
        QVERIFY2(json.out.contains("\"args\":[9223372036854775807]"), json.out.constData());
        QVERIFY2(json.out.contains("\"args\":[-9223372036854775808]"), json.out.constData());
        const QList<QJsonObject> all = jsonLines(json.out);
        const QList<QJsonObject> results = events(all, QStringLiteral("result"));
        QCOMPARE(results.size(), 5);
        QCOMPARE(results.at(0).value(QStringLiteral("args")).toArray().at(0).toInteger(), max);
        QCOMPARE(results.at(0).value(QStringLiteral("state")).toString(),
                 QStringLiteral("rejected"));
        QCOMPARE(results.at(1).value(QStringLiteral("args")).toArray().at(0).toInteger(), min);
        QCOMPARE(results.at(2).value(QStringLiteral("result")).toInteger(), -2147483648LL);
        QCOMPARE(results.at(3).value(QStringLiteral("args")).toArray().at(0).toInteger(), min);
        QCOMPARE(results.at(3).value(QStringLiteral("result")).toInteger(), 0);
        QCOMPARE(results.at(4).value(QStringLiteral("args")).toArray().at(0).toInteger(), 1000);
        // Beyond int64 the JSON reader rounds: no number is taken as a nearby one.
        const QMap<qint64, QString> bad = badLineErrors(all);
        QCOMPARE(bad.keys(), QList<qint64>({5, 6, 7, 8}));
        QCOMPARE(bad.value(5), QStringLiteral("argument 1 (ms:int) of task 'sleep': "
                                              "9223372036854775807 is out of range for int "
                                              "(-2147483648 … 2147483647)"));
        const QString int64Range = QStringLiteral(" is out of range for int64 "
                                                  "(-9223372036854775808 … 9223372036854775807)");
        QVERIFY2(bad.value(6).endsWith(QStringLiteral("-9223372036854775809") + int64Range),
                 qPrintable(bad.value(6)));
        QVERIFY2(bad.value(7).endsWith(QStringLiteral("9223372036854775808") + int64Range),
                 qPrintable(bad.value(7)));
        QVERIFY2(bad.value(8).contains(
                     QStringLiteral("9.007199254740993e15 is not an exact integer")),
                 qPrintable(bad.value(8)));

        const Run human = run(arguments);
        QCOMPARE(human.exitCode, 1);
        QVERIFY2(human.out.contains("REJECTED [guard] primes(9223372036854775807) (line 1)"),
                 human.out.constData());
        QVERIFY(human.out.contains("REJECTED [guard] primes(-9223372036854775808) (line 2)"));
        QVERIFY(human.out.contains("ok [run] sleep(-2147483648) = -2147483648 (line 3"));
        QVERIFY(human.out.contains("ok [run] primes(-9223372036854775808) = 0 (line 4"));
        QVERIFY2(human.err.contains("jobs line 5: argument 1 (ms:int) of task 'sleep': "
                                    "9223372036854775807 is out of range"),
                 human.err.constData());

        const Run submitted = run(words(QStringLiteral(
            "--task-type guard --submit primes:9223372036854775807 --submit "
            "primes:-9223372036854775808")));
        QCOMPARE(submitted.exitCode, 1);
        QVERIFY2(submitted.out.contains("REJECTED [default] primes(9223372036854775807)"),
                 submitted.out.constData());
        QVERIFY(submitted.out.contains("REJECTED [default] primes(-9223372036854775808)"));
    }

    void duplicateKeysAreBadLines_data()
    {
        QTest::addColumn<QString>("policy");
        QTest::newRow("skip") << QStringLiteral("skip");
        QTest::newRow("stop") << QStringLiteral("stop");
    }

    void duplicateKeysAreBadLines()
    {
        // The JSON reader keeps one of two values of a key without a word; a job cannot say
        // which it meant, whatever the key, the values or how the key is spelt.
        QFETCH(QString, policy);
        QTemporaryDir dir;
        const QString jobs = writeJobs(
            dir, "{\"task\": \"sleep\", \"args\": [1]}\n"
                 "{\"task\": \"sleep\", \"task\": \"echo\", \"args\": [1]}\n"
                 "{\"task\": \"sleep\", \"args\": [1], \"args\": [2]}\n"
                 "{\"task\": \"sleep\", \"namespace\": \"default\", \"namespace\": \"default\"}\n"
                 "{\"task\": \"sleep\", \"task_type\": \"a\", \"task_type\": \"b\"}\n"
                 "{\"task\": \"sleep\", \"ta\\u0073k\": \"echo\"}\n"
                 "{\"task\": \"sleep\", \"args\": [{\"x\": 1, \"x\": 2}]}\n"
                 "{\"task\": \"echo\", \"args\": [8], \"namespace\": \"default\"}\n");
        QVERIFY(!jobs.isEmpty());
        const Run r = run({QStringLiteral("--json"), QStringLiteral("--workers"),
                           QStringLiteral("1"), QStringLiteral("--on-bad-line=") + policy,
                           QStringLiteral("--jobs"), jobs});
        const bool skip = policy == u"skip";
        QCOMPARE(r.exitCode, skip ? 1 : 2);
        const QList<QJsonObject> all = jsonLines(r.out);
        QCOMPARE(resultLines(all), skip ? QList<qint64>({1, 8}) : QList<qint64>{1});
        const QMap<qint64, QString> bad = badLineErrors(all);
        const QMap<qint64, QString> keys = {
            {2, QStringLiteral("task")},      {3, QStringLiteral("args")},
            {4, QStringLiteral("namespace")}, {5, QStringLiteral("task_type")},
            {6, QStringLiteral("task")},      {7, QStringLiteral("x")}};
        QCOMPARE(bad.keys(), skip ? keys.keys() : QList<qint64>{2});
        for (auto it = bad.cbegin(); it != bad.cend(); ++it) {
            const QString expected = QStringLiteral("key \"%1\" is given twice in one object, and "
                                                    "which value counts is not defined; give "
                                                    "each key once")
                                         .arg(keys.value(it.key()));
            QCOMPARE(it.value(), expected);
            const QString message = QStringLiteral("jobs line %1: %2").arg(it.key()).arg(expected);
            QVERIFY2(r.err.contains(message.toUtf8()), r.err.constData());
        }
    }

    void controlCharactersAreEscaped_data()
    {
        QTest::addColumn<QString>("mode");
        QTest::newRow("text to a pipe") << QStringLiteral("text");
        QTest::newRow("json to a pipe") << QStringLiteral("json");
        QTest::newRow("text to a terminal") << QStringLiteral("terminal");
        QTest::newRow("--watch on a terminal") << QStringLiteral("watch");
    }

    void controlCharactersAreEscaped()
    {
        // What tasks print, throw and return, and what a jobs line names, may hold escape
        // sequences (a title change, colours, clearing the screen, a C1 CSI). None may reach
        // the output as it is; tab and non-ASCII text stay as they are.
        QFETCH(QString, mode);
        const QString text = QStringLiteral("\x1b]0;pwned\x07\x1b[31mred\u009b2J\x7f tab\there "
                                            "\u00fcnic\u00f8de \u2713");
        const QString thrown = QStringLiteral("\x1b[2Jgone\nsecond\rline");
        const QString name = QStringLiteral("\x1b[31mred\nnext");
        auto job = [](const QString &task, const QString &argument) {
            const QJsonObject object{{QStringLiteral("task"), task},
                                     {QStringLiteral("args"), QJsonArray{argument}}};
            return QJsonDocument(object).toJson(QJsonDocument::Compact) + '\n';
        };
        QTemporaryDir dir;
        const QString jobs = writeJobs(dir, job(QStringLiteral("print"), text)
                                                + job(QStringLiteral("throw"), thrown)
                                                + job(QStringLiteral("greet"), name)
                                                + "{\"task\": \"\\u001b[31mnosuch\"}\n");
        QVERIFY(!jobs.isEmpty());
        const QStringList arguments = {QStringLiteral("--workers"), QStringLiteral("1"),
                                       QStringLiteral("--order"), QStringLiteral("submitted"),
                                       QStringLiteral("--on-bad-line=skip"),
                                       QStringLiteral("--jobs"), jobs};
        const QByteArray shownText = "\\x1b]0;pwned\\x07\\x1b[31mred\\x9b2J\\x7f tab\there "
                                     "\xc3\xbcnic\xc3\xb8" "de \xe2\x9c\x93";
        Run r;
        if (mode == u"terminal" || mode == u"watch") {
            const std::optional<Run> onTerminal =
                runOnTerminal(mode == u"watch" ? arguments + QStringList{QStringLiteral("--watch")}
                                               : arguments);
            if (!onTerminal)
                QSKIP("script(1) from util-linux is needed to run on a pseudo-terminal");
            r = *onTerminal;
            r.err = r.out;
            // The progress bar and the table draw with control sequences of their own; none
            // of those below.
            for (const char *raw : {"\x1b]0;", "\x07", "\x1b[31m", "\x1b[2J", "\xc2\x9b", "\x7f"})
                QVERIFY2(!r.out.contains(raw), r.out.toPercentEncoding(" \n\\").constData());
        } else {
            r = run(mode == u"json" ? QStringList{QStringLiteral("--json")} + arguments
                                    : arguments);
            QCOMPARE(terminalControlAt(r.out), -1);
            QCOMPARE(terminalControlAt(r.err), -1);
        }
        QCOMPARE(r.exitCode, 1);
        // What the worker printed: on stderr, or in the table's "recent" panel cut to its width.
        QVERIFY2(r.err.contains("stdout: \\x1b]0;pwned\\x07\\x1b[31mred"),
                 r.err.toPercentEncoding(" \n\\").constData());
        if (mode == u"watch")
            return;
        QVERIFY(r.err.contains("stdout: " + shownText));
        QVERIFY(r.err.contains("stderr: " + shownText));
        QVERIFY(r.err.contains("there is no task '\\x1b[31mnosuch'"));
        if (mode == u"json") {
            // JSON keeps every value exact: its own \u escapes are harmless.
            const QList<QJsonObject> results = events(jsonLines(r.out), QStringLiteral("result"));
            QCOMPARE(results.size(), 3);
            QCOMPARE(results.at(0).value(QStringLiteral("args")).toArray().at(0).toString(), text);
            QCOMPARE(results.at(1).value(QStringLiteral("error")).toString(),
                     QStringLiteral("task 'throw' threw std::runtime_error: ") + thrown);
            QCOMPARE(results.at(2).value(QStringLiteral("result")).toString(),
                     QStringLiteral("hello, ") + name);
            return;
        }
        // A result stays on its line; an error's own lines stay lines, indented.
        QVERIFY2(r.out.contains("greet(\"\\x1b[31mred\\x0anext\") = "
                                "\"hello, \\x1b[31mred\\x0anext\""),
                 r.out.toPercentEncoding(" \n\\").constData());
        QVERIFY(r.out.contains("threw std::runtime_error: \\x1b[2Jgone"));
        QVERIFY(r.out.contains("    second\\x0dline"));
        QVERIFY(r.out.contains("print(\"" + shownText + "\") = 41"));
    }

    void floodedOutputIsCountedInTheEnginesDropLine()
    {
        // A worker prints far more lines than anyone reads: this run's stderr is a pipe the
        // test leaves unread until the worker is done, so the thread that prints them is stuck
        // after the first 64 KiB. The pool holds a bounded backlog and counts the rest; once
        // the pipe is read, the count arrives as a line of its own. Every line is either shown
        // or counted.
        constexpr int lines = 200000;
        int err[2];
        QVERIFY(::pipe2(err, O_CLOEXEC) == 0);
        QProcess p;
        p.setProgram(QStringLiteral(PROCPOOL_EXECUTABLE));
        p.setArguments(headless(words(QStringLiteral("--workers 1 --prefix %1 --submit flood:%2")
                                          .arg(m_prefix)
                                          .arg(lines))));
        p.setChildProcessModifier([w = err[1]] { ::dup2(w, STDERR_FILENO); });
        p.start();
        ::close(err[1]);
        QVERIFY(p.waitForStarted(hangGuardMs));
        p.closeWriteChannel();

        // Done: the worker wrote the flood (its result comes only after the pool read every
        // line) and waits for its next call.
        QList<qint64> workers;
        QTRY_VERIFY((workers = processesNamed(m_prefix + u'-')).size() == 1);
        const qint64 worker = workers.first();
        QDeadlineTimer deadline(hangGuardMs);
        for (;;) {
            const QByteArray io = faultsupport::readFile(QStringLiteral("/proc/%1/io").arg(worker));
            const qint64 written = QRegularExpression(QStringLiteral("wchar: (\\d+)"))
                                       .match(QString::fromLatin1(io))
                                       .captured(1)
                                       .toLongLong();
            const long call = faultsupport::readFile(QStringLiteral("/proc/%1/syscall").arg(worker))
                                  .split(' ')
                                  .value(0)
                                  .toLong();
            if (written >= qint64(lines) * 16 && call == SYS_read)
                break;
            QVERIFY2(!deadline.hasExpired() && processAlive(worker), io.constData());
            QThread::msleep(1);
        }

        QByteArray shown;
        ::fcntl(err[0], F_SETFL, O_NONBLOCK);
        auto drain = [&] {
            char buffer[65536];
            for (ssize_t n; (n = ::read(err[0], buffer, sizeof buffer)) > 0;)
                shown.append(buffer, n);
        };
        while (!p.waitForFinished(10) && !deadline.hasExpired())
            drain();
        drain();
        ::close(err[0]);
        QCOMPARE(p.exitStatus(), QProcess::NormalExit);
        QCOMPARE(p.exitCode(), 0);
        QVERIFY2(p.readAllStandardOutput().contains(QByteArray("flood(") + QByteArray::number(lines)
                                                    + ") = " + QByteArray::number(lines)),
                 shown.right(2000).constData());

        qint64 printed = 0;
        qint64 dropped = 0;
        const QRegularExpression marker(
            QStringLiteral("^\\[\\S+ worker %1\\] procpool: (\\d+) lines of this worker's output "
                           "were dropped: the receivers of workerLog fell behind").arg(worker));
        for (const QByteArray &line : shown.split('\n')) {
            if (line.contains(" flood line "))
                ++printed;
            else if (const QRegularExpressionMatch m = marker.match(QString::fromUtf8(line)); m.hasMatch())
                dropped += m.captured(1).toLongLong();
        }
        QVERIFY2(dropped > 0, shown.right(2000).constData());
        QCOMPARE(printed + dropped, qint64(lines));
    }

    void firstInterruptCancelsQueuedAndWaitsForRunning_data()
    {
        QTest::addColumn<int>("signal");
        QTest::newRow("SIGINT") << int(SIGINT);
        QTest::newRow("SIGTERM") << int(SIGTERM);
    }

    void firstInterruptCancelsQueuedAndWaitsForRunning()
    {
        // The interrupt arrives while both workers are inside a sleep of 1500 ms (seen in
        // /proc, not guessed from time): those two tasks run to their end and are reported
        // "ok" with their full time; every task still queued is reported "cancelled".
        QFETCH(int, signal);
        constexpr int sleepMs = 1500;
        startInteractive(words(QStringLiteral(
                "--json --workers 2 --prefix %1 --submit print:ready --submit "
                "sleep:%2 --count 20").arg(m_prefix).arg(sleepMs)));
        QByteArray err;
        QVERIFY2(waitForStderr(&err, "stdout: ready"), err.constData());
        QList<qint64> workers;
        QTRY_VERIFY((workers = processesNamed(m_prefix + u'-')).size() == 2);
        for (const qint64 pid : workers)
            QVERIFY(faultsupport::waitUntilSleepingInTask(pid));
        ::kill(pid_t(m_process->processId()), signal);
        QVERIFY(m_process->waitForFinished(hangGuardMs));
        err += m_process->readAllStandardError();
        QCOMPARE(m_process->exitStatus(), QProcess::NormalExit);
        QCOMPARE(m_process->exitCode(), 1);
        static const QRegularExpression acknowledged(QStringLiteral(
            "procpool: SIG(INT|TERM): taking no more work, cancelled (\\d+) queued task\\(s\\), "
            "waiting for (\\d+) running; press Ctrl-C again to kill the workers\n"));
        const QRegularExpressionMatch said = acknowledged.match(QString::fromUtf8(err));
        QVERIFY2(said.hasMatch(), err.constData());
        QCOMPARE(said.captured(1), QString::fromLatin1(sigabbrev_np(signal)));
        const int cancelledSaid = said.captured(2).toInt();
        const int runningSaid = said.captured(3).toInt();
        const QList<QJsonObject> all = jsonLines(m_process->readAllStandardOutput());
        const QList<QJsonObject> results = events(all, QStringLiteral("result"));
        const QJsonObject summary = events(all, QStringLiteral("summary")).value(0);
        // Every submitted future is reported (the rest of the 21 was never submitted: at most
        // a bounded number of tasks is in flight).
        QCOMPARE(results.size(), summary.value(QStringLiteral("total")).toInt());
        QVERIFY(results.size() >= 3 && results.size() <= 21);
        QCOMPARE(summary.value(QStringLiteral("interrupted")).toBool(), true);
        QCOMPARE(summary.value(QStringLiteral("failed")).toInt(), 0);
        QCOMPARE(summary.value(QStringLiteral("rejected")).toInt(), 0);
        QVERIFY(cancelledSaid >= 1);
        QCOMPARE(summary.value(QStringLiteral("cancelled")).toInt(), cancelledSaid);
        QSet<qint64> finishedBy; // the workers whose sleep ended "ok"
        int cancelled = 0, ok = 0;
        for (const QJsonObject &o : results) {
            const QString state = o.value(QStringLiteral("state")).toString();
            const QString task = o.value(QStringLiteral("task")).toString();
            if (state == u"cancelled") {
                // (One prefetched into a worker's pipe ends when it comes up there: see
                // "The prefetch trade-off" in docs/architecture.md.)
                QCOMPARE(task, QStringLiteral("sleep"));
                ++cancelled;
                continue;
            }
            QCOMPARE(state, QStringLiteral("ok"));
            ++ok;
            if (task == u"print")
                continue;
            QCOMPARE(task, QStringLiteral("sleep"));
            // Its full time: the task returns its argument only after sleeping all of it.
            // (duration_ms runs from when the pool learnt the task had started, which can be a
            // few milliseconds after it did, so it is no measure of that.)
            QCOMPARE(o.value(QStringLiteral("result")).toInt(), sleepMs);
            finishedBy.insert(o.value(QStringLiteral("worker_pid")).toInteger());
        }
        // Both sleeps that ran when the interrupt came finished in their workers.
        QCOMPARE(finishedBy, QSet<qint64>(workers.cbegin(), workers.cend()));
        QCOMPARE(cancelled, cancelledSaid);
        QCOMPARE(ok + cancelled, int(results.size()));
        QVERIFY2(runningSaid >= 2, err.constData()); // the two sleeps seen in /proc
        verifyNoWorkersLeft(results);
    }

    void secondInterruptKillsTheWorkers()
    {
        startInteractive(words(QStringLiteral(
                "--workers 2 --prefix %1 --submit print:ready --submit hang "
                "--count 4").arg(m_prefix)));
        QByteArray err;
        QVERIFY2(waitForStderr(&err, "stdout: ready"), err.constData());
        QList<qint64> workers;
        QTRY_VERIFY((workers = processesNamed(m_prefix + u'-')).size() == 2);
        ::kill(pid_t(m_process->processId()), SIGINT);
        QVERIFY2(waitForStderr(&err, "press Ctrl-C again"), err.constData());
        QCOMPARE(m_process->state(), QProcess::Running); // the hanging tasks keep it running
        ::kill(pid_t(m_process->processId()), SIGINT);
        QVERIFY(m_process->waitForFinished(hangGuardMs));
        err += m_process->readAllStandardError();
        QCOMPARE(m_process->exitStatus(), QProcess::NormalExit);
        QCOMPARE(m_process->exitCode(), 1);
        QVERIFY2(err.contains("killed 2 worker(s)"), err.constData());
        for (const qint64 pid : workers)
            QVERIFY(!processAlive(pid));
        QCOMPARE(processesNamed(m_prefix + u'-'), QList<qint64>());
    }

    void closedOutputEndsTheRun()
    {
        // `procpool --headless ... | head -1`: the reader goes away after one line, the run
        // ends (SIGPIPE ignored, the failed write noticed) and takes its workers with it.
        QProcess shell;
        shell.setProgram(QStringLiteral("bash"));
        shell.setArguments({QStringLiteral("-c"),
                            QStringLiteral("\"$0\" \"$@\" | head -1; echo \"status ${PIPESTATUS[0]}\" >&2"),
                            QStringLiteral(PROCPOOL_EXECUTABLE), QStringLiteral("--headless"),
                            QStringLiteral("--json"), QStringLiteral("--workers"), QStringLiteral("2"),
                            QStringLiteral("--prefix"), m_prefix,
                            QStringLiteral("--submit"), QStringLiteral("sleep:20"),
                            QStringLiteral("--count"), QStringLiteral("100000")});
        shell.start();
        QVERIFY(shell.waitForFinished(hangGuardMs));
        const QList<QJsonObject> out = jsonLines(shell.readAllStandardOutput());
        QCOMPARE(out.size(), 1);
        QCOMPARE(out.first().value(QStringLiteral("event")).toString(), QStringLiteral("result"));
        const QByteArray err = shell.readAllStandardError();
        QVERIFY2(err.contains("status 1"), err.constData());
        verifyNoWorkersLeft(out);
    }

    void decorationsOnATerminal_data()
    {
        QTest::addColumn<QString>("flags");
        QTest::addColumn<QByteArray>("expected");
        // The progress bar on stderr, and the --watch table on the alternate screen.
        QTest::newRow("progress") << QString() << QByteArray("ETA ");
        QTest::newRow("watch") << QStringLiteral("--watch") << QByteArray("\033[?1049h");
    }

    void decorationsOnATerminal()
    {
        // script(1) runs the command on a pseudo-terminal. The run lasts seconds, many times
        // the 250 ms between two redraws.
        QFETCH(QString, flags);
        QFETCH(QByteArray, expected);
        const std::optional<Run> r = runOnTerminal(
            words(QStringLiteral("--workers 1 --submit sleep:300 --count 10 ") + flags));
        if (!r)
            QSKIP("script(1) from util-linux is needed to run on a pseudo-terminal");
        const QByteArray out = r->out;
        QCOMPARE(r->exitCode, 0);
        QVERIFY2(out.contains(expected), out.constData());
        QVERIFY(out.contains("summary: 10 task(s)"));
        if (!flags.isEmpty()) {
            QVERIFY(out.contains("NAMESPACE"));
            QVERIFY(out.contains("\033[?1049l")); // the screen is left before the summary
        }
    }

    void watchNeedsATerminal()
    {
        // Without a terminal on stdout, --watch draws nothing and the results are reported.
        const Run r = run(words(QStringLiteral("--watch --submit sleep:1 --count 3")));
        QCOMPARE(r.exitCode, 0);
        QCOMPARE(r.out.count("ok [default] sleep(1)"), 3);
        QVERIFY(!r.out.contains('\033'));
    }
};

PROCPOOL_TEST_MAIN(TestHeadless)
#include "tst_headless.moc"
