// procpool — hosts and launchers: reading them (hosts.h), and the command line that starts a
// worker through a launcher (hosts_p.h).
#include "hosts_p.h"

#include <procpool/hosts.h>

#include <QtCore/QFile>
#include <QtCore/QProcess>
#include <QtCore/QRegularExpression>

#include <numeric>
#include <stdexcept>

namespace procpool {

namespace {

[[noreturn]] void invalid(const QString &message)
{
    throw std::invalid_argument(message.toStdString());
}

} // namespace

Launcher Launcher::parse(const QString &text)
{
    const QStringList words = QProcess::splitCommand(text);
    if (words.isEmpty())
        invalid(QStringLiteral("procpool: an empty launcher; write ssh, slurm, local or a command"));
    const QString &first = words.constFirst();
    if (first == u"local" && words.size() == 1)
        return Launcher{};
    if (first == u"ssh")
        return ssh(words.mid(1));
    if (first == u"slurm" || first == u"srun")
        return slurm(words.mid(1));
    return command(words);
}

QString Launcher::describe() const
{
    switch (kind) {
    case Kind::Local:
        return QStringLiteral("local");
    case Kind::Ssh:
        return arguments.isEmpty() ? QStringLiteral("ssh") : QStringLiteral("ssh ") + arguments.join(u' ');
    case Kind::Slurm:
        return arguments.isEmpty() ? QStringLiteral("slurm") : QStringLiteral("srun ") + arguments.join(u' ');
    case Kind::Command:
        break;
    }
    return arguments.join(u' ');
}

QString WorkerHost::describe() const
{
    if (isLocal())
        return QStringLiteral("this machine");
    return QStringLiteral("%1 (%2)").arg(host.isEmpty() ? QStringLiteral("any node") : host,
                                         launcher.describe());
}

int PoolOptions::hostSlots() const
{
    return std::accumulate(hosts.cbegin(), hosts.cend(), 0,
                           [](int sum, const WorkerHost &h) { return sum + std::max(h.workers, 0); });
}

WorkerHost parseHost(const QString &text, const Launcher &launcher)
{
    const QString entry = text.trimmed();
    auto bad = [&](const QString &why) {
        invalid(QStringLiteral("procpool: bad host '%1': %2; write HOST, HOST:SLOTS, SLOTS/HOST, "
                               "[IPV6-ADDRESS]:SLOTS, or :SLOTS for this machine")
                    .arg(text, why));
    };
    QString host = entry;
    QString slotsText; // after ':' or before '/'; ":" alone is one slot here
    bool hasSlots = false;
    if (const qsizetype slash = entry.indexOf(u'/'); slash > 0) {
        slotsText = entry.left(slash);
        host = entry.mid(slash + 1);
        hasSlots = true;
    }
    if (host.contains(u'[') || host.contains(u']')) {
        // [ADDRESS] or [ADDRESS]:SLOTS, maybe after USER@: an IPv6 address, whose colons are
        // its own. ssh takes the address without the brackets.
        const qsizetype open = host.indexOf(u'[');
        const qsizetype close = host.indexOf(u']');
        if (open < 0 || close < open + 2 || host.count(u'[') != 1 || host.count(u']') != 1)
            bad(QStringLiteral("the brackets must hold one address"));
        const QString after = host.mid(close + 1);
        if (!after.isEmpty() && (hasSlots || !after.startsWith(u':')))
            bad(QStringLiteral("only :SLOTS may follow an address in brackets"));
        if (!after.isEmpty()) {
            slotsText = after.mid(1);
            hasSlots = true;
        }
        host = host.left(open) + host.mid(open + 1, close - open - 1);
    } else if (const qsizetype colon = host.lastIndexOf(u':'); colon >= 0) {
        if (hasSlots || host.indexOf(u':') != colon)
            bad(QStringLiteral("an IPv6 address goes in brackets: [ADDRESS] or [ADDRESS]:SLOTS"));
        slotsText = host.mid(colon + 1);
        host = host.left(colon);
        hasSlots = entry != u":";
    }
    int slots = 1;
    if (hasSlots) {
        bool ok = false;
        slots = slotsText.toInt(&ok);
        if (!ok || slots < 1 || slots > 4096)
            bad(QStringLiteral("the slots must be a number from 1 to 4096"));
    }
    if (host.isEmpty() && !entry.startsWith(u':'))
        bad(QStringLiteral("no host"));
    if (host.contains(QRegularExpression(QStringLiteral("[\\s'\"\\\\]"))) || host.startsWith(u'-'))
        bad(QStringLiteral("a host name cannot hold spaces, quotes or start with '-'"));
    if (host.isEmpty())
        return WorkerHost::local(slots);
    return WorkerHost{host, slots, launcher, QString()};
}

QList<WorkerHost> readHostfile(const QString &path, const Launcher &launcher)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly | QIODevice::Text))
        invalid(QStringLiteral("procpool: cannot read the hostfile '%1': %2").arg(path, file.errorString()));
    QList<WorkerHost> hosts;
    int number = 0;
    while (!file.atEnd()) {
        ++number;
        QString line = QString::fromUtf8(file.readLine());
        if (const qsizetype hash = line.indexOf(u'#'); hash >= 0)
            line.truncate(hash);
        line = line.trimmed();
        if (line.isEmpty())
            continue;
        try {
            hosts.append(parseHost(line, launcher));
        } catch (const std::invalid_argument &e) {
            invalid(QStringLiteral("%1:%2: %3").arg(path).arg(number).arg(QString::fromUtf8(e.what())));
        }
    }
    if (hosts.isEmpty())
        invalid(QStringLiteral("procpool: the hostfile '%1' names no host").arg(path));
    return hosts;
}

QList<WorkerHost> slurmAllocationHosts(const Launcher &launcher)
{
    const QString nodeList = qEnvironmentVariable("SLURM_JOB_NODELIST", qEnvironmentVariable("SLURM_NODELIST"));
    const QString cpus = qEnvironmentVariable("SLURM_JOB_CPUS_PER_NODE");
    if (nodeList.isEmpty())
        throw std::runtime_error("procpool: not inside a Slurm allocation (SLURM_JOB_NODELIST is "
                                 "not set); run under salloc or sbatch, or name the hosts");
    QProcess scontrol;
    scontrol.start(QStringLiteral("scontrol"), {QStringLiteral("show"), QStringLiteral("hostnames"), nodeList});
    if (!scontrol.waitForFinished(30000) || scontrol.exitStatus() != QProcess::NormalExit
        || scontrol.exitCode() != 0) {
        throw std::runtime_error(QStringLiteral("procpool: `scontrol show hostnames %1` failed: %2")
                                     .arg(nodeList, scontrol.error() == QProcess::FailedToStart
                                                        ? scontrol.errorString()
                                                        : QString::fromLocal8Bit(scontrol.readAllStandardError()).trimmed())
                                     .toStdString());
    }
    const QStringList nodes = QString::fromLocal8Bit(scontrol.readAllStandardOutput()).split(u'\n', Qt::SkipEmptyParts);
    // "4(x2),2": four CPUs on each of the first two nodes, two on the third.
    QList<int> perNode;
    static const QRegularExpression group(QStringLiteral("^(\\d+)(?:\\(x(\\d+)\\))?$"));
    for (const QString &part : cpus.split(u',', Qt::SkipEmptyParts)) {
        const auto m = group.match(part.trimmed());
        if (!m.hasMatch())
            break;
        const int count = m.captured(2).isEmpty() ? 1 : m.captured(2).toInt();
        for (int i = 0; i < count && perNode.size() < nodes.size(); ++i)
            perNode.append(std::clamp(m.captured(1).toInt(), 1, 4096));
    }
    QList<WorkerHost> hosts;
    for (qsizetype i = 0; i < nodes.size(); ++i)
        hosts.append(WorkerHost{nodes[i].trimmed(), i < perNode.size() ? perNode[i] : 1, launcher, QString()});
    return hosts;
}

namespace detail {

QString shellQuote(const QString &word)
{
    static const QRegularExpression plain(QStringLiteral("^[A-Za-z0-9_@%+=:,./-]+$"));
    if (plain.match(word).hasMatch())
        return word;
    QString quoted = word;
    quoted.replace(u'\'', QStringLiteral("'\\''"));
    return u'\'' + quoted + u'\'';
}

LaunchCommand launchCommand(const WorkerHost &host, const QString &program, const QStringList &arguments,
                            const QList<std::pair<QByteArray, QByteArray>> &environment,
                            const QString &workingDirectory)
{
    // What runs there: env NAME=VALUE… PROGRAM ARGUMENTS…, as words.
    QStringList words{QStringLiteral("env")};
    for (const auto &[name, value] : environment)
        words.append(QString::fromLocal8Bit(name) + u'=' + QString::fromLocal8Bit(value));
    words.append(host.program.isEmpty() ? program : host.program);
    words.append(arguments);
    // The same as one line for the shell there (ssh and custom launchers).
    auto shellLine = [&] {
        QStringList quoted;
        for (const QString &w : words)
            quoted.append(shellQuote(w));
        const QString line = QStringLiteral("exec ") + quoted.join(u' ');
        return workingDirectory.isEmpty() ? line
                                          : QStringLiteral("cd %1 && %2").arg(shellQuote(workingDirectory), line);
    };
    switch (host.launcher.kind) {
    case Launcher::Kind::Local:
        break;
    case Launcher::Kind::Ssh: {
        // -T: no terminal, the streams stay bytes. BatchMode: never a password prompt that
        // nobody sees; a missing key fails at once, with ssh's own message.
        QStringList args{QStringLiteral("-T"), QStringLiteral("-o"), QStringLiteral("BatchMode=yes")};
        args += host.launcher.arguments;
        // "--" ends ssh's options: a host name is never read as one.
        args << QStringLiteral("--") << host.host << shellLine();
        return {QStringLiteral("ssh"), args};
    }
    case Launcher::Kind::Slurm: {
        // --unbuffered: srun relays what the worker writes at once, not line by line (a frame
        // has no newline). No shell: srun passes the words as they are.
        QStringList args{QStringLiteral("--ntasks=1"), QStringLiteral("--nodes=1"),
                         QStringLiteral("--exclusive"), QStringLiteral("--quiet"),
                         QStringLiteral("--unbuffered")};
        if (!host.host.isEmpty())
            args << QStringLiteral("--nodelist=") + host.host;
        if (!workingDirectory.isEmpty())
            args << QStringLiteral("--chdir=") + workingDirectory;
        args += host.launcher.arguments;
        args += words;
        return {QStringLiteral("srun"), args};
    }
    case Launcher::Kind::Command: {
        QStringList args = host.launcher.arguments;
        for (QString &a : args)
            a.replace(QStringLiteral("{host}"), host.host);
        const QString first = args.isEmpty() ? QString() : args.takeFirst();
        args.append(shellLine());
        return {first, args};
    }
    }
    return {program, arguments};
}

} // namespace detail
} // namespace procpool
