#include "frame_p.h"

#include "receivebuffers_p.h"

#include <procpool/detail/callframe.h>

#include <QtCore/QCborArray>
#include <QtCore/QCborMap>
#include <QtCore/QCborStreamReader>
#include <QtCore/QtEndian>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <unistd.h>

namespace procpool::detail {

bool isKnownFrameType(quint8 type)
{
    return type >= quint8(FrameType::Hello) && type <= quint8(FrameType::Cancel);
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
    case FrameType::Attachments: return "Attachments";
    case FrameType::Cancel: return "Cancel";
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

namespace {

// A CBOR writer that appends to a QByteArray directly. QCborStreamWriter goes through a
// QIODevice call (and a QByteArray resize) per item, which cost more than the small frames
// it writes; this produces the same bytes (RFC 8949 preferred serialisation, doubles in full).
void appendHead(QByteArray &out, quint8 major, quint64 value)
{
    char bytes[9];
    const char m = char(major << 5);
    if (value < 24) {
        out.append(char(m | char(value)));
        return;
    }
    qsizetype n;
    if (value <= 0xff) {
        bytes[0] = char(m | 24);
        bytes[1] = char(value);
        n = 2;
    } else if (value <= 0xffff) {
        bytes[0] = char(m | 25);
        qToBigEndian<quint16>(quint16(value), bytes + 1);
        n = 3;
    } else if (value <= 0xffffffffULL) {
        bytes[0] = char(m | 26);
        qToBigEndian<quint32>(quint32(value), bytes + 1);
        n = 5;
    } else {
        bytes[0] = char(m | 27);
        qToBigEndian<quint64>(value, bytes + 1);
        n = 9;
    }
    out.append(bytes, n);
}

void appendString(QByteArray &out, quint8 major, const char *data, qsizetype size)
{
    appendHead(out, major, quint64(size));
    out.append(data, size);
}

void appendCbor(QByteArray &out, const QCborValue &value)
{
    switch (value.type()) {
    case QCborValue::Integer: {
        const qint64 i = value.toInteger();
        if (i >= 0)
            appendHead(out, 0, quint64(i));
        else
            appendHead(out, 1, quint64(-1 - i));
        return;
    }
    case QCborValue::ByteArray: {
        const QByteArray bytes = value.toByteArray();
        appendString(out, 2, bytes.constData(), bytes.size());
        return;
    }
    case QCborValue::String: {
        const QByteArray utf8 = value.toString().toUtf8();
        appendString(out, 3, utf8.constData(), utf8.size());
        return;
    }
    case QCborValue::Array: {
        const QCborArray array = value.toArray();
        appendHead(out, 4, quint64(array.size()));
        for (const QCborValue &item : array)
            appendCbor(out, item);
        return;
    }
    case QCborValue::Map: {
        const QCborMap map = value.toMap();
        appendHead(out, 5, quint64(map.size()));
        for (auto it = map.cbegin(); it != map.cend(); ++it) {
            appendCbor(out, it.key());
            appendCbor(out, it.value());
        }
        return;
    }
    case QCborValue::Tag:
        appendHead(out, 6, quint64(value.tag()));
        appendCbor(out, value.taggedValue());
        return;
    case QCborValue::Double: {
        char bytes[9];
        bytes[0] = char(0xfb);
        qToBigEndian<double>(value.toDouble(), bytes + 1);
        out.append(bytes, 9);
        return;
    }
    case QCborValue::False: out.append(char(0xf4)); return;
    case QCborValue::True: out.append(char(0xf5)); return;
    case QCborValue::Null: out.append(char(0xf6)); return;
    case QCborValue::Undefined: out.append(char(0xf7)); return;
    default:
        if (value.isSimpleType()) {
            appendHead(out, 7, quint64(value.toSimpleType()));
            return;
        }
        // The extended types (URLs, dates, UUIDs, regular expressions) are tags over a plain
        // value: let Qt write them.
        out.append(value.toCbor());
        return;
    }
}

void finishHeader(QByteArray &out, FrameType type, quint64 id)
{
    qToLittleEndian<quint32>(quint32(out.size() - 4), out.data());
    out[4] = char(type);
    qToLittleEndian<quint64>(id, out.data() + 5);
}

} // namespace

QByteArray encodeFrame(FrameType type, quint64 id, const QCborValue &body)
{
    QByteArray out;
    out.reserve(64);
    out.resize(frameHeaderSize);
    appendCbor(out, body);
    finishHeader(out, type, id);
    return out;
}

QByteArray beginCallFrame(const QString &taskName, qsizetype argumentCount)
{
    QByteArray out;
    out.reserve(64 + taskName.size());
    out.resize(frameHeaderSize);
    appendHead(out, 4, 2);
    // Task names are nearly always ASCII: written straight into the frame, without a UTF-8
    // copy of the name for every call.
    const QChar *name = taskName.constData();
    const qsizetype length = taskName.size();
    if (std::all_of(name, name + length, [](QChar c) { return c.unicode() < 0x80; })) {
        appendHead(out, 3, quint64(length));
        const qsizetype at = out.size();
        out.resize(at + length);
        std::transform(name, name + length, out.data() + at,
                       [](QChar c) { return char(c.unicode()); });
    } else {
        const QByteArray utf8 = taskName.toUtf8();
        appendString(out, 3, utf8.constData(), utf8.size());
    }
    appendHead(out, 4, quint64(argumentCount));
    return out;
}

void appendCallArgument(QByteArray &frame, const QCborValue &argument)
{
    appendCbor(frame, argument);
}

void finishCallFrame(QByteArray &frame, FrameType type, quint64 id, const CallOptions &options)
{
    // Known only now (the pool's options apply where the caller left them open), so the options
    // come last: the array beginCallFrame() opened with two elements gets a third.
    const quint64 entries = options.timeoutMs > 0 ? 1 : 0;
    if (entries > 0) {
        frame[frameHeaderSize] = char(0x83);
        appendHead(frame, 5, entries);
        if (options.timeoutMs > 0) {
            appendString(frame, 3, "timeout", 7);
            appendHead(frame, 0, quint64(options.timeoutMs));
        }
    }
    finishHeader(frame, type, id);
}

QByteArray encodeCallFrame(FrameType type, quint64 id, const QString &taskName,
                           const QCborArray &arguments, const CallOptions &options)
{
    QByteArray out = beginCallFrame(taskName, arguments.size());
    for (const QCborValue &argument : arguments)
        appendCbor(out, argument);
    finishCallFrame(out, type, id, options);
    return out;
}

namespace {

// A CBOR reader for the common case: definite lengths, ASCII text, integers within qint64,
// the tags procpool itself uses. It builds the same QCborValue that QCborValue::fromCbor()
// builds, at a fraction of QCborStreamReader's cost per item. Anything else, and anything
// malformed, makes it give up; parseBody() then lets Qt's reader decide (and explain).
class FastCborReader
{
public:
    FastCborReader(const char *begin, const char *end) : m_p(begin), m_end(end) {}
    bool atEnd() const { return m_p == m_end; }
    const char *position() const { return m_p; }

    //! The [name, arguments(, options)] array of a Call or MapCall, without a QCborValue for
    //! the name or the outer array (building those cost a worker more than all the rest of a
    //! call). \a options stays undefined when there are none.
    bool readCall(QString *name, QCborArray *arguments, QCborValue *options)
    {
        if (m_end - m_p < 2 || (quint8(*m_p) != 0x82 && quint8(*m_p) != 0x83))
            return false;
        const bool withOptions = quint8(*m_p++) == 0x83;
        const quint8 initial = quint8(*m_p++);
        quint64 n;
        if (initial >> 5 != 3 || !readArgument(initial & 0x1f, &n) || n > quint64(m_end - m_p))
            return false;
        for (const char *c = m_p; c != m_p + n; ++c)
            if (quint8(*c) >= 0x80)
                return false;
        *name = QString::fromLatin1(m_p, qsizetype(n));
        m_p += n;
        QCborValue value;
        if (!read(&value) || !value.isArray())
            return false;
        *arguments = value.toArray();
        return !withOptions || (read(options) && options->isMap());
    }

    bool read(QCborValue *out, int depth = 0)
    {
        if (m_p == m_end || depth > maxDepth)
            return false;
        const quint8 initial = quint8(*m_p++);
        const quint8 major = initial >> 5;
        const quint8 info = initial & 0x1f;
        if (major == 7)
            return readSimple(info, out);
        quint64 n;
        if (!readArgument(info, &n))
            return false;
        switch (major) {
        case 0:
            if (n > quint64(std::numeric_limits<qint64>::max()))
                return false;
            *out = QCborValue(qint64(n));
            return true;
        case 1:
            if (n > quint64(std::numeric_limits<qint64>::max()))
                return false;
            *out = QCborValue(-1 - qint64(n));
            return true;
        case 2:
        case 3: {
            if (n > quint64(m_end - m_p))
                return false;
            const char *data = m_p;
            m_p += n;
            if (major == 2) {
                *out = QCborValue(QByteArray::fromRawData(data, qsizetype(n))); // copied once
                return true;
            }
            for (const char *c = data; c != m_p; ++c)
                if (quint8(*c) >= 0x80)
                    return false; // UTF-8 beyond ASCII: Qt validates it
            *out = QCborValue(QLatin1String(data, qsizetype(n)));
            return true;
        }
        case 4: {
            if (n > quint64(m_end - m_p)) // every item takes at least one byte
                return false;
            QCborArray array;
            for (quint64 i = 0; i < n; ++i) {
                QCborValue item;
                if (!read(&item, depth + 1))
                    return false;
                array.append(std::move(item));
            }
            *out = std::move(array);
            return true;
        }
        case 5: {
            if (n > quint64(m_end - m_p) / 2)
                return false;
            QCborMap map;
            for (quint64 i = 0; i < n; ++i) {
                QCborValue key, item;
                if (!read(&key, depth + 1) || !read(&item, depth + 1))
                    return false;
                map.insert(key, item);
            }
            if (quint64(map.size()) != n)
                return false; // duplicate keys: keep Qt's behaviour
            *out = std::move(map);
            return true;
        }
        case 6: {
            // Tags Qt turns into extended types (dates, URLs, regular expressions, UUIDs)
            // are left to Qt.
            if (n == 0 || n == 1 || n == 32 || n == 35 || n == 37)
                return false;
            QCborValue tagged;
            if (!read(&tagged, depth + 1))
                return false;
            *out = QCborValue(QCborTag(n), tagged);
            return true;
        }
        }
        return false;
    }

private:
    static constexpr int maxDepth = 512;

    bool readArgument(quint8 info, quint64 *n)
    {
        if (info < 24) {
            *n = info;
            return true;
        }
        if (info > 27)
            return false; // indefinite lengths and reserved values
        const qsizetype size = qsizetype(1) << (info - 24);
        if (m_end - m_p < size)
            return false;
        switch (size) {
        case 1: *n = quint8(*m_p); break;
        case 2: *n = qFromBigEndian<quint16>(m_p); break;
        case 4: *n = qFromBigEndian<quint32>(m_p); break;
        default: *n = qFromBigEndian<quint64>(m_p); break;
        }
        m_p += size;
        return true;
    }

    bool readSimple(quint8 info, QCborValue *out)
    {
        switch (info) {
        case 20: *out = QCborValue(false); return true;
        case 21: *out = QCborValue(true); return true;
        case 22: *out = QCborValue(QCborValue::Null); return true;
        case 23: *out = QCborValue(QCborValue::Undefined); return true;
        case 26:
            if (m_end - m_p < 4)
                return false;
            *out = QCborValue(double(qFromBigEndian<float>(m_p)));
            m_p += 4;
            return true;
        case 27:
            if (m_end - m_p < 8)
                return false;
            *out = QCborValue(qFromBigEndian<double>(m_p));
            m_p += 8;
            return true;
        default:
            if (info < 20) {
                *out = QCborValue(QCborSimpleType(info));
                return true;
            }
            return false; // one-byte simple values and half floats: Qt's reader
        }
    }

    const char *m_p;
    const char *m_end;
};

} // namespace

bool parseCall(const QByteArray &body, QString *name, QCborArray *arguments,
               CallOptions *options, QString *error)
{
    QCborValue extra;
    FastCborReader fast(body.constData(), body.constData() + body.size());
    if (!fast.readCall(name, arguments, &extra) || !fast.atEnd()) {
        QCborValue value;
        if (!parseBody(body, &value, error))
            return false;
        const QCborArray call = value.toArray();
        if (!value.isArray() || call.size() < 2 || call.size() > 3 || !call.at(0).isString()
            || !call.at(1).isArray() || (call.size() == 3 && !call.at(2).isMap())) {
            *error = QStringLiteral(
                "expected [name, [arguments]] or [name, [arguments], {options}]");
            return false;
        }
        *name = call.at(0).toString();
        *arguments = call.at(1).toArray();
        if (call.size() == 3)
            extra = call.at(2);
    }
    *options = CallOptions();
    if (extra.isMap()) {
        const qint64 timeout = integerOr(extra.toMap().value(QStringLiteral("timeout")), 0);
        options->timeoutMs = std::max<qint64>(timeout, 0);
    }
    return true;
}

bool parseLeadingItem(const QByteArray &body, QCborValue *value, qsizetype *end,
                      QString *error)
{
    FastCborReader fast(body.constData(), body.constData() + body.size());
    if (fast.read(value)) {
        *end = fast.position() - body.constData();
        return true;
    }
    QCborStreamReader reader(body);
    *value = QCborValue::fromCbor(reader);
    if (reader.lastError() != QCborError::NoError) {
        *error = QStringLiteral("malformed CBOR in frame body: %1").arg(reader.lastError().toString());
        return false;
    }
    *end = qsizetype(reader.currentOffset());
    return true;
}

bool parseBody(const QByteArray &body, QCborValue *value, QString *error)
{
    qsizetype end = 0;
    if (!parseLeadingItem(body, value, &end, error))
        return false;
    if (end != body.size()) {
        *error = QStringLiteral("frame body holds %1 bytes after its CBOR item")
                     .arg(body.size() - end);
        return false;
    }
    return true;
}

namespace {
//! Frames from this size on are handed over rather than copied out of the decoder's buffer.
constexpr quint32 largeFrame = 64 * 1024;
//! The most the buffer keeps allocated between frames: enough for reads of a full pipe
//! (1 MiB), less than the arrays made for one large frame (arrayWithRoom()).
constexpr qsizetype keptCapacity = ReceiveBuffers::reuseFrom - 1;
} // namespace

FrameDecoder::FrameDecoder(qint64 maxFrameSize)
    : m_maxFrameSize(maxFrameSize)
{
}

void FrameDecoder::makeRoom()
{
    if (m_offset > 0 && m_offset == m_buffer.size()) {
        // Everything consumed: start over, in the same allocation unless a large frame left
        // it large (a worker idles without holding its largest frame's memory).
        if (m_buffer.capacity() > keptCapacity)
            m_buffer = QByteArray();
        else
            m_buffer.resize(0);
        m_offset = 0;
    } else if (m_offset > 65536 && m_offset * 2 > m_buffer.size()) {
        m_buffer.remove(0, m_offset); // compact once the consumed part dominates
        m_offset = 0;
    }
}

void FrameDecoder::append(const char *data, qsizetype size)
{
    makeRoom();
    m_buffer.append(data, size);
}

ssize_t FrameDecoder::readFrom(int fd, qsizetype size)
{
    makeRoom();
    const qsizetype old = m_buffer.size();
    if (old - m_offset >= 4) {
        const quint32 length = qFromLittleEndian<quint32>(m_buffer.constData() + m_offset);
        const qsizetype missing = m_offset + 4 + qsizetype(length) - old;
        // Up to the frame's end; and within the room next() reserved for it, which it does
        // only once a part of the frame is here (a header alone must not allocate the limit).
        if (length >= largeFrame && missing > 0)
            size = std::min(missing, std::max(size, m_buffer.capacity() - old));
    }
    m_buffer.resize(old + size);
    ssize_t got;
    do {
        got = ::read(fd, m_buffer.data() + old, size_t(size));
    } while (got < 0 && errno == EINTR);
    m_buffer.resize(old + std::max<ssize_t>(got, 0));
    return got;
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
        // The rest of a large frame comes in many pieces: make room for it once, but only once
        // a sixteenth of it is here, so that a header alone cannot make us allocate the limit.
        // A new array that starts with the frame: on huge pages when it is large, where each
        // page the reads fault in is 2 MiB rather than 4 KiB (receivebuffers_p.h).
        if (available >= 5 && m_buffer.capacity() < end && available >= qsizetype(length / 16)) {
            m_buffer = arrayWithRoom(QByteArrayView(m_buffer).sliced(m_offset), end - m_offset);
            m_offset = 0;
        }
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
