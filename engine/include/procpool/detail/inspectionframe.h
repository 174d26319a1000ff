// procpool — frames of the inspection protocol (docs/inspection.md): a 4-byte big-endian
// length, then a CBOR map. Pure functions, shared by the server and its clients, and the target
// of the inspection fuzzer: whatever bytes a client sends, they decode to a request or to an
// error that says what was wrong.
#pragma once

#include <procpool/procpool_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QCborArray>
#include <QtCore/QCborMap>
#include <QtCore/QList>
#include <QtCore/QString>

#include <optional>

namespace procpool::detail {

//! The protocol version this build speaks; a hello names it.
constexpr int inspectionProtocolVersion = 1;
//! Largest frame a server accepts from a client; a larger one ends the connection.
constexpr qint64 maxInspectionRequestBytes = 64 * 1024;
//! Largest frame a client accepts from a server.
constexpr qint64 maxInspectionReplyBytes = 256 * 1024 * 1024;

//! \a message as one frame.
PROCPOOL_ENGINE_EXPORT QByteArray encodeInspectionFrame(const QCborMap &message);

//! Takes the next frame off the front of \a buffer.
enum class FrameRead { NeedMore, Message, Error };
PROCPOOL_ENGINE_EXPORT FrameRead readInspectionFrame(QByteArray *buffer, qint64 maxBytes,
                                                     QCborMap *message, QString *error);

//! A client's request, checked: an operation the protocol knows, with fields of the right types.
struct InspectionRequest
{
    enum class Op {
        Hello,
        Snapshot,
        Watch,
        Unwatch,
        Start,
        Stop,
        StopNow,
        Terminate,
        Resize,
        Cancel,
        Kill,
        Submit,
    };
    Op op = Op::Hello;
    qint64 id = 0;         //!< echoed in the reply
    int version = 0;       //!< hello
    QString namespaceId;   //!< every command
    qint64 workers = 0;    //!< start, resize
    qint64 intervalMs = 0; //!< watch
    qint64 task = 0;       //!< cancel: a task id
    qint64 pid = 0;        //!< kill: a worker's pid
    QString taskName;      //!< submit
    QCborArray arguments;  //!< submit
    QString taskType;      //!< submit, optional: the task type the submission carries
    qint64 priority = 0;   //!< submit, optional: SubmitOptions::priority
    qint64 retries = 1;    //!< submit, optional: attempts in all (RetryPolicy::attempts); 1: once

    //! start, each optional: a limit the pool starts with instead of the one it last had (0,
    //! an empty list or an empty text: none). Named as in the options of a snapshot.
    struct StartLimits
    {
        std::optional<qint64> softMemoryLimit; //!< PoolOptions::softMemoryLimit, bytes
        std::optional<qint64> hardMemoryLimit; //!< PoolOptions::hardMemoryLimit, bytes
        std::optional<qint64> addressSpace;    //!< ResourceLimits::addressSpace, bytes
        std::optional<qint64> cpuSeconds;      //!< ResourceLimits::cpuSeconds
        std::optional<qint64> niceValue;       //!< ResourceLimits::niceValue, 0..19
        std::optional<QList<int>> cpuAffinity; //!< ResourceLimits::cpuAffinity
        std::optional<qint64> cgroupMemoryMax; //!< ControlGroup::memoryMax, bytes
        std::optional<double> cgroupCpuMax;    //!< ControlGroup::cpuMax, CPUs
        std::optional<QString> cgroupParent;   //!< ControlGroup::parent
    };
    StartLimits limits;

    //! Whether it changes anything (refused on a read-only socket).
    bool isCommand() const { return op >= Op::Start; }
};

//! Checks \a message; false and why when it is not a request of this protocol.
PROCPOOL_ENGINE_EXPORT bool decodeInspectionRequest(const QCborMap &message,
                                                    InspectionRequest *request, QString *error);

} // namespace procpool::detail
