// procpool — frames: the unit of the wire protocol between a pool and its workers.
//
//     u32 length   little-endian; bytes that follow this field (9 + body), at most the limit
//     u8  type     FrameType
//     u64 id       little-endian; the task id (0 for frames that concern no task)
//     ... body     length - 9 bytes; one CBOR data item, or nothing
//
// docs/protocol.md is the full specification. The decoder never trusts the peer: a length
// below the header size or above the limit, or an unknown type, is an error, and a frame
// arriving in pieces is reassembled however the bytes were split.
#pragma once

#include <procpool/procpool_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QCborArray>
#include <QtCore/QCborValue>
#include <QtCore/QString>

#include <sys/types.h>

namespace procpool::detail {

//! Bumped whenever a frame's meaning changes; the handshake compares it.
//! 2: MapCall and MapResult (chunks of a map()).
//! 3: Attachments (large byte arrays beside the CBOR body, inline or in shared memory).
//! 4: shared payloads are blocks (16 bytes of room, the bytes, a zero byte), so that the
//!    reader can use them where they lie.
//! 5: a Call or MapCall may carry a third element, a map of options: "timeout", the call's
//!    time limit, which the worker enforces itself once its pool is gone.
inline constexpr int protocolVersion = 5;
inline constexpr qsizetype frameHeaderSize = 4 + 1 + 8;

enum class FrameType : quint8 {
    Hello = 1,    //!< worker → pool, first frame: {protocol, pid, name, tasks}
    Call = 2,     //!< pool → worker: [task name, [arguments...](, {options})]
    Result = 3,   //!< worker → pool: the encoded result
    Error = 4,    //!< worker → pool: {kind, type, message}
    Progress = 5, //!< worker → pool: [value, maximum, text]
    Shutdown = 6, //!< pool → worker: finish what you hold, then exit (no body)
    MapCall = 7,   //!< pool → worker: [task name, [item...]], one call of a 1-argument task per item
    MapResult = 8, //!< worker → pool: [result...], one per item, in order
    Attachments = 9, //!< either way, just before the frame whose body refers to them
    Cancel = 10,     //!< pool → worker: stop call ID (no body); to workers whose Hello has "cancel"
};

PROCPOOL_ENGINE_EXPORT bool isKnownFrameType(quint8 type);

//! A worker writes this, then a call's id and a line break, on its output (stderr) just before
//! it runs the call: the lines that follow, up to the next such line, are that call's output.
inline constexpr char outputMarker[] = "\x1eprocpool-call ";
PROCPOOL_ENGINE_EXPORT const char *frameTypeName(FrameType type);

struct Frame
{
    FrameType type = FrameType::Hello;
    quint64 id = 0;
    QByteArray body;
};

//! Appends one frame to \a out.
PROCPOOL_ENGINE_EXPORT void appendFrame(QByteArray &out, FrameType type, quint64 id,
                                        const QByteArray &body = QByteArray());
PROCPOOL_ENGINE_EXPORT QByteArray encodeFrame(FrameType type, quint64 id,
                                              const QByteArray &body = QByteArray());
//! Encodes \a body as CBOR straight after the frame header: no second copy of the body.
PROCPOOL_ENGINE_EXPORT QByteArray encodeFrame(FrameType type, quint64 id, const QCborValue &body);
//! What a Call or MapCall asks for besides its task and arguments: the optional third element
//! of its body, a map.
struct CallOptions
{
    qint64 timeoutMs = 0; //!< "timeout": the call's time limit (0: none)
};

//! Writes the header of a frame from beginCallFrame() (processpoolmanager.h), and the call's
//! options after its arguments (when it has any).
PROCPOOL_ENGINE_EXPORT void finishCallFrame(QByteArray &frame, FrameType type, quint64 id,
                                            const CallOptions &options = {});
//! A Call or MapCall frame: [taskName, arguments(, options)], without building that array
//! first.
PROCPOOL_ENGINE_EXPORT QByteArray encodeCallFrame(FrameType type, quint64 id,
                                                  const QString &taskName,
                                                  const QCborArray &arguments,
                                                  const CallOptions &options = {});
//! Parses the body of a Call or MapCall: [name, [arguments]] or [name, [arguments], {options}];
//! false (and why) when it is neither. Options it does not know are ignored.
PROCPOOL_ENGINE_EXPORT bool parseCall(const QByteArray &body, QString *name,
                                      QCborArray *arguments, CallOptions *options,
                                      QString *error);
//! \a value as an integer, or \a fallback when it holds anything else. Unlike
//! QCborValue::toInteger(), never converts a double (undefined beyond qint64's range): for
//! values a peer sent.
inline qint64 integerOr(const QCborValue &value, qint64 fallback)
{
    return value.isInteger() ? value.toInteger() : fallback;
}

//! Parses the CBOR item at the start of \a body and says where it ends (bytes may follow).
PROCPOOL_ENGINE_EXPORT bool parseLeadingItem(const QByteArray &body, QCborValue *value,
                                             qsizetype *end, QString *error);
//! Parses a frame body as exactly one CBOR item; returns false (and why) when it is not.
PROCPOOL_ENGINE_EXPORT bool parseBody(const QByteArray &body, QCborValue *value,
                                      QString *error);

//! Reassembles frames from a byte stream split in arbitrary places.
class PROCPOOL_ENGINE_EXPORT FrameDecoder
{
public:
    enum class Status { NeedMore, Frame, Error };

    explicit FrameDecoder(qint64 maxFrameSize);

    void append(const char *data, qsizetype size);
    //! Takes \a data over without a copy when nothing is buffered.
    void append(QByteArray &&data);
    void append(const QByteArray &data) { append(data.constData(), data.size()); }
    //! Reads from \a fd straight into the buffer, at most \a size bytes, and never past the
    //! end of a large frame that has begun, so that the frame ends the buffer and next() hands
    //! it over whole: one copy from the kernel, none after. Returns what read() returned.
    ssize_t readFrom(int fd, qsizetype size);
    //! Takes the next complete frame out of the buffer. After an Error, stays in error.
    //! A large frame that ends the buffer is handed over as its body without a copy.
    Status next(Frame *frame);

    QString errorString() const { return m_error; }
    bool hasError() const { return !m_error.isEmpty(); }
    //! Bytes received but not yet returned as a frame (non-zero at EOF: a truncated frame).
    qsizetype bufferedBytes() const { return m_buffer.size() - m_offset; }
    qint64 maxFrameSize() const { return m_maxFrameSize; }

private:
    void makeRoom(); //!< drops consumed bytes before more are appended
    QByteArray m_buffer;
    qsizetype m_offset = 0;
    qint64 m_maxFrameSize;
    QString m_error;
};

} // namespace procpool::detail
