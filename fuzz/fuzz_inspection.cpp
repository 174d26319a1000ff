// libFuzzer target: what an inspection server reads from a client (procpool/detail/
// inspectionframe.h), on arbitrary bytes.
//
// The first input byte chooses how the rest is cut into the pieces that reach the server's
// buffer (a socket delivers a stream split anywhere). Invariants checked on every input,
// besides memory safety (ASan) and undefined behaviour (UBSan):
//  * a frame is read only when its whole length has arrived, never one over the limit, and the
//    buffer shrinks by exactly the frame; an error ends the stream (the server hangs up);
//  * a message re-encodes to a frame that reads back and re-encodes to the same bytes (equal
//    as bytes, not as values: NaN is never equal to itself);
//  * decodeInspectionRequest() either yields a request whose fields are within the protocol's
//    ranges (a start's optional limits and hosts included) or says why not; a start's hosts
//    never carry a command launcher.
#include <procpool/detail/inspectionframe.h>

#include "inspectionhosts_p.h"

#include <QtCore/QtEndian>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>

#include <sched.h>

using namespace procpool::detail;

namespace {
void check(bool condition)
{
    if (!condition)
        std::abort(); // reported by libFuzzer as a crash, with the input that caused it
}

void checkRequest(const QCborMap &message)
{
    InspectionRequest request;
    QString error;
    if (!decodeInspectionRequest(message, &request, &error)) {
        check(!error.isEmpty());
        return;
    }
    check(request.id >= 0);
    using Op = InspectionRequest::Op;
    switch (request.op) {
    case Op::Hello:
        check(request.version >= 1);
        break;
    case Op::Watch:
        check(request.intervalMs >= 10);
        break;
    case Op::Start: {
        check(request.workers >= 1 && request.workers <= 4096);
        const InspectionRequest::StartLimits &l = request.limits;
        for (const std::optional<qint64> *bytes : {&l.softMemoryLimit, &l.hardMemoryLimit, &l.addressSpace,
                                                   &l.cgroupMemoryMax})
            check(!*bytes || **bytes >= 0);
        check(!l.cpuSeconds || (*l.cpuSeconds >= 0 && *l.cpuSeconds <= std::numeric_limits<qint32>::max()));
        check(!l.niceValue || (*l.niceValue >= 0 && *l.niceValue <= 19));
        if (l.cpuAffinity) {
            check(l.cpuAffinity->size() <= CPU_SETSIZE);
            for (int cpu : *l.cpuAffinity)
                check(cpu >= 0 && cpu < CPU_SETSIZE);
        }
        check(!l.cgroupCpuMax || (std::isfinite(*l.cgroupCpuMax) && *l.cgroupCpuMax >= 0 && *l.cgroupCpuMax <= 4096));
        check(!l.cgroupParent || l.cgroupParent->isEmpty() || l.cgroupParent->startsWith(u'/'));
        std::optional<QList<procpool::WorkerHost>> hosts;
        check(decodeInspectionHosts(message, &hosts, &error));
        qint64 slotTotal = 0;
        for (const procpool::WorkerHost &host : hosts.value_or(QList<procpool::WorkerHost>())) {
            check(host.workers >= 1 && host.workers <= 4096);
            check(host.launcher.kind != procpool::Launcher::Kind::Command);
            check(host.isLocal() ? host.host.isEmpty() && host.launcher.arguments.isEmpty()
                                 : !host.host.isEmpty() && !host.host.startsWith(u'-'));
            check(host.launcher.arguments.size() <= maxInspectionLauncherOptions);
            check(host.program.isEmpty());
            slotTotal += host.workers;
        }
        check(slotTotal == 0 || slotTotal == request.workers);
        break;
    }
    case Op::Resize:
        check(request.workers >= 1 && request.workers <= 4096);
        break;
    case Op::Cancel:
        check(request.task >= 1);
        break;
    case Op::Kill:
        check(request.pid >= 1);
        break;
    case Op::Submit:
        check(!request.taskName.isEmpty());
        check(request.retries >= 1 && request.retries <= 1000);
        check(request.priority >= std::numeric_limits<qint32>::min()
              && request.priority <= std::numeric_limits<qint32>::max());
        break;
    default:
        break;
    }
    if (request.isCommand())
        check(!request.namespaceId.isEmpty() && request.namespaceId.size() <= 1024);
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const size_t piece = 1 + (data[0] & 63); // 1 .. 64 bytes per read
    ++data;
    --size;
    QByteArray buffer;
    for (size_t offset = 0; offset < size; offset += piece) {
        buffer.append(reinterpret_cast<const char *>(data + offset), qsizetype(std::min(piece, size - offset)));
        for (;;) {
            const qsizetype before = buffer.size();
            const quint32 length = before >= 4 ? qFromBigEndian<quint32>(buffer.constData()) : 0;
            QCborMap message;
            QString error;
            const FrameRead r = readInspectionFrame(&buffer, maxInspectionRequestBytes, &message, &error);
            if (r == FrameRead::NeedMore) {
                check(buffer.size() == before && (before < 4 || before - 4 < qint64(length)));
                break;
            }
            if (r == FrameRead::Error) {
                check(!error.isEmpty());
                return 0; // the server hangs up
            }
            check(qint64(length) <= maxInspectionRequestBytes && buffer.size() == before - 4 - qsizetype(length));
            const QByteArray encoded = encodeInspectionFrame(message);
            QByteArray again = encoded;
            QCborMap reread;
            check(readInspectionFrame(&again, maxInspectionReplyBytes, &reread, &error) == FrameRead::Message
                  && again.isEmpty() && encodeInspectionFrame(reread) == encoded);
            checkRequest(message);
        }
    }
    return 0;
}
