// procpool_transport_bench — the inspection socket's transport against Qt Remote Objects, on the
// case the choice rests on: an application whose pool keeps 20,000 task records, watched at
// 10 Hz by a monitor in another process.
//
//   procpool_transport_bench [RECORDS [CHANGED [SECONDS [ROUNDS]]]]     (20000 500 10 3)
//
// An "application" process keeps RECORDS records shaped as the protocol's task records and
// changes CHANGED of them ten times a second (the inspection server sends at most 500 records
// of a pool in one delta). A "monitor" process receives a snapshot of all of them, then a delta
// of the changed ones at each tick, and decodes everything, as the monitor does. Transports, in
// turns, ROUNDS times each:
//   none      the application changes its records and nobody watches (the baseline)
//   socket    procpool's way: CBOR frames (encodeInspectionFrame) on a Unix domain socket
//   ro-cbor   the same CBOR bytes through Qt Remote Objects (a source's property holds the
//             snapshot, a signal carries each delta), over its local: transport
//   ro-typed  Qt Remote Objects the way it is meant to be used: the records as QVariantMaps
//             in a QVariantList, serialized by Qt Remote Objects itself
// Printed per transport: the application's CPU time per second of watching (best and median of
// the rounds, and above the baseline), the bytes per second it wrote (/proc/self/io), the
// delay from the application's send to the monitor's decoded delta (median and worst), and the
// time from the monitor's connecting to a decoded snapshot. Then the shared libraries that
// linking each transport maps into every process of an application, workers included.
#include <procpool/detail/inspectionframe.h>

#include <QtCore/QCborArray>
#include <QtCore/QCborMap>
#include <QtCore/QCborValue>
#include <QtCore/QCoreApplication>
#include <QtCore/QFile>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QProcess>
#include <QtCore/QSocketNotifier>
#include <QtCore/QTemporaryDir>
#include <QtCore/QTimer>
#include <QtCore/QVariantList>
#include <QtRemoteObjects/QRemoteObjectDynamicReplica>
#include <QtRemoteObjects/QRemoteObjectHost>
#include <QtRemoteObjects/QRemoteObjectNode>

#include <algorithm>
#include <csignal>
#include <map>
#include <memory>
#include <cstdio>
#include <ctime>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

namespace {

qint64 nowNs()
{
    timespec t{};
    ::clock_gettime(CLOCK_MONOTONIC, &t);
    return qint64(t.tv_sec) * 1000000000 + t.tv_nsec;
}

double cpuMs()
{
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

//! Bytes this process has written through write(2) so far (/proc/self/io, wchar; send(2) is not
//! counted there, so the socket transport writes with write(2)):
//! what a transport put on the wire, whatever its API shows.
qint64 bytesWritten()
{
    QFile io(QStringLiteral("/proc/self/io"));
    if (!io.open(QIODevice::ReadOnly))
        return 0;
    for (const QByteArray &line : io.readAll().split('\n'))
        if (line.startsWith("wchar:"))
            return line.mid(6).trimmed().toLongLong();
    return 0;
}

double median(std::vector<double> v)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// ---- the application's records ----------------------------------------------------------------

const char *const states[] = {"queued", "running", "finished", "failed"};

//! The application's task records, as the protocol's task records.
struct Records
{
    std::vector<QCborMap> records;
    qint64 serial = 0;
    qsizetype next = 0; //!< the next record to change

    explicit Records(int count)
    {
        records.reserve(size_t(count));
        for (int i = 0; i < count; ++i)
            records.push_back(record(i, 2));
    }

    QCborMap record(int id, int state)
    {
        const qint64 ms = 1765000000000 + id;
        return QCborMap{{QStringLiteral("id"), id},
                        {QStringLiteral("serial"), ++serial},
                        {QStringLiteral("task"), QStringLiteral("render.component")},
                        {QStringLiteral("taskType"), QStringLiteral("component_render")},
                        {QStringLiteral("state"), QLatin1String(states[state])},
                        {QStringLiteral("workerPid"), 40000 + id % 8},
                        {QStringLiteral("submittedMs"), ms},
                        {QStringLiteral("startedMs"), ms + 3},
                        {QStringLiteral("finishedMs"), state >= 2 ? ms + 40 : 0},
                        {QStringLiteral("progress"), id % 100},
                        {QStringLiteral("progressMaximum"), 100},
                        {QStringLiteral("progressText"), QStringLiteral("step %1 of 100").arg(id % 100)},
                        {QStringLiteral("error"), state == 3 ? QStringLiteral("worker 41234 running task 'render.component' was killed by SIGKILL") : QString()}};
    }

    //! Changes the next \a count records, as a pool's history changes; returns them.
    QCborArray change(int count)
    {
        QCborArray changed;
        for (int i = 0; i < count; ++i) {
            const int id = int(next);
            records[size_t(id)] = record(id, int(serial % 4));
            changed.append(records[size_t(id)]);
            next = (next + 1) % qsizetype(records.size());
        }
        return changed;
    }

    QCborArray all() const
    {
        QCborArray out;
        for (const QCborMap &r : records)
            out.append(r);
        return out;
    }
};

QByteArray snapshotFrame(const Records &records)
{
    return procpool::detail::encodeInspectionFrame(
        {{QStringLiteral("op"), QStringLiteral("snapshot")}, {QStringLiteral("tasks"), records.all()}});
}

//! The message of one whole frame (a Qt Remote Objects property or signal carries one).
QCborMap decodeFrame(QByteArray frame)
{
    QCborMap m;
    QString error;
    procpool::detail::readInspectionFrame(&frame, 1 << 30, &m, &error);
    return m;
}

QVariantList typed(const QCborArray &records)
{
    QVariantList out;
    out.reserve(records.size());
    for (const QCborValue &r : records)
        out.append(r.toMap().toVariantMap());
    return out;
}

// ---- Qt Remote Objects' source ----------------------------------------------------------------

class Source : public QObject
{
    Q_OBJECT
    Q_PROPERTY(QByteArray snapshot READ snapshot NOTIFY snapshotChanged)
    Q_PROPERTY(QVariantList typedSnapshot READ typedSnapshot NOTIFY typedSnapshotChanged)
public:
    QByteArray snapshot() const { return m_snapshot; }
    QVariantList typedSnapshot() const { return m_typedSnapshot; }
    QByteArray m_snapshot;
    QVariantList m_typedSnapshot;
Q_SIGNALS:
    void snapshotChanged();
    void typedSnapshotChanged();
    void delta(const QByteArray &frame);
    void typedDelta(const QVariantList &records, qint64 sentNs);
    void finished();
};

// ---- the application -------------------------------------------------------------------------

//! Serves \a transport at \a address: prints "listening", waits for "go" on stdin, changes and sends
//! for \a seconds at 10 Hz, prints its CPU time, ends.
int serve(const QString &transport, int count, int changed, int seconds, const QString &address)
{
    std::signal(SIGPIPE, SIG_IGN); // a monitor that went away is seen as a failed write
    Records records(count);
    const bool ro = transport.startsWith(u"ro-");
    const bool typedRo = transport == u"ro-typed";
    int fd = -1;
    int listener = -1;
    QRemoteObjectHost host;
    Source source;
    if (transport == u"socket") {
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "%s", qPrintable(address));
        listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (::bind(listener, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 || ::listen(listener, 1) != 0) {
            std::perror("bind");
            return 1;
        }
    } else if (ro) {
        if (typedRo)
            source.m_typedSnapshot = typed(records.all());
        else
            source.m_snapshot = snapshotFrame(records);
        if (!host.setHostUrl(QUrl(QStringLiteral("local:") + address)) || !host.enableRemoting(&source, QStringLiteral("bench"))) {
            std::fprintf(stderr, "transport_bench: cannot host %s\n", qPrintable(address));
            return 1;
        }
    }
    std::printf("listening\n");
    std::fflush(stdout);
    if (listener >= 0) {
        fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        const QByteArray snapshot = snapshotFrame(records);
        if (::write(fd, snapshot.constData(), size_t(snapshot.size())) != snapshot.size())
            return 1;
    }
    // "go" once the monitor has its snapshot: from then on only the ticks are measured.
    QSocketNotifier input(STDIN_FILENO, QSocketNotifier::Read);
    QTimer tick;
    int ticks = 0;
    double cpuStart = 0;
    qint64 bytesStart = 0;
    QObject::connect(&input, &QSocketNotifier::activated, &input, [&] {
        char line[16];
        if (::read(STDIN_FILENO, line, sizeof line) <= 0 || tick.isActive())
            return;
        cpuStart = cpuMs();
        bytesStart = bytesWritten();
        tick.start(100);
    });
    QObject::connect(&tick, &QTimer::timeout, &tick, [&] {
        const QCborArray delta = records.change(changed);
        const qint64 sent = nowNs();
        if (transport == u"socket" || transport == u"ro-cbor") {
            const QByteArray frame = procpool::detail::encodeInspectionFrame(
                {{QStringLiteral("op"), QStringLiteral("delta")}, {QStringLiteral("sentNs"), sent},
                 {QStringLiteral("tasks"), delta}});
            if (fd >= 0 && ::write(fd, frame.constData(), size_t(frame.size())) != frame.size())
                QCoreApplication::exit(1);
            if (ro)
                Q_EMIT source.delta(frame);
        } else if (typedRo) {
            Q_EMIT source.typedDelta(typed(delta), sent);
        }
        if (++ticks < seconds * 10)
            return;
        tick.stop();
        const double cpu = cpuMs() - cpuStart;
        const qint64 bytes = bytesWritten() - bytesStart;
        if (fd >= 0) {
            const QByteArray end = procpool::detail::encodeInspectionFrame({{QStringLiteral("op"), QStringLiteral("end")}});
            (void)::write(fd, end.constData(), size_t(end.size()));
        }
        if (ro)
            Q_EMIT source.finished();
        std::printf("{\"cpu_ms\": %.2f, \"bytes\": %lld, \"ticks\": %d}\n", cpu, static_cast<long long>(bytes), ticks);
        std::fflush(stdout);
        QTimer::singleShot(ro ? 1000 : 0, &tick, [] { QCoreApplication::quit(); }); // the replica's last delta
    });
    const int status = QCoreApplication::exec();
    if (fd >= 0)
        ::close(fd);
    if (listener >= 0)
        ::close(listener);
    return status;
}

// ---- the monitor -----------------------------------------------------------------------------

struct Received
{
    qint64 records = 0;
    int deltas = 0;
    std::vector<double> delayMs;
    double snapshotMs = 0;
    qint64 connectNs = 0;

    void snapshot(qsizetype recordCount)
    {
        snapshotMs = (nowNs() - connectNs) / 1e6;
        records += recordCount;
        std::printf("ready\n");
        std::fflush(stdout);
    }
    void delta(qsizetype recordCount, qint64 sentNs)
    {
        delayMs.push_back((nowNs() - sentNs) / 1e6);
        records += recordCount;
        ++deltas;
    }
    int report()
    {
        std::printf("{\"records\": %lld, \"deltas\": %d, \"delay_median_ms\": %.3f, "
                    "\"delay_max_ms\": %.3f, \"snapshot_ms\": %.2f}\n",
                    static_cast<long long>(records), deltas,
                    median(delayMs), delayMs.empty() ? 0.0 : *std::max_element(delayMs.begin(), delayMs.end()),
                    snapshotMs);
        std::fflush(stdout);
        return 0;
    }
};

//! Every record decoded into the values a monitor reads.
qsizetype decodeRecords(const QCborArray &records)
{
    qsizetype n = 0;
    for (const QCborValue &v : records) {
        const QCborMap m = v.toMap();
        n += m.value(QLatin1String("id")).toInteger() >= 0 && !m.value(QLatin1String("state")).toString().isEmpty();
    }
    return n;
}

qsizetype decodeTyped(const QVariantList &records)
{
    qsizetype n = 0;
    for (const QVariant &v : records) {
        const QVariantMap m = v.toMap();
        n += m.value(QStringLiteral("id")).toLongLong() >= 0 && !m.value(QStringLiteral("state")).toString().isEmpty();
    }
    return n;
}

//! The monitor's end of Qt Remote Objects: a dynamic replica's signals, connected by name.
class Receiver : public QObject
{
    Q_OBJECT
public:
    Received *got = nullptr;
public Q_SLOTS:
    void onDelta(const QByteArray &frame)
    {
        const QCborMap m = decodeFrame(frame);
        got->delta(decodeRecords(m.value(QLatin1String("tasks")).toArray()),
                   m.value(QLatin1String("sentNs")).toInteger());
    }
    void onTypedDelta(const QVariantList &records, qint64 sentNs) { got->delta(decodeTyped(records), sentNs); }
    void onFinished() { QCoreApplication::exit(got->report()); }
};

int watch(const QString &transport, const QString &address)
{
    Received got;
    got.connectNs = nowNs();
    if (transport == u"socket") {
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "%s", qPrintable(address));
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0)
            return 1;
        QByteArray input;
        std::vector<char> buffer(1 << 16);
        bool first = true;
        for (;;) {
            const ssize_t n = ::read(fd, buffer.data(), buffer.size());
            if (n <= 0)
                return 1;
            input.append(buffer.data(), n);
            for (;;) {
                QCborMap m;
                QString error;
                const auto r = procpool::detail::readInspectionFrame(&input, 1 << 30, &m, &error);
                if (r == procpool::detail::FrameRead::NeedMore)
                    break;
                if (r == procpool::detail::FrameRead::Error)
                    return 1;
                if (m.value(QLatin1String("op")).toString() == u"end")
                    return got.report();
                const qsizetype records = decodeRecords(m.value(QLatin1String("tasks")).toArray());
                if (first)
                    got.snapshot(records);
                else
                    got.delta(records, m.value(QLatin1String("sentNs")).toInteger());
                first = false;
            }
        }
    }
    QRemoteObjectNode node;
    node.connectToNode(QUrl(QStringLiteral("local:") + address));
    std::unique_ptr<QRemoteObjectDynamicReplica> replica(node.acquireDynamic(QStringLiteral("bench")));
    Receiver receiver;
    receiver.got = &got;
    const bool typedRo = transport == u"ro-typed";
    QObject::connect(replica.get(), &QRemoteObjectReplica::initialized, &receiver, [&] {
        if (typedRo) {
            got.snapshot(decodeTyped(replica->property("typedSnapshot").toList()));
            QObject::connect(replica.get(), SIGNAL(typedDelta(QVariantList,qint64)), &receiver,
                             SLOT(onTypedDelta(QVariantList,qint64)));
        } else {
            const QCborMap m = decodeFrame(replica->property("snapshot").toByteArray());
            got.snapshot(decodeRecords(m.value(QLatin1String("tasks")).toArray()));
            QObject::connect(replica.get(), SIGNAL(delta(QByteArray)), &receiver, SLOT(onDelta(QByteArray)));
        }
        QObject::connect(replica.get(), SIGNAL(finished()), &receiver, SLOT(onFinished()));
    });
    return QCoreApplication::exec();
}

// ---- the comparison ---------------------------------------------------------------------------

QJsonObject lastJson(QProcess &p)
{
    const QList<QByteArray> lines = p.readAllStandardOutput().trimmed().split('\n');
    return QJsonDocument::fromJson(lines.constLast()).object();
}

//! The lines of QProcess \a p until one equals \a line; false if it ends first.
bool waitForLine(QProcess &p, const QByteArray &line)
{
    while (p.waitForReadyRead(60000))
        while (p.canReadLine())
            if (p.readLine().trimmed() == line)
                return true;
    return false;
}

struct Round
{
    double cpuMsPerS = 0, bytesPerS = 0, delayMedian = 0, delayMax = 0, snapshotMs = 0;
    bool complete = false;
};

Round runRound(const QString &self, const QString &transport, int records, int changed, int seconds,
               const QString &address)
{
    Round r;
    QProcess server;
    server.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    server.start(self, {QStringLiteral("serve"), transport, QString::number(records), QString::number(changed),
                        QString::number(seconds), address});
    if (!waitForLine(server, "listening"))
        return r;
    QProcess monitor;
    monitor.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    if (transport != u"none") {
        monitor.start(self, {QStringLiteral("watch"), transport, address});
        if (!waitForLine(monitor, "ready"))
            return r;
    }
    server.write("go\n");
    server.waitForFinished(seconds * 1000 + 120000);
    const QJsonObject s = lastJson(server);
    r.cpuMsPerS = s.value(QStringLiteral("cpu_ms")).toDouble() / seconds;
    r.bytesPerS = s.value(QStringLiteral("bytes")).toDouble() / seconds;
    if (transport == u"none")
        return r.complete = true, r;
    monitor.waitForFinished(120000);
    const QJsonObject m = lastJson(monitor);
    r.delayMedian = m.value(QStringLiteral("delay_median_ms")).toDouble();
    r.delayMax = m.value(QStringLiteral("delay_max_ms")).toDouble();
    r.snapshotMs = m.value(QStringLiteral("snapshot_ms")).toDouble();
    const qint64 expected = qint64(records) + qint64(changed) * seconds * 10;
    r.complete = m.value(QStringLiteral("records")).toInteger() == expected;
    if (!r.complete)
        std::fprintf(stderr, "transport_bench: %s: the monitor decoded %lld records of %lld\n",
                     qPrintable(transport), static_cast<long long>(m.value(QStringLiteral("records")).toInteger()),
                     static_cast<long long>(expected));
    return r;
}

//! How many shared libraries a program linking \a library maps (ldd's closure, itself included).
int libraries(const QString &library)
{
    QProcess ldd;
    ldd.start(QStringLiteral("ldd"), {library});
    ldd.waitForFinished();
    return int(ldd.readAllStandardOutput().trimmed().split('\n').size()) + 1;
}

int compare(const QString &self, int records, int changed, int seconds, int rounds)
{
    QTemporaryDir dir;
    const QStringList transports{QStringLiteral("none"), QStringLiteral("socket"), QStringLiteral("ro-cbor"),
                                 QStringLiteral("ro-typed")};
    std::map<QString, std::vector<Round>> results;
    int n = 0;
    for (int round = 0; round < rounds; ++round) {
        for (const QString &t : transports) {
            const QString address = dir.filePath(QStringLiteral("s%1").arg(++n));
            const Round r = runRound(self, t, records, changed, seconds, address);
            if (!r.complete) {
                std::fprintf(stderr, "transport_bench: %s round %d did not complete\n", qPrintable(t), round + 1);
                return 1;
            }
            results[t].push_back(r);
        }
    }
    auto column = [&](const QString &t, double Round::*field, bool smaller) {
        std::vector<double> v;
        for (const Round &r : results[t])
            v.push_back(r.*field);
        const double best = smaller ? *std::min_element(v.begin(), v.end()) : *std::max_element(v.begin(), v.end());
        return std::pair{best, median(v)};
    };
    const auto [baseBest, baseMedian] = column(QStringLiteral("none"), &Round::cpuMsPerS, true);
    std::printf("%d records, %d changed per delta, 10 Hz for %d s, %d rounds (best / median)\n\n",
                records, changed, seconds, rounds);
    std::printf("%-9s %22s %18s %14s %18s %14s\n", "transport", "app CPU ms/s", "above none", "written MiB/s",
                "delay ms (max)", "snapshot ms");
    for (const QString &t : transports) {
        const auto [cpu, cpuMedian] = column(t, &Round::cpuMsPerS, true);
        const auto [snap, snapMedian] = column(t, &Round::snapshotMs, true);
        const double bytes = column(t, &Round::bytesPerS, true).first;
        const double delay = column(t, &Round::delayMedian, true).first;   // the best round's median
        const double worst = column(t, &Round::delayMax, true).second;     // the median round's worst
        if (t == u"none") {
            std::printf("%-9s %10.1f / %9.1f\n", qPrintable(t), cpu, cpuMedian);
            continue;
        }
        std::printf("%-9s %10.1f / %9.1f %8.1f / %7.1f %14.2f %8.2f (%6.1f) %6.0f / %5.0f\n", qPrintable(t), cpu,
                    cpuMedian, cpu - baseBest, cpuMedian - baseMedian, bytes / (1024.0 * 1024.0), delay,
                    worst, snap, snapMedian);
    }
    const QString core = QStringLiteral("/usr/lib/x86_64-linux-gnu/libQt6Core.so.6");
    const QString ro = QStringLiteral("/usr/lib/x86_64-linux-gnu/libQt6RemoteObjects.so.6");
    std::printf("\nshared libraries mapped by a process linking: Qt Core %d, Qt Remote Objects %d\n",
                libraries(core), libraries(ro));
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    if (args.value(1) == u"serve")
        return serve(args.value(2), args.value(3).toInt(), args.value(4).toInt(), args.value(5).toInt(), args.value(6));
    if (args.value(1) == u"watch")
        return watch(args.value(2), args.value(3));
    const int records = args.value(1, QStringLiteral("20000")).toInt();
    const int changed = args.value(2, QStringLiteral("500")).toInt();
    const int seconds = args.value(3, QStringLiteral("10")).toInt();
    const int rounds = args.value(4, QStringLiteral("3")).toInt();
    if (records <= 0 || changed <= 0 || changed > records || seconds <= 0 || rounds <= 0) {
        std::fprintf(stderr, "usage: procpool_transport_bench [RECORDS [CHANGED [SECONDS [ROUNDS]]]]\n");
        return 2;
    }
    return compare(app.applicationFilePath(), records, changed, seconds, rounds);
}

#include "transport_bench.moc"
