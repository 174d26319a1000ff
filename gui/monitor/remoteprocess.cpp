#include "remoteprocess.h"

#include <procpool/detail/inspectionframe.h>
#include <procpool/inspection.h>

#include <QtCore/QCborArray>
#include <QtNetwork/QLocalSocket>

#include <csignal>

namespace procpool::monitor {

namespace {

QString text(const QCborMap &m, const char *key)
{
    return m.value(QLatin1String(key)).toString();
}

qint64 integer(const QCborMap &m, const char *key)
{
    // Not toInteger() of a double: out of range, its conversion is undefined.
    const QCborValue v = m.value(QLatin1String(key));
    return v.isInteger() ? v.toInteger() : 0;
}

//! The enum value whose stateName() is \a name; \a fallback for a name this build does not know.
template<typename State>
State stateNamed(const QString &name, std::initializer_list<State> states, State fallback)
{
    for (State s : states)
        if (stateName(s) == name)
            return s;
    return fallback;
}

QDateTime msTime(qint64 ms)
{
    return ms > 0 ? QDateTime::fromMSecsSinceEpoch(ms, Qt::UTC) : QDateTime();
}

} // namespace

PoolOptions RemoteProcess::decodeOptions(const QCborMap &m)
{
    PoolOptions o;
    o.maxWorkers = int(integer(m, "maxWorkers"));
    o.minWorkers = int(integer(m, "minWorkers"));
    o.taskType = text(m, "taskType");
    o.daemon = m.value(QLatin1String("daemon")).toBool();
    o.processNamePrefix = text(m, "processNamePrefix");
    o.prefetch = int(integer(m, "prefetch"));
    o.maxQueued = int(integer(m, "maxQueued"));
    o.maxTasksPerWorker = int(integer(m, "maxTasksPerWorker"));
    o.taskTimeout = std::chrono::milliseconds(integer(m, "taskTimeoutMs"));
    o.idleTimeout = std::chrono::milliseconds(integer(m, "idleTimeoutMs"));
    o.sharedMemory = m.value(QLatin1String("sharedMemory")).toBool();
    o.startContext.program = text(m, "program");
    // The limits are sent when set: absent means the default.
    o.softMemoryLimit = integer(m, "softMemoryLimit");
    o.hardMemoryLimit = integer(m, "hardMemoryLimit");
    if (m.contains(QLatin1String("memoryCheckIntervalMs")))
        o.memoryCheckInterval = std::chrono::milliseconds(integer(m, "memoryCheckIntervalMs"));
    o.resourceLimits.addressSpace = integer(m, "addressSpace");
    o.resourceLimits.cpuSeconds = int(integer(m, "cpuSeconds"));
    o.resourceLimits.niceValue = int(integer(m, "niceValue"));
    for (const QCborValue &cpu : m.value(QLatin1String("cpuAffinity")).toArray())
        if (cpu.isInteger())
            o.resourceLimits.cpuAffinity.append(int(cpu.toInteger()));
    o.cgroup.memoryMax = integer(m, "cgroupMemoryMax");
    const QCborValue cpus = m.value(QLatin1String("cgroupCpuMax"));
    o.cgroup.cpuMax = cpus.isInteger() ? double(cpus.toInteger()) : cpus.toDouble();
    o.cgroup.parent = text(m, "cgroupParent");
    for (const QCborValue &value : m.value(QLatin1String("hosts")).toArray()) {
        const QCborMap h = value.toMap();
        const QString launcher = text(h, "launcher");
        WorkerHost host{text(h, "host"), int(integer(h, "workers")), Launcher{}, text(h, "program")};
        for (const QCborValue &option : h.value(QLatin1String("options")).toArray())
            host.launcher.arguments.append(option.toString());
        host.launcher.kind = launcher == u"ssh"     ? Launcher::Kind::Ssh
                             : launcher == u"slurm" ? Launcher::Kind::Slurm
                             : launcher == u"local" ? Launcher::Kind::Local
                                                    : Launcher::Kind::Command;
        o.hosts.append(host);
    }
    return o;
}

namespace {

PoolStats decodeStats(const QCborMap &m)
{
    PoolStats s;
    s.queued = integer(m, "queued");
    s.running = integer(m, "running");
    s.submitted = quint64(integer(m, "submitted"));
    s.completed = quint64(integer(m, "completed"));
    s.failed = quint64(integer(m, "failed"));
    s.cancelled = quint64(integer(m, "cancelled"));
    s.workersStarted = quint64(integer(m, "workersStarted"));
    s.workersCrashed = quint64(integer(m, "workersCrashed"));
    return s;
}

WorkerInfo decodeWorker(const QCborMap &m)
{
    WorkerInfo w;
    w.pid = integer(m, "pid");
    w.name = text(m, "name");
    w.state = stateNamed(text(m, "state"),
                         {WorkerState::Starting, WorkerState::Idle, WorkerState::Busy,
                          WorkerState::Exiting, WorkerState::Crashed},
                         WorkerState::Idle);
    w.currentTask = text(m, "currentTask");
    w.tasksDone = quint64(integer(m, "tasksDone"));
    w.tasksFailed = quint64(integer(m, "tasksFailed"));
    w.startedAt = QDateTime::fromString(text(m, "startedAt"), Qt::ISODateWithMs);
    w.slot = int(integer(m, "slot"));
    w.host = text(m, "host");
    w.reportedHost = text(m, "reportedHost");
    w.remotePid = integer(m, "remotePid");
    return w;
}

TaskRecord decodeRecord(const QCborMap &m)
{
    TaskRecord r;
    r.id = quint64(integer(m, "id"));
    r.serial = quint64(integer(m, "serial"));
    r.taskName = text(m, "task");
    r.taskType = text(m, "taskType");
    r.state = stateNamed(text(m, "state"),
                         {TaskState::Queued, TaskState::Running, TaskState::Finished,
                          TaskState::Failed, TaskState::Cancelled},
                         TaskState::Queued);
    r.workerPid = integer(m, "workerPid");
    r.submittedAt = msTime(integer(m, "submittedMs"));
    r.startedAt = msTime(integer(m, "startedMs"));
    r.finishedAt = msTime(integer(m, "finishedMs"));
    r.progressValue = int(integer(m, "progress"));
    r.progressMaximum = int(integer(m, "progressMaximum"));
    r.progressText = text(m, "progressText");
    r.error = text(m, "error");
    // Sent when they differ from a task run once; "attempts" when not 1 once started, 0 before.
    r.priority = int(integer(m, "priority"));
    r.attempts = m.contains(QLatin1String("attempts")) ? int(integer(m, "attempts"))
                                                       : (r.startedAt.isValid() ? 1 : 0);
    r.maxAttempts = m.contains(QLatin1String("maxAttempts")) ? int(integer(m, "maxAttempts")) : 1;
    for (const QCborValue &e : m.value(QLatin1String("attemptErrors")).toArray())
        r.attemptErrors.append(e.toString());
    r.output = text(m, "output");
    return r;
}

} // namespace

bool processRuns(qint64 pid)
{
    return ::kill(pid_t(pid), 0) == 0 || errno == EPERM;
}

RemoteProcess::RemoteProcess(qint64 pid, int intervalMs, QObject *parent)
    : QObject(parent)
    , m_pid(pid)
    , m_intervalMs(std::clamp(intervalMs, 10, 3600000))
    , m_socket(new QLocalSocket(this))
{
    connect(m_socket, &QLocalSocket::connected, this, &RemoteProcess::onConnected);
    connect(m_socket, &QLocalSocket::readyRead, this, &RemoteProcess::onReadable);
    connect(m_socket, &QLocalSocket::disconnected, this, [this] {
        onGone(QStringLiteral("it closed the connection"));
    });
    connect(m_socket, &QLocalSocket::errorOccurred, this, [this](QLocalSocket::LocalSocketError) {
        onGone(m_socket->errorString());
    });
    m_socket->connectToServer(inspectionSocketPath(pid));
}

RemoteProcess::~RemoteProcess()
{
    m_socket->disconnect(this);
}

const RemoteNamespace *RemoteProcess::findNamespace(const QString &id) const
{
    for (const RemoteNamespace &ns : m_namespaces)
        if (ns.id == id)
            return &ns;
    return nullptr;
}

const RemoteTask *RemoteProcess::findTask(const QString &name) const
{
    for (const RemoteTask &t : m_catalogue)
        if (t.name == name)
            return &t;
    return nullptr;
}

RemoteChanges RemoteProcess::takeChanges()
{
    return std::exchange(m_changes, RemoteChanges());
}

void RemoteProcess::request(QCborMap request, Answer answer)
{
    if (m_status != Status::Attached) {
        if (answer)
            answer(QCborMap{{QStringLiteral("op"), QStringLiteral("error")},
                            {QStringLiteral("error"),
                             QStringLiteral("process %1 is not attached (%2)").arg(m_pid).arg(m_statusText)}});
        return;
    }
    const qint64 id = ++m_lastId;
    request.insert(QStringLiteral("id"), id);
    if (answer)
        m_waiting.insert(id, std::move(answer));
    m_socket->write(detail::encodeInspectionFrame(request));
}

QString RemoteProcess::errorOf(const QCborMap &reply)
{
    return text(reply, "op") == u"error" ? text(reply, "error") : QString();
}

void RemoteProcess::onConnected()
{
    // The one request sent before the status is Attached.
    m_socket->write(detail::encodeInspectionFrame({{QStringLiteral("op"), QStringLiteral("hello")},
                                                   {QStringLiteral("version"), detail::inspectionProtocolVersion}}));
}

void RemoteProcess::onReadable()
{
    m_input.append(m_socket->readAll());
    for (;;) {
        QCborMap message;
        QString error;
        const auto read = detail::readInspectionFrame(&m_input, detail::maxInspectionReplyBytes,
                                                      &message, &error);
        if (read == detail::FrameRead::NeedMore)
            return;
        if (read == detail::FrameRead::Error) {
            setStatus(Status::Failed, QStringLiteral("it sent a frame this monitor cannot read: %1").arg(error));
            m_socket->abort();
            return;
        }
        handle(message);
        if (m_status == Status::Failed || m_status == Status::Exited)
            return;
    }
}

void RemoteProcess::handle(const QCborMap &message)
{
    const QString op = text(message, "op");
    const qint64 id = integer(message, "id");
    if (op == u"hello") {
        const QCborMap process = message.value(QLatin1String("process")).toMap();
        m_program = text(process, "program");
        m_arguments.clear();
        for (const QCborValue &a : process.value(QLatin1String("arguments")).toArray())
            m_arguments.append(a.toString());
        m_started = QDateTime::fromString(text(process, "started"), Qt::ISODateWithMs);
        m_readOnly = text(process, "mode") == u"read-only";
        setStatus(Status::Attached, QString());
        request({{QStringLiteral("op"), QStringLiteral("watch")}, {QStringLiteral("intervalMs"), m_intervalMs}});
        m_watchId = m_lastId;
        return;
    }
    if (m_status == Status::Connecting) { // an error instead of the hello: refused, or another version
        setStatus(Status::Failed, errorOf(message).isEmpty() ? QStringLiteral("it did not say hello")
                                                              : errorOf(message));
        m_socket->abort();
        return;
    }
    if (op == u"snapshot" || op == u"delta") {
        takeState(message, op == u"snapshot");
        Q_EMIT updated();
        return;
    }
    if (id == m_watchId && op == u"error") {
        setStatus(Status::Failed, errorOf(message));
        return;
    }
    if (Answer answer = m_waiting.take(id))
        answer(message);
}

void RemoteProcess::takeState(const QCborMap &message, bool snapshot)
{
    QList<RemoteNamespace> namespaces;
    for (const QCborValue &value : message.value(QLatin1String("namespaces")).toArray()) {
        const QCborMap m = value.toMap();
        RemoteNamespace ns;
        ns.id = text(m, "id");
        ns.creatorPid = integer(m, "creatorPid");
        const QString state = text(m, "state");
        ns.state = stateNamed(state, {PoolState::Stopped, PoolState::Running, PoolState::Stopping, PoolState::Broken},
                              PoolState::Stopped);
        ns.options = decodeOptions(m.value(QLatin1String("options")).toMap());
        ns.hasPool = m.contains(QLatin1String("stats"));
        ns.stats = decodeStats(m.value(QLatin1String("stats")).toMap());
        for (const QCborValue &w : m.value(QLatin1String("workers")).toArray())
            ns.workers.append(decodeWorker(w.toMap()));
        // Newest first on the wire; oldest first here, as ProcessPool::taskRecords() gives them.
        const QCborArray tasks = m.value(QLatin1String("tasks")).toArray();
        for (qsizetype i = tasks.size() - 1; i >= 0; --i)
            m_changes.records.append({ns.id, decodeRecord(tasks.at(i).toMap())});
        namespaces.append(std::move(ns));
    }
    m_namespaces = std::move(namespaces);
    if (snapshot) {
        m_catalogue.clear();
        for (const QCborValue &value : message.value(QLatin1String("catalogue")).toArray()) {
            const QCborMap m = value.toMap();
            RemoteTask task{text(m, "name"), text(m, "description"), {}, text(m, "result")};
            for (const QCborValue &a : m.value(QLatin1String("arguments")).toArray())
                task.argumentTypes.append(a.toString());
            m_catalogue.append(std::move(task));
        }
    }
    for (const QCborValue &value : message.value(QLatin1String("log")).toArray()) {
        const QCborMap m = value.toMap();
        m_changes.log.append({text(m, "namespace"), integer(m, "pid"), text(m, "text"),
                              QDateTime::fromString(text(m, "at"), Qt::ISODateWithMs).toLocalTime()});
    }
}

void RemoteProcess::onGone(const QString &why)
{
    if (m_status == Status::Exited || m_status == Status::Failed)
        return;
    const bool wasAttached = m_status == Status::Attached;
    if (!processRuns(m_pid))
        setStatus(Status::Exited, QStringLiteral("process %1 exited").arg(m_pid));
    else if (wasAttached)
        setStatus(Status::Exited, QStringLiteral("process %1 closed its inspection socket (%2)").arg(m_pid).arg(why));
    else
        setStatus(Status::Failed, QStringLiteral("cannot attach to process %1: %2").arg(m_pid).arg(why));
    for (RemoteNamespace &ns : m_namespaces) {
        // What it ran is gone with it; the counters stay as they were last seen.
        ns.state = PoolState::Stopped;
        ns.workers.clear();
        ns.stats.queued = 0;
        ns.stats.running = 0;
    }
    const QHash<qint64, Answer> waiting = std::exchange(m_waiting, {});
    for (const Answer &answer : waiting)
        answer(QCborMap{{QStringLiteral("op"), QStringLiteral("error")}, {QStringLiteral("error"), m_statusText}});
}

void RemoteProcess::setStatus(Status status, const QString &text)
{
    if (m_status == status && m_statusText == text)
        return;
    m_status = status;
    m_statusText = text;
    Q_EMIT statusChanged();
}

} // namespace procpool::monitor
