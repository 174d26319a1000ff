// procpool tests — large payloads: byte arrays of 64 KiB and more travel beside the CBOR body,
// through a shared-memory ring per direction and worker, or inline through the pipe when the
// ring has no room (or shared memory is off). Real workers throughout: every byte is compared,
// under prefetch pressure, ring growth, crashes in the middle of a transfer, and nothing may be
// left behind (no descriptor in the pool, nothing in /dev/shm, no ring in another worker).
#include "testmain.h"

#include <procpool/procpool.h>

#include <QtCore/QDataStream>
#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtTest/QTest>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <thread>
#include <vector>
#include <fcntl.h>
#include <cstring>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace procpool;

namespace {

using procpool::tests::hangGuardMs;

QByteArray pattern(qsizetype size, int seed)
{
    QByteArray out(size, Qt::Uninitialized);
    quint32 x = quint32(seed) * 2654435761u + 1;
    for (qsizetype i = 0; i < size; ++i) {
        x = x * 1664525u + 1013904223u;
        out[i] = char(x >> 24);
    }
    return out;
}

//! The descriptors of this process that are procpool's shared-memory rings.
QStringList ringDescriptors()
{
    QStringList found;
    const QDir fds(QStringLiteral("/proc/self/fd"));
    for (const QString &fd : fds.entryList(QDir::NoDotAndDotDot | QDir::System | QDir::Files)) {
        const QString target = QFile::symLinkTarget(fds.filePath(fd));
        if (target.contains(QLatin1String("procpool-ring")))
            found.append(fd);
    }
    return found;
}

//! Bytes of shared-memory rings this process has mapped.
qint64 ringMappedBytes()
{
    QFile maps(QStringLiteral("/proc/self/maps"));
    if (!maps.open(QIODevice::ReadOnly))
        return -1;
    qint64 total = 0;
    for (const QByteArray &line : maps.readAll().split('\n')) {
        if (!line.contains("procpool-ring"))
            continue;
        const QList<QByteArray> range = line.left(line.indexOf(' ')).split('-');
        total += range.at(1).toLongLong(nullptr, 16) - range.at(0).toLongLong(nullptr, 16);
    }
    return total;
}

//! Bytes of memory the rings this process holds really occupy (their pages, not their size).
qint64 ringResidentBytes()
{
    qint64 total = 0;
    for (const QString &fd : ringDescriptors()) {
        struct stat st;
        if (::fstat(fd.toInt(), &st) == 0)
            total += qint64(st.st_blocks) * 512;
    }
    return total;
}

// Page faults taken so far by this process's thread named \a name (0 when there is none).
qint64 faultsOfThread(const QByteArray &name)
{
    const QDir tasks(QStringLiteral("/proc/self/task"));
    for (const QString &tid : tasks.entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
        QFile comm(tasks.filePath(tid + QLatin1String("/comm")));
        QFile stat(tasks.filePath(tid + QLatin1String("/stat")));
        if (!comm.open(QIODevice::ReadOnly) || comm.readAll().trimmed() != name
            || !stat.open(QIODevice::ReadOnly))
            continue;
        // After "pid (comm) ": state, ppid, pgrp, session, tty, tpgid, flags, minor faults.
        const QByteArray line = stat.readAll();
        const QList<QByteArray> fields = line.mid(line.lastIndexOf(')') + 2).split(' ');
        return fields.size() > 7 ? fields.at(7).toLongLong() : 0;
    }
    return 0;
}

int openFds()
{
    return int(QDir(QStringLiteral("/proc/self/fd"))
                   .entryList(QDir::NoDotAndDotDot | QDir::System | QDir::Files)
                   .size());
}

QStringList devShm()
{
    return QDir(QStringLiteral("/dev/shm")).entryList(QDir::NoDotAndDotDot | QDir::AllEntries);
}

const Task<QByteArray(QByteArray)> echo{"payload.echo", [](const QByteArray &b) { return b; }};

// Reverses the list and each array in it, appends the text: several attachments each way,
// mixed with small arrays that stay in the CBOR body.
const Task<QList<QByteArray>(QList<QByteArray>, QString)> shuffle{
    "payload.shuffle", [](const QList<QByteArray> &in, const QString &tag) {
        QList<QByteArray> out;
        for (auto it = in.crbegin(); it != in.crend(); ++it) {
            QByteArray reversed(*it);
            std::reverse(reversed.begin(), reversed.end());
            out.append(reversed);
        }
        out.append(tag.toUtf8());
        return out;
    }};

const Task<qint64(QByteArray)> checksum{"payload.checksum", [](const QByteArray &b) {
    quint64 sum = 0;
    for (char c : b)
        sum = sum * 31 + quint8(c);
    return qint64(sum >> 1);
}};

// Dies while the pool is in the middle of sending it (or right after reading) its argument.
const Task<int(QByteArray)> crashOnLarge{"payload.crashOnLarge", [](const QByteArray &b) {
    if (b.size() > 1000)
        ::raise(SIGKILL);
    return int(b.size());
}};

// What a worker holds: its ring descriptors, and whether it can shrink them (it must not).
const Task<QStringList()> ringsInWorker{"payload.ringsInWorker", [] {
    QStringList out;
    const QDir fds(QStringLiteral("/proc/self/fd"));
    for (const QString &fd : fds.entryList(QDir::NoDotAndDotDot | QDir::System | QDir::Files)) {
        if (!QFile::symLinkTarget(fds.filePath(fd)).contains(QLatin1String("procpool-ring")))
            continue;
        const int n = fd.toInt();
        const bool closeOnExec = (::fcntl(n, F_GETFD) & FD_CLOEXEC) != 0;
        const bool shrinks = ::ftruncate(n, 0) == 0;
        out.append(QStringLiteral("%1:%2:%3")
                       .arg(fd, closeOnExec ? QStringLiteral("cloexec") : QStringLiteral("inherit"),
                            shrinks ? QStringLiteral("shrank") : QStringLiteral("sealed")));
    }
    return out;
}};

// Every ring a worker gone bad has seen: it keeps a descriptor of its own for each, so that a
// ring its pool has since replaced stays within its reach.
std::vector<int> &ringsEverHeld()
{
    static std::vector<int> held;
    return held;
}

void holdOnToRings()
{
    const QDir fds(QStringLiteral("/proc/self/fd"));
    for (const QString &fd : fds.entryList(QDir::NoDotAndDotDot | QDir::System | QDir::Files)) {
        if (!QFile::symLinkTarget(fds.filePath(fd)).contains(QLatin1String("procpool-ring")))
            continue;
        struct stat st;
        if (::fstat(fd.toInt(), &st) != 0)
            continue;
        const bool known = std::any_of(ringsEverHeld().begin(), ringsEverHeld().end(), [&](int n) {
            struct stat other;
            return ::fstat(n, &other) == 0 && other.st_dev == st.st_dev && other.st_ino == st.st_ino;
        });
        if (const int n = known ? -1 : ::fcntl(fd.toInt(), F_DUPFD_CLOEXEC, 100); n >= 0)
            ringsEverHeld().push_back(n);
    }
}

// The echo of a worker gone bad: it holds on to the rings it has seen (see scribbleOverRings).
const Task<QByteArray(QByteArray)> echoHoldingRings{"payload.echoHoldingRings",
                                                    [](const QByteArray &b) {
                                                        holdOnToRings();
                                                        return b;
                                                    }};

// A worker gone bad: writes over every byte of every ring it holds or has held with \a fill
// (0: text where results were, 1: zeros, 2: all ones, 3: a block header with a count of one
// and a huge capacity); with \a reshape, also grows the rings, punches holes in them and tries
// to seal them against writes and growth. Says what it reached.
const Task<QString(int, bool)> scribbleOverRings{"payload.scribble", [](int fill, bool reshape) {
    QStringList report;
    holdOnToRings();
    const int rings = int(ringsEverHeld().size());
    for (const int n : ringsEverHeld()) {
        const QString fd = QString::number(n);
        struct stat st;
        if (reshape) {
            if (::fcntl(n, F_ADD_SEALS, F_SEAL_WRITE) == 0
                || ::fcntl(n, F_ADD_SEALS, F_SEAL_GROW) == 0)
                report.append(QStringLiteral("fd %1: sealed it").arg(fd));
            if (::fstat(n, &st) == 0 && ::ftruncate(n, st.st_size + (1 << 20)) == 0)
                report.append(QStringLiteral("fd %1: grew it").arg(fd));
        }
        if (::fstat(n, &st) != 0)
            continue;
        const qint64 grown = st.st_size;
        void *mapped = ::mmap(nullptr, size_t(grown), PROT_READ | PROT_WRITE, MAP_SHARED, n, 0);
        if (mapped == MAP_FAILED)
            continue;
        // One 16-byte unit of the fill, repeated over the whole file in one copy.
        char unit[16];
        switch (fill) {
        case 0:
            std::memcpy(unit, "TAMPEREDTAMPERED", 16);
            break;
        case 1:
            std::memset(unit, 0, 16);
            break;
        case 2:
            std::memset(unit, 0xff, 16);
            break;
        default: {
            const qint32 count = 1;
            const qint64 capacity = qint64(1) << 46;
            std::memcpy(unit, &count, sizeof count);
            std::memset(unit + 4, 0, 4);
            std::memcpy(unit + 8, &capacity, sizeof capacity);
        }
        }
        QByteArray filled;
        filled.reserve(qsizetype(grown));
        while (filled.size() + 16 <= grown)
            filled.append(unit, 16);
        std::memcpy(mapped, filled.constData(), size_t(filled.size()));
        ::munmap(mapped, size_t(grown));
        if (reshape && ::fallocate(n, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 1 << 20) == 0)
            report.append(QStringLiteral("fd %1: punched a hole").arg(fd));
    }
    return QStringLiteral("rings %1: %2").arg(rings).arg(report.join(QLatin1String("; ")));
}};

// A task that keeps its argument beyond the call, as a cache would: the worker reads large
// arguments in place in its ring, so this one must move out of the ring's way intact.
QByteArray &keptArgument()
{
    static QByteArray kept;
    return kept;
}

const Task<bool(QByteArray)> keep{"payload.keep", [](const QByteArray &b) {
    keptArgument() = b;
    return b.constData()[b.size()] == '\0'; // a QByteArray ends in a zero byte, wherever it is
}};

const Task<QByteArray()> kept{"payload.kept", [] { return keptArgument(); }};

// A kept argument that another thread of the worker keeps copying and dropping while the
// worker moves it out of the ring after the call: no change to its reference count may be
// lost in the move.
struct Churn
{
    QByteArray array;
    std::atomic<bool> stop{false};
    std::thread thread;
};

Churn &churn()
{
    static Churn c;
    return c;
}

const Task<bool(QByteArray)> keepAndChurn{"payload.keepAndChurn", [](const QByteArray &b) {
    Churn &c = churn();
    c.array = b;
    c.stop = false;
    c.thread = std::thread([&c] {
        while (!c.stop.load()) {
            const QByteArray copy = c.array;
            if (copy.isEmpty())
                break;
        }
    });
    return true;
}};

// Stops the churning thread and drops the array: its reference count, with the one the
// ring keeps, and whether its bytes are intact.
const Task<QString(qint64)> stopChurn{"payload.stopChurn", [](qint64 expectedSum) {
    Churn &c = churn();
    c.stop = true;
    c.thread.join();
    const int references = c.array.data_ptr().d_ptr()->ref_.loadRelaxed();
    quint64 sum = 0;
    for (char ch : std::as_const(c.array))
        sum = sum * 31 + quint8(ch);
    c.array = QByteArray();
    return QStringLiteral("references %1, bytes %2")
        .arg(references)
        .arg(qint64(sum >> 1) == expectedSum ? QStringLiteral("intact") : QStringLiteral("changed"));
}};

// The line of this process's /proc/self/maps that holds \a address.
QString mappingOf(const void *address)
{
    QFile maps(QStringLiteral("/proc/self/maps"));
    if (!maps.open(QIODevice::ReadOnly))
        return QStringLiteral("no /proc/self/maps");
    const quintptr at = quintptr(address);
    for (const QByteArray &line : maps.readAll().split('\n')) {
        const QList<QByteArray> range = line.left(line.indexOf(' ')).split('-');
        if (range.size() == 2 && range.at(0).toULongLong(nullptr, 16) <= at
            && at < range.at(1).toULongLong(nullptr, 16))
            return QString::fromUtf8(line);
    }
    return QStringLiteral("not mapped");
}

// Where a task's argument lives in the worker.
const Task<QString(QByteArray)> argumentMapping{
    "payload.mappingOf", [](const QByteArray &b) { return mappingOf(b.constData()); }};

const Task<QByteArray(QByteArray)> stampFirstByte{"payload.stamp", [](QByteArray b) {
    b[0] = '!'; // writes to a copy: the bytes in the ring belong to the pool's call
    return b;
}};

struct Blob
{
    QString name;
    QByteArray data;
    friend QDataStream &operator<<(QDataStream &s, const Blob &b) { return s << b.name << b.data; }
    friend QDataStream &operator>>(QDataStream &s, Blob &b) { return s >> b.name >> b.data; }
};

const Task<Blob(Blob)> renameBlob{"payload.renameBlob", [](Blob b) {
    b.name += QLatin1String("!");
    return b;
}};

const Task<QByteArray(int, int)> generate{"payload.generate",
                                          [](int size, int seed) { return pattern(size, seed); }};

template <typename T>
QString failureOf(QFuture<T> future)
{
    try {
        future.waitForFinished();
    } catch (const QException &e) {
        return QString::fromUtf8(e.what());
    }
    return QString();
}

} // namespace

class TestPayload : public QObject
{
    Q_OBJECT

    ProcessPoolManager *m_manager = nullptr;

    void start(const PoolOptions &options)
    {
        m_manager = getOrCreateProcessManager(QStringLiteral("payload"));
        m_manager->start(options);
    }

    //! One worker, which stays when idle: its rings are trimmed then, not closed.
    void startOneWorkerThatStays()
    {
        PoolOptions options;
        options.maxWorkers = 1;
        options.idleTimeout = std::chrono::milliseconds(0);
        start(options);
    }

    //! Runs shuffle on \a in and checks every byte of what comes back.
    bool shuffledCorrectly(const QList<QByteArray> &in, const QString &tag)
    {
        const QList<QByteArray> out = m_manager->submitTask(shuffle, in, tag).result();
        if (out.size() != in.size() + 1) {
            qWarning("shuffle returned %lld arrays for %lld", qlonglong(out.size()),
                     qlonglong(in.size()));
            return false;
        }
        for (qsizetype i = 0; i < in.size(); ++i) {
            QByteArray expected = in.at(in.size() - 1 - i);
            std::reverse(expected.begin(), expected.end());
            if (out.at(i) != expected) {
                qWarning("array %lld of %lld bytes differs", qlonglong(i),
                         qlonglong(expected.size()));
                return false;
            }
        }
        return out.last() == tag.toUtf8();
    }

private slots:
    void cleanup()
    {
        if (m_manager && m_manager->isRunning())
            m_manager->stop();
    }

    void echoKeepsEveryByte_data()
    {
        QTest::addColumn<bool>("sharedMemory");
        QTest::addColumn<int>("size");
        for (bool shm : {true, false}) {
            const char *how = shm ? "shared" : "pipe";
            for (int size : {65535, 65536, 65537, (1 << 20) + 3, 16 << 20})
                QTest::addRow("%s, %d bytes", how, size) << shm << size;
        }
    }

    void echoKeepsEveryByte()
    {
        QFETCH(bool, sharedMemory);
        QFETCH(int, size);
        PoolOptions options;
        options.sharedMemory = sharedMemory;
        start(options);
        for (int round = 0; round < 3; ++round) { // the second and third reuse the rings
            const QByteArray data = pattern(size, round);
            QCOMPARE(m_manager->submitTask(echo, data).result(), data);
        }
        // The bytes really went the way the option says: through rings the pool mapped (one
        // it wrote, grown to twice the payload, and one it read) or through the pipe only.
        if (!sharedMemory)
            QVERIFY(ringDescriptors().isEmpty());
        else if (size >= 65536)
            QVERIFY2(ringMappedBytes() >= 3 * qint64(size),
                     qPrintable(QString::number(ringMappedBytes())));
        else
            QCOMPARE(ringMappedBytes(), 0); // below the threshold: inside the CBOR body
    }

    // Rings keep their pages while the worker is busy and give them back once it has been
    // idle for a moment; their size and mappings stay, so the next payload just works.
    void idleRingsGiveTheirMemoryBack()
    {
        startOneWorkerThatStays();
        const QByteArray data = pattern(8 << 20, 6);
        QCOMPARE(m_manager->submitTask(echo, data).result(), data);
        QVERIFY2(ringResidentBytes() >= 2 * qint64(data.size()),
                 qPrintable(QString::number(ringResidentBytes())));
        QTRY_VERIFY(ringResidentBytes() <= 2 * 4096);
        QCOMPARE(ringDescriptors().size(), 2); // trimmed, not closed
        QCOMPARE(m_manager->submitTask(echo, data).result(), data);
        QVERIFY(ringResidentBytes() >= 2 * qint64(data.size()));
    }

    // A task keeps its 8 MiB argument. The worker reads large arguments where they are in its
    // ring, so before it hands that space back it must move the kept array's pages apart:
    // then the pool can trim the ring (which drops the shared pages) and write the next
    // payloads over the same place, and the kept array still has its bytes.
    void argumentKeptByATaskSurvivesTheRing()
    {
        startOneWorkerThatStays();
        const QByteArray first = pattern(8 << 20, 21);
        QVERIFY(m_manager->submitTask(keep, first).result()); // zero-terminated in the worker
        // Trimmed only once the worker released the ring: it did not stay pinned.
        QTRY_VERIFY(ringResidentBytes() <= 2 * 4096);
        for (int round = 0; round < 3; ++round) {
            const QByteArray other = pattern(8 << 20, 30 + round);
            QCOMPARE(m_manager->submitTask(echo, other).result(), other);
        }
        QVERIFY(m_manager->submitTask(kept).result() == first);
        // Kept again (the old one is dropped and its pages given back), and again intact.
        const QByteArray second = pattern((8 << 20) + 7, 22);
        QVERIFY(m_manager->submitTask(keep, second).result());
        QCOMPARE(m_manager->submitTask(echo, first).result(), first);
        QVERIFY(m_manager->submitTask(kept).result() == second);
        QCOMPARE(m_manager->getPool()->stats().workersStarted, quint64(1));
    }

    // The kept array's header is in the page the worker replaces, so a reference taken or
    // dropped by another thread during the move must land in the array's final page: after
    // the churn, the array and the ring hold it, two references, on every round.
    void keptArgumentSharedWithAThreadKeepsItsCount()
    {
        PoolOptions options;
        options.maxWorkers = 1;
        start(options);
        for (int round = 0; round < 8; ++round) {
            const QByteArray data = pattern(8 << 20, 40 + round);
            const qint64 sum = m_manager->submitTask(checksum, data).result();
            QVERIFY(m_manager->submitTask(keepAndChurn, data).result());
            QCOMPARE(m_manager->submitTask(stopChurn, sum).result(),
                     QStringLiteral("references 2, bytes intact"));
        }
        QCOMPARE(m_manager->getPool()->stats().workersStarted, quint64(1));
    }

    // The point of the ring on the worker's side: a large argument is read where the pool
    // put it, not copied (through the pipe, it is an array of the worker's own).
    void largeArgumentsAreReadInPlace()
    {
        PoolOptions options;
        start(options);
        const QByteArray data = pattern(5 << 20, 24);
        const QString inRing = m_manager->submitTask(argumentMapping, data).result();
        QVERIFY2(inRing.contains(QLatin1String("procpool-ring")), qPrintable(inRing));
        QCOMPARE(m_manager->submitTask(echo, data).result(), data);
        m_manager->stop();
        options.sharedMemory = false;
        start(options);
        const QString throughPipe = m_manager->submitTask(argumentMapping, data).result();
        QVERIFY2(!throughPipe.contains(QLatin1String("procpool-ring")), qPrintable(throughPipe));
    }

    // The pool's side never does what the worker's does: every result is copied into the
    // pool's own memory, whether the caller drops its results or keeps them, so that nothing
    // the worker can still write is ever part of a delivered result.
    void resultsAreCopiesInThePoolsOwnMemory()
    {
        PoolOptions options;
        options.maxWorkers = 1;
        start(options);
        QList<QByteArray> keptResults;
        for (int round = 0; round < 8; ++round) {
            const QByteArray data = pattern((3 << 20) + round, 30 + round);
            const QByteArray back = m_manager->submitTask(echo, data).result();
            QCOMPARE(back, data);
            const QString where = mappingOf(back.constData());
            QVERIFY2(!where.contains(QLatin1String("procpool-ring")), qPrintable(where));
            QCOMPARE(back.constData()[back.size()], '\0');
            if (round % 2)
                keptResults.append(back); // a caller that keeps every other result
        }
        for (int i = 0; i < keptResults.size(); ++i)
            QCOMPARE(keptResults.at(i), pattern((3 << 20) + 2 * i + 1, 31 + 2 * i));
    }

    // A worker can write every byte of both its rings, grow them, punch holes in them and try
    // to seal them, at any moment. Here it does so after each delivery, with fills chosen to
    // look like the headers, counts and sizes a careless reader would trust. Results already
    // delivered keep their bytes, the pool process lives on, and the pool keeps serving.
    void hostileWorkerCannotReachDeliveredResults()
    {
        PoolOptions options;
        options.maxWorkers = 1;
        start(options);
        QList<QByteArray> held;
        QList<QByteArray> expected;
        QStringList reports;
        for (int round = 0; round < 16; ++round) {
            // Sizes that travel through the worker's ring, and the result held first: a pool
            // that left results where the worker wrote them would leave this one there.
            const QByteArray data = pattern((3 << 20) + round, 80 + round);
            QByteArray back = m_manager->submitTask(echoHoldingRings, data).result();
            QCOMPARE(back, data);
            held.append(back);
            expected.append(data);
            back = QByteArray();
            for (int drop = 0; drop < 3; ++drop) // dropped, as a pool could be tempted to see
                QCOMPARE(m_manager->submitTask(echoHoldingRings, data).result(), data);
            // Reshaped only in the last rounds: a ring sealed or punched early would keep
            // later results out of it, and they too must be safe from the scribbling.
            QFuture<QString> scribbled =
                m_manager->submitTask(scribbleOverRings, round % 4, round >= 12);
            const QString failure = failureOf(scribbled); // it may break its own worker
            reports.append(failure.isEmpty() ? scribbled.result() : failure);
            for (qsizetype i = 0; i < held.size(); ++i)
                QVERIFY2(held.at(i) == expected.at(i),
                         qPrintable(QStringLiteral("held result %1 changed after round %2: %3")
                                        .arg(i)
                                        .arg(round)
                                        .arg(reports.last())));
        }
        // The scribbling really reached the rings, and the seals held.
        // Both rings at least, and any the pool replaced since.
        QVERIFY2(reports.first().section(u':', 0, 0).mid(6).toInt() >= 2, qPrintable(reports.first()));
        QVERIFY2(reports.last().contains(QLatin1String("grew it")), qPrintable(reports.last()));
        for (const QString &report : std::as_const(reports))
            QVERIFY2(!report.contains(QLatin1String("sealed it")), qPrintable(report));
        QCOMPARE(m_manager->getPool()->state(), PoolState::Running);
        const QByteArray after = pattern(5 << 20, 99);
        QCOMPARE(m_manager->submitTask(echo, after).result(), after);
    }

    // Results a caller keeps stay intact while the worker's ring is written over by the next
    // ones and given back to the system when the worker idles.
    void resultsKeptByTheCallerKeepTheirBytes()
    {
        startOneWorkerThatStays();
        QList<QByteArray> inputs;
        QList<QByteArray> held;
        for (int i = 0; i < 6; ++i) {
            inputs.append(pattern((3 << 20) + i * 4099, 40 + i));
            held.append(m_manager->submitTask(echo, inputs.last()).result());
        }
        QTRY_VERIFY(ringResidentBytes() <= 2 * 4096);
        const QByteArray other = pattern(8 << 20, 71);
        for (int round = 0; round < 3; ++round)
            QCOMPARE(m_manager->submitTask(echo, other).result(), other);
        for (int i = 0; i < held.size(); ++i)
            QVERIFY2(held.at(i) == inputs.at(i), qPrintable(QString::number(i)));
        m_manager->stop();
        QVERIFY(removeProcessManager(QStringLiteral("payload")));
        m_manager = nullptr; // deleted with its namespace
        for (int i = 0; i < held.size(); ++i) // past its pool too
            QVERIFY2(held.at(i) == inputs.at(i), qPrintable(QString::number(i)));
    }

    // A caller that keeps large results gets each in new memory, which a helper thread faults
    // in ahead while the caller works on the last one. The sizes change on the way, so memory
    // made ready for one size is too small for a later one: it is let go, never filled past
    // its end (ASan watches that in make test-sanitize).
    void keptLargeResultsOfChangingSizesKeepTheirBytes()
    {
        PoolOptions options;
        options.maxWorkers = 1;
        start(options);
        const QList<qsizetype> sizes{5 << 20,         (5 << 20) + 1, (5 << 20) + 17, 12 << 20,
                                     (12 << 20) - 3,  (4 << 20) + 5, 4 << 20,        9 << 20,
                                     (20 << 20) + 64, 6 << 20};
        const qint64 faultsBefore = faultsOfThread("procpool fault");
        QList<QByteArray> held;
        QList<QByteArray> expected;
        for (int i = 0; i < sizes.size(); ++i) {
            expected.append(pattern(sizes.at(i), 200 + i));
            held.append(m_manager->submitTask(echo, expected.last()).result());
            QCOMPARE(held.last(), expected.last());
            QCOMPARE(held.last().constData()[held.last().size()], '\0');
            // Dropped results in between: their memory is reused, the kept ones' never.
            QCOMPARE(m_manager->submitTask(echo, expected.last()).result(), expected.last());
        }
        for (int i = 0; i < held.size(); ++i)
            QVERIFY2(held.at(i) == expected.at(i), qPrintable(QString::number(i)));
        // The memory of the kept results was made ready ahead, by the thread that does it.
        QVERIFY2(faultsOfThread("procpool fault") > faultsBefore,
                 qPrintable(QString::number(faultsBefore)));
    }

    // A task that changes its argument changes its own copy; the same bytes sent again
    // arrive unchanged.
    void argumentChangedByATaskIsItsOwnCopy()
    {
        start(PoolOptions());
        const QByteArray data = pattern(3 << 20, 23);
        QByteArray expected = data;
        expected[0] = '!';
        for (int round = 0; round < 3; ++round) {
            QCOMPARE(m_manager->submitTask(stampFirstByte, data).result(), expected);
            QCOMPARE(m_manager->submitTask(echo, data).result(), data);
        }
    }

    void severalAttachmentsEachWay()
    {
        start(PoolOptions());
        const QList<QByteArray> in{pattern(100000, 1), QByteArray("small"), pattern(70000, 2),
                                   QByteArray(), pattern(300000, 3)};
        QVERIFY(shuffledCorrectly(in, QStringLiteral("tag")));
    }

    // Copies of 8 MiB and more bypass the caches and work in 64-byte blocks: sizes that are no
    // multiple of that, several in one frame (the first grows the ring, the next follow it in
    // blocks of their own), and some of them overflowing inline.
    void largeAttachmentsAtOddOffsets()
    {
        start(PoolOptions());
        const QList<QByteArray> in{pattern((9 << 20) + 3, 1), pattern(100003, 2),
                                   pattern((8 << 20) + 5, 3), pattern((8 << 20) + 63, 4)};
        QVERIFY(shuffledCorrectly(in, QStringLiteral("odd")));
    }

    // Deep prefetch on two workers: calls queue up in each ring until it is full; the rest
    // goes inline, and the ring wraps around. Every result must still be exact and in place.
    void prefetchFillsTheRingsAndOverflowsInline()
    {
        PoolOptions options;
        options.maxWorkers = 2;
        options.prefetch = 6;
        start(options);
        QList<QByteArray> inputs;
        QList<QFuture<QByteArray>> futures;
        for (int i = 0; i < 12; ++i) {
            inputs.append(pattern((1 << 20) + i * 37777, i));
            futures.append(m_manager->submitTask(echo, inputs.last()));
        }
        for (int i = 0; i < futures.size(); ++i)
            QCOMPARE(futures[i].result(), inputs.at(i));
    }

    // One worker, payloads that grow the rings, then shrink again, then mixed.
    void ringsGrowAndKeepWorking()
    {
        start(PoolOptions());
        int seed = 0;
        for (int size : {100000, 1 << 20, 8 << 20, 100000, 3 << 20, 20 << 20, 70000}) {
            const QByteArray data = pattern(size, ++seed);
            QCOMPARE(m_manager->submitTask(echo, data).result(), data);
            QCOMPARE(m_manager->submitTask(generate, size, seed).result(), data);
        }
        QCOMPARE(m_manager->getPool()->stats().workersStarted, quint64(1));
    }

    // Two pools in one process with large payloads in flight on four workers: this thread
    // copies the calls into their rings, each pool's engine thread the results out, and all
    // of them share the process's copy helpers. Every byte must come back.
    void twoPoolsCopyLargePayloadsAtOnce()
    {
        PoolOptions options;
        options.maxWorkers = 2;
        options.prefetch = 2;
        start(options);
        ProcessPoolManager *other = getOrCreateProcessManager(QStringLiteral("payload-other"));
        other->start(options);
        QList<QByteArray> inputs;
        QList<QFuture<QByteArray>> futures;
        for (int i = 0; i < 12; ++i) {
            inputs.append(pattern((5 << 20) + i * 4099, 100 + i));
            futures.append((i % 2 ? other : m_manager)->submitTask(echo, inputs.last()));
        }
        for (int i = 0; i < futures.size(); ++i)
            QVERIFY2(futures[i].result() == inputs.at(i), qPrintable(QString::number(i)));
        other->stop();
        QVERIFY(removeProcessManager(QStringLiteral("payload-other")));
    }

    void mapWithLargeItems()
    {
        PoolOptions options;
        options.maxWorkers = 2;
        start(options);
        QList<QByteArray> items;
        for (int i = 0; i < 24; ++i)
            items.append(pattern(80000 + i * 1000, i));
        MapOptions mapOptions;
        mapOptions.chunkSize = 5;
        const QList<QByteArray> results = m_manager->map(echo, items, mapOptions).results();
        QCOMPARE(results, items);
    }

    void userTypesAndVariantsTravelAsAttachments()
    {
        start(PoolOptions());
        const Blob blob{QStringLiteral("big"), pattern(500000, 9)};
        const Blob back = m_manager->submitTask(renameBlob, blob).result();
        QCOMPARE(back.name, QStringLiteral("big!"));
        QCOMPARE(back.data, blob.data);

        const QByteArray data = pattern(300000, 10);
        const QVariant result =
            m_manager->submitTask(QStringLiteral("payload.echo"), QVariantList{data}).result();
        QCOMPARE(result.toByteArray(), data);
        QCOMPARE(m_manager->submitTask(QStringLiteral("payload.checksum"), QVariantList{data})
                     .result()
                     .toLongLong(),
                 m_manager->submitTask(checksum, data).result());
    }

    void frameLimitCountsAttachments()
    {
        PoolOptions options;
        options.maxFrameSize = 1 << 20;
        start(options);
        try {
            m_manager->submitTask(echo, pattern(2 << 20, 1));
            QFAIL("a call over maxFrameSize was queued");
        } catch (const CodecError &e) {
            QVERIFY2(e.message().contains(QLatin1String("over the frame limit of 1048576 bytes")),
                     qPrintable(e.message()));
        }
        const QString tooBig = failureOf(m_manager->submitTask(generate, 2 << 20, 1));
        QVERIFY2(tooBig.contains(QLatin1String("maxFrameSize")), qPrintable(tooBig));
        const QByteArray fits = pattern(900000, 2);
        QCOMPARE(m_manager->submitTask(echo, fits).result(), fits);
        QCOMPARE(m_manager->getPool()->stats().workersStarted, quint64(1)); // nothing crashed
    }

    // A worker killed while a large argument is on its way: the task fails as a crash, the
    // replacement gets fresh rings, and the pool holds no descriptor of the dead worker's.
    void crashInTheMiddleLeavesNothingBehind()
    {
        const int fdsBefore = openFds();
        const QStringList shmBefore = devShm();
        PoolOptions options;
        options.maxWorkers = 1;
        options.prefetch = 2;
        start(options);
        const QByteArray data = pattern(12 << 20, 4);
        QFuture<int> crashed = m_manager->submitTask(crashOnLarge, data);
        QFuture<QByteArray> requeued = m_manager->submitTask(echo, data);
        const QString why = failureOf(crashed);
        QVERIFY2(why.contains(QLatin1String("SIGKILL")) || why.contains(QLatin1String("signal 9")),
                 qPrintable(why));
        QCOMPARE(requeued.result(), data); // prefetched behind the crash, re-queued, delivered
        QCOMPARE(m_manager->getPool()->stats().workersStarted, quint64(2));
        QCOMPARE(ringDescriptors().size(), 2); // the live worker's pair only
        m_manager->stop();
        QTRY_COMPARE(openFds(), fdsBefore);
        QVERIFY(ringDescriptors().isEmpty());
        QCOMPARE(devShm(), shmBefore); // memory files have no name: nothing to clean up
    }

    // Each worker inherits its own two rings, close-on-exec (so the processes a task starts
    // do not get them), sealed so that a worker cannot shrink them under the pool.
    void ringsArePrivateAndSealed()
    {
        PoolOptions options;
        options.maxWorkers = 2;
        options.minWorkers = 2;
        start(options);
        QTRY_COMPARE(m_manager->getPool()->workers().size(), 2);
        for (int i = 0; i < 5; ++i) {
            // Two tasks at once: each idle worker gets one. A worker that had inherited the
            // other's rings would list four.
            QFuture<QStringList> a = m_manager->submitTask(ringsInWorker);
            QFuture<QStringList> b = m_manager->submitTask(ringsInWorker);
            for (QFuture<QStringList> *f : {&a, &b}) {
                const QStringList rings = f->result();
                QCOMPARE(rings.size(), 2);
                for (const QString &ring : rings)
                    QVERIFY2(ring.endsWith(QLatin1String(":cloexec:sealed")), qPrintable(ring));
            }
        }
        QCOMPARE(ringDescriptors().size(), 4); // two per worker, in the pool
        const QByteArray data = pattern(2 << 20, 5);
        QCOMPARE(m_manager->submitTask(echo, data).result(), data); // still intact
    }
};

PROCPOOL_TEST_MAIN(TestPayload)
#include "tst_payload.moc"
