// procpool bench — the engine's side of `make bench`: one workload per run, one JSON object
// on stdout. The executable is also its own worker (workerMain() first).
//
//   procpool_bench submit TASKS WORKERS       TASKS trivial tasks, one future each
//   procpool_bench submit-watched TASKS WORKERS
//                                             the same, while another process watches this
//                                             one's pools through its inspection socket at
//                                             10 Hz, as an attached monitor does
//   procpool_bench watch PID MS               that watcher: a delta every MS, all read
//   procpool_bench map ITEMS WORKERS CHUNK    ITEMS trivial items through one mapped future
//   procpool_bench latency ROUNDS             one task at a time on one worker
//   procpool_bench payload BYTES REPS [keep|keep-back-to-back]
//                                             echo of a byte array of BYTES; best and median of
//                                             REPS. With keep, every result is kept until the
//                                             end (each into fresh memory) and compared as it
//                                             comes; with keep-back-to-back, the next echo is
//                                             submitted at once and the results are compared
//                                             after the last
//   procpool_bench burst BYTES TASKS WORKERS  TASKS echoes of BYTES submitted at once (not in
//                                             the table: how the rings hold up under prefetch)
//   procpool_bench startup REPS               start() of a 2-worker pool to the first result
//                                             (PROCPOOL_BENCH_START=exec: StartMethod::Exec)
//   procpool_bench cpu TASKS WORKERS WORK     TASKS CPU-bound tasks of WORK iterations
//   procpool_bench rss                        resident size of an idle worker
//
// Environment (each read where the pool starts, outside the timed region):
//   PROCPOOL_BENCH_SSH_HOST=HOST    the workers of latency, submit and payload on HOST, reached
//                                   with ssh (PoolOptions::hosts: one host, all the slots; the
//                                   same program at the same path there). Every other workload
//                                   keeps its workers here
//   PROCPOOL_BENCH_SSH_CONFIG=FILE  with it: ssh -F FILE (tests/fixtures/sshd.sh's ssh_config)
//   PROCPOOL_BENCH_SHM=0            PoolOptions::sharedMemory off: large payloads through the
//                                   pipes instead of the shared-memory rings
//   PROCPOOL_BENCH_PREFETCH=N, PROCPOOL_BENCH_HISTORY=N, PROCPOOL_BENCH_TASK_OUTPUT=0,
//   PROCPOOL_BENCH_START=exec       other pool options (see startPool() and startup())
// Every pool has all its workers started (an ssh login takes a while) and warmed up before the
// clock starts, and is checked to have them where it was asked to (the ssh host, or here).
//
// bench/run_bench.py runs these next to bench/python_bench.py and bench_floor, and prints the
// comparison. Every workload compares every answer it got with the one it must be (outside the
// timed region), and fails with a message on stderr and exit status 1 on a wrong one.
#include <procpool/detail/inspectionframe.h>
#include <procpool/procpool.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFile>
#include <QtCore/QMutex>
#include <QtCore/QProcess>
#include <QtCore/QThread>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

namespace {

const procpool::Task<int(int)> increment{"bench.increment", [](int x) { return x + 1; }};
const procpool::Task<QByteArray(QByteArray)> echo{"bench.echo",
                                                  [](const QByteArray &b) { return b; }};
const procpool::Task<qint64(qint64)> spin{"bench.spin", [](qint64 n) {
    // A dependency chain the compiler cannot fold: CPU-bound, no memory traffic.
    quint64 x = quint64(n);
    for (qint64 i = 0; i < n; ++i)
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return qint64(x >> 1);
}};
const procpool::Task<qint64()> workerPid{"bench.pid", [] { return qint64(::getpid()); }};

//! What spin(n) returns, computed another way: n steps of the generator x -> a x + c (mod 2^64)
//! are the one affine map a^n x + c (a^(n-1) + ... + 1), built by squaring in log2(n) steps.
qint64 spinExpected(qint64 n)
{
    quint64 mul = 1, add = 0;                                         // n steps so far: none
    quint64 a = 6364136223846793005ULL, c = 1442695040888963407ULL; // 2^k steps
    for (quint64 k = quint64(n); k != 0; k >>= 1) {
        if (k & 1) {
            mul *= a;
            add = add * a + c;
        }
        c = c * a + c;
        a *= a;
    }
    return qint64((mul * quint64(n) + add) >> 1);
}

//! Says which answer of \a workload was wrong, and fails the run.
int wrong(const char *workload, qint64 index, const QString &got, const QString &expected)
{
    std::fprintf(stderr, "procpool_bench %s: answer %lld is %s, not %s\n", workload,
                 static_cast<long long>(index), qPrintable(got), qPrintable(expected));
    return 1;
}

double seconds(const QElapsedTimer &t)
{
    return double(t.nsecsElapsed()) / 1e9;
}

//! Where a workload's workers run: here, or on the ssh host PROCPOOL_BENCH_SSH_HOST names when
//! it is set (latency, submit and payload).
enum class Placement { Here, SshIfSet };

//! A pool of \a workers started workers, each warm, or null after saying on stderr why not.
procpool::ProcessPoolManager *startPool(int workers, Placement placement = Placement::Here)
{
    // PROCPOOL_BENCH_PREFETCH: try another PoolOptions::prefetch than the default (automatic).
    procpool::ProcessPoolManager *m = procpool::getOrCreateProcessManager(QStringLiteral("bench"), true);
    procpool::PoolOptions options;
    options.maxWorkers = workers;
    options.minWorkers = workers;
    if (qEnvironmentVariableIsSet("PROCPOOL_BENCH_PREFETCH"))
        options.prefetch = qEnvironmentVariableIntValue("PROCPOOL_BENCH_PREFETCH");
    // PROCPOOL_BENCH_HISTORY: another PoolOptions::taskHistory (0: no task records).
    if (qEnvironmentVariableIsSet("PROCPOOL_BENCH_HISTORY"))
        options.taskHistory = qEnvironmentVariableIntValue("PROCPOOL_BENCH_HISTORY");
    // PROCPOOL_BENCH_TASK_OUTPUT=0: PoolOptions::taskOutput off (no per-call output marks).
    if (qEnvironmentVariableIsSet("PROCPOOL_BENCH_TASK_OUTPUT"))
        options.taskOutput = qEnvironmentVariableIntValue("PROCPOOL_BENCH_TASK_OUTPUT") != 0;
    // PROCPOOL_BENCH_SHM=0: PoolOptions::sharedMemory off (large payloads through the pipes).
    if (qEnvironmentVariableIsSet("PROCPOOL_BENCH_SHM"))
        options.sharedMemory = qEnvironmentVariableIntValue("PROCPOOL_BENCH_SHM") != 0;
    // PROCPOOL_BENCH_SSH_HOST (and PROCPOOL_BENCH_SSH_CONFIG, ssh's -F): every worker there.
    const QString host = qEnvironmentVariable("PROCPOOL_BENCH_SSH_HOST");
    if (host.isEmpty() && qEnvironmentVariableIsSet("PROCPOOL_BENCH_SSH_CONFIG")) {
        std::fprintf(stderr, "procpool_bench: PROCPOOL_BENCH_SSH_CONFIG without "
                             "PROCPOOL_BENCH_SSH_HOST\n");
        return nullptr;
    }
    const bool ssh = placement == Placement::SshIfSet && !host.isEmpty();
    if (ssh) {
        QStringList sshOptions;
        if (qEnvironmentVariableIsSet("PROCPOOL_BENCH_SSH_CONFIG"))
            sshOptions << QStringLiteral("-F") << qEnvironmentVariable("PROCPOOL_BENCH_SSH_CONFIG");
        options.hosts = {
            procpool::WorkerHost{host, workers, procpool::Launcher::ssh(sshOptions), {}}};
    }
    // What the pool says while it starts (on its engine thread), for the message should it not
    // start. Shared: a line on its way as the connection goes still has somewhere to go.
    struct Log
    {
        QMutex mutex;
        QStringList lines;
    };
    const auto log = std::make_shared<Log>();
    const QMetaObject::Connection logging = QObject::connect(
        m, &procpool::ProcessPoolManager::workerLog, m,
        [log](qint64, const QString &line) {
            const QMutexLocker locker(&log->mutex);
            log->lines << line;
        },
        Qt::DirectConnection);
    m->start(options);
    // Every worker started (a handshake through ssh takes a login) before the warm-up, so that
    // none starts in the timed region.
    QElapsedTimer waiting;
    waiting.start();
    for (;;) {
        const QList<procpool::WorkerInfo> infos = m->getPool()->workers();
        if (infos.size() >= workers
            && std::none_of(infos.cbegin(), infos.cend(), [](const procpool::WorkerInfo &w) {
                   return w.state == procpool::WorkerState::Starting;
               }))
            break;
        if (m->getPool()->state() == procpool::PoolState::Broken || waiting.hasExpired(120000)) {
            QObject::disconnect(logging);
            m->stop();
            const QMutexLocker locker(&log->mutex);
            std::fprintf(stderr, "procpool_bench: the pool's %d workers did not all start%s%s\n"
                                 "%s\n",
                         workers, ssh ? " on " : "", ssh ? qPrintable(host) : "",
                         qPrintable(log->lines.join(u'\n')));
            return nullptr;
        }
        QThread::msleep(5);
    }
    QObject::disconnect(logging);
    // Warm up: every worker has answered once before the clock starts.
    QList<QFuture<int>> warm;
    for (int i = 0; i < workers * 4; ++i)
        warm << m->submitTask(increment, i);
    for (auto &f : warm)
        f.waitForFinished();
    // And every worker is where it was asked to be, the pool's view (WorkerInfo::host: the
    // host of its PoolOptions::hosts entry, empty here).
    const QList<procpool::WorkerInfo> infos = m->getPool()->workers();
    const QString where = ssh ? host : QString();
    if (infos.size() != workers
        || std::any_of(infos.cbegin(), infos.cend(),
                       [&where](const procpool::WorkerInfo &w) { return w.host != where; })) {
        m->stop();
        std::fprintf(stderr, "procpool_bench: the pool has %d workers, not %d on %s\n",
                     int(infos.size()), workers, ssh ? qPrintable(host) : "this machine");
        return nullptr;
    }
    return m;
}

//! Submits \a tasks trivial tasks to \a m, waits for them all and checks every answer; the
//! seconds that took, or a negative number after saying which answer was wrong.
double timedSubmit(procpool::ProcessPoolManager *m, int tasks)
{
    QElapsedTimer t;
    t.start();
    std::vector<QFuture<int>> futures;
    futures.reserve(size_t(tasks));
    for (int i = 0; i < tasks; ++i)
        futures.push_back(m->submitTask(increment, i));
    for (auto &f : futures)
        f.waitForFinished();
    const double s = seconds(t);
    for (int i = 0; i < tasks; ++i)
        if (futures[size_t(i)].result() != i + 1) {
            wrong("submit", i, QString::number(futures[size_t(i)].result()), QString::number(i + 1));
            return -1;
        }
    return s;
}

int submit(int tasks, int workers)
{
    auto *m = startPool(workers, Placement::SshIfSet);
    if (!m)
        return 1;
    const double s = timedSubmit(m, tasks);
    m->stop();
    if (s < 0)
        return 1;
    std::printf("{\"workload\": \"submit\", \"tasks\": %d, \"seconds\": %.6f, \"per_s\": %.1f}\n",
                tasks, s, tasks / s);
    return 0;
}

int submitWatched(int tasks, int workers)
{
    auto *m = startPool(workers);
    if (!m)
        return 1;
    QProcess watcher;
    watcher.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    watcher.start(QCoreApplication::applicationFilePath(),
                  {QStringLiteral("watch"), QString::number(::getpid()), QStringLiteral("100")});
    QByteArray said;
    while (!said.contains("watching\n")) {
        if (!watcher.waitForReadyRead(30000)) {
            std::fprintf(stderr, "procpool_bench submit-watched: the watcher did not start watching\n");
            return 1;
        }
        said += watcher.readAllStandardOutput();
    }
    const double s = timedSubmit(m, tasks);
    m->stop();
    procpool::setInspectionMode(procpool::InspectionMode::Off); // the watcher reads its end
    watcher.waitForFinished(30000);
    said += watcher.readAllStandardOutput();
    if (s < 0)
        return 1;
    const QByteArray report = said.trimmed().split('\n').constLast();
    std::printf("{\"workload\": \"submit-watched\", \"tasks\": %d, \"seconds\": %.6f, "
                "\"per_s\": %.1f, \"watcher\": %s}\n",
                tasks, s, tasks / s, report.startsWith('{') ? report.constData() : "null");
    return 0;
}

//! An attached monitor's connection, reduced to its load: hello, watch, read every frame until
//! the process closes the connection.
int watch(qint64 pid, int intervalMs)
{
    const QByteArray path = QFile::encodeName(procpool::inspectionSocketPath(pid));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.constData(), sizeof address.sun_path - 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr *>(&address), sizeof address) != 0) {
        std::fprintf(stderr, "procpool_bench watch: cannot connect to %s\n", path.constData());
        return 1;
    }
    using procpool::detail::encodeInspectionFrame;
    const QByteArray hello = encodeInspectionFrame(
        {{QStringLiteral("op"), QStringLiteral("hello")}, {QStringLiteral("version"), 1}});
    const QByteArray watching = encodeInspectionFrame(
        {{QStringLiteral("op"), QStringLiteral("watch")}, {QStringLiteral("intervalMs"), intervalMs}});
    if (::write(fd, hello.constData(), size_t(hello.size())) != hello.size()
        || ::write(fd, watching.constData(), size_t(watching.size())) != watching.size())
        return 1;
    QByteArray input;
    qint64 frames = 0, bytes = 0, records = 0;
    char buffer[65536];
    for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) {
        input.append(buffer, n);
        bytes += n;
        QCborMap message;
        QString error;
        while (procpool::detail::readInspectionFrame(&input, procpool::detail::maxInspectionReplyBytes,
                                                     &message, &error)
               == procpool::detail::FrameRead::Message) {
            if (frames++ == 1) { // the hello, then the first snapshot
                std::printf("watching\n");
                std::fflush(stdout);
            }
            for (const QCborValue &ns : message.value(QLatin1String("namespaces")).toArray())
                records += ns.toMap().value(QLatin1String("tasks")).toArray().size();
        }
    }
    ::close(fd);
    std::printf("{\"frames\": %lld, \"bytes\": %lld, \"records\": %lld}\n",
                static_cast<long long>(frames), static_cast<long long>(bytes),
                static_cast<long long>(records));
    return 0;
}

int map(int items, int workers, int chunk)
{
    auto *m = startPool(workers);
    if (!m)
        return 1;
    QList<int> input(items);
    for (int i = 0; i < items; ++i)
        input[i] = i;
    QElapsedTimer t;
    t.start();
    procpool::MapOptions options;
    options.chunkSize = chunk;
    QFuture<int> future = m->map(increment, input, options);
    const QList<int> results = future.results();
    const double s = seconds(t);
    m->stop();
    if (results.size() != items)
        return wrong("map", -1, QStringLiteral("%1 results").arg(results.size()),
                     QString::number(items));
    for (int i = 0; i < items; ++i)
        if (results.at(i) != i + 1)
            return wrong("map", i, QString::number(results.at(i)), QString::number(i + 1));
    std::printf("{\"workload\": \"map\", \"items\": %d, \"seconds\": %.6f, \"per_s\": %.1f}\n",
                items, s, items / s);
    return 0;
}

int latency(int rounds)
{
    auto *m = startPool(1, Placement::SshIfSet);
    if (!m)
        return 1;
    std::vector<qint64> samples;
    samples.reserve(size_t(rounds));
    QElapsedTimer t;
    for (int i = -rounds / 10; i < rounds; ++i) {
        t.start();
        const int r = m->submitTask(increment, i).result();
        const qint64 ns = t.nsecsElapsed();
        if (r != i + 1)
            return wrong("latency", i, QString::number(r), QString::number(i + 1));
        if (i >= 0)
            samples.push_back(ns);
    }
    m->stop();
    std::sort(samples.begin(), samples.end());
    std::printf("{\"workload\": \"latency\", \"rounds\": %d, \"median_us\": %.3f, \"p99_us\": "
                "%.3f}\n",
                rounds, double(samples[samples.size() / 2]) / 1e3,
                double(samples[samples.size() * 99 / 100]) / 1e3);
    return 0;
}

enum class Results { Dropped, Kept, KeptBackToBack };

int payload(qint64 bytes, int reps, Results results)
{
    const bool keep = results != Results::Dropped;
    auto *m = startPool(1, Placement::SshIfSet);
    if (!m)
        return 1;
    QByteArray data(bytes, Qt::Uninitialized);
    for (qint64 i = 0; i < bytes; ++i)
        data[i] = char(i * 131 + 7);
    std::vector<double> samples;
    std::vector<QByteArray> kept;
    for (int i = 0; i < reps; ++i) {
        QElapsedTimer t;
        t.start();
        const QByteArray back = m->submitTask(echo, data).result();
        samples.push_back(seconds(t));
        if (results != Results::KeptBackToBack && back != data) // every byte, outside the timing
            return wrong("payload", i, QStringLiteral("other bytes"), QStringLiteral("its argument"));
        if (keep)
            kept.push_back(back);
    }
    m->stop();
    for (size_t i = 0; i < kept.size(); ++i) // and still every byte, once all the others came
        if (kept[i] != data)
            return wrong("payload", qint64(i), QStringLiteral("other bytes once all came"),
                         QStringLiteral("its argument"));
    std::sort(samples.begin(), samples.end());
    const double best = samples.front();
    const double median = samples[samples.size() / 2];
    std::printf("{\"workload\": \"payload\", \"bytes\": %lld, \"kept\": %s, \"seconds\": %.6f, "
                "\"mib_per_s\": %.1f, \"median_mib_per_s\": %.1f}\n",
                static_cast<long long>(bytes),
                results == Results::Dropped ? "false"
                : results == Results::Kept  ? "true"
                                            : "\"back to back\"",
                best,
                double(bytes) / best / 1048576.0, double(bytes) / median / 1048576.0);
    return 0;
}

int burst(qint64 bytes, int tasks, int workers)
{
    auto *m = startPool(workers);
    if (!m)
        return 1;
    QByteArray data(bytes, Qt::Uninitialized);
    for (qint64 i = 0; i < bytes; ++i)
        data[i] = char(i * 131 + 7);
    QElapsedTimer t;
    t.start();
    std::vector<QFuture<QByteArray>> futures;
    for (int i = 0; i < tasks; ++i)
        futures.push_back(m->submitTask(echo, data));
    for (auto &f : futures)
        f.waitForFinished();
    const double s = seconds(t);
    m->stop();
    for (size_t i = 0; i < futures.size(); ++i) // every byte of every echo
        if (futures[i].result() != data)
            return wrong("burst", qint64(i), QStringLiteral("other bytes"), QStringLiteral("its argument"));
    std::printf("{\"workload\": \"burst\", \"bytes\": %lld, \"tasks\": %d, \"seconds\": %.6f, "
                "\"mib_per_s\": %.1f}\n",
                static_cast<long long>(bytes), tasks, s, double(bytes) * tasks / s / 1048576.0);
    return 0;
}

int startup(int reps)
{
    // PROCPOOL_BENCH_START=exec: every worker started with exec instead of by the fork server.
    procpool::PoolOptions options;
    options.maxWorkers = 2;
    if (qgetenv("PROCPOOL_BENCH_START") == "exec")
        options.startContext.method = procpool::StartMethod::Exec;
    std::vector<double> samples;
    for (int i = 0; i < reps; ++i) {
        procpool::ProcessPoolManager *m =
            procpool::getOrCreateProcessManager(QStringLiteral("bench"), true);
        QElapsedTimer t;
        t.start();
        m->start(options);
        const int r = m->submitTask(increment, 1).result();
        samples.push_back(seconds(t));
        m->stop();
        if (r != 2)
            return wrong("startup", i, QString::number(r), QStringLiteral("2"));
    }
    // The first start of the process also starts the fork server.
    const double first = samples.front();
    std::sort(samples.begin(), samples.end());
    std::printf("{\"workload\": \"startup\", \"reps\": %d, \"median_ms\": %.3f, "
                "\"first_ms\": %.3f}\n",
                reps, samples[samples.size() / 2] * 1e3, first * 1e3);
    return 0;
}

int cpu(int tasks, int workers, qint64 work)
{
    auto *m = startPool(workers);
    if (!m)
        return 1;
    QElapsedTimer t;
    t.start();
    QList<QFuture<qint64>> futures;
    for (int i = 0; i < tasks; ++i)
        futures << m->submitTask(spin, work + i);
    for (auto &f : futures)
        f.waitForFinished();
    const double s = seconds(t);
    m->stop();
    for (int i = 0; i < tasks; ++i)
        if (futures[i].result() != spinExpected(work + i))
            return wrong("cpu", i, QString::number(futures[i].result()),
                         QString::number(spinExpected(work + i)));
    std::printf("{\"workload\": \"cpu\", \"tasks\": %d, \"workers\": %d, \"seconds\": %.6f}\n",
                tasks, workers, s);
    return 0;
}

qint64 residentKiB(qint64 pid)
{
    QFile status(QStringLiteral("/proc/%1/status").arg(pid));
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray &line : status.readAll().split('\n'))
        if (line.startsWith("VmRSS:"))
            return line.mid(6).trimmed().split(' ').value(0).toLongLong();
    return -1;
}

int rss()
{
    auto *m = startPool(1);
    if (!m)
        return 1;
    const qint64 pid = m->submitTask(workerPid).result();
    QThread::msleep(200); // idle
    const qint64 kib = residentKiB(pid);
    m->stop();
    std::printf("{\"workload\": \"rss\", \"kib\": %lld}\n", static_cast<long long>(kib));
    return kib > 0 ? 0 : 1;
}

} // namespace

int main(int argc, char **argv)
{
    procpool::workerMain(argc, argv);
    QCoreApplication app(argc, argv);
    const QStringList a = app.arguments();
    const QString w = a.value(1);
    auto n = [&a](int i) { return a.value(i).toLongLong(); };
    if (w == QLatin1String("submit") && a.size() == 4)
        return submit(int(n(2)), int(n(3)));
    if (w == QLatin1String("submit-watched") && a.size() == 4)
        return submitWatched(int(n(2)), int(n(3)));
    if (w == QLatin1String("watch") && a.size() == 4)
        return watch(n(2), int(n(3)));
    if (w == QLatin1String("map") && a.size() == 5)
        return map(int(n(2)), int(n(3)), int(n(4)));
    if (w == QLatin1String("latency") && a.size() == 3)
        return latency(int(n(2)));
    if (w == QLatin1String("payload") && a.size() == 4)
        return payload(n(2), int(n(3)), Results::Dropped);
    if (w == QLatin1String("payload") && a.size() == 5 && a.at(4) == QLatin1String("keep"))
        return payload(n(2), int(n(3)), Results::Kept);
    if (w == QLatin1String("payload") && a.size() == 5 && a.at(4) == QLatin1String("keep-back-to-back"))
        return payload(n(2), int(n(3)), Results::KeptBackToBack);
    if (w == QLatin1String("burst") && a.size() == 5)
        return burst(n(2), int(n(3)), int(n(4)));
    if (w == QLatin1String("startup") && a.size() == 3)
        return startup(int(n(2)));
    if (w == QLatin1String("cpu") && a.size() == 5)
        return cpu(int(n(2)), int(n(3)), n(4));
    if (w == QLatin1String("rss") && a.size() == 2)
        return rss();
    std::fprintf(stderr, "usage: procpool_bench submit|submit-watched|watch|map|latency|payload|burst|startup|cpu|rss ...\n");
    return 2;
}
