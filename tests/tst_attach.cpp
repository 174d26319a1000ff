// procpool tests — attaching to a running application from outside. attach_app is an ordinary
// procpool application with tasks of its own; these tests reach its pools through its
// inspection socket, with headless mode (`procpool --headless --ps / --attach PID ...`) and with
// raw clients that speak the protocol of docs/inspection.md frame by frame.
#include "faultsupport.h"
#include "testmain.h"

#include <procpool/detail/inspectionframe.h>
#include <procpool/inspection.h>

#include <QtCore/QCborArray>
#include <QtCore/QCborValue>
#include <QtCore/QCoreApplication>
#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QProcess>
#include <QtCore/QTemporaryDir>
#include <QtCore/QtEndian>
#include <QtNetwork/QLocalSocket>
#include <QtTest/QTest>

#include <functional>
#include <memory>
#include <optional>
#include <cerrno>
#include <csignal>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace procpool;
using faultsupport::hangGuardMs;
using faultsupport::processAlive;

namespace {

struct Run
{
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

QList<QJsonObject> jsonLines(const QByteArray &out)
{
    QList<QJsonObject> objects;
    for (const QByteArray &line : out.split('\n'))
        if (!line.trimmed().isEmpty())
            objects.append(QJsonDocument::fromJson(line).object());
    return objects;
}

QList<QJsonObject> events(const QByteArray &out, const QString &event)
{
    QList<QJsonObject> found;
    for (const QJsonObject &o : jsonLines(out))
        if (o.value(QStringLiteral("event")).toString() == event)
            found.append(o);
    return found;
}

//! A raw client: frames in, frames out, blocking, with the hang guard as its only timeout.
class Client
{
public:
    bool connectTo(const QString &path)
    {
        m_socket.connectToServer(path);
        return m_socket.waitForConnected(hangGuardMs);
    }
    void sendRaw(const QByteArray &bytes)
    {
        m_socket.write(bytes);
        m_socket.flush();
    }
    void send(const QCborMap &message) { sendRaw(detail::encodeInspectionFrame(message)); }
    //! The next frame; nullopt once the connection is closed or after the hang guard.
    std::optional<QCborMap> next()
    {
        QDeadlineTimer deadline(hangGuardMs);
        for (;;) {
            QCborMap message;
            QString error;
            const detail::FrameRead r =
                detail::readInspectionFrame(&m_input, detail::maxInspectionReplyBytes, &message, &error);
            if (r == detail::FrameRead::Message)
                return message;
            if (r == detail::FrameRead::Error || deadline.hasExpired())
                return std::nullopt;
            if (m_socket.bytesAvailable() == 0 && !m_socket.waitForReadyRead(int(deadline.remainingTime()))
                && m_socket.state() != QLocalSocket::ConnectedState && m_socket.bytesAvailable() == 0)
                return std::nullopt;
            m_input += m_socket.readAll();
        }
    }
    //! The next frame whose op is \a op.
    std::optional<QCborMap> nextOf(const QString &op)
    {
        while (std::optional<QCborMap> m = next())
            if (m->value(QLatin1String("op")).toString() == op)
                return m;
        return std::nullopt;
    }
    bool closed()
    {
        return m_socket.state() == QLocalSocket::UnconnectedState
               || (!m_socket.waitForReadyRead(hangGuardMs) && m_socket.state() == QLocalSocket::UnconnectedState)
               || m_socket.waitForDisconnected(hangGuardMs);
    }
    QLocalSocket &socket() { return m_socket; }

private:
    QLocalSocket m_socket;
    QByteArray m_input;
};

QCborMap hello()
{
    return {{QStringLiteral("op"), QStringLiteral("hello")}, {QStringLiteral("id"), 1},
            {QStringLiteral("version"), detail::inspectionProtocolVersion}};
}

//! What a snapshot, asked for by \a observer, says of the server's clients: the most bytes
//! waiting for any of them (-1 without an answer), the bound, and the snapshot's own size.
struct Queues
{
    qint64 most = -1;
    qint64 bound = 0;
    qint64 snapshotBytes = 0;
};

Queues queues(Client &observer)
{
    Queues q;
    observer.send({{QStringLiteral("op"), QStringLiteral("snapshot")}, {QStringLiteral("id"), 7}});
    const std::optional<QCborMap> snapshot = observer.nextOf(QStringLiteral("snapshot"));
    if (!snapshot)
        return q;
    q.bound = snapshot->value(QLatin1String("maxQueuedBytes")).toInteger();
    q.snapshotBytes = QCborValue(*snapshot).toCbor().size();
    q.most = 0;
    for (const QCborValue &c : snapshot->value(QLatin1String("clients")).toArray())
        q.most = std::max(q.most, c.toMap().value(QLatin1String("queuedBytes")).toInteger());
    return q;
}

} // namespace

class TestAttach : public QObject
{
    Q_OBJECT

    QTemporaryDir m_runtime; //!< XDG_RUNTIME_DIR of everything these tests start
    QString m_prefix = QStringLiteral("ta%1").arg(::getpid() % 100000);
    std::unique_ptr<QProcess> m_app;
    qint64 m_pid = 0;
    QString m_socket;

    //! Starts attach_app with \a environment added; false if it did not say it was ready.
    bool startApp(const QStringList &environment = {})
    {
        m_app = std::make_unique<QProcess>();
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        for (const QString &assignment : environment)
            env.insert(assignment.section(u'=', 0, 0), assignment.section(u'=', 1));
        m_app->setProcessEnvironment(env);
        m_app->setProcessChannelMode(QProcess::ForwardedErrorChannel);
        m_app->start(QStringLiteral(ATTACH_APP), {m_prefix});
        if (!m_app->waitForStarted(hangGuardMs))
            return false;
        QByteArray line;
        while (!line.endsWith('\n')) {
            if (!m_app->waitForReadyRead(hangGuardMs))
                return false;
            line += m_app->readLine();
        }
        const QList<QByteArray> words = line.trimmed().split(' ');
        if (words.value(0) != "ready")
            return false;
        m_pid = words.value(1).toLongLong();
        m_socket = QString::fromLocal8Bit(words.value(2));
        return m_pid > 0;
    }

    void stopApp() // QVERIFY inside: call through QVERIFY-aware callers only
    {
        if (!m_app)
            return;
        m_app->closeWriteChannel();
        if (!m_app->waitForFinished(hangGuardMs)) {
            m_app->kill();
            m_app->waitForFinished();
        }
        const bool exitedCleanly = m_app->exitStatus() == QProcess::NormalExit && m_app->exitCode() == 0;
        m_app.reset();
        QVERIFY2(exitedCleanly, "attach_app did not exit cleanly");
    }

    Run headless(const QStringList &arguments)
    {
        QProcess p;
        p.start(QStringLiteral(PROCPOOL_EXECUTABLE), QStringList{QStringLiteral("--headless")} + arguments);
        Run r;
        if (!p.waitForStarted(hangGuardMs))
            return r;
        p.closeWriteChannel();
        if (!p.waitForFinished(hangGuardMs)) {
            p.kill();
            p.waitForFinished();
        }
        r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
        r.out = p.readAllStandardOutput();
        r.err = p.readAllStandardError();
        return r;
    }

    Run attach(const QStringList &arguments)
    {
        return headless(QStringList{QStringLiteral("--attach"), QString::number(m_pid)} + arguments);
    }

    //! The namespace objects of --attach PID --list --json, by namespace.
    QMap<QString, QJsonObject> namespaces()
    {
        QMap<QString, QJsonObject> out;
        const Run r = attach({QStringLiteral("--list"), QStringLiteral("--json")});
        for (const QJsonObject &ns : events(r.out, QStringLiteral("namespace")))
            out.insert(ns.value(QStringLiteral("namespace")).toString(), ns);
        return out;
    }

private:
    //! Sends `start` for namespace beta with \a fields through \a c and returns the answer to
    //! \a id (empty once the connection is gone).
    static QCborMap startBeta(Client &c, qint64 id, const QCborMap &fields)
    {
        QCborMap request{{QStringLiteral("op"), QStringLiteral("start")}, {QStringLiteral("id"), id},
                         {QStringLiteral("namespace"), QStringLiteral("beta")}};
        for (auto it = fields.cbegin(); it != fields.cend(); ++it)
            request.insert(it.key(), it.value());
        c.send(request);
        for (;;) {
            const std::optional<QCborMap> answer = c.next();
            if (!answer || answer->value(QLatin1String("id")).toInteger() == id)
                return answer.value_or(QCborMap());
        }
    }

    //! Starts `--attach PID --watch --json` in \a watch; the function returned reads its output
    //! into \a out until that holds a needle (false after the hang guard).
    std::function<bool(const QByteArray &)> startWatch(QProcess &watch, QByteArray &out) const
    {
        watch.start(QStringLiteral(PROCPOOL_EXECUTABLE),
                    {QStringLiteral("--headless"), QStringLiteral("--attach"), QString::number(m_pid),
                     QStringLiteral("--watch"), QStringLiteral("--json")});
        return [&watch, &out](const QByteArray &needle) {
            while (!out.contains(needle)) {
                if (!watch.waitForReadyRead(hangGuardMs))
                    return false;
                out += watch.readAllStandardOutput();
            }
            return true;
        };
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_runtime.isValid());
        qputenv("XDG_RUNTIME_DIR", QFile::encodeName(m_runtime.path()));
        qputenv("PROCPOOL_INSPECT", "on");
    }

    void init() { QVERIFY(startApp()); }

    void cleanup() { stopApp(); }

    void socketIsPrivateToTheUser()
    {
        QCOMPARE(m_socket, inspectionSocketPath(m_pid));
        QCOMPARE(QFileInfo(m_socket).absolutePath(), m_runtime.path() + QStringLiteral("/procpool"));
        struct stat dir, sock;
        QCOMPARE(::stat(QFile::encodeName(QFileInfo(m_socket).absolutePath()).constData(), &dir), 0);
        QCOMPARE(::stat(QFile::encodeName(m_socket).constData(), &sock), 0);
        QCOMPARE(dir.st_mode & 0777, mode_t(0700));
        QVERIFY(S_ISSOCK(sock.st_mode));
        QCOMPARE(sock.st_mode & 077, mode_t(0));
    }

    void psListsTheApplication()
    {
        const Run r = headless({QStringLiteral("--ps"), QStringLiteral("--json")});
        QCOMPARE(r.exitCode, 0);
        const QList<QJsonObject> processes = events(r.out, QStringLiteral("process"));
        QCOMPARE(processes.size(), 1);
        const QJsonObject p = processes.first();
        QCOMPARE(p.value(QStringLiteral("pid")).toInteger(), m_pid);
        QVERIFY(p.value(QStringLiteral("program")).toString().endsWith(QStringLiteral("attach_app")));
        QCOMPARE(p.value(QStringLiteral("namespaces")).toArray(),
                 QJsonArray({QStringLiteral("alpha"), QStringLiteral("beta")}));
        QCOMPARE(p.value(QStringLiteral("mode")).toString(), QStringLiteral("full"));

        const Run human = headless({QStringLiteral("--ps")});
        QCOMPARE(human.exitCode, 0);
        QVERIFY2(human.out.contains(QByteArray::number(m_pid) + '\t'), human.out.constData());
        QVERIFY(human.out.contains("alpha,beta"));
    }

    void listShowsNamespacesWorkersAndTasks()
    {
        const Run r = attach({QStringLiteral("--list"), QStringLiteral("--json")});
        QCOMPARE(r.exitCode, 0);
        QMap<QString, QJsonObject> ns;
        for (const QJsonObject &o : events(r.out, QStringLiteral("namespace")))
            ns.insert(o.value(QStringLiteral("namespace")).toString(), o);
        QCOMPARE(ns.keys(), QStringList({QStringLiteral("alpha"), QStringLiteral("beta")}));
        QCOMPARE(ns.value(QStringLiteral("alpha")).value(QStringLiteral("state")).toString(), QStringLiteral("running"));
        QCOMPARE(ns.value(QStringLiteral("alpha"))[QStringLiteral("options")][QStringLiteral("maxWorkers")].toInt(), 2);
        // alpha keeps two workers (minWorkers), named as the application named them.
        QTRY_VERIFY(namespaces().value(QStringLiteral("alpha")).value(QStringLiteral("workers")).toArray().size() == 2);
        const QJsonArray workers = namespaces().value(QStringLiteral("alpha")).value(QStringLiteral("workers")).toArray();
        for (const QJsonValue &w : workers) {
            QVERIFY(w[QStringLiteral("name")].toString().startsWith(m_prefix + u'-'));
            QVERIFY(processAlive(w[QStringLiteral("pid")].toInteger()));
        }
        QMap<QString, QJsonObject> tasks;
        for (const QJsonObject &t : events(r.out, QStringLiteral("task")))
            tasks.insert(t.value(QStringLiteral("task")).toString(), t);
        QVERIFY2(tasks.contains(QStringLiteral("app.square")), r.out.constData());
        QCOMPARE(tasks.value(QStringLiteral("app.square")).value(QStringLiteral("arguments")).toArray(),
                 QJsonArray({QStringLiteral("int")}));
        QCOMPARE(tasks.value(QStringLiteral("app.square")).value(QStringLiteral("result")).toString(), QStringLiteral("int"));
        QCOMPARE(tasks.value(QStringLiteral("app.square")).value(QStringLiteral("description")).toString(),
                 QStringLiteral("Squares an integer"));
        QCOMPARE(tasks.value(QStringLiteral("app.join")).value(QStringLiteral("description")).toString(), QString());
        QCOMPARE(tasks.value(QStringLiteral("app.join")).value(QStringLiteral("arguments")).toArray(),
                 QJsonArray({QStringLiteral("QString"), QStringLiteral("QString")}));

        const Run human = attach({QStringLiteral("--list")});
        QCOMPARE(human.exitCode, 0);
        QVERIFY2(human.out.contains("namespace alpha: running, at most 2 workers"), human.out.constData());
        QVERIFY2(human.out.contains("app.square(int) -> int: Squares an integer"), human.out.constData());
    }

    void submitRunsTheApplicationsOwnTasks()
    {
        const Run r = attach({QStringLiteral("--json"), QStringLiteral("--namespace"), QStringLiteral("alpha"),
                              QStringLiteral("--submit"), QStringLiteral("app.square:7"), QStringLiteral("--count"),
                              QStringLiteral("3"), QStringLiteral("--namespace"), QStringLiteral("beta"),
                              QStringLiteral("--submit"), QStringLiteral("app.join:left,right"),
                              QStringLiteral("--submit-type"), QStringLiteral("batch")});
        QCOMPARE(r.exitCode, 0);
        const QList<QJsonObject> results = events(r.out, QStringLiteral("result"));
        QCOMPARE(results.size(), 4);
        int squares = 0;
        for (const QJsonObject &o : results) {
            QCOMPARE(o.value(QStringLiteral("state")).toString(), QStringLiteral("ok"));
            if (o.value(QStringLiteral("task")).toString() == u"app.square") {
                QCOMPARE(o.value(QStringLiteral("result")).toInt(), 49);
                QCOMPARE(o.value(QStringLiteral("namespace")).toString(), QStringLiteral("alpha"));
                ++squares;
            } else {
                QCOMPARE(o.value(QStringLiteral("result")).toString(), QStringLiteral("left+right"));
            }
        }
        QCOMPARE(squares, 3);
        // The application's own pools ran them: its counters say so.
        const QMap<QString, QJsonObject> ns = namespaces();
        QCOMPARE(ns.value(QStringLiteral("alpha"))[QStringLiteral("stats")][QStringLiteral("completed")].toInt(), 3);
        QCOMPARE(ns.value(QStringLiteral("beta"))[QStringLiteral("stats")][QStringLiteral("completed")].toInt(), 1);

        // beta is a protected pool: a submission without its task type is refused there.
        const Run untyped = attach({QStringLiteral("--namespace"), QStringLiteral("beta"), QStringLiteral("--submit"),
                                    QStringLiteral("app.square:2")});
        QCOMPARE(untyped.exitCode, 1);
        QVERIFY2(untyped.out.contains("beta: app.square(2) failed: ") && untyped.out.contains("batch"),
                 untyped.out.constData());
        QCOMPARE(namespaces().value(QStringLiteral("beta"))[QStringLiteral("stats")][QStringLiteral("completed")].toInt(), 1);

        const Run human = attach({QStringLiteral("--submit"), QStringLiteral("app.square:12"), QStringLiteral("--namespace"),
                                  QStringLiteral("alpha")});
        QCOMPARE(human.exitCode, 1); // options before the first --namespace are the default namespace's
        QVERIFY2(human.out.contains("there is no namespace 'default' in this process"), human.out.constData());
        const Run text = attach({QStringLiteral("--namespace"), QStringLiteral("alpha"), QStringLiteral("--submit"),
                                 QStringLiteral("app.square:12")});
        QCOMPARE(text.exitCode, 0);
        QCOMPARE(text.out.trimmed(), QByteArray("alpha: app.square(12) = 144"));
    }

    void badSubmissionsSayWhy()
    {
        Run r = attach({QStringLiteral("--namespace"), QStringLiteral("alpha"), QStringLiteral("--submit"), QStringLiteral("nosuch")});
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains("the process has no task 'nosuch'; its tasks: ") && r.err.contains("app.square"),
                 r.err.constData());
        r = attach({QStringLiteral("--namespace"), QStringLiteral("alpha"), QStringLiteral("--submit"), QStringLiteral("app.square:x")});
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains("app.square:x"), r.err.constData());
        r = attach({QStringLiteral("--namespace"), QStringLiteral("gamma"), QStringLiteral("--submit"), QStringLiteral("app.square:2")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.out.contains("gamma: app.square(2) failed: there is no namespace 'gamma' in this process"), r.out.constData());
        r = headless({QStringLiteral("--attach"), QStringLiteral("999999999"), QStringLiteral("--list")});
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains("process 999999999 has no procpool inspection socket"), r.err.constData());
        r = attach({});
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains("--attach needs something to do"), r.err.constData());
    }

    void submitRequestsCarryPriorityAndRetries()
    {
        // The decoder alone: both fields are optional, and a bad one says what it must be.
        const QCborMap base{{QStringLiteral("op"), QStringLiteral("submit")},
                            {QStringLiteral("namespace"), QStringLiteral("alpha")},
                            {QStringLiteral("task"), QStringLiteral("app.square")}};
        detail::InspectionRequest plain;
        QString error;
        QVERIFY2(detail::decodeInspectionRequest(base, &plain, &error), qPrintable(error));
        QCOMPARE(plain.priority, qint64(0));
        QCOMPARE(plain.retries, qint64(1));
        QCborMap full = base;
        full.insert(QStringLiteral("priority"), -7);
        full.insert(QStringLiteral("retries"), 3);
        detail::InspectionRequest r;
        QVERIFY2(detail::decodeInspectionRequest(full, &r, &error), qPrintable(error));
        QCOMPARE(r.priority, qint64(-7));
        QCOMPARE(r.retries, qint64(3));
        const std::pair<const char *, QCborValue> bad[] = {{"retries", 0}, {"retries", 1001},
                                                           {"priority", QStringLiteral("high")},
                                                           {"priority", qint64(1) << 40}};
        for (const auto &[key, value] : bad) {
            QCborMap wrong = base;
            wrong.insert(QLatin1String(key), value);
            detail::InspectionRequest refused;
            error.clear();
            QVERIFY(!detail::decodeInspectionRequest(wrong, &refused, &error));
            QVERIFY2(error.startsWith(QStringLiteral("'%1' must be an integer from ").arg(QLatin1String(key))),
                     qPrintable(error));
        }
    }

    void recordsAndOptionsCarryPriorityAttemptsAndLimits()
    {
        // A submission with a priority and retries: its record says so; one without carries
        // none of those keys (absent is the default, so frames stay small).
        Client c;
        QVERIFY(c.connectTo(m_socket));
        auto submit = [&c](qint64 id, int x, const QCborMap &extra) -> qint64 {
            QCborMap call{{QStringLiteral("op"), QStringLiteral("submit")}, {QStringLiteral("id"), id},
                          {QStringLiteral("namespace"), QStringLiteral("alpha")},
                          {QStringLiteral("task"), QStringLiteral("app.square")},
                          {QStringLiteral("arguments"), QCborArray{x}}};
            for (auto it = extra.cbegin(); it != extra.cend(); ++it)
                call.insert(it.key(), it.value());
            c.send(call);
            const std::optional<QCborMap> answer = c.nextOf(QStringLiteral("result"));
            if (!answer || answer->value(QLatin1String("value")).toInteger() != x * x)
                return 0;
            return answer->value(QLatin1String("task")).toInteger();
        };
        const qint64 ranked = submit(3, 6, {{QStringLiteral("priority"), 4}, {QStringLiteral("retries"), 2}});
        const qint64 plain = submit(4, 5, {});
        QVERIFY(ranked > 0 && plain > 0);
        // Headless mode sends the same fields for --priority and --retries.
        const Run viaHeadless = attach({QStringLiteral("--namespace"), QStringLiteral("alpha"), QStringLiteral("--submit"),
                                        QStringLiteral("app.square:9"), QStringLiteral("--priority"), QStringLiteral("9"),
                                        QStringLiteral("--retries"), QStringLiteral("3")});
        QCOMPARE(viaHeadless.exitCode, 0);

        c.send({{QStringLiteral("op"), QStringLiteral("snapshot")}, {QStringLiteral("id"), 5}});
        const std::optional<QCborMap> snapshot = c.nextOf(QStringLiteral("snapshot"));
        QVERIFY(snapshot);
        QMap<QString, QCborMap> byId;
        for (const QCborValue &ns : snapshot->value(QLatin1String("namespaces")).toArray())
            byId.insert(ns.toMap().value(QLatin1String("id")).toString(), ns.toMap());
        QMap<qint64, QCborMap> records;
        for (const QCborValue &t : byId.value(QStringLiteral("alpha")).value(QLatin1String("tasks")).toArray())
            records.insert(t.toMap().value(QLatin1String("id")).toInteger(), t.toMap());
        QVERIFY(records.contains(ranked) && records.contains(plain));
        const QCborMap r = records.value(ranked);
        QCOMPARE(r.value(QLatin1String("priority")).toInteger(), 4);
        QCOMPARE(r.value(QLatin1String("maxAttempts")).toInteger(), 2);
        QVERIFY(!r.contains(QLatin1String("attempts"))); // ran once: what its start time implies
        QVERIFY(!r.contains(QLatin1String("attemptErrors")));
        for (const char *key : {"priority", "attempts", "maxAttempts", "attemptErrors", "output"})
            QVERIFY2(!records.value(plain).contains(QLatin1String(key)), key);
        bool headlessSeen = false;
        for (const QCborMap &t : std::as_const(records))
            headlessSeen |= t.value(QLatin1String("priority")).toInteger() == 9
                            && t.value(QLatin1String("maxAttempts")).toInteger() == 3;
        QVERIFY(headlessSeen);

        // Pool options: beta's memory limits are sent, alpha (none set) has no such keys.
        const QCborMap beta = byId.value(QStringLiteral("beta")).value(QLatin1String("options")).toMap();
        QCOMPARE(beta.value(QLatin1String("softMemoryLimit")).toInteger(), qint64(256) << 20);
        QCOMPARE(beta.value(QLatin1String("hardMemoryLimit")).toInteger(), qint64(1) << 30);
        const QCborMap alpha = byId.value(QStringLiteral("alpha")).value(QLatin1String("options")).toMap();
        for (const char *key : {"softMemoryLimit", "hardMemoryLimit", "memoryCheckIntervalMs", "addressSpace",
                                "cpuSeconds", "niceValue", "cpuAffinity"})
            QVERIFY2(!alpha.contains(QLatin1String(key)), key);
    }

    void attachedResultsCarryAttemptsPriorityAndOutput()
    {
        // What a local --json result carries, an attached one does too: from the task's record,
        // which the `result` answer brings along.
        const Run r = attach({QStringLiteral("--json"), QStringLiteral("--namespace"), QStringLiteral("alpha"),
                              QStringLiteral("--submit"), QStringLiteral("app.shout:2"), QStringLiteral("--priority"),
                              QStringLiteral("5"), QStringLiteral("--retries"), QStringLiteral("3"),
                              QStringLiteral("--submit"), QStringLiteral("app.fail:boom"), QStringLiteral("--retries"),
                              QStringLiteral("2"), QStringLiteral("--submit"), QStringLiteral("app.square:3")});
        QCOMPARE(r.exitCode, 1); // app.fail failed
        QMap<QString, QJsonObject> results;
        for (const QJsonObject &o : events(r.out, QStringLiteral("result")))
            results.insert(o.value(QStringLiteral("task")).toString(), o);
        QCOMPARE(results.size(), 3);
        const QJsonObject shout = results.value(QStringLiteral("app.shout"));
        QCOMPARE(shout.value(QStringLiteral("state")).toString(), QStringLiteral("ok"));
        QCOMPARE(shout.value(QStringLiteral("priority")).toInt(), 5);
        QCOMPARE(shout.value(QStringLiteral("attempts")).toInt(), 1);
        QCOMPARE(shout.value(QStringLiteral("max_attempts")).toInt(), 3);
        QVERIFY2(shout.value(QStringLiteral("output")).toString().contains(QStringLiteral("shout 1")), r.out.constData());
        QVERIFY(!shout.contains(QStringLiteral("attempt_errors")));
        const QJsonObject fail = results.value(QStringLiteral("app.fail"));
        QCOMPARE(fail.value(QStringLiteral("state")).toString(), QStringLiteral("failed"));
        QVERIFY(fail.value(QStringLiteral("error")).toString().contains(QStringLiteral("boom")));
        QCOMPARE(fail.value(QStringLiteral("attempts")).toInt(), 2);
        QCOMPARE(fail.value(QStringLiteral("max_attempts")).toInt(), 2);
        const QJsonArray errors = fail.value(QStringLiteral("attempt_errors")).toArray();
        QCOMPARE(errors.size(), 1); // the first attempt's; the last one is "error"
        QVERIFY2(errors.at(0).toString().contains(QStringLiteral("boom")), r.out.constData());
        QVERIFY(!fail.contains(QStringLiteral("priority")));
        for (const char *key : {"priority", "attempts", "max_attempts", "attempt_errors", "output"})
            QVERIFY2(!results.value(QStringLiteral("app.square")).contains(QLatin1String(key)), key);

        // In text, as a local result line says them.
        const Run text = attach({QStringLiteral("--namespace"), QStringLiteral("alpha"), QStringLiteral("--submit"),
                                 QStringLiteral("app.square:4"), QStringLiteral("--priority"), QStringLiteral("-2"),
                                 QStringLiteral("--retries"), QStringLiteral("2"), QStringLiteral("--submit"),
                                 QStringLiteral("app.fail:again"), QStringLiteral("--retries"), QStringLiteral("2")});
        QCOMPARE(text.exitCode, 1);
        QVERIFY2(text.out.contains("alpha: app.square(4) = 16 (attempt 1 of 2, priority -2)\n"), text.out.constData());
        QVERIFY2(text.out.contains("alpha: app.fail(\"again\") failed (attempt 2 of 2): "), text.out.constData());

        // The raw answer: the record's fields, named as in a task record.
        Client c;
        QVERIFY(c.connectTo(m_socket));
        c.send({{QStringLiteral("op"), QStringLiteral("submit")}, {QStringLiteral("id"), 9},
                {QStringLiteral("namespace"), QStringLiteral("alpha")}, {QStringLiteral("task"), QStringLiteral("app.fail")},
                {QStringLiteral("arguments"), QCborArray{QStringLiteral("raw")}}, {QStringLiteral("retries"), 2},
                {QStringLiteral("priority"), 3}});
        const std::optional<QCborMap> answer = c.nextOf(QStringLiteral("result"));
        QVERIFY(answer);
        QCOMPARE(answer->value(QLatin1String("attempts")).toInteger(), 2);
        QCOMPARE(answer->value(QLatin1String("maxAttempts")).toInteger(), 2);
        QCOMPARE(answer->value(QLatin1String("priority")).toInteger(), 3);
        QCOMPARE(answer->value(QLatin1String("attemptErrors")).toArray().size(), 1);
    }

    void watchLinesCarryAttemptsAndPriority()
    {
        QProcess watch;
        QByteArray out;
        const auto until = startWatch(watch, out);
        QVERIFY(watch.waitForStarted(hangGuardMs));
        QVERIFY2(until("\"event\":\"watching\""), out.constData());
        QCOMPARE(attach({QStringLiteral("--namespace"), QStringLiteral("alpha"), QStringLiteral("--submit"),
                         QStringLiteral("app.nap:300"), QStringLiteral("--priority"), QStringLiteral("4"),
                         QStringLiteral("--retries"), QStringLiteral("2")}).exitCode, 0);
        QVERIFY2(until("\"state\":\"finished\""), out.constData());
        bool seen = false;
        for (const QJsonObject &t : events(out, QStringLiteral("task")))
            seen |= t.value(QStringLiteral("task")).toString() == u"app.nap"
                    && t.value(QStringLiteral("state")).toString() == u"finished"
                    && t.value(QStringLiteral("priority")).toInt() == 4
                    && t.value(QStringLiteral("attempts")).toInt() == 1
                    && t.value(QStringLiteral("max_attempts")).toInt() == 2;
        QVERIFY2(seen, out.constData());
        watch.kill();
        watch.waitForFinished();
    }

    void startTakesLimitsAndRefusesBadOnes()
    {
        // The decoder alone: each limit is optional, and one out of range says its range.
        const QCborMap base{{QStringLiteral("op"), QStringLiteral("start")},
                            {QStringLiteral("namespace"), QStringLiteral("beta")},
                            {QStringLiteral("workers"), 2}};
        detail::InspectionRequest plain;
        QString error;
        QVERIFY2(detail::decodeInspectionRequest(base, &plain, &error), qPrintable(error));
        QVERIFY(!plain.limits.niceValue && !plain.limits.cpuAffinity && !plain.limits.cgroupCpuMax
                && !plain.limits.cgroupParent && !plain.limits.softMemoryLimit);
        QCborMap full = base;
        full.insert(QStringLiteral("cgroupMemoryMax"), qint64(1) << 30);
        full.insert(QStringLiteral("cgroupCpuMax"), 1.5);
        full.insert(QStringLiteral("cgroupParent"), QStringLiteral("/user.slice"));
        full.insert(QStringLiteral("cpuAffinity"), QCborArray{0, 2, 3});
        full.insert(QStringLiteral("niceValue"), 0);
        detail::InspectionRequest r;
        QVERIFY2(detail::decodeInspectionRequest(full, &r, &error), qPrintable(error));
        QCOMPARE(r.limits.cgroupMemoryMax.value_or(-1), qint64(1) << 30);
        QCOMPARE(r.limits.cgroupCpuMax.value_or(-1), 1.5);
        QCOMPARE(r.limits.cgroupParent.value_or(QString()), QStringLiteral("/user.slice"));
        QCOMPARE(r.limits.cpuAffinity.value_or(QList<int>()), QList<int>({0, 2, 3}));
        QCOMPARE(r.limits.niceValue.value_or(-1), 0);
        full.insert(QStringLiteral("cgroupCpuMax"), 2); // an integer is a number of CPUs too
        QVERIFY2(detail::decodeInspectionRequest(full, &r, &error), qPrintable(error));
        QCOMPARE(r.limits.cgroupCpuMax.value_or(-1), 2.0);
        const std::pair<const char *, QCborValue> bad[] = {
            {"niceValue", 20}, {"niceValue", QStringLiteral("low")}, {"cpuSeconds", -1},
            {"softMemoryLimit", -1}, {"addressSpace", 1.5}, {"cpuAffinity", 3},
            {"cpuAffinity", QCborArray{0, 4096}}, {"cpuAffinity", QCborArray{QStringLiteral("0")}},
            {"cgroupCpuMax", -0.5}, {"cgroupCpuMax", 5000}, {"cgroupCpuMax", qQNaN()},
            {"cgroupCpuMax", QStringLiteral("2")}, {"cgroupParent", QStringLiteral("relative")},
            {"cgroupParent", 7}};
        for (const auto &[key, value] : bad) {
            QCborMap wrong = base;
            wrong.insert(QLatin1String(key), value);
            detail::InspectionRequest refused;
            error.clear();
            QVERIFY2(!detail::decodeInspectionRequest(wrong, &refused, &error), key);
            QVERIFY2(error.startsWith(QStringLiteral("'%1' must be ").arg(QLatin1String(key))), qPrintable(error));
        }

        // Live: beta (soft 256 MiB, hard 1 GiB) stopped and started again with other limits.
        const int cpu = [] {
            cpu_set_t set;
            CPU_ZERO(&set);
            if (::sched_getaffinity(0, sizeof set, &set) == 0)
                for (int n = 0; n < CPU_SETSIZE; ++n)
                    if (CPU_ISSET(n, &set))
                        return n;
            return 0;
        }();
        QCOMPARE(attach({QStringLiteral("--stop"), QStringLiteral("beta")}).exitCode, 0);
        QTRY_COMPARE(namespaces().value(QStringLiteral("beta")).value(QStringLiteral("state")).toString(),
                     QStringLiteral("stopped"));
        Client c;
        QVERIFY(c.connectTo(m_socket));
        auto start = [&c](qint64 id, QCborMap fields) {
            fields.insert(QStringLiteral("workers"), 2);
            return startBeta(c, id, fields);
        };
        // Each in range, together not valid: refused, and the pool stays stopped.
        QCborMap answer = start(20, {{QStringLiteral("softMemoryLimit"), qint64(2) << 30}});
        QCOMPARE(answer.value(QLatin1String("op")).toString(), QStringLiteral("error"));
        QVERIFY2(answer.value(QLatin1String("error")).toString().contains(QStringLiteral("softMemoryLimit must not be above hardMemoryLimit")),
                 qPrintable(answer.value(QLatin1String("error")).toString()));
        answer = start(21, {{QStringLiteral("niceValue"), 25}});
        QCOMPARE(answer.value(QLatin1String("error")).toString(), QStringLiteral("'niceValue' must be an integer from 0 to 19"));
        QCOMPARE(namespaces().value(QStringLiteral("beta")).value(QStringLiteral("state")).toString(), QStringLiteral("stopped"));
        // Given limits replace the last ones (0: none); those not given stay. Under a sanitizer
        // the address space stays above its shadow memory's reservation (some 20 TiB).
        const qint64 space = faultsupport::sanitized ? qint64(1) << 46 : qint64(4) << 30;
        answer = start(22, {{QStringLiteral("softMemoryLimit"), 0}, {QStringLiteral("niceValue"), 6},
                            {QStringLiteral("cpuAffinity"), QCborArray{cpu}}, {QStringLiteral("addressSpace"), space},
                            {QStringLiteral("cpuSeconds"), 500}});
        QCOMPARE(answer.value(QLatin1String("op")).toString(), QStringLiteral("done"));
        const QJsonObject beta = namespaces().value(QStringLiteral("beta"));
        QCOMPARE(beta.value(QStringLiteral("state")).toString(), QStringLiteral("running"));
        const QJsonObject options = beta.value(QStringLiteral("options")).toObject();
        QCOMPARE(options.value(QStringLiteral("maxWorkers")).toInt(), 2);
        QVERIFY(!options.contains(QStringLiteral("softMemoryLimit")));
        QCOMPARE(options.value(QStringLiteral("hardMemoryLimit")).toInteger(), qint64(1) << 30);
        QCOMPARE(options.value(QStringLiteral("niceValue")).toInt(), 6);
        QCOMPARE(options.value(QStringLiteral("cpuAffinity")).toArray(), QJsonArray({cpu}));
        QCOMPARE(options.value(QStringLiteral("addressSpace")).toInteger(), space);
        QCOMPARE(options.value(QStringLiteral("cpuSeconds")).toInt(), 500);
        QCOMPARE(options.value(QStringLiteral("taskType")).toString(), QStringLiteral("batch")); // kept
        // Its workers run with them.
        const Run square = attach({QStringLiteral("--namespace"), QStringLiteral("beta"), QStringLiteral("--submit"),
                                   QStringLiteral("app.square:5"), QStringLiteral("--submit-type"), QStringLiteral("batch"),
                                   QStringLiteral("--list"), QStringLiteral("--json")});
        QCOMPARE(square.exitCode, 0);
        qint64 worker = 0;
        for (const QJsonObject &ns : events(square.out, QStringLiteral("namespace")))
            if (ns.value(QStringLiteral("namespace")).toString() == u"beta")
                for (const QJsonValue &w : ns.value(QStringLiteral("workers")).toArray()) {
                    worker = w[QStringLiteral("pid")].toInteger();
                    QCOMPARE(w[QStringLiteral("slot")].toInt(-1), 0);
                }
        QVERIFY(worker > 0);
        errno = 0;
        QCOMPARE(::getpriority(PRIO_PROCESS, id_t(worker)), std::max(6, ::getpriority(PRIO_PROCESS, 0)));
        cpu_set_t set;
        CPU_ZERO(&set);
        QCOMPARE(::sched_getaffinity(pid_t(worker), sizeof set, &set), 0);
        QCOMPARE(CPU_COUNT(&set), 1);
        QVERIFY(CPU_ISSET(cpu, &set));
    }

    void startTakesHostsAndRefusesACommandLauncher()
    {
        // The decoder alone: hosts are optional; with them "workers" is their slots in all (and
        // may be left out); a command launcher, an option that could run a command, or an
        // entry out of range says what is wrong.
        const QCborMap base{{QStringLiteral("op"), QStringLiteral("start")},
                            {QStringLiteral("namespace"), QStringLiteral("beta")}};
        const auto withHosts = [&base](const QCborArray &hosts) {
            QCborMap m = base;
            m.insert(QStringLiteral("hosts"), hosts);
            return m;
        };
        const auto host = [](const QString &name, int workers, const QString &launcher,
                             const QStringList &options = {}) {
            QCborMap m{{QStringLiteral("host"), name}, {QStringLiteral("workers"), workers},
                       {QStringLiteral("launcher"), launcher}};
            if (!options.isEmpty())
                m.insert(QStringLiteral("options"), QCborArray::fromStringList(options));
            return m;
        };
        detail::InspectionRequest r;
        QString error;
        QVERIFY2(detail::decodeInspectionRequest(
                     withHosts({host(QStringLiteral("node1"), 2, QStringLiteral("ssh"),
                                     {QStringLiteral("-p"), QStringLiteral("2222"), QStringLiteral("-oConnectTimeout=5")}),
                                host(QStringLiteral("c07"), 3, QStringLiteral("slurm"), {QStringLiteral("--partition=short")}),
                                QCborMap{{QStringLiteral("workers"), 1}, {QStringLiteral("launcher"), QStringLiteral("local")}}}),
                     &r, &error),
                 qPrintable(error));
        QCOMPARE(r.workers, qint64(6));
        QCborMap consistent = withHosts({host(QStringLiteral("node1"), 2, QStringLiteral("ssh"))});
        consistent.insert(QStringLiteral("workers"), 2);
        QVERIFY2(detail::decodeInspectionRequest(consistent, &r, &error), qPrintable(error));
        QCborMap none = withHosts({}); // this machine alone: "workers" says how many
        QVERIFY(!detail::decodeInspectionRequest(none, &r, &error));
        none.insert(QStringLiteral("workers"), 3);
        QVERIFY2(detail::decodeInspectionRequest(none, &r, &error), qPrintable(error));
        QCOMPARE(r.workers, qint64(3));
        const std::pair<QCborMap, QString> bad[] = {
            {withHosts({host(QStringLiteral("x"), 1, QStringLiteral("sh -c"))}),
             QStringLiteral("'hosts' entry 1: 'launcher' must be \"ssh\", \"slurm\" or \"local\": the inspection "
                            "socket takes no command launcher, so that a client cannot make this process run a "
                            "command of its choosing")},
            {withHosts({host(QStringLiteral("x"), 1, QStringLiteral("command"))}),
             QStringLiteral("'hosts' entry 1: 'launcher' must be \"ssh\", \"slurm\" or \"local\"")},
            {withHosts({host(QStringLiteral("x"), 1, QStringLiteral("ssh"), {QStringLiteral("-oProxyCommand=touch /tmp/p")})}),
             QStringLiteral("'hosts' entry 1: '-oProxyCommand=touch /tmp/p' is not an option the inspection socket passes to ssh")},
            {withHosts({host(QStringLiteral("x"), 1, QStringLiteral("ssh"), {QStringLiteral("-F"), QStringLiteral("/tmp/config")})}),
             QStringLiteral("'hosts' entry 1: '-F' is not an option the inspection socket passes to ssh")},
            {withHosts({host(QStringLiteral("x"), 1, QStringLiteral("slurm"), {QStringLiteral("--task-prolog=/tmp/p")})}),
             QStringLiteral("'hosts' entry 1: '--task-prolog=/tmp/p' is not an option the inspection socket passes to srun")},
            {withHosts({host(QStringLiteral("-oProxyCommand=x"), 1, QStringLiteral("ssh"))}),
             QStringLiteral("'hosts' entry 1: 'host' must be a host name")},
            {withHosts({host(QStringLiteral("x"), 0, QStringLiteral("ssh"))}),
             QStringLiteral("'hosts' entry 1: 'workers' must be an integer from 1 to 4096")},
            {withHosts({host(QStringLiteral("x"), 4000, QStringLiteral("ssh")), host(QStringLiteral("y"), 97, QStringLiteral("ssh"))}),
             QStringLiteral("'hosts' must have at most 4096 slots in all")},
            {withHosts({QCborMap{{QStringLiteral("host"), QStringLiteral("x")}, {QStringLiteral("workers"), 1},
                                 {QStringLiteral("launcher"), QStringLiteral("ssh")}, {QStringLiteral("program"), QStringLiteral("/bin/sh")}}}),
             QStringLiteral("'hosts' entry 1: has a field 'program'")},
            {[&] {
                 QCborMap m = consistent;
                 m.insert(QStringLiteral("workers"), 3);
                 return m;
             }(),
             QStringLiteral("'workers' must be the slots of 'hosts' in all (2), or be left out")},
            {[&] {
                 QCborMap m = base;
                 m.insert(QStringLiteral("hosts"), QStringLiteral("node1"));
                 return m;
             }(),
             QStringLiteral("'hosts' must be an array of hosts")},
        };
        for (const auto &[request, message] : bad) {
            detail::InspectionRequest refused;
            error.clear();
            QVERIFY2(!detail::decodeInspectionRequest(request, &refused, &error), qPrintable(message));
            QVERIFY2(error.startsWith(message), qPrintable(error));
        }

        // Live: beta stopped, then started again: a command launcher gets the error answer and
        // nothing starts; hosts on this machine start it.
        QCOMPARE(attach({QStringLiteral("--stop"), QStringLiteral("beta")}).exitCode, 0);
        QTRY_COMPARE(namespaces().value(QStringLiteral("beta")).value(QStringLiteral("state")).toString(),
                     QStringLiteral("stopped"));
        Client c;
        QVERIFY(c.connectTo(m_socket));
        auto start = [&c](qint64 id, const QCborMap &fields) { return startBeta(c, id, fields); };
        QCborMap answer = start(40, {{QStringLiteral("hosts"), QCborArray{host(QStringLiteral("x"), 1, QStringLiteral("sh -c"))}}});
        QCOMPARE(answer.value(QLatin1String("op")).toString(), QStringLiteral("error"));
        QVERIFY2(answer.value(QLatin1String("error")).toString().contains(QStringLiteral("takes no command launcher")),
                 qPrintable(answer.value(QLatin1String("error")).toString()));
        QCOMPARE(namespaces().value(QStringLiteral("beta")).value(QStringLiteral("state")).toString(), QStringLiteral("stopped"));
        answer = start(41, {{QStringLiteral("hosts"),
                             QCborArray{QCborMap{{QStringLiteral("workers"), 2}, {QStringLiteral("launcher"), QStringLiteral("local")}}}}});
        QCOMPARE(answer.value(QLatin1String("op")).toString(), QStringLiteral("done"));
        const QJsonObject beta = namespaces().value(QStringLiteral("beta"));
        QCOMPARE(beta.value(QStringLiteral("state")).toString(), QStringLiteral("running"));
        const QJsonObject options = beta.value(QStringLiteral("options")).toObject();
        QCOMPARE(options.value(QStringLiteral("maxWorkers")).toInt(), 2);
        QCOMPARE(options.value(QStringLiteral("hosts")).toArray(),
                 QJsonArray({QJsonObject{{QStringLiteral("host"), QString()}, {QStringLiteral("workers"), 2},
                                         {QStringLiteral("launcher"), QStringLiteral("local")}}}));
        const Run square = attach({QStringLiteral("--json"), QStringLiteral("--namespace"), QStringLiteral("beta"),
                                   QStringLiteral("--submit"), QStringLiteral("app.square:5"), QStringLiteral("--submit-type"),
                                   QStringLiteral("batch"), QStringLiteral("--list")});
        QCOMPARE(square.exitCode, 0);
        QCOMPARE(events(square.out, QStringLiteral("result")).value(0).value(QStringLiteral("result")).toInt(), 25);
        for (const QJsonObject &ns : events(square.out, QStringLiteral("namespace")))
            for (const QJsonValue &w : ns.value(QStringLiteral("workers")).toArray())
                QVERIFY(!w.toObject().contains(QStringLiteral("host"))); // on this machine
    }

    void snapshotsCarryTheHostOfAWorker()
    {
        // gamma's worker runs through a command launcher (sh -c) on host "x": the snapshot says
        // where, and what the worker said of itself there.
        stopApp();
        QVERIFY(startApp({QStringLiteral("ATTACH_APP_LAUNCHER=sh -c")}));
        QJsonObject worker;
        QTRY_VERIFY((worker = namespaces().value(QStringLiteral("gamma")).value(QStringLiteral("workers"))
                                  .toArray().at(0).toObject())
                        .contains(QStringLiteral("remotePid")));
        QCOMPARE(worker.value(QStringLiteral("host")).toString(), QStringLiteral("x"));
        QVERIFY(!worker.value(QStringLiteral("reportedHost")).toString().isEmpty());
        QVERIFY(worker.value(QStringLiteral("remotePid")).toInteger() > 0);
        const QJsonObject gamma = namespaces().value(QStringLiteral("gamma"));
        QCOMPARE(gamma.value(QStringLiteral("options"))[QStringLiteral("hosts")].toArray(),
                 QJsonArray({QJsonObject{{QStringLiteral("host"), QStringLiteral("x")}, {QStringLiteral("workers"), 1},
                                         {QStringLiteral("launcher"), QStringLiteral("command")},
                                         {QStringLiteral("options"), QJsonArray({QStringLiteral("sh"), QStringLiteral("-c")})}}}));
        for (const QJsonValue &w : namespaces().value(QStringLiteral("alpha")).value(QStringLiteral("workers")).toArray())
            for (const char *key : {"host", "reportedHost", "remotePid"})
                QVERIFY2(!w.toObject().contains(QLatin1String(key)), key);
        const Run human = attach({QStringLiteral("--list")});
        QCOMPARE(human.exitCode, 0);
        QVERIFY2(human.out.contains("  hosts: 1 on x (command)"), human.out.constData());
        QVERIFY2(human.out.contains(" on x (reported host "), human.out.constData());

        // Started again without "hosts", it keeps the hosts the application gave it: "workers"
        // must then be their slots.
        QCOMPARE(attach({QStringLiteral("--stop"), QStringLiteral("gamma")}).exitCode, 0);
        QTRY_COMPARE(namespaces().value(QStringLiteral("gamma")).value(QStringLiteral("state")).toString(),
                     QStringLiteral("stopped"));
        Client c;
        QVERIFY(c.connectTo(m_socket));
        c.send({{QStringLiteral("op"), QStringLiteral("start")}, {QStringLiteral("id"), 50},
                {QStringLiteral("namespace"), QStringLiteral("gamma")}, {QStringLiteral("workers"), 3}});
        std::optional<QCborMap> answer = c.next();
        QVERIFY(answer);
        QVERIFY2(answer->value(QLatin1String("error")).toString().contains(
                     QStringLiteral("namespace 'gamma' runs its workers on 1 host(s), 1 slots in all")),
                 qPrintable(answer->value(QLatin1String("error")).toString()));
        c.send({{QStringLiteral("op"), QStringLiteral("start")}, {QStringLiteral("id"), 51},
                {QStringLiteral("namespace"), QStringLiteral("gamma")}, {QStringLiteral("workers"), 1}});
        answer = c.next();
        QVERIFY(answer);
        QCOMPARE(answer->value(QLatin1String("op")).toString(), QStringLiteral("done"));
        QTRY_COMPARE(namespaces().value(QStringLiteral("gamma")).value(QStringLiteral("workers")).toArray()
                         .at(0)[QStringLiteral("host")].toString(),
                     QStringLiteral("x"));
    }

    void stopAndResizeSteerTheApplicationsPools()
    {
        Run r = attach({QStringLiteral("--namespace"), QStringLiteral("alpha"), QStringLiteral("--resize"), QStringLiteral("3")});
        QCOMPARE(r.exitCode, 0);
        QCOMPARE(namespaces().value(QStringLiteral("alpha"))[QStringLiteral("options")][QStringLiteral("maxWorkers")].toInt(), 3);
        // --resize NS N names the namespace itself, beside a section of another.
        r = attach({QStringLiteral("--namespace"), QStringLiteral("alpha"), QStringLiteral("--resize"), QStringLiteral("2"),
                    QStringLiteral("--resize"), QStringLiteral("beta"), QStringLiteral("4")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QCOMPARE(namespaces().value(QStringLiteral("alpha"))[QStringLiteral("options")][QStringLiteral("maxWorkers")].toInt(), 2);
        QCOMPARE(namespaces().value(QStringLiteral("beta"))[QStringLiteral("options")][QStringLiteral("maxWorkers")].toInt(), 4);
        r = attach({QStringLiteral("--resize"), QStringLiteral("beta")});
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains("--resize beta needs a number of workers after it, e.g. --resize beta 8"), r.err.constData());
        r = attach({QStringLiteral("--resize"), QStringLiteral("beta"), QStringLiteral("many")});
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains("--resize needs an integer of at least 1, got 'many'"), r.err.constData());
        r = attach({QStringLiteral("--resize"), QStringLiteral("beta"), QStringLiteral("4"), QStringLiteral("5")});
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains("unexpected argument '5'"), r.err.constData());
        r = attach({QStringLiteral("--stop"), QStringLiteral("beta")});
        QCOMPARE(r.exitCode, 0);
        QTRY_COMPARE(namespaces().value(QStringLiteral("beta")).value(QStringLiteral("state")).toString(),
                     QStringLiteral("stopped"));
        QCOMPARE(namespaces().value(QStringLiteral("alpha")).value(QStringLiteral("state")).toString(), QStringLiteral("running"));
        r = attach({QStringLiteral("--namespace"), QStringLiteral("beta"), QStringLiteral("--submit"), QStringLiteral("app.square:2"),
                    QStringLiteral("--submit-type"), QStringLiteral("batch")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.out.contains("beta: app.square(2) failed: ") && r.out.contains("not running"), r.out.constData());
    }

    void readOnlyRefusesCommands()
    {
        stopApp();
        QVERIFY(startApp({QStringLiteral("PROCPOOL_INSPECT=read-only")}));
        Run r = attach({QStringLiteral("--list"), QStringLiteral("--json")});
        QCOMPARE(r.exitCode, 0);
        QCOMPARE(events(r.out, QStringLiteral("process")).value(0).value(QStringLiteral("mode")).toString(),
                 QStringLiteral("read-only"));
        r = attach({QStringLiteral("--namespace"), QStringLiteral("alpha"), QStringLiteral("--submit"), QStringLiteral("app.square:3")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.out.contains("alpha: app.square(3) failed: refused: this process's inspection socket is read-only"), r.out.constData());
        r = attach({QStringLiteral("--stop"), QStringLiteral("alpha")});
        QCOMPARE(r.exitCode, 1);
        QCOMPARE(namespaces().value(QStringLiteral("alpha")).value(QStringLiteral("state")).toString(), QStringLiteral("running"));
    }

    void offOpensNoSocket()
    {
        stopApp();
        QVERIFY(startApp({QStringLiteral("PROCPOOL_INSPECT=off")}));
        QVERIFY(m_socket.isEmpty());
        QVERIFY(!QFileInfo::exists(inspectionSocketPath(m_pid)));
        const Run ps = headless({QStringLiteral("--ps"), QStringLiteral("--json")});
        QCOMPARE(events(ps.out, QStringLiteral("process")).size(), 0);
        const Run r = attach({QStringLiteral("--list")});
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains("PROCPOOL_INSPECT=off"), r.err.constData());
    }

    void anotherUserIsRefused()
    {
        if (::geteuid() != 0)
            QSKIP("switching to another user needs root");
        // The directory (0700) keeps other users out. Opened up here, the server's own check
        // of the peer's credentials must refuse them too.
        const QByteArray dir = QFile::encodeName(QFileInfo(m_socket).absolutePath());
        const QByteArray path = QFile::encodeName(m_socket);
        auto otherUserConnects = [&]() -> int {
            const pid_t child = ::fork();
            if (child == 0) {
                if (::setgid(65534) != 0 || ::setuid(65534) != 0)
                    ::_exit(10);
                const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
                sockaddr_un address{};
                address.sun_family = AF_UNIX;
                std::strncpy(address.sun_path, path.constData(), sizeof address.sun_path - 1);
                if (::connect(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0)
                    ::_exit(errno == EACCES ? 20 : 21);
                // The server may have said no and hung up before the hello arrives.
                ::signal(SIGPIPE, SIG_IGN);
                const QByteArray frame = detail::encodeInspectionFrame(hello());
                [[maybe_unused]] const ssize_t written = ::write(fd, frame.constData(), size_t(frame.size()));
                QByteArray answer;
                QCborMap message;
                QString error;
                char buffer[4096];
                detail::FrameRead read = detail::FrameRead::NeedMore;
                for (ssize_t n; read == detail::FrameRead::NeedMore && (n = ::read(fd, buffer, sizeof buffer)) > 0;) {
                    answer.append(buffer, n); // up to the first whole frame
                    read = detail::readInspectionFrame(&answer, 1 << 20, &message, &error);
                }
                if (read != detail::FrameRead::Message)
                    ::_exit(23);
                const bool refused = message.value(QLatin1String("op")).toString() == u"error"
                                     && message.value(QLatin1String("error")).toString().startsWith(u"refused");
                ::_exit(refused ? 0 : 24);
            }
            int status = 0;
            ::waitpid(child, &status, 0);
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        };
        const QByteArray runtime = QFile::encodeName(m_runtime.path());
        QCOMPARE(::chmod(runtime.constData(), 0755), 0);
        QCOMPARE(otherUserConnects(), 20); // EACCES: the directory
        QCOMPARE(::chmod(dir.constData(), 0755), 0);
        QCOMPARE(::chmod(path.constData(), 0777), 0);
        const int opened = otherUserConnects();
        ::chmod(path.constData(), 0600);
        ::chmod(dir.constData(), 0700);
        ::chmod(runtime.constData(), 0700);
        QCOMPARE(opened, 0); // connected, and refused by the server
        // The owner still gets in.
        QCOMPARE(attach({QStringLiteral("--list")}).exitCode, 0);
    }

    void twentyClientsAtOnce()
    {
        std::vector<std::unique_ptr<Client>> clients;
        for (int i = 0; i < 20; ++i) {
            clients.push_back(std::make_unique<Client>());
            QVERIFY(clients.back()->connectTo(m_socket));
            clients.back()->send(hello());
            clients.back()->send({{QStringLiteral("op"), QStringLiteral("snapshot")}, {QStringLiteral("id"), 2}});
        }
        for (auto &c : clients) {
            const std::optional<QCborMap> snapshot = c->nextOf(QStringLiteral("snapshot"));
            QVERIFY(snapshot);
            QCOMPARE(snapshot->value(QLatin1String("namespaces")).toArray().size(), 2);
        }
        Client last;
        QVERIFY(last.connectTo(m_socket));
        last.send({{QStringLiteral("op"), QStringLiteral("snapshot")}, {QStringLiteral("id"), 1}});
        const std::optional<QCborMap> snapshot = last.nextOf(QStringLiteral("snapshot"));
        QVERIFY(snapshot);
        QCOMPARE(snapshot->value(QLatin1String("clients")).toArray().size(), 21);
    }

    void clientThatNeverReadsStaysBounded()
    {
        // A client watches at 100 Hz and never reads, while the application's workers print
        // as fast as they can: what waits for it in the application stays under the bound,
        // and once it reads, it gets a fresh snapshot in place of what it missed.
        Client stuck;
        QVERIFY(stuck.connectTo(m_socket));
        stuck.socket().setReadBufferSize(1); // Qt reads no more than this for us
        stuck.send({{QStringLiteral("op"), QStringLiteral("watch")}, {QStringLiteral("id"), 1}, {QStringLiteral("intervalMs"), 10}});
        Client observer;
        QVERIFY(observer.connectTo(m_socket));
        qint64 bound = 0;
        qint64 mostQueued = 0;
        auto queued = [&]() -> qint64 {
            const Queues q = queues(observer);
            bound = q.bound;
            return q.most;
        };
        // Until the client is over the bound, then five rounds more: it must stay near it.
        for (int round = 0, over = 0; round < 60 && over < 5; ++round, over += mostQueued > bound) {
            const Run r = attach({QStringLiteral("--namespace"), QStringLiteral("alpha"), QStringLiteral("--submit"),
                                  QStringLiteral("app.shout:20000"), QStringLiteral("--count"), QStringLiteral("4")});
            QCOMPARE(r.exitCode, 0);
            const qint64 now = queued();
            QVERIFY(now >= 0);
            mostQueued = std::max(mostQueued, now);
            // Below the bound plus one delta (at most 1,000 log lines and 500 task records
            // per pool), whatever the client does.
            QVERIFY2(now <= bound + 2 * 1024 * 1024, qPrintable(QString::number(now)));
        }
        QVERIFY2(mostQueued > bound, qPrintable(QStringLiteral("%1 of %2").arg(mostQueued).arg(bound)));
        stuck.socket().setReadBufferSize(0);
        QVERIFY(stuck.nextOf(QStringLiteral("delta")));
        QVERIFY(stuck.nextOf(QStringLiteral("snapshot")));
    }

    void requestsOfAClientThatNeverReadsWait()
    {
        // Requests, too, are answers waiting to be read: a client that asks for snapshot after
        // snapshot and reads none is not heard beyond the bound, and is answered in full once
        // it reads.
        Client greedy;
        QVERIFY(greedy.connectTo(m_socket));
        greedy.socket().setReadBufferSize(1);
        constexpr int requests = 10000;
        QByteArray all;
        for (int i = 1; i <= requests; ++i)
            all += detail::encodeInspectionFrame({{QStringLiteral("op"), QStringLiteral("snapshot")},
                                                  {QStringLiteral("id"), i}});
        greedy.sendRaw(all);
        Client observer;
        QVERIFY(observer.connectTo(m_socket));
        qint64 bound = 0, snapshotBytes = 0;
        auto queued = [&]() -> qint64 {
            const Queues q = queues(observer);
            bound = q.bound;
            snapshotBytes = q.snapshotBytes;
            return q.most;
        };
        // Over the bound first (the server answers until then), then it stays there: five
        // looks, a tenth of a second apart, while the rest of the requests wait unread.
        QTRY_VERIFY(queued() > bound);
        QVERIFY2(qint64(requests) * snapshotBytes > 2 * bound, "the requests must ask for more than the bound");
        for (int look = 0; look < 5; ++look) {
            QTest::qWait(100);
            const qint64 now = queued();
            QVERIFY2(now > bound && now <= bound + 2 * snapshotBytes,
                     qPrintable(QStringLiteral("%1 queued, bound %2").arg(now).arg(bound)));
        }
        greedy.socket().setReadBufferSize(0);
        int answered = 0;
        while (answered < requests) {
            const std::optional<QCborMap> answer = greedy.nextOf(QStringLiteral("snapshot"));
            QVERIFY2(answer, qPrintable(QString::number(answered)));
            QCOMPARE(answer->value(QLatin1String("id")).toInteger(), qint64(++answered));
        }
    }

    void malformedFramesGetAnError()
    {
        Client unknown;
        QVERIFY(unknown.connectTo(m_socket));
        unknown.send({{QStringLiteral("op"), QStringLiteral("explode")}, {QStringLiteral("id"), 5}});
        std::optional<QCborMap> answer = unknown.next();
        QVERIFY(answer);
        QCOMPARE(answer->value(QLatin1String("op")).toString(), QStringLiteral("error"));
        QCOMPARE(answer->value(QLatin1String("id")).toInteger(), 5);
        QCOMPARE(answer->value(QLatin1String("error")).toString(), QStringLiteral("unknown operation 'explode'"));
        unknown.send(hello()); // the connection stays
        answer = unknown.next();
        QVERIFY(answer);
        QCOMPARE(answer->value(QLatin1String("op")).toString(), QStringLiteral("hello"));

        Client oversized;
        QVERIFY(oversized.connectTo(m_socket));
        QByteArray length(4, Qt::Uninitialized);
        qToBigEndian(quint32(0x7fffffff), length.data());
        oversized.sendRaw(length);
        answer = oversized.next();
        QVERIFY(answer);
        QVERIFY2(answer->value(QLatin1String("error")).toString().contains(QStringLiteral("larger than the 65536 allowed")),
                 qPrintable(answer->value(QLatin1String("error")).toString()));
        QVERIFY(oversized.closed());

        Client garbage;
        QVERIFY(garbage.connectTo(m_socket));
        QByteArray frame(4, Qt::Uninitialized);
        qToBigEndian(quint32(3), frame.data());
        garbage.sendRaw(frame + QByteArray("\xff\xff\xff", 3));
        answer = garbage.next();
        QVERIFY(answer);
        QVERIFY2(answer->value(QLatin1String("error")).toString().startsWith(QStringLiteral("a frame is not CBOR")),
                 qPrintable(answer->value(QLatin1String("error")).toString()));
        QVERIFY(garbage.closed());

        QCOMPARE(attach({QStringLiteral("--list")}).exitCode, 0); // the server serves on
    }

    void applicationExitingMidSession()
    {
        Client watching;
        QVERIFY(watching.connectTo(m_socket));
        watching.send({{QStringLiteral("op"), QStringLiteral("watch")}, {QStringLiteral("id"), 1}, {QStringLiteral("intervalMs"), 50}});
        QVERIFY(watching.nextOf(QStringLiteral("snapshot")));
        stopApp();
        QVERIFY(watching.closed());
        QVERIFY(!QFileInfo::exists(m_socket)); // removed as the application exited
        const Run r = attach({QStringLiteral("--list")});
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains("has no procpool inspection socket"), r.err.constData());
    }

    void programRunsAnotherProgramsOwnTasks()
    {
        // What the other program links, asked of the program itself.
        Run r = headless({QStringLiteral("--list-tasks"), QStringLiteral("--program"), QStringLiteral(ATTACH_APP),
                          QStringLiteral("--json")});
        QCOMPARE(r.exitCode, 0);
        QMap<QString, QJsonObject> tasks;
        for (const QJsonObject &t : events(r.out, QStringLiteral("task")))
            tasks.insert(t.value(QStringLiteral("task")).toString(), t);
        QCOMPARE(tasks.keys(), QStringList({QStringLiteral("app.fail"), QStringLiteral("app.join"), QStringLiteral("app.nap"),
                                            QStringLiteral("app.shout"), QStringLiteral("app.square"), QStringLiteral("app.sum")}));
        QCOMPARE(tasks.value(QStringLiteral("app.square")).value(QStringLiteral("description")).toString(),
                 QStringLiteral("Squares an integer"));
        QCOMPARE(tasks.value(QStringLiteral("app.square")).value(QStringLiteral("parameters")).toArray(),
                 QJsonArray({QJsonObject{{QStringLiteral("name"), QStringLiteral("arg1")}, {QStringLiteral("type"), QStringLiteral("int")}}}));

        // A pool of this run whose workers are that program runs its tasks, with typed arguments.
        r = headless({QStringLiteral("--namespace"), QStringLiteral("other"), QStringLiteral("--program"), QStringLiteral(ATTACH_APP),
                      QStringLiteral("--workers"), QStringLiteral("2"), QStringLiteral("--submit"), QStringLiteral("app.square:9"),
                      QStringLiteral("--count"), QStringLiteral("2"), QStringLiteral("--submit"), QStringLiteral("app.sum:[40]"),
                      QStringLiteral("--submit"), QStringLiteral("app.join:x,y"), QStringLiteral("--json")});
        QCOMPARE(r.exitCode, 0);
        QStringList results;
        for (const QJsonObject &o : events(r.out, QStringLiteral("result"))) {
            QCOMPARE(o.value(QStringLiteral("state")).toString(), QStringLiteral("ok"));
            results.append(o.value(QStringLiteral("task")).toString() + u'='
                           + o.value(QStringLiteral("result")).toVariant().toString());
        }
        results.sort();
        QCOMPARE(results, QStringList({QStringLiteral("app.join=x+y"), QStringLiteral("app.square=81"),
                                       QStringLiteral("app.square=81"), QStringLiteral("app.sum=40")}));

        // What does not fit says so, and nothing runs.
        r = headless({QStringLiteral("--namespace"), QStringLiteral("other"), QStringLiteral("--program"), QStringLiteral(ATTACH_APP),
                      QStringLiteral("--submit"), QStringLiteral("sleep:10")});
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains("the program has no task 'sleep'; its tasks: app.fail, app.join, app.nap"), r.err.constData());
        r = headless({QStringLiteral("--namespace"), QStringLiteral("other"), QStringLiteral("--program"), QStringLiteral(ATTACH_APP),
                      QStringLiteral("--submit"), QStringLiteral("app.square:nine")});
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains("'nine'"), r.err.constData());
        r = headless({QStringLiteral("--program"), QStringLiteral("/bin/true"), QStringLiteral("--submit"), QStringLiteral("x")});
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains("procpool::workerMain()"), r.err.constData());
        r = headless({QStringLiteral("--program"), QStringLiteral("/nonexistent/app"), QStringLiteral("--list-tasks")});
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains("no such file"), r.err.constData());
    }

    void watchFollowsTasksAndOutputUntilTheApplicationExits()
    {
        QProcess watch;
        QByteArray out;
        const auto until = startWatch(watch, out);
        QVERIFY(watch.waitForStarted(hangGuardMs));
        QVERIFY2(until("\"event\":\"watching\""), out.constData());
        QCOMPARE(events(out, QStringLiteral("watching")).value(0).value(QStringLiteral("namespaces")).toArray(),
                 QJsonArray({QStringLiteral("alpha"), QStringLiteral("beta")}));

        // A task run by another client shows as it changes, with what its worker printed.
        QCOMPARE(attach({QStringLiteral("--namespace"), QStringLiteral("alpha"), QStringLiteral("--submit"),
                         QStringLiteral("app.shout:2")}).exitCode, 0);
        QVERIFY2(until("\"state\":\"finished\""), out.constData());
        QVERIFY2(until("shout 1"), out.constData());
        bool finished = false;
        for (const QJsonObject &t : events(out, QStringLiteral("task")))
            finished |= t.value(QStringLiteral("task")).toString() == u"app.shout"
                        && t.value(QStringLiteral("state")).toString() == u"finished"
                        && t.value(QStringLiteral("namespace")).toString() == u"alpha"
                        && t.value(QStringLiteral("worker")).toInteger() > 0;
        QVERIFY2(finished, out.constData());
        QStringList lines;
        for (const QJsonObject &l : events(out, QStringLiteral("log")))
            lines.append(l.value(QStringLiteral("text")).toString());
        QVERIFY2(lines.contains(QStringLiteral("shout 0")) && lines.contains(QStringLiteral("shout 1")),
                 out.constData());

        // The application exits: the watch says so and ends, successfully.
        stopApp();
        QVERIFY(watch.waitForFinished(hangGuardMs));
        QCOMPARE(watch.exitStatus(), QProcess::NormalExit);
        QCOMPARE(watch.exitCode(), 0);
        QVERIFY2(watch.readAllStandardError().contains("no longer watching"), out.constData());
    }

    void modeChangesAtRunTime()
    {
        // In this process: a manager opens the socket, Off closes it (file and all), and
        // ReadOnly opens it again for reading only.
        setInspectionMode(InspectionMode::Full);
        QVERIFY(getOrCreateProcessManager(QStringLiteral("ta_self")));
        const QString path = inspectionListeningPath();
        QCOMPARE(path, inspectionSocketPath(QCoreApplication::applicationPid()));
        QVERIFY(QFileInfo::exists(path));
        setInspectionMode(InspectionMode::Off);
        QVERIFY(inspectionListeningPath().isEmpty());
        QVERIFY(!QFileInfo::exists(path));
        setInspectionMode(InspectionMode::ReadOnly);
        QCOMPARE(inspectionListeningPath(), path);
        Client client;
        QVERIFY(client.connectTo(path));
        client.send(hello());
        const std::optional<QCborMap> answer = client.nextOf(QStringLiteral("hello"));
        QVERIFY(answer);
        QCOMPARE(answer->value(QLatin1String("process")).toMap().value(QLatin1String("mode")).toString(),
                 QStringLiteral("read-only"));
        client.send({{QStringLiteral("op"), QStringLiteral("stop")}, {QStringLiteral("id"), 9},
                     {QStringLiteral("namespace"), QStringLiteral("ta_self")}});
        const std::optional<QCborMap> refused = client.nextOf(QStringLiteral("error"));
        QVERIFY(refused);
        QVERIFY(refused->value(QLatin1String("error")).toString().startsWith(QStringLiteral("refused")));
        QVERIFY(removeProcessManager(QStringLiteral("ta_self")));
        setInspectionMode(InspectionMode::Off);
    }

    void socketOfAKilledApplicationIsCleanedUp()
    {
        const qint64 pid = m_pid;
        ::kill(pid_t(pid), SIGKILL);
        QVERIFY(m_app->waitForFinished(hangGuardMs));
        QVERIFY(QFileInfo::exists(m_socket)); // nobody removed it
        const Run r = headless({QStringLiteral("--ps"), QStringLiteral("--json")});
        QCOMPARE(r.exitCode, 0);
        QCOMPARE(events(r.out, QStringLiteral("process")).size(), 0);
        QVERIFY2(r.err.contains(QByteArray("removed the socket of process ") + QByteArray::number(pid)), r.err.constData());
        QVERIFY(!QFileInfo::exists(m_socket));
        m_app.reset();
    }
};

PROCPOOL_TEST_MAIN(TestAttach)
#include "tst_attach.moc"
