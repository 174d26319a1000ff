#include "poolworker_p.h"

#include <algorithm>
#include <charconv>
#include <unistd.h>
#include <limits>

namespace procpool::detail {

namespace {
//! How long a worker stays idle before its shared-memory rings give their pages back: they
//! keep them while it is busy, so that the next large payload does not fault them in again.
constexpr int ringTrimDelayMs = 2000;
} // namespace

PoolWorker::PoolWorker(int workerIndex, const QString &workerName, qint64 maxFrameSize,
                       QObject *parent)
    : QObject(parent), index(workerIndex), name(workerName), decoder(maxFrameSize)
{
    for (QTimer *timer : {&m_handshake, &m_task, &m_softTask, &m_idle, &m_trim})
        timer->setSingleShot(true);
    m_trim.setInterval(ringTrimDelayMs);
    connect(&m_handshake, &QTimer::timeout, this, &PoolWorker::handshakeExpired);
    connect(&m_task, &QTimer::timeout, this, [this] {
        if (!inFlight.empty())
            Q_EMIT taskExpired();
    });
    connect(&m_softTask, &QTimer::timeout, this, [this] {
        if (!inFlight.empty())
            Q_EMIT softLimitPassed();
    });
    connect(&m_idle, &QTimer::timeout, this, &PoolWorker::idleExpired);
    connect(&m_trim, &QTimer::timeout, this, &PoolWorker::trimDue);
}

PoolWorker::~PoolWorker()
{
    input.close(); // its notifier before the process it belongs to
}

bool PoolWorker::prepare(const PoolOptions &options, const QString &program, bool onHost,
                         ChildProcess::Setup *setup, QString *error)
{
    const StartContext &ctx = options.startContext;
    setup->program = program;
    setup->arguments = ctx.arguments;
    setup->workingDirectory = ctx.workingDirectory;
    setup->environment = ctx.environment.isEmpty() ? QProcessEnvironment::systemEnvironment()
                                                   : ctx.environment;
    setup->workerEnvironment = {
        {QByteArrayLiteral("PROCPOOL_WORKER"), QByteArray::number(protocolVersion)},
        {QByteArrayLiteral("PROCPOOL_WORKER_NAME"), name.toUtf8()},
        {QByteArrayLiteral("PROCPOOL_MAX_FRAME"), QByteArray::number(options.maxFrameSize)}};
    if (!options.taskOutput)
        setup->workerEnvironment.append({QByteArrayLiteral("PROCPOOL_TASK_OUTPUT"), QByteArrayLiteral("0")});
    setup->daemon = options.daemon;
    setup->method = ctx.method;
    setup->serverHandshakeMs = int(options.handshakeTimeout.count());
    if (options.sharedMemory && !onHost) { // memory is not shared across machines
        const int in = SharedRing::createFile();
        const int out = in < 0 ? -1 : SharedRing::createFile();
        if (out >= 0) {
            const qint64 ringMax = SharedRing::headerSize + options.maxFrameSize;
            toWorker = std::make_unique<SharedRing>(in, ringMax);
            fromWorker = std::make_unique<SharedRing>(out, ringMax);
            setup->rings[0] = in;
            setup->rings[1] = out;
        } else if (in >= 0) {
            ::close(in); // no memfd here: everything goes through the pipes
        }
    }
    process = new ChildProcess(this);
    if (!input.open(this, error))
        return false;
    setup->input = input.childEnd();
    return true;
}

void PoolWorker::startHandshakeTimer(std::chrono::milliseconds limit)
{
    m_handshake.start(limit);
}

void PoolWorker::frontChanged(std::chrono::milliseconds idleTimeout)
{
    m_task.stop();
    m_softTask.stop();
    if (toWorker && ringsUsed) {
        if (inFlight.empty())
            m_trim.start();
        else
            m_trim.stop();
    }
    if (inFlight.empty()) {
        if (idleTimeout.count() > 0 && isReady())
            m_idle.start(idleTimeout);
        return;
    }
    m_idle.stop();
    if (const qint64 limit = inFlight.front()->timeoutMs; limit > 0)
        m_task.start(int(std::min<qint64>(limit, std::numeric_limits<int>::max())));
    if (const qint64 limit = inFlight.front()->softTimeoutMs; limit > 0)
        m_softTask.start(int(std::min<qint64>(limit, std::numeric_limits<int>::max())));
}

void PoolWorker::stopTimers()
{
    for (QTimer *timer : {&m_handshake, &m_task, &m_softTask, &m_idle, &m_trim})
        timer->stop();
}

void PoolWorker::keepLine(QByteArrayView line, QList<OutputLine> *lines)
{
    constexpr qsizetype markerSize = sizeof outputMarker - 1;
    if (line.startsWith(outputMarker)) {
        // Read from the bytes: one such line per call, the common case by far.
        quint64 id = 0;
        const char *digits = line.constData() + markerSize;
        const auto [end, error] = std::from_chars(digits, line.constData() + line.size(), id);
        outputOwner = error == std::errc() && end != digits ? id : 0;
        return;
    }
    if (line.endsWith('\r'))
        line.chop(1);
    QString text = QString::fromUtf8(line);
    stderrTail.append(text); // a crash report quotes it, emitted or not
    if (stderrTail.size() > tailLines)
        stderrTail.removeFirst();
    lines->append(OutputLine{outputOwner, std::move(text)});
}

QList<PoolWorker::OutputLine> PoolWorker::takeOutputLines(const QByteArray &arrived)
{
    m_partial += arrived;
    QList<OutputLine> lines;
    qsizetype start = 0;
    for (qsizetype nl; (nl = m_partial.indexOf('\n', start)) >= 0; start = nl + 1)
        keepLine(QByteArrayView(m_partial).sliced(start, nl - start), &lines);
    // Output that never ends its line must not grow the buffer without bound: cut it.
    for (; m_partial.size() - start >= maxLineBytes; start += maxLineBytes)
        keepLine(QByteArrayView(m_partial).sliced(start, maxLineBytes), &lines);
    m_partial.remove(0, start);
    return lines;
}

QList<PoolWorker::OutputLine> PoolWorker::takeLastOutputLine()
{
    QList<OutputLine> lines;
    if (!m_partial.isEmpty())
        keepLine(std::exchange(m_partial, QByteArray()), &lines);
    return lines;
}

} // namespace procpool::detail
