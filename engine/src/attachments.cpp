#include "attachments_p.h"

#include "frame_p.h"
#include "receivebuffers_p.h"

#include <procpool/detail/codec_impl.h>

#include <QtCore/QCborArray>
#include <QtCore/QtEndian>

#include <algorithm>

namespace procpool::detail {

namespace {

//! An integer field of a descriptor; -1 for anything else.
qint64 integerAt(const QCborArray &entry, qsizetype i)
{
    return integerOr(entry.at(i), -1);
}

} // namespace

EncodedAttachments encodeAttachments(quint64 id, const QList<QByteArray> &attachments,
                                     SharedRing *ring)
{
    EncodedAttachments out;
    QCborArray table;
    qint64 inlineOffset = 0;
    for (const QByteArray &bytes : attachments) {
        qint64 offset = 0;
        quint64 release = 0;
        if (ring && ring->write(bytes, &offset, &release)) {
            table.append(QCborArray{1, offset, bytes.size(), qint64(release)});
        } else {
            table.append(QCborArray{0, inlineOffset, bytes.size()});
            inlineOffset += bytes.size();
            out.inlineParts.append(bytes);
        }
    }
    out.head = encodeFrame(FrameType::Attachments, id, table.toCborValue());
    // The frame's length covers the inline bytes that follow the table.
    qToLittleEndian<quint32>(quint32(out.head.size() - 4 + inlineOffset), out.head.data());
    return out;
}

namespace {

// \a stealable, when not null, is \a body itself, which the caller gives up: an inline
// attachment that ends it is then cut out of it rather than copied.
bool decode(const QByteArray &body, QByteArray *stealable, SharedRing *ring, qint64 maxBytes,
            Placement placement, QList<QByteArray> *out, QString *error)
{
    QCborValue value;
    qsizetype tableEnd = 0;
    if (!parseLeadingItem(body, &value, &tableEnd, error))
        return false;
    if (!value.isArray()) {
        *error = QStringLiteral("an Attachments frame must start with an array");
        return false;
    }
    const char *inlineBytes = body.constData() + tableEnd;
    const qint64 inlineSize = body.size() - tableEnd;
    const QCborArray table = value.toArray();
    qint64 total = 0;
    out->clear();
    out->reserve(table.size());
    for (qsizetype i = 0; i < table.size(); ++i) {
        const QCborArray entry = table.at(i).toArray();
        const qint64 kind = integerAt(entry, 0);
        const qint64 offset = integerAt(entry, 1);
        const qint64 size = integerAt(entry, 2);
        // Compared before it is added: sizes a worker chose must not overflow the running total.
        if (offset < 0 || size < 0 || size > maxBytes - total
            || !((kind == 0 && entry.size() == 3)
                 || (kind == 1 && entry.size() == 4 && integerAt(entry, 3) >= 0))) {
            *error = QStringLiteral("attachment %1 has a malformed descriptor").arg(i);
            return false;
        }
        total += size;
        if (kind == 0) {
            if (offset > inlineSize - size) {
                *error = QStringLiteral("attachment %1 (%2+%3) lies beyond the frame's %4 "
                                        "inline bytes")
                             .arg(i)
                             .arg(offset)
                             .arg(size)
                             .arg(inlineSize);
                return false;
            }
            if (stealable && i == table.size() - 1 && offset + size == inlineSize
                && size >= attachmentThreshold) {
                // The common case of one large array: the frame's buffer becomes the array.
                // Dropping the bytes before it moves the start and truncating moves the end
                // (Qt 6): no byte is copied, and the array keeps the frame's allocation.
                QByteArray bytes = std::move(*stealable);
                bytes.remove(0, tableEnd + qsizetype(offset));
                bytes.truncate(qsizetype(size));
                out->append(std::move(bytes));
                continue;
            }
            out->append(ring ? ring->copyOut(inlineBytes + offset, qsizetype(size))
                             : copiedArray(inlineBytes + offset, qsizetype(size)));
            continue;
        }
        if (!ring) {
            *error = QStringLiteral("attachment %1 is in shared memory, which this side does "
                                    "not have")
                         .arg(i);
            return false;
        }
        QByteArray bytes;
        if (!ring->read(offset, size, placement, &bytes, error)) {
            *error = QStringLiteral("attachment %1: %2").arg(i).arg(*error);
            return false;
        }
        if (!ring->finishRead(quint64(integerAt(entry, 3)), error)) {
            *error = QStringLiteral("attachment %1: %2").arg(i).arg(*error);
            return false;
        }
        out->append(std::move(bytes));
    }
    return true;
}

} // namespace

bool decodeAttachments(const QByteArray &body, SharedRing *ring, qint64 maxBytes,
                       Placement placement, QList<QByteArray> *out, QString *error)
{
    return decode(body, nullptr, ring, maxBytes, placement, out, error);
}

bool decodeAttachments(QByteArray &&body, SharedRing *ring, qint64 maxBytes,
                       Placement placement, QList<QByteArray> *out, QString *error)
{
    return decode(body, &body, ring, maxBytes, placement, out, error);
}

} // namespace procpool::detail
