#include <procpool/detail/inspectionframe.h>

#include <QtCore/QCborValue>
#include <QtCore/QtEndian>

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

} // namespace

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
    case Op::Start:
        return text(message, "namespace", &request->namespaceId, error)
            && integer(message, "workers", 1, 4096, &request->workers, error)
            && startLimits(message, &request->limits, error);
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
