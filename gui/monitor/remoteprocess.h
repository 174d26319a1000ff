// procpool monitor — RemoteProcess: another application's pools, through its inspection socket
// (docs/inspection.md). It says hello, watches at the monitor's rate and keeps what the last
// snapshot or delta said, in the engine's own types; the EngineWatcher drains it at each poll.
// Nothing blocks: the socket is read from the event loop, and a process that stops answering
// or exits only changes this object's status.
#pragma once

#include <procpool/processpoolmanager.h>

#include <QtCore/QCborMap>
#include <QtCore/QDateTime>
#include <QtCore/QHash>
#include <QtCore/QObject>

#include <functional>

class QLocalSocket;

namespace procpool::monitor {

//! One pool manager of a remote process, as its last snapshot or delta described it.
struct RemoteNamespace
{
    QString id;
    qint64 creatorPid = 0;
    PoolState state = PoolState::Stopped;
    PoolOptions options;
    bool hasPool = false;
    PoolStats stats;
    QList<WorkerInfo> workers;
};

//! A task the remote process links, from its catalogue.
struct RemoteTask
{
    QString name;
    QString description;
    QStringList argumentTypes; //!< QMetaType names
    QString resultType;        //!< a QMetaType name, or "void"
};

//! What arrived since the last drain.
struct RemoteChanges
{
    QList<QPair<QString, TaskRecord>> records; //!< namespace, record
    struct Line
    {
        QString namespaceId;
        qint64 pid = 0;
        QString text;
        QDateTime at;
    };
    QList<Line> log;
};

//! Whether process \a pid still runs (as any user).
bool processRuns(qint64 pid);

class RemoteProcess : public QObject
{
    Q_OBJECT
public:
    enum class Status { Connecting, Attached, Exited, Failed };

    //! Connects to process \a pid at once; deltas every \a intervalMs.
    RemoteProcess(qint64 pid, int intervalMs, QObject *parent = nullptr);
    ~RemoteProcess() override;

    qint64 pid() const { return m_pid; }
    Status status() const { return m_status; }
    //! Why the connection failed or ended; empty while attached.
    QString statusText() const { return m_statusText; }
    //! From the hello: the program's path and arguments, and when it started.
    QString program() const { return m_program; }
    QStringList arguments() const { return m_arguments; }
    QDateTime started() const { return m_started; }
    bool readOnly() const { return m_readOnly; }

    const QList<RemoteNamespace> &namespaces() const { return m_namespaces; }
    const RemoteNamespace *findNamespace(const QString &id) const;
    const QList<RemoteTask> &catalogue() const { return m_catalogue; }
    const RemoteTask *findTask(const QString &name) const;
    //! Takes the records and log lines that arrived since the last call.
    RemoteChanges takeChanges();

    //! Sends \a request (an `op` and its fields, docs/inspection.md); \a answer gets the reply
    //! (`done`, `result` or `error`), or an `error` made here when the connection ends first.
    using Answer = std::function<void(const QCborMap &reply)>;
    void request(QCborMap request, Answer answer = {});

    //! The text of an `error` reply, or empty for any other reply.
    static QString errorOf(const QCborMap &reply);
    //! The `options` of a namespace in a snapshot: a limit left out is not set.
    static PoolOptions decodeOptions(const QCborMap &options);

Q_SIGNALS:
    //! The status changed (attached, exited, failed).
    void statusChanged();
    //! A snapshot or delta arrived.
    void updated();

private:
    void onConnected();
    void onReadable();
    void onGone(const QString &why);
    void handle(const QCborMap &message);
    void takeState(const QCborMap &message, bool snapshot);
    void setStatus(Status status, const QString &text);

    const qint64 m_pid;
    const int m_intervalMs;
    QLocalSocket *m_socket;
    QByteArray m_input;
    Status m_status = Status::Connecting;
    QString m_statusText;
    QString m_program;
    QStringList m_arguments;
    QDateTime m_started;
    bool m_readOnly = false;
    QList<RemoteNamespace> m_namespaces;
    QList<RemoteTask> m_catalogue;
    RemoteChanges m_changes;
    QHash<qint64, Answer> m_waiting;
    qint64 m_lastId = 0;
    qint64 m_watchId = 0;
};

} // namespace procpool::monitor
