// libFuzzer target: the frame decoder (engine/src/frame_p.h) on arbitrary bytes.
//
// The first input byte chooses the frame size limit and how the rest is cut into the pieces
// that reach FrameDecoder::append() (pipes deliver a stream split anywhere). Invariants checked
// on every input, besides memory safety (ASan) and undefined behaviour (UBSan):
//  * every frame returned respects the limit and re-encodes to exactly the bytes it came from
//    (the bytes consumed equal the bytes appended minus the bytes still buffered);
//  * an error is sticky: next() keeps returning Error;
//  * parseBody() either accepts a body as exactly one CBOR item or explains why not, and
//    parseCall() a Call's or MapCall's body as a call (whose time limit is never negative);
//  * decodeAttachments() either yields attachments within the limit or explains why not, for
//    inline attachments and for those that point into a real shared-memory ring, copied out
//    or used in place; every array it yields ends in a zero byte, and one kept beyond the
//    ring's reclaim() keeps its bytes;
//  * without a ring, decodeAttachments() taking the body over (which cuts an inline attachment
//    that ends the body out of it in place) yields exactly what the copying one yields, or
//    fails as it does.
#include "attachments_p.h"
#include "frame_p.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <unistd.h>

using procpool::detail::Frame;
using procpool::detail::FrameDecoder;

namespace {
void check(bool condition)
{
    if (!condition)
        std::abort(); // reported by libFuzzer as a crash, with the input that caused it
}

//! A ring with 1 MiB of data area, as a pool would have mapped from a worker.
procpool::detail::SharedRing *ring()
{
    static procpool::detail::SharedRing *r = [] {
        const int fd = procpool::detail::SharedRing::createFile();
        check(fd >= 0 && ::ftruncate(fd, procpool::detail::SharedRing::headerSize + (1 << 20)) == 0);
        return new procpool::detail::SharedRing(fd, procpool::detail::SharedRing::headerSize + (1 << 20));
    }();
    return r;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const unsigned mode = data[0];
    ++data;
    --size;
    const qint64 limit = qint64(1024) << (mode & 7); // 1 KiB .. 128 KiB
    const size_t piece = 1 + ((mode >> 3) & 15);     // 1 .. 16 bytes per append()
    const auto placement = (mode & 0x80) ? procpool::detail::Placement::InPlace // where they are
                                         : procpool::detail::Placement::Copy;
    FrameDecoder decoder(limit);
    qint64 appended = 0;
    qint64 consumed = 0;
    bool failed = false;
    for (size_t offset = 0; offset < size && !failed; offset += piece) {
        const size_t n = size - offset < piece ? size - offset : piece;
        decoder.append(reinterpret_cast<const char *>(data + offset), qsizetype(n));
        appended += qint64(n);
        Frame frame;
        for (;;) {
            const FrameDecoder::Status status = decoder.next(&frame);
            if (status == FrameDecoder::Status::NeedMore)
                break;
            if (status == FrameDecoder::Status::Error) {
                check(decoder.hasError() && !decoder.errorString().isEmpty());
                check(decoder.next(&frame) == FrameDecoder::Status::Error);
                failed = true;
                break;
            }
            const QByteArray again = procpool::detail::encodeFrame(frame.type, frame.id, frame.body);
            check(qint64(again.size()) - 4 <= limit);
            check(procpool::detail::isKnownFrameType(quint8(frame.type)));
            consumed += again.size();
            QCborValue value;
            QString error;
            if (!procpool::detail::parseBody(frame.body, &value, &error))
                check(!error.isEmpty());
            if (frame.type == procpool::detail::FrameType::Call
                || frame.type == procpool::detail::FrameType::MapCall) {
                QString name;
                QCborArray arguments;
                procpool::detail::CallOptions options;
                error.clear();
                if (procpool::detail::parseCall(frame.body, &name, &arguments, &options, &error))
                    check(options.timeoutMs >= 0);
                else
                    check(!error.isEmpty());
            }
            if (frame.type == procpool::detail::FrameType::Attachments) {
                QList<QByteArray> copied, taken;
                QString copyError, takeError;
                const bool copyOk = procpool::detail::decodeAttachments(
                    frame.body, nullptr, limit, placement, &copied, &copyError);
                QByteArray own(frame.body.constData(), frame.body.size()); // unshared, as a frame's
                const bool takeOk = procpool::detail::decodeAttachments(
                    std::move(own), nullptr, limit, placement, &taken, &takeError);
                check(copyOk == takeOk && copyError == takeError && copied == taken);
                for (const QByteArray &a : taken)
                    check(a.constData()[a.size()] == '\0');
                QList<QByteArray> attachments;
                error.clear();
                if (procpool::detail::decodeAttachments(frame.body, ring(), limit, placement,
                                                        &attachments, &error)) {
                    qint64 total = 0;
                    for (const QByteArray &a : attachments) {
                        total += a.size();
                        check(a.constData()[a.size()] == '\0');
                    }
                    check(total <= limit);
                    // Like a task that keeps its argument: the ring moves it apart, and it
                    // must read the same after that.
                    static QByteArray kept;
                    static QByteArray keptCopy;
                    if (!attachments.isEmpty() && (mode & 0x40)) {
                        kept = attachments.last();
                        keptCopy = QByteArray(kept.constData(), kept.size());
                    }
                    attachments.clear();
                    ring()->reclaim();
                    check(kept == keptCopy && kept.constData()[kept.size()] == '\0');
                } else {
                    check(!error.isEmpty());
                    attachments.clear();
                    ring()->reclaim();
                }
            }
        }
        if (!failed)
            check(consumed == appended - decoder.bufferedBytes());
    }
    return 0;
}
