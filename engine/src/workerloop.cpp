// procpool — the worker loop: a plain blocking loop, no event loop.
//
//   read frame ─► Call? look the task up, decode arguments, run it ─► Result / Error frame
//
// At start-up the protocol moves off fds 0 and 1 (to private close-on-exec descriptors), fd 0
// becomes /dev/null and fd 1 joins fd 2, so whatever task code prints reaches the pool as
// log lines and can never corrupt a frame. A second, small thread does nothing but notice that
// the pool process is gone (poolwatch.cpp).
#include <procpool/worker.h>

#include "attachments_p.h"
#include "forkprotocol_p.h"
#include "poolwatch_p.h"
#include "frame_p.h"
#include "inspectionencoding_p.h"
#include "workerloop_p.h"
#include "tasktable_p.h"

#include <QtCore/QCborArray>
#include <QtCore/QCborMap>
#include <QtCore/QCoreApplication>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QSysInfo>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <cxxabi.h>
#include <exception>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <typeinfo>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

namespace procpool {
namespace {

using detail::callEnded;
using detail::callStarting;
using detail::monotonicNs;
using detail::startPoolWatch;

struct WorkerContext
{
    bool active = false;
    int in = -1;
    int out = -1;
    QString name;
    quint64 currentId = 0;
    qint64 maxFrameSize = 0;
    bool markOutput = true; //!< PoolOptions::taskOutput: mark where each call's output begins
    std::unique_ptr<detail::SharedRing> fromPool; //!< attachments of calls
    std::unique_ptr<detail::SharedRing> toPool;   //!< attachments of results
    // The Attachments frame that came just before the call it belongs to.
    quint64 attachmentsId = 0;
    QList<QByteArray> attachments;
    QString attachmentsError;

    // Cancellation: isCancellationRequested() reads what the pool sent while a call runs.
    detail::FrameDecoder *decoder = nullptr; //!< the loop's
    std::deque<detail::Frame> ahead; //!< frames read during a call, in order, for the loop
    std::vector<quint64> cancelled;  //!< calls the pool asked to stop, not yet ended
    std::vector<quint64> asked;      //!< calls only asked to stop (a soft time limit)
    std::mutex cancelMutex;          //!< task threads may ask at once
    qint64 nextPollNs = 0;
    qint64 lastInputNs = 0;          //!< when its input pipe was last looked at
};

WorkerContext &context()
{
    static WorkerContext c;
    return c;
}

QByteArray takeEnv(const char *name)
{
    QByteArray value = qgetenv(name);
    qunsetenv(name); // processes that tasks start must not believe they are workers
    return value;
}

//! Capacity asked for the protocol pipes: the default maximum for unprivileged processes.
constexpr int pipeSize = 1024 * 1024;
//! The most one read of the pool's pipe takes: what that pipe holds at most.
constexpr qsizetype inputChunk = pipeSize;

[[noreturn]] void die(const char *what)
{
    std::fprintf(stderr, "procpool worker %d: %s\n", int(getpid()), what);
    std::fflush(stderr);
    std::_Exit(70);
}

bool writeAll(int fd, const char *data, qsizetype size)
{
    while (size > 0) {
        const ssize_t written = ::write(fd, data, size_t(size));
        if (written < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        data += written;
        size -= written;
    }
    return true;
}

void send(detail::FrameType type, quint64 id, const QCborValue &body,
          const QList<QByteArray> &attachments = {})
{
    WorkerContext &c = context();
    const QByteArray frame = detail::encodeFrame(type, id, body);
    qint64 length = frame.size() - 4;
    for (const QByteArray &bytes : attachments)
        length += bytes.size();
    if (length > c.maxFrameSize
        && (type == detail::FrameType::Result || type == detail::FrameType::MapResult)) {
        // Too large to send: tell the pool why instead of breaking the protocol.
        const QCborMap error{{QStringLiteral("kind"), QStringLiteral("codec")},
                             {QStringLiteral("type"), QStringLiteral("procpool::CodecError")},
                             {QStringLiteral("message"),
                              QStringLiteral("the result is %1 bytes, over the frame limit of %2 "
                                             "bytes (PoolOptions::maxFrameSize)")
                                  .arg(length - 9)
                                  .arg(c.maxFrameSize)}};
        send(detail::FrameType::Error, id, error.toCborValue());
        return;
    }
    bool written = true;
    if (!attachments.isEmpty()) {
        const detail::EncodedAttachments encoded =
            detail::encodeAttachments(id, attachments, c.toPool.get());
        written = writeAll(c.out, encoded.head.constData(), encoded.head.size());
        for (const QByteArray &part : encoded.inlineParts)
            written = written && writeAll(c.out, part.constData(), part.size());
    }
    if (written && writeAll(c.out, frame.constData(), frame.size()))
        return;
    // The pool is gone (EPIPE): nobody is left to receive anything. A task that reports
    // progress runs on to its end all the same (a non-daemon pool's running work completes;
    // PoolWatch keeps its time limit); any other frame is the end of a call.
    if (type != detail::FrameType::Progress)
        std::_Exit(0);
}

QString demangle(const char *mangled)
{
    int status = 0;
    char *readable = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
    QString result = QString::fromUtf8(status == 0 && readable ? readable : mangled);
    std::free(readable);
    return result;
}

void sendError(quint64 id, const char *kind, const QString &type, const QString &message)
{
    const QCborMap error{{QStringLiteral("kind"), QString::fromLatin1(kind)},
                         {QStringLiteral("type"), type},
                         {QStringLiteral("message"), message}};
    send(detail::FrameType::Error, id, error.toCborValue());
}

//! Tells the pool that the output which follows on stderr (where stdout goes too) is call
//! \a id's: one short line, in the same stream as that output, so that the order is exact.
void markOutput(quint64 id)
{
    char line[64];
    const int n = std::snprintf(line, sizeof line, "%s%llu\n", detail::outputMarker,
                                static_cast<unsigned long long>(id));
    writeAll(STDERR_FILENO, line, n);
}

//! Before a call, how long since the worker last read its input makes it look there for a
//! Cancel frame.
constexpr qint64 lookAtInputNs = 100 * 1000;

//! Adds \a id to \a ids; a stale id (its call had ended) goes once the list grows long.
void remember(std::vector<quint64> &ids, quint64 id)
{
    if (std::find(ids.cbegin(), ids.cend(), id) == ids.cend())
        ids.push_back(id);
    if (ids.size() > 1024)
        ids.erase(ids.begin());
}

//! Takes \a id out of \a ids; whether it was there.
bool forget(std::vector<quint64> &ids, quint64 id)
{
    const auto it = std::find(ids.begin(), ids.end(), id);
    if (it == ids.end())
        return false;
    ids.erase(it);
    return true;
}

//! The pool asked call \a frame.id to stop (a Cancel frame): with no body, a call not started
//! yet is dropped; with one ("ask", a soft time limit), the call only learns it was asked.
void noteCancel(WorkerContext &c, const detail::Frame &frame)
{
    remember(frame.body.isEmpty() ? c.cancelled : c.asked, frame.id);
}

//! Whether call \a id is to be dropped; forgets it.
bool takeCancelled(WorkerContext &c, quint64 id)
{
    const std::lock_guard lock(c.cancelMutex);
    return forget(c.cancelled, id);
}

//! Reads what the pool has sent so far, without waiting: the frames already in the loop's
//! decoder, and what its pipe holds. Cancel frames are noted at once; the others wait, in
//! order, for the loop (c.cancelMutex held).
void readAhead(WorkerContext &c, bool pipeToo = true)
{
    pollfd p{c.in, POLLIN, 0};
    if (pipeToo)
        c.lastInputNs = monotonicNs();
    if (pipeToo && ::poll(&p, 1, 0) > 0)
        c.decoder->readFrom(c.in, inputChunk); // its end stays for the loop to read again
    for (detail::Frame frame;;) {
        const auto status = c.decoder->next(&frame);
        if (status == detail::FrameDecoder::Status::NeedMore)
            return;
        if (status == detail::FrameDecoder::Status::Error)
            die(qPrintable(QStringLiteral("protocol error from the pool: ")
                           + c.decoder->errorString()));
        if (frame.type == detail::FrameType::Cancel)
            noteCancel(c, frame);
        else
            c.ahead.push_back(std::move(frame));
    }
}

// Runs a Call (one invocation) or a MapCall (one invocation per item, the items being the
// single argument each) and answers with one Result, MapResult or Error frame.
void runCall(const detail::Frame &frame)
{
    const bool chunk = frame.type == detail::FrameType::MapCall;
    QString name;
    QCborArray arguments;
    detail::CallOptions options;
    QString parseError;
    if (!detail::parseCall(frame.body, &name, &arguments, &options, &parseError)) {
        sendError(frame.id, "protocol", QStringLiteral("procpool::ProtocolError"),
                  QStringLiteral("malformed %1 frame: %2")
                      .arg(QLatin1String(detail::frameTypeName(frame.type)), parseError));
        return;
    }
    WorkerContext &c = context();
    QList<QByteArray> attachments;
    if (c.attachmentsId == frame.id) {
        attachments.swap(c.attachments);
        c.attachmentsId = 0;
        if (!c.attachmentsError.isEmpty()) {
            sendError(frame.id, "protocol", QStringLiteral("procpool::ProtocolError"),
                      QStringLiteral("malformed Attachments frame: %1").arg(c.attachmentsError));
            c.attachmentsError.clear();
            return;
        }
    }
    {
        // A Cancel for this call may have come while the calls before it ran: in frames the
        // loop read already, always; in the pipe, when the worker has not looked at it for a
        // while (a look costs a system call, which back-to-back tiny calls would feel).
        const std::lock_guard lock(c.cancelMutex);
        readAhead(c, monotonicNs() - c.lastInputNs >= lookAtInputNs);
    }
    if (takeCancelled(c, frame.id)) {
        sendError(frame.id, "cancelled", QStringLiteral("procpool::Cancelled"),
                  QStringLiteral("cancelled before it started"));
        return;
    }
    const auto task = detail::findTask(name);
    if (!task) {
        sendError(frame.id, "unknown-task", QStringLiteral("procpool::UnknownTaskName"), name);
        return;
    }
    callStarting(frame.id, options.timeoutMs);
    c.currentId = frame.id;
    if (c.markOutput)
        markOutput(frame.id);
    // Large byte arrays among the arguments are resolved from the call's attachments; those
    // of the result are collected (only while the result is encoded, not while the task runs).
    QList<QByteArray> resultAttachments;
    const detail::AttachmentScope scope(nullptr, &attachments);
    struct ResultCollect
    {
        explicit ResultCollect(QList<QByteArray> *list) { detail::t_resultCollect = list; }
        ~ResultCollect() { detail::t_resultCollect = nullptr; }
    } collect(&resultAttachments);
    try {
        if (chunk) {
            QCborArray results;
            for (const QCborValue &item : arguments)
                results.append(task->invoke(QCborArray{item}));
            std::fflush(stdout);
            send(detail::FrameType::MapResult, frame.id, results.toCborValue(), resultAttachments);
        } else {
            const QCborValue result = task->invoke(arguments);
            std::fflush(stdout);
            send(detail::FrameType::Result, frame.id, result, resultAttachments);
        }
    } catch (const CodecError &e) {
        std::fflush(stdout);
        sendError(frame.id, "codec", QStringLiteral("procpool::CodecError"), e.message());
    } catch (const std::exception &e) {
        std::fflush(stdout);
        sendError(frame.id, "exception", demangle(typeid(e).name()), QString::fromUtf8(e.what()));
    } catch (...) {
        std::fflush(stdout);
        const std::type_info *type = abi::__cxa_current_exception_type();
        sendError(frame.id, "exception",
                  type ? demangle(type->name()) : QStringLiteral("unknown exception"),
                  QStringLiteral("a non-std::exception was thrown"));
    }
    c.currentId = 0;
    {
        const std::lock_guard lock(c.cancelMutex); // asked while it ran: nothing more to do
        forget(c.cancelled, frame.id);
        forget(c.asked, frame.id);
    }
    callEnded();
}

// Opens the shared-memory rings the pool handed down as "in,out" descriptors, if it did.
void openRings(WorkerContext &c, const QByteArray &fds)
{
    const QList<QByteArray> parts = fds.split(',');
    if (parts.size() != 2)
        return;
    bool okIn = false, okOut = false;
    const int in = parts.at(0).toInt(&okIn);
    const int out = parts.at(1).toInt(&okOut);
    if (!okIn || !okOut || ::fcntl(in, F_SETFD, FD_CLOEXEC) != 0
        || ::fcntl(out, F_SETFD, FD_CLOEXEC) != 0)
        return; // not inherited: everything goes through the pipe
    const qint64 ringMax = detail::SharedRing::headerSize + c.maxFrameSize;
    c.fromPool = std::make_unique<detail::SharedRing>(in, ringMax);
    c.toPool = std::make_unique<detail::SharedRing>(out, ringMax);
}

void receiveAttachments(WorkerContext &c, detail::Frame &frame)
{
    c.attachmentsId = frame.id;
    c.attachmentsError.clear();
    // In place: a call's large arrays are the bytes in the ring, not copies of them, until
    // the call is over (see the main loop).
    if (!detail::decodeAttachments(std::move(frame.body), c.fromPool.get(), c.maxFrameSize,
                                   detail::Placement::InPlace, &c.attachments,
                                   &c.attachmentsError))
        c.attachments.clear();
}

// Shows the worker's name in ps and /proc/PID/cmdline by writing over argv's storage.
void setProcessTitle(int argc, char **argv, const QByteArray &title)
{
    if (argc <= 0 || !argv || !argv[0])
        return;
    char *begin = argv[0];
    char *end = argv[argc - 1] + std::strlen(argv[argc - 1]);
    const size_t room = size_t(end - begin);
    const size_t n = std::min(room, size_t(title.size()));
    std::memcpy(begin, title.constData(), n);
    std::memset(begin + n, 0, room - n + 1);
}

} // namespace

void workerMain(int argc, char **argv)
{
    if (!qEnvironmentVariableIsEmpty("PROCPOOL_CATALOGUE")) {
        // Asked what this program can run (procpool --headless --program PATH): the tasks it
        // links, as JSON on standard output, and nothing else happens.
        const QByteArray json =
            QJsonDocument(QCborValue(detail::encodeCatalogue()).toJsonValue().toArray()).toJson(QJsonDocument::Compact);
        const bool written = std::fwrite(json.constData(), 1, size_t(json.size()), stdout) == size_t(json.size())
                             && std::fputc('\n', stdout) != EOF && std::fflush(stdout) == 0;
        std::_Exit(written ? 0 : 1);
    }
    const bool forkServer = !qEnvironmentVariableIsEmpty("PROCPOOL_FORK_SERVER");
    if (!forkServer && qEnvironmentVariableIsEmpty("PROCPOOL_WORKER"))
        return;
    // The process title overwrites argv's storage, so tasks get a copy of the arguments.
    static int appArgc = argc;
    static std::vector<QByteArray> argStorage(argv, argv + argc);
    static std::vector<char *> appArgv;
    for (QByteArray &arg : argStorage)
        appArgv.push_back(arg.data());
    appArgv.push_back(nullptr);
    if (forkServer) {
        const QByteArray control = takeEnv("PROCPOOL_FORK_SERVER");
        setProcessTitle(argc, argv, QByteArrayLiteral("procpool fork server"));
        detail::runForkServer(control.toInt()); // returns in each worker it forks
    }
    const QByteArray version = takeEnv("PROCPOOL_WORKER");
    const QByteArray name = takeEnv("PROCPOOL_WORKER_NAME");
    const QByteArray maxFrame = takeEnv("PROCPOOL_MAX_FRAME");
    const QByteArray parent = takeEnv("PROCPOOL_PARENT_PID");
    const QByteArray rings = takeEnv("PROCPOOL_SHM");
    const QByteArray taskOutput = takeEnv("PROCPOOL_TASK_OUTPUT");
    // Set for a daemon worker on another host, where no parent-death signal reaches it.
    const bool daemonRemote = takeEnv("PROCPOOL_DAEMON") == "1";
    if (version.toInt() != detail::protocolVersion)
        std::fprintf(stderr, "procpool worker: started for protocol %s, speaks %d\n",
                     version.constData(), detail::protocolVersion); // the handshake reports it

    WorkerContext &c = context();
    c.active = true;
    c.name = QString::fromUtf8(name);
    c.maxFrameSize = maxFrame.toLongLong() > 0 ? maxFrame.toLongLong() : qint64(512) << 20;
    c.markOutput = taskOutput != "0";
    openRings(c, rings);

    // Move the protocol off the standard descriptors.
    c.in = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
    c.out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (c.in < 0 || c.out < 0)
        die("cannot duplicate the protocol descriptors");
    // Larger pipes move a large payload in far fewer wake-ups of the two sides (the default
    // 64 KiB means one per 64 KiB). Best effort: the system limit (fs.pipe-max-size) may be
    // lower, and either end of a pipe may set its size.
    for (const int fd : {c.in, c.out})
        ::fcntl(fd, F_SETPIPE_SZ, pipeSize);
    const int devNull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devNull < 0 || ::dup2(devNull, STDIN_FILENO) < 0 || ::dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
        die("cannot redirect standard input and output");
    ::close(devNull);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    std::signal(SIGPIPE, SIG_IGN);
    // A large argument or result passes through a few buffers of its size. By default glibc
    // maps each such block afresh (above its mmap threshold) and returns the heap's top to the
    // system soon after, so every large call pays a page fault and a zeroed page per 4 KiB,
    // several times over. The worker is ours: keep such memory for the next call instead, at
    // the cost of holding on to a few times the largest payload it has seen.
    ::mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024); // glibc's largest allowed value
    ::mallopt(M_MMAP_MAX, 0); // and above it too: from the heap, kept for the next call
    ::mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
    ::mallopt(M_TOP_PAD, 64 * 1024 * 1024);
    if (!parent.isEmpty() && getppid() != parent.toLongLong())
        std::_Exit(0); // the pool died before we got here
    startPoolWatch(c.out, daemonRemote); // here, not earlier: a fork server must stay single-threaded

    if (!name.isEmpty()) {
        ::prctl(PR_SET_NAME, name.left(15).constData(), 0, 0, 0);
        setProcessTitle(argc, argv, name);
    }

    QCborArray tasks;
    for (const QString &taskName : registeredTaskNames())
        tasks.append(taskName);
    const QCborMap hello{{QStringLiteral("protocol"), detail::protocolVersion},
                         {QStringLiteral("pid"), qint64(getpid())},
                         {QStringLiteral("name"), c.name},
                         {QStringLiteral("tasks"), tasks},
                         {QStringLiteral("shm"), c.fromPool != nullptr},
                         {QStringLiteral("cancel"), true},
                         {QStringLiteral("host"), QSysInfo::machineHostName()},
                         {QStringLiteral("catalogue"), detail::catalogueFingerprint()}};
    send(detail::FrameType::Hello, 0, hello.toCborValue());

    // Tasks run with a QCoreApplication, as Qt code expects (and as a pool started inside a
    // task needs: Qt delivers no events without one). No event loop runs on this thread.
    auto *app = new QCoreApplication(appArgc, appArgv.data());

    detail::FrameDecoder decoder(c.maxFrameSize);
    c.decoder = &decoder;
    bool shutdown = false;
    while (!shutdown) {
        if (c.ahead.empty()) {
            // Straight into the decoder: a large argument is copied once, from the kernel.
            const ssize_t got = decoder.readFrom(c.in, inputChunk);
            c.lastInputNs = monotonicNs();
            if (got <= 0)
                break; // EOF: the pool closed our input (or died); finish like a shutdown
        }
        detail::Frame frame;
        while (!shutdown) {
            // Frames a call read ahead (isCancellationRequested()) come first: they came first.
            if (!c.ahead.empty()) {
                frame = std::move(c.ahead.front());
                c.ahead.pop_front();
            } else {
                const auto status = decoder.next(&frame);
                if (status == detail::FrameDecoder::Status::NeedMore)
                    break;
                if (status == detail::FrameDecoder::Status::Error)
                    die(qPrintable(QStringLiteral("protocol error from the pool: ")
                                   + decoder.errorString()));
            }
            if (frame.type == detail::FrameType::Cancel) {
                const std::lock_guard lock(c.cancelMutex);
                noteCancel(c, frame);
            } else if (frame.type == detail::FrameType::Call || frame.type == detail::FrameType::MapCall) {
                runCall(frame);
                if (c.fromPool)
                    c.fromPool->reclaim(); // the call's arrays are unused now, or kept apart
            } else if (frame.type == detail::FrameType::Attachments) {
                receiveAttachments(c, frame);
            } else if (frame.type == detail::FrameType::Shutdown) {
                shutdown = true;
            } else {
                die("unexpected frame type from the pool");
            }
        }
    }
    std::fflush(stdout);
    delete app; // runs procpool's post routine: a pool started inside a task drains here
    std::exit(0);
}

bool isWorkerProcess()
{
    return context().active;
}

QString workerName()
{
    return context().name;
}

bool isCancellationRequested()
{
    WorkerContext &c = context();
    const quint64 id = c.currentId;
    if (!c.active || id == 0)
        return false;
    const std::lock_guard lock(c.cancelMutex);
    const auto asked = [&] {
        return std::find(c.cancelled.cbegin(), c.cancelled.cend(), id) != c.cancelled.cend()
               || std::find(c.asked.cbegin(), c.asked.cend(), id) != c.asked.cend();
    };
    if (asked())
        return true;
    // A look at the pool's input costs a system call or two: at most once a millisecond.
    const qint64 now = monotonicNs();
    if (now < c.nextPollNs)
        return false;
    c.nextPollNs = now + 1000000;
    readAhead(c);
    return asked();
}

void reportProgress(int value, int maximum, const QString &text)
{
    const WorkerContext &c = context();
    if (!c.active || c.currentId == 0)
        return;
    send(detail::FrameType::Progress, c.currentId,
         QCborArray{value, maximum, text}.toCborValue());
}

namespace detail {

quint64 currentCallId()
{
    return context().currentId;
}

bool writeRawToPool(const QByteArray &bytes)
{
    const WorkerContext &c = context();
    return c.active && writeAll(c.out, bytes.constData(), bytes.size());
}

} // namespace detail
} // namespace procpool
