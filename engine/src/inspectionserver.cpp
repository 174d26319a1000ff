#include "inspectionserver_p.h"

#include <procpool/detail/inspectionframe.h>
#include <procpool/errors.h>
#include <procpool/inspection.h>
#include <procpool/processpool.h>
#include <procpool/processpoolmanager.h>

#include "inspectioncommands_p.h"
#include "inspectionencoding_p.h"
#include "inspectionhosts_p.h"
#include "inspectionpeer_p.h"
#include "poolcore_p.h"
#include "registryaccess_p.h"

#include <QtCore/QCborArray>
#include <QtCore/QCborValue>
#include <QtCore/QCoreApplication>
#include <QtCore/QDateTime>
#include <QtCore/QDir>
#include <QtCore/QFutureWatcher>
#include <QtCore/QMutex>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtCore/QWaitCondition>
#include <QtCore/QSocketNotifier>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <unordered_map>
#include <optional>
#include <fcntl.h>
#include <functional>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace procpool {

namespace {

//! -1: not set by setInspectionMode(), else an InspectionMode.
std::atomic<int> chosenMode{-1};

} // namespace

InspectionMode inspectionMode()
{
    const int chosen = chosenMode.load(std::memory_order_relaxed);
    if (chosen >= 0)
        return InspectionMode(chosen);
    const QByteArray env = qgetenv("PROCPOOL_INSPECT").trimmed().toLower();
    if (env == "off" || env == "0" || env == "no")
        return InspectionMode::Off;
    if (env == "read-only" || env == "readonly")
        return InspectionMode::ReadOnly;
    return InspectionMode::Full;
}

QString inspectionDirectory()
{
    const QString runtime = qEnvironmentVariable("XDG_RUNTIME_DIR");
    if (!runtime.isEmpty())
        return runtime + QLatin1String("/procpool");
    return QStringLiteral("/tmp/procpool-%1").arg(::geteuid());
}

QString inspectionSocketPath(qint64 pid)
{
    return inspectionDirectory() + QStringLiteral("/%1.sock").arg(pid);
}

} // namespace procpool

namespace procpool::detail {

namespace {

//! Beyond this many bytes waiting to be written to one client, that client gets no deltas;
//! once it has read them, it gets a fresh snapshot instead of the deltas it missed.
constexpr qint64 maxQueuedBytes = 4 * 1024 * 1024;
//! Task records per pool in one snapshot or delta: of those changed, the newest tasks'. A busy
//! pool changes tens of thousands a second; a monitor shows a screenful.
constexpr qsizetype maxRecordsPerPool = 500;
//! Log lines kept for clients, and sent at most in one delta.
constexpr qsizetype maxLogLines = 1000;

struct LogLine
{
    quint64 sequence;
    QString namespaceId;
    qint64 pid;
    QString text;
    QString at;
};

struct Client
{
    quint64 id = 0;
    Peer *peer = nullptr;
    QByteArray input;
    QTimer *watch = nullptr;              //!< while watching
    bool needsSnapshot = false;           //!< deltas were skipped: the next one is a snapshot
    std::map<QString, quint64> serials;   //!< per namespace: the last record serial sent
    quint64 logSent = 0;                  //!< the last log line sent
};

class Server;
//! Runs \a answer on \a server's thread, unless that server has stopped meanwhile (the thread
//! of the registry, where commands run, may outlive it).
void answerLater(Server *server, std::function<void(Server *)> answer);

class Server : public QObject
{
public:
    Server() = default;

    bool listen()
    {
        const QString dir = inspectionDirectory();
        if (!QDir().mkpath(dir)) {
            qWarning("procpool: no inspection socket: cannot create %s", qPrintable(dir));
            return false;
        }
        struct stat st;
        if (::lstat(QFile::encodeName(dir).constData(), &st) != 0 || !S_ISDIR(st.st_mode)
            || st.st_uid != ::geteuid()) {
            qWarning("procpool: no inspection socket: %s is not a directory of this user",
                     qPrintable(dir));
            return false;
        }
        if ((st.st_mode & 077) != 0 && ::chmod(QFile::encodeName(dir).constData(), 0700) != 0) {
            qWarning("procpool: no inspection socket: %s is open to other users and cannot be "
                     "closed: %s", qPrintable(dir), std::strerror(errno));
            return false;
        }
        m_path = inspectionSocketPath(ProcessPoolManager::currentProcessId());
        const QByteArray path = QFile::encodeName(m_path);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        if (size_t(path.size()) >= sizeof address.sun_path) {
            qWarning("procpool: no inspection socket: %s is too long for a socket's path",
                     path.constData());
            m_path.clear();
            return false;
        }
        std::memcpy(address.sun_path, path.constData(), size_t(path.size()));
        ::unlink(path.constData()); // a file of ours is from a dead process of our pid
        m_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (m_fd < 0 || ::bind(m_fd, reinterpret_cast<const sockaddr *>(&address), sizeof address) != 0
            || ::chmod(path.constData(), 0600) != 0 || ::listen(m_fd, 64) != 0) {
            qWarning("procpool: no inspection socket at %s: %s", path.constData(), std::strerror(errno));
            if (m_fd >= 0)
                ::close(m_fd);
            m_fd = -1;
            ::unlink(path.constData());
            m_path.clear();
            return false;
        }
        m_accept = new QSocketNotifier(m_fd, QSocketNotifier::Read, this);
        connect(m_accept, &QSocketNotifier::activated, this, [this] { accept(); });
        return true;
    }

    QString path() const { return m_path; }

    void close()
    {
        // Taken out first: abort() reports the disconnection at once, and drop() would erase
        // the client from under this loop.
        const std::unordered_map<quint64, Client> clients = std::exchange(m_clients, {});
        for (const auto &[id, client] : clients)
            delete client.peer;
        delete m_accept;
        m_accept = nullptr;
        if (m_fd >= 0) {
            ::close(m_fd);
            ::unlink(QFile::encodeName(m_path).constData());
        }
        m_fd = -1;
        m_path.clear();
    }

    //! Server thread: a line a worker of namespace \a ns printed.
    void addLog(const QString &ns, qint64 pid, const QString &text)
    {
        m_log.push_back(LogLine{++m_logSequence, ns, pid, text,
                                isoTime(QDateTime::currentDateTimeUtc())});
        if (qsizetype(m_log.size()) > maxLogLines)
            m_log.pop_front();
    }

private:
    void accept()
    {
        for (;;) {
            const int fd = ::accept4(m_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0)
                return; // EAGAIN: no more; anything else: the next notification tries again
            auto *peer = new Peer(fd, this);
            struct ucred credentials{};
            socklen_t length = sizeof credentials;
            if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0
                || credentials.uid != ::geteuid()) {
                peer->write(encodeInspectionFrame(
                    {{QStringLiteral("op"), QStringLiteral("error")},
                     {QStringLiteral("error"), QStringLiteral("refused: this socket serves only user %1").arg(::geteuid())}}));
                peer->closed = [peer] { peer->deleteLater(); };
                peer->closeAfterWriting();
                continue;
            }
            const quint64 id = ++m_nextClient;
            Client &client = m_clients[id];
            client.id = id;
            client.peer = peer;
            client.logSent = m_logSequence;
            peer->readable = [this, id] { read(id); };
            peer->closed = [this, id] { drop(id); };
            peer->drained = [this, id] { drained(id); };
        }
    }

    Client *client(quint64 id)
    {
        const auto it = m_clients.find(id);
        return it == m_clients.end() ? nullptr : &it->second;
    }

    void drop(quint64 id)
    {
        if (Client *c = client(id)) {
            c->peer->deleteLater();
            m_clients.erase(id);
        }
    }

    //! Whether \a c has more answers waiting than the bound; then it is not read until they
    //! are written, so that requests cannot pile answers up either.
    bool backedUp(Client &c)
    {
        if (c.peer->queuedBytes() <= maxQueuedBytes)
            return false;
        c.peer->setReading(false);
        return true;
    }

    void read(quint64 id)
    {
        Client *c = client(id);
        if (!c || backedUp(*c))
            return;
        c->peer->readAvailable(&c->input);
        for (;;) {
            if (backedUp(*c))
                return; // the rest of its input waits in c->input
            QCborMap message;
            QString error;
            const FrameRead r = readInspectionFrame(&c->input, maxInspectionRequestBytes, &message, &error);
            if (r == FrameRead::NeedMore)
                return;
            if (r == FrameRead::Error) { // the stream is lost: say why and hang up
                send(*c, {{QStringLiteral("op"), QStringLiteral("error")}, {QStringLiteral("error"), error}});
                c->peer->closeAfterWriting();
                return;
            }
            InspectionRequest request;
            std::optional<QList<WorkerHost>> hosts; // a start's, which the request does not hold
            if (!decodeInspectionRequest(message, &request, &error)
                || (request.op == InspectionRequest::Op::Start
                    && !decodeInspectionHosts(message, &hosts, &error))) {
                reply(*c, message.value(QLatin1String("id")).toInteger(), error);
                continue;
            }
            handle(*c, request, hosts);
            if (!(c = client(id)))
                return;
        }
    }

    void send(Client &c, const QCborMap &message) { c.peer->write(encodeInspectionFrame(message)); }

    //! An answer to request \a id: done, or the error.
    void reply(Client &c, qint64 id, const QString &error = QString())
    {
        QCborMap m{{QStringLiteral("op"), error.isEmpty() ? QStringLiteral("done") : QStringLiteral("error")},
                   {QStringLiteral("id"), id}};
        if (!error.isEmpty())
            m.insert(QStringLiteral("error"), error);
        send(c, m);
    }

    void handle(Client &c, const InspectionRequest &r, const std::optional<QList<WorkerHost>> &hosts)
    {
        using Op = InspectionRequest::Op;
        if (r.isCommand() && inspectionMode() != InspectionMode::Full) {
            reply(c, r.id, QStringLiteral("refused: this process's inspection socket is read-only "
                                          "(PROCPOOL_INSPECT=read-only or setInspectionMode())"));
            return;
        }
        switch (r.op) {
        case Op::Hello:
            if (r.version != inspectionProtocolVersion) {
                reply(c, r.id, QStringLiteral("protocol version %1 is not spoken here; this process speaks %2")
                                   .arg(r.version).arg(inspectionProtocolVersion));
                c.peer->closeAfterWriting();
                return;
            }
            send(c, {{QStringLiteral("op"), QStringLiteral("hello")},
                     {QStringLiteral("id"), r.id},
                     {QStringLiteral("process"), processInfo()}});
            return;
        case Op::Snapshot:
            send(c, snapshot(c, r.id));
            return;
        case Op::Watch: {
            if (!c.watch) {
                c.watch = new QTimer(c.peer);
                const quint64 id = c.id;
                connect(c.watch, &QTimer::timeout, this, [this, id] { tick(id); });
            }
            c.watch->start(int(r.intervalMs));
            send(c, snapshot(c, r.id));
            return;
        }
        case Op::Unwatch:
            if (c.watch)
                c.watch->stop();
            reply(c, r.id);
            return;
        case Op::Cancel:
        case Op::Kill: {
            const std::shared_ptr<PoolCore> core = coreOf(r.namespaceId);
            if (!core) {
                reply(c, r.id, QStringLiteral("namespace '%1' has no running pool").arg(r.namespaceId));
                return;
            }
            const bool ok = r.op == Op::Cancel ? core->cancelTask(quint64(r.task)) : core->killWorkerByPid(r.pid);
            reply(c, r.id, ok ? QString()
                           : r.op == Op::Cancel ? QStringLiteral("task %1 is not queued in '%2' (running tasks are cancelled by killing their worker)").arg(r.task).arg(r.namespaceId)
                                                : QStringLiteral("%1 is not a worker of '%2'").arg(r.pid).arg(r.namespaceId));
            return;
        }
        default:
            onRegistryThread(c, r, hosts);
            return;
        }
    }

    std::shared_ptr<PoolCore> coreOf(const QString &ns) const
    {
        for (ManagerView &v : RegistryAccess::views())
            if (v.namespaceId == ns)
                return std::move(v.core);
        return nullptr;
    }

    //! Commands that need a manager run where managers live; the answer comes back here.
    void onRegistryThread(Client &c, const InspectionRequest &r,
                          const std::optional<QList<WorkerHost>> &hosts)
    {
        const quint64 client = c.id;
        Server *server = this;
        const bool posted = QMetaObject::invokeMethod(ManagerRegistry::instance(), [server, client, r, hosts] {
            QString error;
            std::optional<ProcessPoolManager::TrackedTask> submitted;
            try {
                submitted = runInspectionCommand(r, hosts);
            } catch (const std::exception &e) {
                error = QString::fromUtf8(e.what());
            }
            answerLater(server, [client, r, error, submitted](Server *self) {
                if (Client *asking = self->client(client)) {
                    if (submitted && error.isEmpty())
                        self->watchResult(*asking, r, *submitted);
                    else
                        self->reply(*asking, r.id, error);
                }
            });
        }, Qt::QueuedConnection);
        if (!posted)
            reply(c, r.id, QStringLiteral("the registry's thread takes no commands"));
    }

    //! The `result` of submission \a r, once its task has finished: the value or the error, and
    //! what its record says of its attempts and output.
    void watchResult(Client &c, const InspectionRequest &r, const ProcessPoolManager::TrackedTask &task)
    {
        auto *watcher = new QFutureWatcher<QVariant>(c.peer);
        connect(watcher, &QFutureWatcherBase::finished, this,
                [this, watcher, client = c.id, r, task = task.id] {
            watcher->deleteLater();
            Client *asking = this->client(client);
            if (!asking)
                return;
            QCborMap m{{QStringLiteral("op"), QStringLiteral("result")},
                       {QStringLiteral("id"), r.id},
                       {QStringLiteral("task"), qint64(task)}};
            // The record is final once the future is: read before the pool may forget it.
            const std::shared_ptr<PoolCore> core = coreOf(r.namespaceId);
            std::optional<TaskRecord> record = core ? core->taskRecord(task) : std::nullopt;
            QFuture<QVariant> future = watcher->future();
            try {
                future.waitForFinished(); // finished already: rethrows the task's failure
                if (future.resultCount() > 0)
                    m.insert(QStringLiteral("value"), encodeValue(future.result()));
                else // cancelled, from outside or by the application: there is no result to read
                    m.insert(QStringLiteral("error"), QStringLiteral("the task was cancelled"));
            } catch (const std::exception &e) {
                m.insert(QStringLiteral("error"), QString::fromUtf8(e.what()));
                const auto *failure = dynamic_cast<const TaskFailure *>(&e);
                if (!record && failure) { // a pool that keeps no history: what the error knows
                    record.emplace();
                    record->attempts = failure->attempts();
                    record->attemptErrors = failure->attemptErrors();
                    record->attemptErrors.removeLast(); // this attempt's own: the error itself
                }
            }
            if (!record) {
                record.emplace();
                record->attempts = 1;
            }
            record->priority = int(r.priority);
            record->maxAttempts = int(r.retries);
            encodeAttempts(*record, 1, m);
            send(*asking, m);
        });
        watcher->setFuture(task.future);
    }

    QCborMap processInfo() const
    {
        const QStringList arguments = QCoreApplication::instance() ? QCoreApplication::arguments() : QStringList();
        return QCborMap{{QStringLiteral("pid"), ProcessPoolManager::currentProcessId()},
                        {QStringLiteral("program"), QCoreApplication::instance()
                                                        ? QCoreApplication::applicationFilePath()
                                                        : QString()},
                        {QStringLiteral("arguments"), QCborArray::fromStringList(arguments)},
                        {QStringLiteral("started"), isoTime(m_started)},
                        {QStringLiteral("mode"), inspectionMode() == InspectionMode::Full
                                                     ? QStringLiteral("full")
                                                     : QStringLiteral("read-only")},
                        {QStringLiteral("protocol"), inspectionProtocolVersion}};
    }

    //! The namespaces, with the records of each changed since what \a c was sent (all, for a
    //! snapshot, when \a full).
    QCborArray namespaces(Client &c, bool full)
    {
        QCborArray out;
        std::map<QString, quint64> seen;
        for (const ManagerView &v : RegistryAccess::views()) {
            quint64 &serial = seen[v.namespaceId];
            serial = full ? 0 : c.serials[v.namespaceId];
            QCborMap ns{{QStringLiteral("id"), v.namespaceId},
                        {QStringLiteral("creatorPid"), v.creatorPid},
                        {QStringLiteral("state"), v.core ? stateName(v.core->state()) : stateName(PoolState::Stopped)},
                        {QStringLiteral("options"), encodeOptions(v.core ? v.core->options() : v.options)}};
            if (v.core) {
                ns.insert(QStringLiteral("stats"), encodeStats(v.core->stats()));
                ns.insert(QStringLiteral("workers"), encodeWorkers(v.core->workers()));
                bool more = false;
                const QList<TaskRecord> records = v.core->latestTaskRecords(serial, maxRecordsPerPool, &more);
                ns.insert(QStringLiteral("tasks"), encodeRecords(records, &serial));
                if (more)
                    ns.insert(QStringLiteral("tasksLeftOut"), true);
            }
            out.append(ns);
        }
        c.serials = std::move(seen);
        return out;
    }

    QCborArray log(Client &c)
    {
        QCborArray out;
        for (const LogLine &l : m_log) {
            if (l.sequence <= c.logSent)
                continue;
            out.append(QCborMap{{QStringLiteral("namespace"), l.namespaceId},
                                {QStringLiteral("pid"), l.pid},
                                {QStringLiteral("text"), l.text},
                                {QStringLiteral("at"), l.at}});
        }
        c.logSent = m_logSequence;
        return out;
    }

    QCborMap snapshot(Client &c, qint64 id)
    {
        c.needsSnapshot = false;
        QCborArray clients;
        for (const auto &[otherId, other] : m_clients)
            clients.append(QCborMap{{QStringLiteral("id"), qint64(otherId)},
                                    {QStringLiteral("watching"), other.watch && other.watch->isActive()},
                                    {QStringLiteral("queuedBytes"), other.peer->queuedBytes()}});
        c.logSent = m_log.empty() ? m_logSequence : m_log.front().sequence - 1; // the lines kept
        return QCborMap{{QStringLiteral("op"), QStringLiteral("snapshot")},
                        {QStringLiteral("id"), id},
                        {QStringLiteral("process"), processInfo()},
                        {QStringLiteral("namespaces"), namespaces(c, true)},
                        {QStringLiteral("catalogue"), encodeCatalogue()},
                        {QStringLiteral("log"), log(c)},
                        {QStringLiteral("clients"), clients},
                        {QStringLiteral("maxQueuedBytes"), maxQueuedBytes}};
    }

    void tick(quint64 id)
    {
        Client *c = client(id);
        if (!c)
            return;
        if (c->peer->queuedBytes() > maxQueuedBytes) {
            c->needsSnapshot = true; // it fell behind: what it missed comes as a snapshot
            return;
        }
        if (c->needsSnapshot) {
            send(*c, snapshot(*c, 0));
            return;
        }
        send(*c, QCborMap{{QStringLiteral("op"), QStringLiteral("delta")},
                          {QStringLiteral("namespaces"), namespaces(*c, false)},
                          {QStringLiteral("log"), log(*c)}});
    }

    void drained(quint64 id)
    {
        Client *c = client(id);
        if (c && c->needsSnapshot)
            tick(id);
        if ((c = client(id))) {
            c->peer->setReading(true);
            read(id); // the requests that waited while its answers were queued
        }
    }

    int m_fd = -1; //!< the listening socket
    QSocketNotifier *m_accept = nullptr;
    QString m_path;
    std::unordered_map<quint64, Client> m_clients;
    quint64 m_nextClient = 0;
    std::deque<LogLine> m_log;
    quint64 m_logSequence = 0;
    const QDateTime m_started = QDateTime::currentDateTimeUtc();
};

//! The running server and its thread; under mutex().
struct Running
{
    QThread *thread = nullptr;
    Server *server = nullptr;
    bool settled = false; //!< listen() has returned: path says how it went
    QString path;         //!< where it listens; empty when it does not
};

//! The process's inspection state. Never destroyed: a post routine may use it at exit.
struct State
{
    QMutex mutex; //!< guards running; the server's thread takes it once, when its socket is open
    //! Held across a whole start or stop, so that a new server never opens its socket while an
    //! old one, closing, would remove the file. The server's thread never takes it.
    QMutex transitions;
    QWaitCondition settled; //!< running.settled became true
    Running running;
};

State &state()
{
    static State *s = new State;
    return *s;
}

void answerLater(Server *server, std::function<void(Server *)> answer)
{
    // Under the lock that stop() takes before it lets go of the server: while it is held, a
    // server that is still the running one is alive, and an event posted to it now is either
    // delivered or dropped with it.
    QMutexLocker locker(&state().mutex);
    if (state().running.server != server)
        return;
    QMetaObject::invokeMethod(server, [server, answer = std::move(answer)] { answer(server); },
                              Qt::QueuedConnection);
}

//! Ends the server thread. Called with \a locker holding mutex(), which it lets go of while it
//! waits for the thread (that thread takes it once, when its socket is open).
void stop(QMutexLocker<QMutex> &locker)
{
    Running &r = state().running;
    const Running stopping = std::exchange(r, Running{});
    r.settled = true;
    state().settled.wakeAll();
    if (!stopping.thread)
        return;
    locker.unlock();
    Server *server = stopping.server;
    QMetaObject::invokeMethod(server, [server] {
        server->close();
        delete server;
    }, Qt::BlockingQueuedConnection);
    stopping.thread->quit();
    stopping.thread->wait();
    delete stopping.thread;
    locker.relock();
}

void stopAtExit()
{
    QMutexLocker transition(&state().transitions);
    QMutexLocker locker(&state().mutex);
    stop(locker);
}

void connectLog(Server *server, ProcessPoolManager *manager)
{
    const QString ns = manager->namespaceId();
    QObject::connect(manager, &ProcessPoolManager::workerLog, server,
                     [server, ns](qint64 pid, const QString &line) { server->addLog(ns, pid, line); });
}

//! Starts the server's thread; it opens the socket there, without holding up this thread.
void startLocked()
{
    Running &r = state().running;
    if (r.thread || inspectionMode() == InspectionMode::Off)
        return;
    r.thread = new QThread;
    r.thread->setObjectName(QStringLiteral("procpool inspect"));
    r.server = new Server;
    r.server->moveToThread(r.thread);
    r.settled = false;
    Server *server = r.server;
    // Worker output for the clients: every manager's lines, carried to the server's thread.
    QObject::connect(ManagerRegistry::instance(), &ManagerRegistry::managerAdded, server,
                     [server](ProcessPoolManager *manager) { connectLog(server, manager); },
                     Qt::DirectConnection);
    for (ProcessPoolManager *manager : ManagerRegistry::instance()->allInstances())
        connectLog(server, manager);
    QObject::connect(r.thread, &QThread::started, server, [server] {
        const bool listening = server->listen();
        QMutexLocker locker(&state().mutex);
        Running &now = state().running;
        if (now.server != server)
            return; // stopped meanwhile
        now.path = listening ? server->path() : QString();
        now.settled = true;
        state().settled.wakeAll();
    });
    r.thread->start();
    static bool routineAdded = false;
    if (!routineAdded && QCoreApplication::instance()) {
        qAddPostRoutine(stopAtExit);
        routineAdded = true;
    }
}

} // namespace

void startInspection()
{
    QMutexLocker transition(&state().transitions);
    QMutexLocker locker(&state().mutex);
    startLocked();
}

} // namespace procpool::detail

namespace procpool {

void setInspectionMode(InspectionMode mode)
{
    chosenMode.store(int(mode), std::memory_order_relaxed);
    QMutexLocker transition(&detail::state().transitions);
    QMutexLocker locker(&detail::state().mutex);
    if (mode == InspectionMode::Off)
        detail::stop(locker);
    else if (!ManagerRegistry::instance()->allInstances().isEmpty())
        detail::startLocked();
}

QString inspectionListeningPath()
{
    QMutexLocker locker(&detail::state().mutex);
    while (detail::state().running.thread && !detail::state().running.settled)
        detail::state().settled.wait(&detail::state().mutex);
    return detail::state().running.path;
}

} // namespace procpool
