#include "frame_p.h"

#include <QtCore/QBuffer>
#include <QtCore/QCborStreamReader>
#include <QtCore/QCborStreamWriter>
#include <QtCore/QtEndian>

namespace procpool::detail {

bool isKnownFrameType(quint8 type)
{
    return type >= quint8(FrameType::Hello) && type <= quint8(FrameType::MapResult);
}

const char *frameTypeName(FrameType type)
{
    switch (type) {
    case FrameType::Hello: return "Hello";
    case FrameType::Call: return "Call";
    case FrameType::Result: return "Result";
    case FrameType::Error: return "Error";
    case FrameType::Progress: return "Progress";
    case FrameType::Shutdown: return "Shutdown";
    case FrameType::MapCall: return "MapCall";
    case FrameType::MapResult: return "MapResult";
    }
    return "?";
}

void appendFrame(QByteArray &out, FrameType type, quint64 id, const QByteArray &body)
{
    const qsizetype start = out.size();
    out.resize(start + frameHeaderSize);
    char *header = out.data() + start;
    qToLittleEndian<quint32>(quint32(1 + 8 + body.size()), header);
    header[4] = char(type);
    qToLittleEndian<quint64>(id, header + 5);
    out.append(body);
}

QByteArray encodeFrame(FrameType type, quint64 id, const QByteArray &body)
{
    QByteArray out;
    out.reserve(frameHeaderSize + body.size());
    appendFrame(out, type, id, body);
    return out;
}

QByteArray encodeFrame(FrameType type, quint64 id, const QCborValue &body)
{
    QByteArray out(frameHeaderSize, Qt::Uninitialized);
    {
        QBuffer buffer(&out);
        buffer.open(QIODevice::WriteOnly | QIODevice::Append);
        QCborStreamWriter writer(&buffer);
        body.toCbor(writer);
    }
    qToLittleEndian<quint32>(quint32(out.size() - 4), out.data());
    out[4] = char(type);
    qToLittleEndian<quint64>(id, out.data() + 5);
    return out;
}

bool parseBody(const QByteArray &body, QCborValue *value, QString *error)
{
    QCborStreamReader reader(body);
    *value = QCborValue::fromCbor(reader);
    if (reader.lastError() != QCborError::NoError) {
        *error = QStringLiteral("malformed CBOR in frame body: %1").arg(reader.lastError().toString());
        return false;
    }
    if (reader.currentOffset() != body.size()) {
        *error = QStringLiteral("frame body holds %1 bytes after its CBOR item")
                     .arg(body.size() - reader.currentOffset());
        return false;
    }
    return true;
}

namespace {
//! Frames from this size on are handed over rather than copied out of the decoder's buffer.
constexpr quint32 largeFrame = 64 * 1024;
} // namespace

FrameDecoder::FrameDecoder(qint64 maxFrameSize)
    : m_maxFrameSize(maxFrameSize)
{
}

void FrameDecoder::append(const char *data, qsizetype size)
{
    if (m_offset > 0 && m_offset == m_buffer.size()) {
        m_buffer.clear(); // everything consumed: start over without moving bytes
        m_offset = 0;
    } else if (m_offset > 65536 && m_offset * 2 > m_buffer.size()) {
        m_buffer.remove(0, m_offset); // compact once the consumed part dominates
        m_offset = 0;
    }
    m_buffer.append(data, size);
}

void FrameDecoder::append(QByteArray &&data)
{
    if (m_offset == m_buffer.size()) {
        m_buffer = std::move(data);
        m_offset = 0;
        return;
    }
    append(data.constData(), data.size());
}

FrameDecoder::Status FrameDecoder::next(Frame *frame)
{
    if (hasError())
        return Status::Error;
    const qsizetype available = m_buffer.size() - m_offset;
    if (available < 4)
        return Status::NeedMore;
    const char *p = m_buffer.constData() + m_offset;
    const quint32 length = qFromLittleEndian<quint32>(p);
    if (length < 9) {
        m_error = QStringLiteral("frame length %1 is shorter than the 9-byte type and id header")
                      .arg(length);
        return Status::Error;
    }
    if (qint64(length) > m_maxFrameSize) {
        m_error = QStringLiteral("frame of %1 bytes exceeds the limit of %2 bytes "
                                 "(PoolOptions::maxFrameSize)")
                      .arg(length)
                      .arg(m_maxFrameSize);
        return Status::Error;
    }
    if (available >= 5 && !isKnownFrameType(quint8(p[4]))) {
        m_error = QStringLiteral("unknown frame type %1").arg(quint8(p[4]));
        return Status::Error;
    }
    const qsizetype end = m_offset + 4 + qsizetype(length);
    if (available < 4 + qsizetype(length)) {
        // The rest of a large frame comes in many pieces: make room for it once.
        if (available >= 5 && m_buffer.capacity() < end)
            m_buffer.reserve(end);
        return Status::NeedMore;
    }
    frame->type = FrameType(quint8(p[4]));
    frame->id = qFromLittleEndian<quint64>(p + 5);
    if (length >= largeFrame && end == m_buffer.size()) {
        // The frame ends the buffer: the buffer becomes the body (dropping the bytes before
        // the body only moves the array's start in Qt 6), and the next frame starts afresh.
        frame->body = std::move(m_buffer);
        frame->body.remove(0, m_offset + frameHeaderSize);
        m_buffer = QByteArray();
        m_offset = 0;
        return Status::Frame;
    }
    frame->body = QByteArray(p + frameHeaderSize, qsizetype(length) - 9);
    m_offset = end;
    return Status::Frame;
}

} // namespace procpool::detail
