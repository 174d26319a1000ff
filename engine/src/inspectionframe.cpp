#include <procpool/detail/inspectionframe.h>

#include "inspectionhosts_p.h"

#include <QtCore/QCborValue>
#include <QtCore/QRegularExpression>
#include <QtCore/QtEndian>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <utility>

#include <sched.h>

namespace procpool::detail {

QByteArray encodeInspectionFrame(const QCborMap &message)
{
    const QByteArray body = QCborValue(message).toCbor();
    QByteArray frame(4, Qt::Uninitialized);
    qToBigEndian(quint32(body.size()), frame.data());
    return frame + body;
}

FrameRead readInspectionFrame(QByteArray *buffer, qint64 maxBytes, QCborMap *message, QString *error)
{
    if (buffer->size() < 4)
        return FrameRead::NeedMore;
    const quint32 length = qFromBigEndian<quint32>(buffer->constData());
    if (qint64(length) > maxBytes) {
        *error = QStringLiteral("a frame of %1 bytes is larger than the %2 allowed").arg(length).arg(maxBytes);
        return FrameRead::Error;
    }
    if (buffer->size() - 4 < qint64(length))
        return FrameRead::NeedMore;
    QCborParserError parsed;
    const QCborValue value = QCborValue::fromCbor(buffer->mid(4, length), &parsed);
    buffer->remove(0, 4 + qsizetype(length));
    if (parsed.error != QCborError::NoError) {
        *error = QStringLiteral("a frame is not CBOR: %1").arg(parsed.errorString());
        return FrameRead::Error;
    }
    if (!value.isMap()) {
        *error = QStringLiteral("a frame holds no CBOR map");
        return FrameRead::Error;
    }
    *message = value.toMap();
    return FrameRead::Message;
}

namespace {

using Op = InspectionRequest::Op;

constexpr std::array<std::pair<const char *, Op>, 12> operations{{
    {"hello", Op::Hello},
    {"snapshot", Op::Snapshot},
    {"watch", Op::Watch},
    {"unwatch", Op::Unwatch},
    {"start", Op::Start},
    {"stop", Op::Stop},
    {"stopNow", Op::StopNow},
    {"terminate", Op::Terminate},
    {"resize", Op::Resize},
    {"cancel", Op::Cancel},
    {"kill", Op::Kill},
    {"submit", Op::Submit},
}};

//! Most attempts a submit's "retries" may ask for.
constexpr qint64 maxInspectionAttempts = 1000;
//! Most CPUs a start's "cgroupCpuMax" may give a pool (as many as a pool has workers at most).
constexpr double maxInspectionCpus = 4096;
//! Longest path a start's "cgroupParent" may name (PATH_MAX).
constexpr qsizetype maxCgroupPathLength = 4096;

//! Reads the integer field \a key into \a out; false (and why) when it is missing or not an
//! integer in [minimum, maximum].
bool integer(const QCborMap &m, const char *key, qint64 minimum, qint64 maximum, qint64 *out,
             QString *error)
{
    const QCborValue v = m.value(QLatin1String(key));
    if (!v.isInteger() || v.toInteger() < minimum || v.toInteger() > maximum) {
        *error = QStringLiteral("'%1' must be an integer from %2 to %3").arg(QLatin1String(key)).arg(minimum).arg(maximum);
        return false;
    }
    *out = v.toInteger();
    return true;
}

//! Reads the optional integer field \a key into \a out; false (and why) when it is there but
//! not an integer in [minimum, maximum].
bool optionalInteger(const QCborMap &m, const char *key, qint64 minimum, qint64 maximum,
                     std::optional<qint64> *out, QString *error)
{
    if (!m.contains(QLatin1String(key)))
        return true;
    qint64 value = 0;
    if (!integer(m, key, minimum, maximum, &value, error))
        return false;
    *out = value;
    return true;
}

//! The optional limits of a start request (InspectionRequest::StartLimits).
bool startLimits(const QCborMap &m, InspectionRequest::StartLimits *limits, QString *error)
{
    constexpr qint64 bytes = std::numeric_limits<qint64>::max();
    if (!optionalInteger(m, "softMemoryLimit", 0, bytes, &limits->softMemoryLimit, error)
        || !optionalInteger(m, "hardMemoryLimit", 0, bytes, &limits->hardMemoryLimit, error)
        || !optionalInteger(m, "addressSpace", 0, bytes, &limits->addressSpace, error)
        || !optionalInteger(m, "cpuSeconds", 0, std::numeric_limits<qint32>::max(), &limits->cpuSeconds, error)
        || !optionalInteger(m, "niceValue", 0, 19, &limits->niceValue, error)
        || !optionalInteger(m, "cgroupMemoryMax", 0, bytes, &limits->cgroupMemoryMax, error))
        return false;
    if (m.contains(QLatin1String("cpuAffinity"))) {
        const QCborValue cpus = m.value(QLatin1String("cpuAffinity"));
        const QCborArray list = cpus.toArray();
        bool ok = cpus.isArray() && list.size() <= CPU_SETSIZE;
        QList<int> affinity;
        for (qsizetype i = 0; ok && i < list.size(); ++i) {
            const QCborValue cpu = list.at(i);
            // toInteger() only once it is one: on a double out of range it is undefined.
            ok = cpu.isInteger() && cpu.toInteger() >= 0 && cpu.toInteger() < CPU_SETSIZE;
            if (ok)
                affinity.append(int(cpu.toInteger()));
        }
        if (!ok) {
            *error = QStringLiteral("'cpuAffinity' must be an array of CPU numbers from 0 to %1")
                         .arg(CPU_SETSIZE - 1);
            return false;
        }
        limits->cpuAffinity = affinity;
    }
    if (m.contains(QLatin1String("cgroupCpuMax"))) {
        const QCborValue v = m.value(QLatin1String("cgroupCpuMax"));
        const double cpus = v.isInteger() ? double(v.toInteger()) : v.toDouble(-1);
        if (!(v.isInteger() || v.isDouble()) || !std::isfinite(cpus) || cpus < 0
            || cpus > maxInspectionCpus) {
            *error = QStringLiteral("'cgroupCpuMax' must be a number of CPUs from 0 to %1")
                         .arg(maxInspectionCpus);
            return false;
        }
        limits->cgroupCpuMax = cpus;
    }
    if (m.contains(QLatin1String("cgroupParent"))) {
        const QCborValue v = m.value(QLatin1String("cgroupParent"));
        const QString path = v.toString();
        if (!v.isString() || path.size() > maxCgroupPathLength
            || (!path.isEmpty() && !path.startsWith(u'/')) || path.contains(QChar(u'\0'))) {
            *error = QStringLiteral("'cgroupParent' must be empty or an absolute path of at most "
                                    "%1 characters")
                         .arg(maxCgroupPathLength);
            return false;
        }
        limits->cgroupParent = path;
    }
    return true;
}

bool text(const QCborMap &m, const char *key, QString *out, QString *error)
{
    const QCborValue v = m.value(QLatin1String(key));
    if (!v.isString() || v.toString().isEmpty() || v.toString().size() > 1024) {
        *error = QStringLiteral("'%1' must be a text of 1 to 1024 characters").arg(QLatin1String(key));
        return false;
    }
    *out = v.toString();
    return true;
}

//! A launcher option a client may give: its long and short spelling (either may be null), and
//! whether a value follows it ("--name=VALUE", "--name VALUE", "-xVALUE" or "-x VALUE").
struct AllowedOption
{
    const char *longName;
    const char *shortName;
    bool takesValue;
};

//! ssh's: none makes ssh run a command here (ProxyCommand, LocalCommand, KnownHostsCommand, a
//! configuration file of the client's with -F) or write a file the client names.
constexpr std::array<AllowedOption, 8> sshOptions{{
    {nullptr, "-4", false},
    {nullptr, "-6", false},
    {nullptr, "-C", false},
    {nullptr, "-q", false},
    {nullptr, "-p", true},
    {nullptr, "-l", true},
    {nullptr, "-i", true},
    {nullptr, "-o", true}, // KEY=VALUE with a key of sshConfigKeys
}};
constexpr std::array<const char *, 11> sshConfigKeys{
    "Port", "User", "IdentityFile", "IdentitiesOnly", "ConnectTimeout", "ConnectionAttempts",
    "ServerAliveInterval", "ServerAliveCountMax", "Compression", "LogLevel", "AddressFamily"};
//! srun's: where and for how long a job step runs; none sets what runs before the worker
//! (--prolog, --task-prolog), its environment (--export) or files it writes (--output).
constexpr std::array<AllowedOption, 11> srunOptions{{
    {"--partition", "-p", true},
    {"--account", "-A", true},
    {"--qos", "-q", true},
    {"--time", "-t", true},
    {"--mem", nullptr, true},
    {"--mem-per-cpu", nullptr, true},
    {"--cpus-per-task", "-c", true},
    {"--constraint", "-C", true},
    {"--reservation", nullptr, true},
    {"--gres", nullptr, true},
    {"--job-name", "-J", true},
}};

//! The options of \a allowed, for a message: "-p VALUE, --mem VALUE, …".
template<size_t N>
QString optionList(const std::array<AllowedOption, N> &allowed)
{
    QStringList names;
    for (const AllowedOption &o : allowed) {
        QString name = QLatin1String(o.longName ? o.longName : o.shortName);
        if (o.longName && o.shortName)
            name += QStringLiteral(" (%1)").arg(QLatin1String(o.shortName));
        names.append(o.takesValue ? name + QStringLiteral(" VALUE") : name);
    }
    return names.join(QStringLiteral(", "));
}

//! Whether \a options are all options of \a allowed, each with its value; false and why.
template<size_t N>
bool allowedOptions(const QStringList &options, const std::array<AllowedOption, N> &allowed,
                    const QString &program, QString *error)
{
    for (qsizetype i = 0; i < options.size(); ++i) {
        const QString &word = options.at(i);
        const bool isLong = word.startsWith(QLatin1String("--"));
        const qsizetype equals = isLong ? word.indexOf(u'=') : -1;
        const QString name = isLong ? word.left(equals) : word.left(2);
        const AllowedOption *found = nullptr;
        for (const AllowedOption &o : allowed)
            if (name == QLatin1String(isLong ? o.longName : o.shortName))
                found = &o;
        std::optional<QString> value;
        if (found && isLong && equals >= 0)
            value = word.mid(equals + 1);
        else if (found && !isLong && word.size() > 2)
            value = word.mid(2);
        else if (found && found->takesValue && i + 1 < options.size())
            value = options.at(++i);
        const bool fits = found && word.startsWith(u'-')
                          && (found->takesValue ? value && !value->isEmpty() && !value->startsWith(u'-')
                                                : !value);
        bool keyAllowed = true;
        if (fits && name == QLatin1String("-o")) { // ssh -o KEY=VALUE, or "KEY VALUE"
            const QString key = value->section(QRegularExpression(QStringLiteral("[= ]")), 0, 0);
            keyAllowed = std::any_of(sshConfigKeys.cbegin(), sshConfigKeys.cend(), [&](const char *k) {
                return key.compare(QLatin1String(k), Qt::CaseInsensitive) == 0;
            }) && key.size() < value->size() - 1;
        }
        if (!fits || !keyAllowed) {
            QString takes = optionList(allowed);
            if (program == QLatin1String("ssh")) {
                QStringList keys;
                for (const char *k : sshConfigKeys)
                    keys.append(QLatin1String(k));
                takes += QStringLiteral(" (-o KEY=VALUE with KEY one of %1)").arg(keys.join(QStringLiteral(", ")));
            }
            *error = QStringLiteral("'%1' is not an option the inspection socket passes to %2, which "
                                    "takes %3; other options could make this process run a command")
                         .arg(word.left(64), program, takes);
            return false;
        }
    }
    return true;
}

//! One entry of a start's "hosts" into \a host; false and why.
bool decodeHost(const QCborValue &entry, WorkerHost *host, QString *error)
{
    static const QString fields = QStringLiteral("a map of 'host', 'workers', 'launcher' and "
                                                 "optionally 'options'");
    if (!entry.isMap()) {
        *error = QStringLiteral("must be %1").arg(fields);
        return false;
    }
    const QCborMap m = entry.toMap();
    for (auto it = m.cbegin(); it != m.cend(); ++it) {
        const QString key = it.key().toString();
        if (key != u"host" && key != u"workers" && key != u"launcher" && key != u"options") {
            *error = QStringLiteral("has a field '%1'; an entry is %2").arg(key.left(64), fields);
            return false;
        }
    }
    const QCborValue launcher = m.value(QLatin1String("launcher"));
    if (launcher == QCborValue(QStringLiteral("ssh")))
        host->launcher.kind = Launcher::Kind::Ssh;
    else if (launcher == QCborValue(QStringLiteral("slurm")))
        host->launcher.kind = Launcher::Kind::Slurm;
    else if (launcher == QCborValue(QStringLiteral("local")))
        host->launcher.kind = Launcher::Kind::Local;
    else {
        *error = QStringLiteral("'launcher' must be \"ssh\", \"slurm\" or \"local\": the "
                                "inspection socket takes no command launcher, so that a client "
                                "cannot make this process run a command of its choosing");
        return false;
    }
    qint64 workers = 0;
    if (!integer(m, "workers", 1, 4096, &workers, error))
        return false;
    host->workers = int(workers);
    const QCborValue options = m.value(QLatin1String("options"));
    const QCborArray list = options.toArray();
    if (!options.isUndefined()
        && (!options.isArray() || list.size() > maxInspectionLauncherOptions
            || (host->isLocal() && !list.isEmpty()))) {
        *error = host->isLocal() ? QStringLiteral("'options' must be left out for a local host")
                                 : QStringLiteral("'options' must be an array of at most %1 texts")
                                       .arg(maxInspectionLauncherOptions);
        return false;
    }
    for (const QCborValue &option : list) {
        if (!option.isString() || option.toString().isEmpty() || option.toString().size() > 1024
            || option.toString().contains(QChar(u'\0'))) {
            *error = QStringLiteral("'options' must be an array of texts of 1 to 1024 characters");
            return false;
        }
        host->launcher.arguments.append(option.toString());
    }
    if (host->launcher.kind == Launcher::Kind::Ssh
        && !allowedOptions(host->launcher.arguments, sshOptions, QStringLiteral("ssh"), error))
        return false;
    if (host->launcher.kind == Launcher::Kind::Slurm
        && !allowedOptions(host->launcher.arguments, srunOptions, QStringLiteral("srun"), error))
        return false;
    const QCborValue name = m.value(QLatin1String("host"));
    static const QRegularExpression hostName(QStringLiteral("^[A-Za-z0-9_.@:%\\[\\]][A-Za-z0-9_.@:%\\[\\]-]{0,254}$"));
    if (host->isLocal()) {
        if (!name.isUndefined() && name != QCborValue(QString())) {
            *error = QStringLiteral("'host' must be left out (or empty) for a local host");
            return false;
        }
    } else if (!name.isString() || !hostName.match(name.toString()).hasMatch()) {
        *error = QStringLiteral("'host' must be a host name of 1 to 255 letters, digits and _ . @ "
                                ": % [ ] -, not first a '-'");
        return false;
    } else {
        host->host = name.toString();
    }
    return true;
}

} // namespace

bool decodeInspectionHosts(const QCborMap &message, std::optional<QList<WorkerHost>> *hosts,
                           QString *error)
{
    hosts->reset();
    const QCborValue value = message.value(QLatin1String("hosts"));
    if (value.isUndefined())
        return true;
    if (!value.isArray()) {
        *error = QStringLiteral("'hosts' must be an array of hosts (an empty one: this machine alone)");
        return false;
    }
    QList<WorkerHost> list;
    qint64 slotTotal = 0;
    const QCborArray entries = value.toArray();
    for (qsizetype i = 0; i < entries.size(); ++i) {
        WorkerHost host;
        QString why;
        if (!decodeHost(entries.at(i), &host, &why)) {
            *error = QStringLiteral("'hosts' entry %1: %2").arg(i + 1).arg(why);
            return false;
        }
        slotTotal += host.workers;
        if (slotTotal > 4096) {
            *error = QStringLiteral("'hosts' must have at most 4096 slots in all ('workers' of "
                                    "each entry)");
            return false;
        }
        list.append(host);
    }
    *hosts = list;
    return true;
}

bool decodeInspectionRequest(const QCborMap &message, InspectionRequest *request, QString *error)
{
    const QCborValue op = message.value(QLatin1String("op"));
    if (!op.isString()) {
        *error = QStringLiteral("a request needs an 'op' text");
        return false;
    }
    const QString name = op.toString();
    bool known = false;
    for (const auto &[label, value] : operations) {
        if (name == QLatin1String(label)) {
            request->op = value;
            known = true;
        }
    }
    if (!known) {
        *error = QStringLiteral("unknown operation '%1'").arg(name.left(64));
        return false;
    }
    if (message.contains(QLatin1String("id"))
        && !integer(message, "id", 0, std::numeric_limits<qint64>::max(), &request->id, error))
        return false;
    switch (request->op) {
    case Op::Hello: {
        qint64 version = 0;
        if (!integer(message, "version", 1, 1 << 20, &version, error))
            return false;
        request->version = int(version);
        return true;
    }
    case Op::Snapshot:
    case Op::Unwatch:
        return true;
    case Op::Watch:
        return integer(message, "intervalMs", 10, 3600 * 1000, &request->intervalMs, error);
    case Op::Start: {
        std::optional<QList<WorkerHost>> hosts;
        if (!text(message, "namespace", &request->namespaceId, error)
            || !decodeInspectionHosts(message, &hosts, error))
            return false;
        // With hosts, the workers are their slots: "workers" may be left out.
        qint64 slotTotal = 0;
        for (const WorkerHost &host : hosts.value_or(QList<WorkerHost>()))
            slotTotal += host.workers;
        if (slotTotal > 0 && !message.contains(QLatin1String("workers")))
            request->workers = slotTotal;
        else if (!integer(message, "workers", 1, 4096, &request->workers, error))
            return false;
        if (slotTotal > 0 && request->workers != slotTotal) {
            *error = QStringLiteral("'workers' must be the slots of 'hosts' in all (%1), or be "
                                    "left out")
                         .arg(slotTotal);
            return false;
        }
        return startLimits(message, &request->limits, error);
    }
    case Op::Resize:
        return text(message, "namespace", &request->namespaceId, error)
            && integer(message, "workers", 1, 4096, &request->workers, error);
    case Op::Stop:
    case Op::StopNow:
    case Op::Terminate:
        return text(message, "namespace", &request->namespaceId, error);
    case Op::Cancel:
        return text(message, "namespace", &request->namespaceId, error)
            && integer(message, "task", 1, std::numeric_limits<qint64>::max(), &request->task, error);
    case Op::Kill:
        return text(message, "namespace", &request->namespaceId, error)
            && integer(message, "pid", 1, std::numeric_limits<qint32>::max(), &request->pid, error);
    case Op::Submit: {
        if (!text(message, "namespace", &request->namespaceId, error)
            || !text(message, "task", &request->taskName, error))
            return false;
        const QCborValue arguments = message.value(QLatin1String("arguments"));
        if (!arguments.isUndefined() && !arguments.isArray()) {
            *error = QStringLiteral("'arguments' must be an array");
            return false;
        }
        request->arguments = arguments.toArray();
        return (!message.contains(QLatin1String("taskType"))
                || text(message, "taskType", &request->taskType, error))
            && (!message.contains(QLatin1String("priority"))
                || integer(message, "priority", std::numeric_limits<qint32>::min(),
                           std::numeric_limits<qint32>::max(), &request->priority, error))
            && (!message.contains(QLatin1String("retries"))
                || integer(message, "retries", 1, maxInspectionAttempts, &request->retries, error));
    }
    }
    return false;
}

} // namespace procpool::detail
