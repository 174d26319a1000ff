// libFuzzer target: the pool's side of the shared-memory rings, with everything a worker
// controls chosen by the input — the bytes of the ring it writes results into (header
// included), the Attachments frame that points into it, and the release position it publishes
// in the ring the pool writes calls into.
//
// Input: one mode byte, 8 bytes of release position, 2 bytes n, n bytes written over the
// result ring from its first byte on (header, then data area), the rest an Attachments body.
// Invariants checked on every input, besides memory safety (ASan) and undefined behaviour
// (UBSan):
//  * decodeAttachments() with the pool's placement (Copy) either yields attachments within
//    the limit, each ending in a zero byte, or explains why not;
//  * what it yields is the pool's own: after the worker writes over its whole ring again, every
//    delivered array still holds the bytes it was delivered with;
//  * whatever release position the worker published, the pool's ring either refuses the next
//    write (and says the ring is broken from then on) or places it inside its own mapping,
//    never over bytes it has not seen released.
#include "attachments_p.h"
#include "frame_p.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

using procpool::detail::Placement;
using procpool::detail::SharedRing;

namespace {
void check(bool condition)
{
    if (!condition)
        std::abort(); // reported by libFuzzer as a crash, with the input that caused it
}

constexpr qint64 dataArea = 1 << 20;
constexpr qint64 ringSize = SharedRing::headerSize + dataArea;

//! A ring as both sides see it: the SharedRing of the pool, and a mapping of the same file
//! standing in for the worker's.
struct Ring
{
    SharedRing *pool;
    char *worker;
};

Ring makeRing()
{
    const int fd = SharedRing::createFile();
    check(fd >= 0 && ::ftruncate(fd, ringSize) == 0);
    void *mapped = ::mmap(nullptr, size_t(ringSize), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check(mapped != MAP_FAILED);
    return Ring{new SharedRing(fd, ringSize), static_cast<char *>(mapped)};
}

//! The ring a worker writes its results into.
Ring &fromWorker()
{
    static Ring r = makeRing();
    return r;
}

quint64 load64(const uint8_t *p)
{
    quint64 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 11)
        return 0;
    const unsigned mode = data[0];
    const quint64 release = load64(data + 1);
    const size_t n = std::min<size_t>(data[9] | size_t(data[10]) << 8, size - 11);
    const uint8_t *ringBytes = data + 11;
    const QByteArray body(reinterpret_cast<const char *>(ringBytes + n), qsizetype(size - 11 - n));
    const qint64 limit = qint64(1024) << (mode & 15); // 1 KiB .. 32 MiB

    // The worker's ring: the input's bytes from its first byte on, the rest as it was.
    Ring &in = fromWorker();
    std::memcpy(in.worker, ringBytes, n);
    QList<QByteArray> attachments;
    QString error;
    if (procpool::detail::decodeAttachments(body, in.pool, limit, Placement::Copy, &attachments,
                                            &error)) {
        QList<QByteArray> delivered; // deep copies, to compare with after the scribbling
        qint64 total = 0;
        for (const QByteArray &a : std::as_const(attachments)) {
            total += a.size();
            check(a.constData()[a.size()] == '\0');
            delivered.append(QByteArray(a.constData(), a.size()));
        }
        check(total <= limit);
        std::memset(in.worker, int(mode), size_t(ringSize)); // the worker, after delivery
        for (qsizetype i = 0; i < attachments.size(); ++i)
            check(attachments.at(i) == delivered.at(i));
    } else {
        check(!error.isEmpty());
    }
    in.pool->reclaim();

    // The pool's ring (a fresh one: a ring the pool found broken stays unused), with a
    // release position the worker made up after one call went through it.
    Ring out = makeRing();
    const QByteArray call(qsizetype(((mode >> 4) + 1) * 4099), char(mode));
    qint64 offset = 0;
    quint64 next = 0;
    for (int round = 0; round < 2; ++round) {
        if (!out.pool->write(call, &offset, &next))
            break;
        check(offset >= SharedRing::headerSize + SharedRing::blockPrefix);
        check(offset + call.size() < ringSize);
        check(std::memcmp(out.worker + offset, call.constData(), size_t(call.size())) == 0);
        std::memcpy(out.worker, &release, sizeof release);
    }
    delete out.pool;
    ::munmap(out.worker, size_t(ringSize));
    return 0;
}
