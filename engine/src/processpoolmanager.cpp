// procpool ProcessPoolManager: starting and stopping its pool, turning submissions into
// frames with the sinks that finish their futures, and what the manager tells about itself.
#include <procpool/processpoolmanager.h>

#include "engine_p.h"
#include "managerrelay_p.h"
#include "registryaccess_p.h"
#include "poolcore_p.h"
#include "tasktable_p.h"

#include <QtCore/QCborArray>
#include <QtCore/QCoreApplication>
#include <QtCore/QThread>

#include <atomic>
#include <unistd.h>

namespace procpool {

namespace detail {

ResultSink::~ResultSink() = default;

namespace {

//! The sink of an untyped submission: decodes the result to the task's declared type when
//! this program knows the task, and generically otherwise.
class VariantSink final : public PromiseSinkBase<QVariant>
{
public:
    explicit VariantSink(std::shared_ptr<const TaskEntry> entry) : m_entry(std::move(entry)) {}
    void decode(const QCborValue &result) override
    {
        m_value = m_entry ? m_entry->resultToVariant(result) : decodeVariant(result);
    }
    void complete() override
    {
        m_promise.addResult(std::move(m_value));
        m_promise.finish();
    }

private:
    std::shared_ptr<const TaskEntry> m_entry;
    QVariant m_value;
};

} // namespace
} // namespace detail

struct ProcessPoolManager::Private
{
    explicit Private(qint64 pid) : creatorPid(pid) {}

    mutable QMutex mutex;
    const qint64 creatorPid;
    QString namespaceId;
    PoolOptions lastOptions; //!< of the last pool, while none runs (the pool's own otherwise)
    std::shared_ptr<detail::PoolCore> core;
    std::unique_ptr<ProcessPool> pool;
    //! Carries the engine thread's signals of its pools here (see ~ProcessPoolManager()).
    std::shared_ptr<detail::ManagerRelay> relay;
};

ProcessPoolManager::ProcessPoolManager(qint64 creatorPid, QObject *parent)
    : QObject(parent), d(std::make_unique<Private>(creatorPid))
{
    d->relay = std::make_shared<detail::ManagerRelay>(this);
    ManagerRegistry::instance()->track(this);
}

ProcessPoolManager::ProcessPoolManager(QObject *parent)
    : ProcessPoolManager(currentProcessId(), parent)
{
}

ProcessPoolManager::~ProcessPoolManager()
{
    // The guarantee of non-daemon pools holds even when their manager goes away.
    stop(!options().daemon);
    ManagerRegistry::instance()->untrack(this);
    d->relay->detach(); // a pool that still drains may be emitting right now
}

qint64 ProcessPoolManager::creatorPid() const
{
    return d->creatorPid;
}

void ProcessPoolManager::setNamespaceId(const QString &id)
{
    QMutexLocker locker(&d->mutex);
    d->namespaceId = id;
}

qint64 ProcessPoolManager::currentProcessId()
{
    return qint64(::getpid());
}

void ProcessPoolManager::start(int maxWorkers, const QString &taskType, bool daemon,
                               const QString &processNamePrefix, const StartContext &startContext)
{
    PoolOptions options;
    options.maxWorkers = maxWorkers;
    options.taskType = taskType;
    options.daemon = daemon;
    options.processNamePrefix = processNamePrefix;
    options.startContext = startContext;
    start(options);
}

void ProcessPoolManager::start(const PoolOptions &options)
{
    options.validate();
    if (!options.initializer.isEmpty()) {
        // Checked here when this program's task table is the workers' one.
        const bool own = options.startContext.program.isEmpty();
        const auto entry = detail::findTask(options.initializer);
        if (own && !entry)
            throw std::invalid_argument(
                QStringLiteral("procpool: initializer '%1' is not a registered task")
                    .arg(options.initializer)
                    .toStdString());
        if (entry) {
            QCborArray encoded;
            for (const QVariant &argument : options.initializerArguments)
                encoded.append(detail::encodeVariant(argument));
            try {
                entry->checkArguments(options.initializer, encoded);
            } catch (const CodecError &e) {
                throw std::invalid_argument("procpool: initializerArguments: "
                                            + e.message().toStdString());
            }
        }
    }
    if (!QCoreApplication::instance())
        throw std::logic_error("procpool: create a QCoreApplication (or QGuiApplication, "
                               "QApplication) before starting a pool; Qt delivers no events "
                               "to procpool's engine thread without one");
    std::shared_ptr<detail::PoolCore> core;
    {
        QMutexLocker locker(&d->mutex);
        if (d->core) {
            locker.unlock();
            throw PoolAlreadyRunning(
                QStringLiteral("%1: the process pool is already active or running; stop() it "
                               "before starting it again")
                    .arg(toString()));
        }
        const QString label = d->namespaceId.isEmpty()
                                  ? QStringLiteral("an unregistered manager")
                                  : QStringLiteral("namespace '%1'").arg(d->namespaceId);
        std::unique_ptr<detail::ControlGroup> cgroup;
        if (options.cgroup.enabled())
            cgroup = detail::ControlGroup::create(options.cgroup, label);
        core = std::shared_ptr<detail::PoolCore>(new detail::PoolCore(options, label),
                                                 &detail::Engine::deleteCore);
        core->adoptControlGroup(std::move(cgroup));
        const std::shared_ptr<detail::ManagerRelay> relay = d->relay;
        detail::PoolCore *source = core.get();
        connect(source, &detail::PoolCore::stateChanged, source, [relay](PoolState state) {
            relay->deliver([&](ProcessPoolManager *m) { Q_EMIT m->stateChanged(state); });
        }, Qt::DirectConnection);
        connect(source, &detail::PoolCore::workerStarted, source,
                [relay](qint64 pid, const QString &name) {
                    relay->deliver([&](ProcessPoolManager *m) { Q_EMIT m->workerStarted(pid, name); });
                }, Qt::DirectConnection);
        connect(source, &detail::PoolCore::workerExited, source,
                [relay](qint64 pid, int exitCode, int signal, const QString &reason) {
                    relay->deliver([&](ProcessPoolManager *m) {
                        Q_EMIT m->workerExited(pid, exitCode, signal, reason);
                    });
                }, Qt::DirectConnection);
        // Receivers on the manager's thread have caught up with the lines emitted before an
        // event posted to it once that thread runs it (see outputmeter_p.h).
        const std::weak_ptr<detail::OutputMeter> weakMeter = core->outputMeter();
        core->outputMeter()->setPoster([relay, weakMeter](detail::OutputMeter::Mark mark) {
            relay->post([weakMeter, mark] {
                if (const auto meter = weakMeter.lock())
                    meter->acknowledge(mark);
            });
        });
        connect(source, &detail::PoolCore::workerLog, source,
                [relay, meter = core->outputMeter()](qint64 pid, const QString &line) {
                    bool delivered = false;
                    relay->deliver([&](ProcessPoolManager *m) {
                        Q_EMIT m->workerLog(pid, line);
                        delivered = true;
                    });
                    if (delivered)
                        meter->emitted(line.size() * qsizetype(sizeof(QChar)));
                }, Qt::DirectConnection);
        detail::Engine::instance().adopt(core);
        d->core = core;
        d->pool.reset(new ProcessPool(core));
    }
    if (options.minWorkers > 0)
        core->postDispatch(); // starts minWorkers now rather than with the first task
    Q_EMIT stateChanged(PoolState::Running);
}

void ProcessPoolManager::stop(bool wait)
{
    std::shared_ptr<detail::PoolCore> core;
    std::unique_ptr<ProcessPool> pool;
    {
        QMutexLocker locker(&d->mutex);
        core = std::move(d->core);
        pool = std::move(d->pool);
        if (core)
            d->lastOptions = core->options(); // as resized
    }
    if (!core)
        return;
    const bool daemon = core->fixedOptions().daemon;
    core->requestStop(!daemon ? detail::StopMode::Drain
                              : (wait ? detail::StopMode::DropQueued : detail::StopMode::Kill));
    if (!wait)
        return;
    if (detail::Engine::instance().isEngineThread()) {
        qWarning("procpool: stop(true) called on procpool's engine thread (from a QFuture "
                 "continuation without a context?); not waiting, which would deadlock. Give "
                 ".then() a context object to run it elsewhere.");
        return;
    }
    core->waitStopped();
}

void ProcessPoolManager::requestStop()
{
    stop(false);
}

void ProcessPoolManager::resize(int maxWorkers)
{
    if (maxWorkers < 1)
        throw std::invalid_argument("procpool: resize() needs maxWorkers of at least 1");
    runningCore()->resize(maxWorkers);
}

void ProcessPoolManager::terminate()
{
    std::shared_ptr<detail::PoolCore> core;
    std::unique_ptr<ProcessPool> pool;
    {
        QMutexLocker locker(&d->mutex);
        core = std::move(d->core);
        pool = std::move(d->pool);
        if (core)
            d->lastOptions = core->options();
    }
    if (!core)
        return;
    core->requestStop(detail::StopMode::Kill);
    if (!detail::Engine::instance().isEngineThread())
        core->waitStopped();
}

std::shared_ptr<detail::PoolCore> ProcessPoolManager::runningCore() const
{
    std::shared_ptr<detail::PoolCore> core;
    {
        QMutexLocker locker(&d->mutex);
        core = d->core;
    }
    if (!core)
        throw PoolNotRunning(QStringLiteral("%1: the process pool is not running; call start() "
                                            "first")
                                 .arg(toString()));
    return core;
}

ProcessPool *ProcessPoolManager::getPool() const
{
    runningCore(); // throws before start()
    QMutexLocker locker(&d->mutex);
    return d->pool.get();
}

bool ProcessPoolManager::isRunning() const
{
    QMutexLocker locker(&d->mutex);
    return d->core && d->core->state() == PoolState::Running;
}

PoolState ProcessPoolManager::state() const
{
    QMutexLocker locker(&d->mutex);
    return d->core ? d->core->state() : PoolState::Stopped;
}

QString ProcessPoolManager::namespaceId() const
{
    QMutexLocker locker(&d->mutex);
    return d->namespaceId;
}

PoolOptions ProcessPoolManager::options() const
{
    QMutexLocker locker(&d->mutex);
    return d->core ? d->core->options() : d->lastOptions;
}

void ProcessPoolManager::checkSubmission(const SubmitOptions &options) const
{
    const auto core = runningCore();
    const QString &required = core->fixedOptions().taskType;
    if (!required.isEmpty() && options.taskType != required)
        throw UnknownTaskError(options.taskType, required);
    options.retry.validate();
}

quint64 ProcessPoolManager::enqueue(const QString &taskName, QByteArray &&frame,
                                    QList<QByteArray> &&attachments,
                                    std::unique_ptr<detail::ResultSink> sink,
                                    const SubmitOptions &options, bool chunk)
{
    const auto core = runningCore();
    auto item = std::make_unique<detail::WorkItem>();
    const quint64 id = detail::Engine::instance().nextTaskId();
    item->id = id;
    item->taskName = taskName;
    item->taskType = options.taskType;
    const std::chrono::milliseconds timeout =
        options.timeout.count() < 0 ? core->fixedOptions().taskTimeout : options.timeout;
    item->timeoutMs = timeout.count();
    item->softTimeoutMs = (options.softTimeout.count() < 0 ? core->fixedOptions().softTaskTimeout
                                                           : options.softTimeout)
                              .count();
    item->roomTimeoutMs = options.roomTimeout.count();
    item->chunk = chunk;
    item->priority = options.priority;
    if (options.retry.maxAttempts > 1)
        item->retry = std::make_shared<const RetryPolicy>(options.retry);
    // The worker learns the limit too: it has to enforce it itself should the pool die.
    detail::CallOptions callOptions;
    callOptions.timeoutMs = item->timeoutMs;
    detail::finishCallFrame(frame, chunk ? detail::FrameType::MapCall : detail::FrameType::Call,
                            id, callOptions);
    item->frame = std::move(frame);
    qint64 size = item->frame.size() - 4;
    for (const QByteArray &bytes : attachments)
        size += bytes.size();
    if (size > core->fixedOptions().maxFrameSize)
        throw CodecError(QStringLiteral("the call of task '%1' is %2 bytes, over the frame limit "
                                        "of %3 bytes (PoolOptions::maxFrameSize)")
                             .arg(taskName)
                             .arg(size)
                             .arg(core->fixedOptions().maxFrameSize));
    item->attachments = std::move(attachments);
    item->sink = std::move(sink);
    core->enqueue(std::move(item));
    return id;
}

qsizetype ProcessPoolManager::mapChunkSize(qsizetype items, int requested) const
{
    if (requested > 0)
        return requested;
    // About eight chunks per worker: enough to even out uneven items, few enough that the
    // per-frame cost is spread over many items.
    const qsizetype workers = runningCore()->maxWorkers();
    return std::clamp<qsizetype>((items + workers * 8 - 1) / (workers * 8), 1, 4096);
}

QFuture<QVariant> ProcessPoolManager::submitTask(const QString &taskName,
                                                 const QVariantList &arguments,
                                                 const SubmitOptions &options)
{
    return submitTracked(taskName, arguments, options).future;
}

ProcessPoolManager::TrackedTask ProcessPoolManager::submitTracked(const QString &taskName,
                                                                  const QVariantList &arguments,
                                                                  const SubmitOptions &options)
{
    checkSubmission(options);
    const auto core = runningCore();
    auto entry = detail::findTask(taskName);
    if (!entry && core->runsOwnProgram())
        throw UnknownTaskName(taskName, registeredTaskNames());
    QCborArray encoded;
    QList<QByteArray> attachments;
    {
        const detail::AttachmentScope scope(&attachments, nullptr);
        for (const QVariant &argument : arguments)
            encoded.append(detail::encodeVariant(argument));
    }
    if (entry) {
        const detail::AttachmentScope scope(nullptr, &attachments);
        entry->checkArguments(taskName, encoded); // throws CodecError before anything is queued
    }
    auto sink = std::make_unique<detail::VariantSink>(std::move(entry));
    TrackedTask tracked;
    tracked.future = sink->future();
    QByteArray frame = detail::beginCallFrame(taskName, encoded.size());
    for (const QCborValue &argument : std::as_const(encoded))
        detail::appendCallArgument(frame, argument);
    tracked.id = enqueue(taskName, std::move(frame), std::move(attachments), std::move(sink),
                         options);
    return tracked;
}

QString ProcessPoolManager::toString() const
{
    QMutexLocker locker(&d->mutex);
    const PoolState s = d->core ? d->core->state() : PoolState::Stopped;
    QString text = QStringLiteral("<ProcessPoolManager namespace=%1 creator=%2 state=%3")
                       .arg(d->namespaceId.isEmpty() ? QStringLiteral("none")
                                                    : u'\'' + d->namespaceId + u'\'')
                       .arg(d->creatorPid)
                       .arg(stateName(s));
    if (d->core) {
        const PoolOptions &o = d->core->options();
        text += QStringLiteral(" max_workers=%1 task_type=%2 daemon=%3 prefix=%4 workers=%5")
                    .arg(o.maxWorkers)
                    .arg(o.taskType.isEmpty() ? QStringLiteral("any") : u'\'' + o.taskType + u'\'')
                    .arg(o.daemon ? QStringLiteral("true") : QStringLiteral("false"))
                    .arg(o.processNamePrefix.isEmpty() ? QStringLiteral("none")
                                                       : u'\'' + o.processNamePrefix + u'\'')
                    .arg(d->core->workers().size());
        if (o.maxQueued > 0)
            text += QStringLiteral(" max_queued=%1").arg(o.maxQueued);
    }
    return text + u'>';
}

QList<ProcessPoolManager *> ProcessPoolManager::allInstances()
{
    return ManagerRegistry::instance()->allInstances();
}

RegistryMap ProcessPoolManager::registry()
{
    return ManagerRegistry::instance()->snapshot();
}

QDebug operator<<(QDebug debug, const ProcessPoolManager *manager)
{
    QDebugStateSaver saver(debug);
    if (!manager)
        return debug << "ProcessPoolManager(nullptr)";
    debug.noquote().nospace() << manager->toString();
    return debug;
}

namespace detail {

std::shared_ptr<PoolCore> RegistryAccess::coreOf(const ProcessPoolManager *manager)
{
    QMutexLocker locker(&manager->d->mutex);
    return manager->d->core;
}

} // namespace detail

} // namespace procpool
