#include "attachments_p.h"

#include "frame_p.h"
#include "receivebuffers_p.h"

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

bool decodeAttachments(const QByteArray &body, SharedRing *ring, qint64 maxBytes,
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

} // namespace procpool::detail
