#include "attach.h"

#include "options.h"
#include "outcome.h"
#include "taskcall.h"
#include "terminal.h"

#include <procpool/detail/inspectionframe.h>
#include <procpool/inspection.h>

#include <QtCore/QCborArray>
#include <QtCore/QCborValue>
#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>

#include <algorithm>
#include <cerrno>
#include <map>
#include <optional>
#include <cstring>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace procpool::headless {
namespace {

using detail::FrameRead;

//! How long an answer to a request (not a task's result) may take.
constexpr int answerTimeoutMs = 30000;

QString text(const QCborMap &m, const char *key) { return m.value(QLatin1String(key)).toString(); }
//! An integer field; 0 when it is missing or not an integer (toInteger() of a double out of
//! range is undefined).
qint64 integer(const QCborMap &m, const char *key)
{
    const QCborValue v = m.value(QLatin1String(key));
    return v.isInteger() ? v.toInteger() : 0;
}

//! One connection to a process's inspection socket, used in turns: send, then wait.
class Connection
{
public:
    explicit Connection(qint64 pid) : m_pid(pid) {}
    ~Connection()
    {
        if (m_fd >= 0)
            ::close(m_fd);
    }
    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;

    //! Connects and says hello; false and why when the process cannot be reached.
    bool open(QString *error)
    {
        const QString path = inspectionSocketPath(m_pid);
        if (!QFileInfo::exists(path)) {
            *error = QStringLiteral("process %1 has no procpool inspection socket (%2): it is not "
                                    "running, has created no pool manager yet, or runs with "
                                    "PROCPOOL_INSPECT=off; 'procpool --headless --ps' lists the "
                                    "processes there are")
                         .arg(m_pid)
                         .arg(path);
            return false;
        }
        const QByteArray name = QFile::encodeName(path);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, name.constData(), sizeof address.sun_path - 1);
        m_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (m_fd < 0 || ::connect(m_fd, reinterpret_cast<const sockaddr *>(&address), sizeof address) != 0) {
            *error = QStringLiteral("cannot connect to process %1 at %2: %3")
                         .arg(m_pid)
                         .arg(path, QString::fromLocal8Bit(std::strerror(errno)));
            return false;
        }
        const auto hello = request({{QStringLiteral("op"), QStringLiteral("hello")},
                                    {QStringLiteral("version"), detail::inspectionProtocolVersion}},
                                   answerTimeoutMs, error);
        if (!hello)
            return false;
        m_process = hello->value(QLatin1String("process")).toMap();
        return true;
    }

    const QCborMap &process() const { return m_process; }

    //! Sends \a message with a fresh id, which it returns (a write that fails shows as the
    //! connection's end at the next read).
    qint64 send(QCborMap message)
    {
        const qint64 id = ++m_lastId;
        message.insert(QStringLiteral("id"), id);
        const QByteArray frame = detail::encodeInspectionFrame(message);
        for (qsizetype at = 0; at < frame.size();) {
            const ssize_t n = ::send(m_fd, frame.constData() + at, size_t(frame.size() - at), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            at += n;
        }
        return id;
    }

    //! The next message, waiting at most \a timeoutMs (-1: as long as the process lives).
    std::optional<QCborMap> next(int timeoutMs, QString *error)
    {
        for (;;) {
            QCborMap message;
            const FrameRead r = detail::readInspectionFrame(&m_input, detail::maxInspectionReplyBytes,
                                                            &message, error);
            if (r == FrameRead::Message)
                return message;
            if (r == FrameRead::Error)
                return std::nullopt;
            pollfd p{m_fd, POLLIN, 0};
            const int ready = ::poll(&p, 1, timeoutMs);
            if (ready < 0 && errno == EINTR)
                continue;
            if (ready == 0) {
                *error = QStringLiteral("process %1 did not answer within %2 s").arg(m_pid).arg(timeoutMs / 1000);
                return std::nullopt;
            }
            char buffer[65536];
            const ssize_t n = ::read(m_fd, buffer, sizeof buffer);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                *error = QStringLiteral("process %1 closed the connection (it exited, or stopped "
                                        "its inspection socket)")
                             .arg(m_pid);
                return std::nullopt;
            }
            m_input.append(buffer, n);
        }
    }

    //! Sends \a message and waits for its answer; nullopt and the process's error otherwise.
    std::optional<QCborMap> request(const QCborMap &message, int timeoutMs, QString *error)
    {
        const qint64 id = send(message);
        for (;;) {
            std::optional<QCborMap> answer = next(timeoutMs, error);
            if (!answer)
                return std::nullopt;
            const qint64 answerId = integer(*answer, "id");
            if (text(*answer, "op") == u"error" && (answerId == id || answerId == 0)) {
                *error = QStringLiteral("process %1: %2").arg(m_pid).arg(text(*answer, "error"));
                return std::nullopt;
            }
            if (answerId == id)
                return answer;
        }
    }

private:
    const qint64 m_pid;
    int m_fd = -1;
    QByteArray m_input;
    QCborMap m_process;
    qint64 m_lastId = 0;
};

//! What a task record or a `result` says of priority, attempts and output (docs/inspection.md:
//! each is left out when it is the default; "attempts" when it is \a impliedAttempts).
Outcome attemptsOf(const QCborMap &m, int impliedAttempts)
{
    Outcome o;
    o.priority = int(integer(m, "priority"));
    o.attempts = m.contains(QLatin1String("attempts")) ? int(integer(m, "attempts")) : impliedAttempts;
    o.maxAttempts = m.contains(QLatin1String("maxAttempts")) ? int(integer(m, "maxAttempts")) : 1;
    for (const QCborValue &e : m.value(QLatin1String("attemptErrors")).toArray())
        o.attemptErrors.append(e.toString());
    o.output = text(m, "output");
    return o;
}

//! " (attempt 2 of 3, priority 5)" for \a o, with \a first before those; empty when there is
//! nothing to say.
QString detailsText(const Outcome &o, const QString &first = QString())
{
    QStringList details = attemptDetails(o);
    if (!first.isEmpty())
        details.prepend(first);
    return details.isEmpty() ? QString() : QStringLiteral(" (%1)").arg(details.join(QStringLiteral(", ")));
}

bool processAlive(qint64 pid)
{
    return ::kill(pid_t(pid), 0) == 0 || errno != ESRCH;
}

//! A value a process sent, for a human: JSON, control characters escaped.
QString shown(const QCborValue &value)
{
    const QJsonValue json = value.toJsonValue();
    if (json.isString())
        return u'"' + escapeControls(json.toString(), Newlines::Escape) + u'"';
    const QJsonDocument document = json.isArray() ? QJsonDocument(json.toArray()) : QJsonDocument(json.toObject());
    if (json.isArray() || json.isObject())
        return escapeControls(QString::fromUtf8(document.toJson(QJsonDocument::Compact)), Newlines::Escape);
    return escapeControls(json.toVariant().toString(), Newlines::Escape);
}

qint64 workerCount(const QCborArray &namespaces)
{
    qint64 n = 0;
    for (const QCborValue &ns : namespaces)
        n += ns.toMap().value(QLatin1String("workers")).toArray().size();
    return n;
}

bool printRegistry(const Config &config, Terminal &terminal, const QCborMap &snapshot)
{
    const QCborMap process = snapshot.value(QLatin1String("process")).toMap();
    const QCborArray namespaces = snapshot.value(QLatin1String("namespaces")).toArray();
    const QCborArray catalogue = snapshot.value(QLatin1String("catalogue")).toArray();
    if (config.json) {
        QJsonObject p = process.toJsonObject();
        p.insert(QStringLiteral("event"), QStringLiteral("process"));
        if (!terminal.writeLine(jsonLine(p)))
            return false;
        for (const QCborValue &ns : namespaces) {
            QJsonObject o = ns.toMap().toJsonObject();
            o.remove(QStringLiteral("tasks"));
            o.insert(QStringLiteral("namespace"), o.take(QStringLiteral("id")));
            o.insert(QStringLiteral("event"), QStringLiteral("namespace"));
            if (!terminal.writeLine(jsonLine(o)))
                return false;
        }
        for (const QCborValue &t : catalogue) {
            QJsonObject o = t.toMap().toJsonObject();
            o.insert(QStringLiteral("task"), o.take(QStringLiteral("name")));
            o.insert(QStringLiteral("event"), QStringLiteral("task"));
            if (!terminal.writeLine(jsonLine(o)))
                return false;
        }
        return true;
    }
    QStringList lines{QStringLiteral("process %1 %2, started %3, inspection %4")
                          .arg(integer(process, "pid"))
                          .arg(escapeControls(text(process, "program"), Newlines::Escape),
                               text(process, "started"), text(process, "mode"))};
    for (const QCborValue &value : namespaces) {
        const QCborMap ns = value.toMap();
        const QCborMap options = ns.value(QLatin1String("options")).toMap();
        const QCborMap stats = ns.value(QLatin1String("stats")).toMap();
        lines.append(QStringLiteral("namespace %1: %2, at most %3 workers%4; submitted %5, "
                                    "completed %6, failed %7, queued %8, running %9")
                         .arg(escapeControls(text(ns, "id"), Newlines::Escape), text(ns, "state"))
                         .arg(integer(options, "maxWorkers"))
                         .arg(text(options, "taskType").isEmpty()
                                  ? QString()
                                  : QStringLiteral(", task type ") + escapeControls(text(options, "taskType"), Newlines::Escape))
                         .arg(integer(stats, "submitted"))
                         .arg(integer(stats, "completed"))
                         .arg(integer(stats, "failed"))
                         .arg(integer(stats, "queued"))
                         .arg(integer(stats, "running")));
        QStringList hosts;
        for (const QCborValue &h : options.value(QLatin1String("hosts")).toArray())
            hosts.append(QStringLiteral("%1 on %2 (%3)")
                             .arg(integer(h.toMap(), "workers"))
                             .arg(text(h.toMap(), "host").isEmpty() ? QStringLiteral("this machine")
                                                                    : text(h.toMap(), "host"),
                                  text(h.toMap(), "launcher")));
        if (!hosts.isEmpty())
            lines.append(QStringLiteral("  hosts: %1").arg(escapeControls(hosts.join(QStringLiteral(", ")), Newlines::Escape)));
        for (const QCborValue &w : ns.value(QLatin1String("workers")).toArray()) {
            const QCborMap worker = w.toMap();
            // Where it runs, when not on that process's machine: what the process's pool knows.
            QString where;
            if (!text(worker, "host").isEmpty())
                where = QStringLiteral(" on %1").arg(escapeControls(text(worker, "host"), Newlines::Escape));
            if (!text(worker, "reportedHost").isEmpty() || integer(worker, "remotePid") != 0)
                where += QStringLiteral(" (reported host %1, pid %2)")
                             .arg(escapeControls(text(worker, "reportedHost"), Newlines::Escape))
                             .arg(integer(worker, "remotePid"));
            lines.append(QStringLiteral("  worker %1 %2: %3%4, %5 done, %6 failed%7")
                             .arg(integer(worker, "pid"))
                             .arg(escapeControls(text(worker, "name"), Newlines::Escape), text(worker, "state"),
                                  text(worker, "currentTask").isEmpty()
                                      ? QString()
                                      : QStringLiteral(" (") + escapeControls(text(worker, "currentTask"), Newlines::Escape) + u')')
                             .arg(integer(worker, "tasksDone"))
                             .arg(integer(worker, "tasksFailed"))
                             .arg(where));
        }
    }
    QStringList tasks;
    for (const QCborValue &t : catalogue) {
        QStringList arguments;
        for (const QCborValue &a : t.toMap().value(QLatin1String("arguments")).toArray())
            arguments.append(a.toString());
        const QString description = text(t.toMap(), "description");
        tasks.append(QStringLiteral("%1(%2) -> %3%4")
                         .arg(escapeControls(text(t.toMap(), "name"), Newlines::Escape),
                              arguments.join(QStringLiteral(", ")), text(t.toMap(), "result"),
                              description.isEmpty() ? QString()
                                                    : QStringLiteral(": ") + escapeControls(description, Newlines::Escape)));
    }
    lines.append(QStringLiteral("tasks: ") + (tasks.isEmpty() ? QStringLiteral("none") : tasks.join(QStringLiteral(", "))));
    for (const QString &line : lines)
        if (!terminal.writeLine(line))
            return false;
    return true;
}

struct Pending
{
    QString namespaceId;
    QString task;
    QVariantList arguments;
    int priority = 0;
    int attempts = 1; //!< allowed (--retries)
};

} // namespace

int listProcesses(const Config &config, Terminal &terminal)
{
    const QDir dir(inspectionDirectory());
    QList<qint64> pids;
    for (const QString &entry : dir.entryList({QStringLiteral("*.sock")}, QDir::System | QDir::Files)) {
        bool ok = false;
        const qint64 pid = entry.chopped(5).toLongLong(&ok);
        if (ok && pid > 0)
            pids.append(pid);
    }
    std::sort(pids.begin(), pids.end());
    if (!config.json && !terminal.writeLine(QStringLiteral("PID\tSTARTED\tNAMESPACES\tWORKERS\tPROGRAM")))
        return 1;
    for (const qint64 pid : pids) {
        if (!processAlive(pid)) { // the socket of a process that died without closing it
            QFile::remove(inspectionSocketPath(pid));
            terminal.diagnostic(QStringLiteral("procpool: removed the socket of process %1, which no longer runs").arg(pid));
            continue;
        }
        Connection connection(pid);
        QString error;
        std::optional<QCborMap> snapshot;
        if (connection.open(&error))
            snapshot = connection.request({{QStringLiteral("op"), QStringLiteral("snapshot")}}, answerTimeoutMs, &error);
        if (!snapshot) {
            terminal.diagnostic(QStringLiteral("procpool: %1").arg(error));
            continue;
        }
        const QCborMap process = snapshot->value(QLatin1String("process")).toMap();
        const QCborArray namespaces = snapshot->value(QLatin1String("namespaces")).toArray();
        QStringList ids;
        for (const QCborValue &ns : namespaces)
            ids.append(text(ns.toMap(), "id"));
        bool written;
        if (config.json) {
            QJsonObject o = process.toJsonObject();
            o.insert(QStringLiteral("event"), QStringLiteral("process"));
            o.insert(QStringLiteral("namespaces"), QJsonArray::fromStringList(ids));
            o.insert(QStringLiteral("workers"), workerCount(namespaces));
            written = terminal.writeLine(jsonLine(o));
        } else {
            written = terminal.writeLine(QStringLiteral("%1\t%2\t%3\t%4\t%5")
                                             .arg(pid)
                                             .arg(text(process, "started"),
                                                  escapeControls(ids.join(u','), Newlines::Escape))
                                             .arg(workerCount(namespaces))
                                             .arg(escapeControls(text(process, "program"), Newlines::Escape)));
        }
        if (!written)
            return 1;
    }
    return 0;
}

namespace {

//! --attach --watch: the process's tasks as they change and its workers' lines, until it exits.
int follow(const Config &config, Terminal &terminal, Connection &connection)
{
    QString error;
    const qint64 watchId = connection.send({{QStringLiteral("op"), QStringLiteral("watch")},
                                            {QStringLiteral("intervalMs"), 250}});
    bool first = true;
    for (;;) {
        const std::optional<QCborMap> message = connection.next(-1, &error);
        if (!message) {
            terminal.diagnostic(QStringLiteral("procpool: %1; no longer watching").arg(error));
            return 0;
        }
        const QString op = text(*message, "op");
        if (op == u"error" && integer(*message, "id") == watchId) {
            terminal.diagnostic(QStringLiteral("procpool: --watch: %1").arg(text(*message, "error")));
            return 2;
        }
        if (op != u"snapshot" && op != u"delta")
            continue;
        const QCborArray namespaces = message->value(QLatin1String("namespaces")).toArray();
        if (first) { // what there is now; then only what changes
            first = false;
            QStringList names;
            QJsonArray list;
            for (const QCborValue &ns : namespaces) {
                names.append(QStringLiteral("%1 (%2)").arg(text(ns.toMap(), "id"), text(ns.toMap(), "state")));
                list.append(text(ns.toMap(), "id"));
            }
            const bool ok = config.json
                                ? terminal.writeLine(jsonLine({{QStringLiteral("event"), QStringLiteral("watching")},
                                                               {QStringLiteral("pid"), config.attachPid},
                                                               {QStringLiteral("namespaces"), list}}))
                                : terminal.writeLine(QStringLiteral("watching process %1: %2")
                                                         .arg(config.attachPid)
                                                         .arg(escapeControls(names.join(QStringLiteral(", ")), Newlines::Escape)));
            if (!ok)
                return 1;
            continue;
        }
        for (const QCborValue &value : namespaces) {
            const QCborMap ns = value.toMap();
            const QCborArray tasks = ns.value(QLatin1String("tasks")).toArray();
            for (qsizetype i = tasks.size() - 1; i >= 0; --i) { // oldest change first
                const QCborMap t = tasks.at(i).toMap();
                const qint64 worker = integer(t, "workerPid");
                const Outcome attempts = attemptsOf(t, integer(t, "startedMs") > 0 ? 1 : 0);
                bool ok;
                if (config.json) {
                    QJsonObject o{{QStringLiteral("event"), QStringLiteral("task")},
                                  {QStringLiteral("pid"), config.attachPid},
                                  {QStringLiteral("namespace"), text(ns, "id")},
                                  {QStringLiteral("id"), integer(t, "id")},
                                  {QStringLiteral("task"), text(t, "task")},
                                  {QStringLiteral("state"), text(t, "state")}};
                    if (worker > 0)
                        o.insert(QStringLiteral("worker"), worker);
                    if (t.contains(QLatin1String("error")))
                        o.insert(QStringLiteral("error"), text(t, "error"));
                    // As a result object has them; its errors and output come with the result.
                    if (attempts.priority != 0)
                        o.insert(QStringLiteral("priority"), attempts.priority);
                    if (attempts.maxAttempts > 1) {
                        o.insert(QStringLiteral("attempts"), attempts.attempts);
                        o.insert(QStringLiteral("max_attempts"), attempts.maxAttempts);
                    }
                    ok = terminal.writeLine(jsonLine(o));
                } else {
                    ok = terminal.writeLine(
                        QStringLiteral("%1: task %2 %3 %4%5%6")
                            .arg(escapeControls(text(ns, "id"), Newlines::Escape))
                            .arg(integer(t, "id"))
                            .arg(escapeControls(text(t, "task"), Newlines::Escape), text(t, "state"),
                                 detailsText(attempts, worker > 0 ? QStringLiteral("worker %1").arg(worker)
                                                                  : QString()),
                                 t.contains(QLatin1String("error"))
                                     ? QStringLiteral(": ") + escapeControls(text(t, "error"), Newlines::Escape)
                                     : QString()));
                }
                if (!ok)
                    return 1;
            }
        }
        for (const QCborValue &value : message->value(QLatin1String("log")).toArray()) {
            const QCborMap line = value.toMap();
            const bool ok = config.json
                                ? terminal.writeLine(jsonLine({{QStringLiteral("event"), QStringLiteral("log")},
                                                               {QStringLiteral("pid"), config.attachPid},
                                                               {QStringLiteral("namespace"), text(line, "namespace")},
                                                               {QStringLiteral("worker"), integer(line, "pid")},
                                                               {QStringLiteral("text"), text(line, "text")}}))
                                : terminal.writeLine(QStringLiteral("%1 [%2]: %3")
                                                         .arg(escapeControls(text(line, "namespace"), Newlines::Escape))
                                                         .arg(integer(line, "pid"))
                                                         .arg(escapeControls(text(line, "text"), Newlines::Escape)));
            if (!ok)
                return 1;
        }
    }
}

} // namespace

int attachTo(const Config &config, Terminal &terminal)
{
    Connection connection(config.attachPid);
    QString error;
    if (!connection.open(&error)) {
        terminal.diagnostic(QStringLiteral("procpool: %1").arg(error));
        return 2;
    }
    int status = 0;
    auto failed = [&](const QString &message) {
        terminal.diagnostic(QStringLiteral("procpool: %1").arg(message));
        status = 1;
    };
    auto command = [&](QCborMap message, const QString &what) {
        if (!connection.request(message, answerTimeoutMs, &error))
            failed(QStringLiteral("%1: %2").arg(what, error));
    };

    for (const PoolSpec &pool : config.pools)
        if (pool.resize > 0)
            command({{QStringLiteral("op"), QStringLiteral("resize")},
                     {QStringLiteral("namespace"), pool.namespaceId},
                     {QStringLiteral("workers"), pool.resize}},
                    QStringLiteral("--resize %1 of namespace '%2'").arg(pool.resize).arg(pool.namespaceId));

    // Submissions: every call sent first, then the results as they come.
    std::map<qint64, Pending> pending;
    std::optional<QCborArray> catalogue;
    for (const PoolSpec &pool : config.pools) {
        for (const SubmitSpec &submit : pool.submits) {
            if (!catalogue) {
                const auto snapshot = connection.request({{QStringLiteral("op"), QStringLiteral("snapshot")}},
                                                         answerTimeoutMs, &error);
                if (!snapshot) {
                    terminal.diagnostic(QStringLiteral("procpool: %1").arg(error));
                    return 2;
                }
                catalogue = snapshot->value(QLatin1String("catalogue")).toArray();
            }
            std::optional<TaskSignature> task = catalogueTask(*catalogue, submit.task, &error);
            error.replace(QLatin1String("the program has no task"), QLatin1String("the process has no task"));
            const Arguments arguments = task ? argumentsFromText(*task, submit.argumentTexts) : Arguments{};
            if (!task || !arguments.error.isEmpty()) {
                terminal.diagnostic(QStringLiteral("procpool: --submit '%1': %2")
                                        .arg(submit.text, task ? arguments.error : error));
                return 2;
            }
            QCborArray values;
            for (const QVariant &v : arguments.values)
                values.append(QCborValue::fromVariant(v));
            QCborMap call{{QStringLiteral("op"), QStringLiteral("submit")},
                          {QStringLiteral("namespace"), pool.namespaceId},
                          {QStringLiteral("task"), submit.task},
                          {QStringLiteral("arguments"), values}};
            if (!submit.taskType.isEmpty())
                call.insert(QStringLiteral("taskType"), submit.taskType);
            if (submit.priority != 0)
                call.insert(QStringLiteral("priority"), submit.priority);
            if (submit.attempts > 1)
                call.insert(QStringLiteral("retries"), submit.attempts);
            for (qint64 i = 0; i < submit.count; ++i) {
                const qint64 id = connection.send(call);
                pending[id] = Pending{pool.namespaceId, submit.task, arguments.values, submit.priority,
                                      submit.attempts};
            }
        }
    }
    while (!pending.empty()) {
        const std::optional<QCborMap> answer = connection.next(-1, &error);
        if (!answer) {
            failed(QStringLiteral("%1; %2 submitted tasks have no result").arg(error).arg(pending.size()));
            return 1;
        }
        const auto it = pending.find(integer(*answer, "id"));
        if (it == pending.end())
            continue; // not an answer to a submission
        const Pending &p = it->second;
        const bool ok = text(*answer, "op") == u"result" && !answer->contains(QLatin1String("error"));
        const QString failure = text(*answer, "error");
        // A refusal (an `error` answer) never ran; a `result` ran at least once.
        Outcome attempts = attemptsOf(*answer, 1);
        if (text(*answer, "op") != u"result") {
            attempts = Outcome();
            attempts.priority = p.priority;
            attempts.maxAttempts = p.attempts;
        }
        if (!ok)
            status = 1;
        if (config.json) {
            QJsonArray args;
            for (const QVariant &v : p.arguments)
                args.append(QJsonValue::fromVariant(v));
            QJsonObject o{{QStringLiteral("event"), QStringLiteral("result")},
                          {QStringLiteral("pid"), config.attachPid},
                          {QStringLiteral("namespace"), p.namespaceId},
                          {QStringLiteral("task"), p.task},
                          {QStringLiteral("args"), args},
                          {QStringLiteral("state"), ok ? QStringLiteral("ok") : QStringLiteral("failed")}};
            if (ok)
                o.insert(QStringLiteral("result"), answer->value(QLatin1String("value")).toJsonValue());
            else
                o.insert(QStringLiteral("error"), failure);
            addAttemptFields(o, attempts);
            if (!terminal.writeLine(jsonLine(o)))
                return 1;
        } else if (!terminal.writeLine(ok ? QStringLiteral("%1: %2 = %3%4")
                                                .arg(escapeControls(p.namespaceId, Newlines::Escape),
                                                     callText(p.task, p.arguments),
                                                     shown(answer->value(QLatin1String("value"))),
                                                     detailsText(attempts))
                                          : QStringLiteral("%1: %2 failed%3: %4")
                                                .arg(escapeControls(p.namespaceId, Newlines::Escape),
                                                     callText(p.task, p.arguments), detailsText(attempts),
                                                     escapeControls(failure, Newlines::Escape)))) {
            return 1;
        }
        pending.erase(it);
    }

    for (const QString &ns : config.stops)
        command({{QStringLiteral("op"), QStringLiteral("stop")}, {QStringLiteral("namespace"), ns}},
                QStringLiteral("--stop %1").arg(ns));

    if (config.list) {
        const auto snapshot = connection.request({{QStringLiteral("op"), QStringLiteral("snapshot")}},
                                                 answerTimeoutMs, &error);
        if (!snapshot) {
            terminal.diagnostic(QStringLiteral("procpool: %1").arg(error));
            return 2;
        }
        if (!printRegistry(config, terminal, *snapshot))
            return 1;
    }
    if (config.watch) {
        const int watched = follow(config, terminal, connection);
        return watched != 0 ? watched : status;
    }
    return status;
}

} // namespace procpool::headless
