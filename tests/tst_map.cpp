// ProcessPoolManager::map(): one future for many items, sent to the workers in chunks.
// Order, chunk sizes, empty input, failing items, a worker crash in the middle, cancellation,
// the task-type guard, and the MapCall/MapResult frames on the wire.
// ProcessPoolManager::mapStream(): a lazy map over a range with a bounded window of items in
// flight: the window, when items are taken, failures, cancellation, iteration and moves.
#include <procpool/mapstream.h> // first: the public header compiles on its own

#include "faultsupport.h"
#include "frame_p.h"
#include "testmain.h"
#include "testtasks.h"

#include <procpool/procpool.h>

#include <QtCore/QCborArray>
#include <QtCore/QCborMap>
#include <QtCore/QDateTime>
#include <QtCore/QUrl>
#include <QtCore/QtEndian>
#include <QtCore/QFutureWatcher>
#include <QtCore/QThread>
#include <QtTest/QSignalSpy>

#include <csignal>
#include <limits>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <unistd.h>
#include <vector>

// clang before 16 cannot compile the views of libstdc++'s <ranges> (std::views::iota and the
// rest); built with it, the tests that use them run over Numbers, a hand-written range of the
// same items.
#if defined(__clang__) && __clang_major__ < 16
#define PROCPOOL_STD_VIEWS 0
#else
#define PROCPOOL_STD_VIEWS 1
#endif

using namespace procpool;

namespace {

const Task<int(int)> square{"map.square", [](int x) { return x * x; }};
const Task<QString(int)> toText{"map.toText", [](int x) { return QString::number(x); }};
const Task<int(int)> failAt57{"map.failAt57", [](int x) {
    if (x == 57)
        throw std::out_of_range("item 57 is out of range");
    return x;
}};
const Task<int(int)> crashAt500{"map.crashAt500", [](int x) {
    if (x == 500)
        std::raise(SIGSEGV);
    return x;
}};
const Task<int(int)> slow{"map.slow", [](int ms) {
    QThread::msleep(ulong(ms));
    return ms;
}};
const Task<void(int)> nothing{"map.nothing", [](int) {}};
const Task<qint64(int)> failFirstElseSleep{"map.failFirstElseSleep", [](int x) -> qint64 {
    if (x == 0)
        throw std::runtime_error("first item fails");
    QThread::msleep(300);
    return qint64(::getpid());
}};

const Task<int(int)> sleepLong{"map.sleepLong", [](int x) {
    QThread::sleep(60); // ends only by a cancellation, which kills its worker
    return x;
}};

//! A single-pass input range of the ints from \a first, up to \a last (excluded) or without
//! end, that counts in *taken the items read from it: what a generator or a reader of a file is.
class Numbers
{
public:
    class iterator
    {
    public:
        using value_type = int;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        int operator*() const
        {
            if (m_numbers->m_taken)
                ++*m_numbers->m_taken;
            return m_numbers->m_value;
        }
        iterator &operator++()
        {
            ++m_numbers->m_value;
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator &it, std::default_sentinel_t) { return it.atEnd(); }

    private:
        friend class Numbers;
        explicit iterator(Numbers *numbers) : m_numbers(numbers) {}
        bool atEnd() const { return m_numbers->m_last && m_numbers->m_value >= *m_numbers->m_last; }
        Numbers *m_numbers = nullptr;
    };

    Numbers(int first, std::optional<int> last, int *taken = nullptr)
        : m_value(first), m_last(last), m_taken(taken)
    {
    }
    Numbers(Numbers &&) = default;
    Numbers &operator=(Numbers &&) = default;
    iterator begin() { return iterator(this); }
    std::default_sentinel_t end() const { return std::default_sentinel; }

private:
    int m_value;
    std::optional<int> m_last;
    int *m_taken;
};
static_assert(std::ranges::input_range<Numbers> && !std::ranges::forward_range<Numbers>);

//! 0, 1, 2, ... without end.
auto naturals()
{
#if PROCPOOL_STD_VIEWS
    return std::views::iota(0);
#else
    return Numbers(0, std::nullopt);
#endif
}

//! 0 .. n-1, counting in \a taken the items read from it.
auto counted(int n, int &taken)
{
#if PROCPOOL_STD_VIEWS
    return std::views::iota(0, n) | std::views::transform([&taken](int x) {
               ++taken;
               return x;
           });
#else
    return Numbers(0, n, &taken);
#endif
}

static_assert(std::ranges::input_range<MapStream<int>>);
static_assert(std::input_iterator<MapStream<int>::iterator>);
static_assert(std::is_nothrow_move_constructible_v<MapStream<int>>
              && !std::is_copy_constructible_v<MapStream<int>>);

QList<int> range(int n)
{
    QList<int> items(n);
    for (int i = 0; i < n; ++i)
        items[i] = i;
    return items;
}

MapOptions chunked(int size)
{
    MapOptions options;
    options.chunkSize = size;
    return options;
}

} // namespace

class TestMap : public QObject
{
    Q_OBJECT

private:
    ProcessPoolManager *m_manager = nullptr;

private Q_SLOTS:
    void init() { m_manager = getOrCreateProcessManager(QStringLiteral("map-test"), true); }
    void cleanup() { removeProcessManager(QStringLiteral("map-test")); }

    void resultsInItemOrder_data()
    {
        QTest::addColumn<int>("items");
        QTest::addColumn<int>("chunkSize");
        QTest::newRow("chunk 1") << 300 << 1;
        QTest::newRow("chunk 7, uneven tail") << 1000 << 7;
        QTest::newRow("chunk 256") << 5000 << 256;
        QTest::newRow("chunk equals size") << 640 << 640;
        QTest::newRow("chunk larger than size") << 100 << 1000;
        QTest::newRow("automatic") << 20000 << 0;
        QTest::newRow("one item") << 1 << 0;
    }

    void resultsInItemOrder()
    {
        QFETCH(int, items);
        QFETCH(int, chunkSize);
        m_manager->start(3);
        QFuture<int> future = m_manager->map(square, range(items), chunked(chunkSize));
        const QList<int> results = future.results();
        QCOMPARE(results.size(), items);
        for (int i = 0; i < items; ++i)
            QCOMPARE(results[i], i * i);
        QCOMPARE(future.resultAt(items - 1), (items - 1) * (items - 1));
        QCOMPARE(future.resultCount(), items);
        QCOMPARE(future.progressMaximum(), items);
        QCOMPARE(future.progressValue(), items);
        QVERIFY(!future.isCanceled());
        // One task per chunk in the pool's counters.
        const int chunks = chunkSize > 0 ? (items + chunkSize - 1) / chunkSize : -1;
        const PoolStats stats = m_manager->getPool()->stats();
        if (chunks > 0)
            QCOMPARE(stats.completed, quint64(chunks));
        QCOMPARE(stats.failed, quint64(0));
    }

    void convertsItemsAndResults()
    {
        m_manager->start(2);
        // Items are converted to the task's parameter type, results decoded to its result type.
        const QList<short> items{1, -2, 300};
        QCOMPARE(m_manager->map(toText, items, chunked(2)).results(),
                 (QList<QString>{QStringLiteral("1"), QStringLiteral("-2"), QStringLiteral("300")}));
    }

    void voidTaskGivesAVoidFuture()
    {
        m_manager->start(2);
        QFuture<void> future = m_manager->map(nothing, range(500), chunked(64));
        future.waitForFinished();
        QVERIFY(!future.isCanceled());
        QCOMPARE(future.progressValue(), 500);
        QCOMPARE(m_manager->getPool()->stats().completed, quint64(8));
    }

    void emptyInputFinishesAtOnce()
    {
        m_manager->start(1);
        QFuture<int> future = m_manager->map(square, QList<int>());
        QVERIFY(future.isFinished());
        QVERIFY(!future.isCanceled());
        QVERIFY(future.results().isEmpty());
        QCOMPARE(m_manager->getPool()->stats().submitted, quint64(0));
        QCOMPARE(m_manager->getPool()->workers().size(), 0); // no worker started for nothing
    }

    void watcherSeesResultsAndProgress()
    {
        m_manager->start(2);
        QFutureWatcher<int> watcher;
        QSignalSpy finished(&watcher, &QFutureWatcher<int>::finished);
        QSignalSpy ready(&watcher, &QFutureWatcher<int>::resultsReadyAt);
        watcher.setFuture(m_manager->map(square, range(100), chunked(10)));
        QVERIFY(finished.wait(10000));
        QVERIFY(!ready.isEmpty());
        int reported = 0;
        for (const auto &args : ready)
            reported += args.at(1).toInt() - args.at(0).toInt();
        QCOMPARE(reported, 100);
        QCOMPARE(watcher.future().results().size(), 100);
    }

    void exceptionInAnItemFailsTheFuture()
    {
        m_manager->start(2);
        const qint64 workerBefore = m_manager->submitTask(tasks::pid).result();
        QFuture<int> future = m_manager->map(failAt57, range(200), chunked(16));
        try {
            future.results();
            QFAIL("expected TaskException");
        } catch (const TaskException &e) {
            QCOMPARE(e.taskName(), QStringLiteral("map.failAt57"));
            QCOMPARE(e.typeName(), QStringLiteral("std::out_of_range"));
            QCOMPARE(e.originalMessage(), QStringLiteral("item 57 is out of range"));
        }
        QVERIFY_THROWS_EXCEPTION(TaskException, future.waitForFinished());
        // The worker lives on and the pool keeps working.
        QVERIFY(m_manager->getPool()->workerPids().contains(workerBefore));
        QCOMPARE(m_manager->map(square, range(50), chunked(16)).results().size(), 50);
        QCOMPARE(m_manager->getPool()->stats().workersCrashed, quint64(0));
    }

    void failureDoesNotKillWorkersRunningOtherChunks()
    {
        // Item 0 fails at once while the other worker runs a slow chunk: the failure must not
        // be mistaken for a cancellation and get that worker killed.
        PoolOptions options;
        options.maxWorkers = 2;
        options.minWorkers = 2;
        m_manager->start(options);
        // workerExited is emitted on the engine thread.
        faultsupport::WorkerEvents events(m_manager);
        ProcessPool *pool = m_manager->getPool();
        QTRY_COMPARE(pool->workers().size(), 2);
        QList<qint64> workers = pool->workerPids();
        std::sort(workers.begin(), workers.end());
        QFuture<qint64> future = m_manager->map(failFirstElseSleep, range(4), chunked(1));
        QVERIFY_THROWS_EXCEPTION(TaskException, future.waitForFinished());
        // The slow chunks end: normally, or by a kill that the pool has taken in (a killed
        // worker's task counts as running until its exit has been handled).
        QTRY_VERIFY(pool->stats().running == 0 && pool->stats().queued == 0);
        QList<qint64> after = pool->workerPids();
        std::sort(after.begin(), after.end());
        QCOMPARE(after, workers);
        QCOMPARE(events.exitCount(), qsizetype(0));
        QCOMPARE(pool->stats().workersCrashed, quint64(0));
    }

    void workerCrashInTheMiddleFailsTheMap()
    {
        m_manager->start(2);
        QFuture<int> future = m_manager->map(crashAt500, range(2000), chunked(50));
        try {
            future.waitForFinished();
            QFAIL("expected WorkerCrashed");
        } catch (const WorkerCrashed &e) {
            QCOMPARE(e.taskName(), QStringLiteral("map.crashAt500"));
            QCOMPARE(e.signal(), SIGSEGV);
        }
        // The pool replaced the worker and runs the next map completely.
        const QList<int> again = m_manager->map(square, range(2000), chunked(50)).results();
        QList<int> squares;
        for (int i : range(2000))
            squares << i * i;
        QCOMPARE(again, squares);
        QCOMPARE(m_manager->getPool()->stats().workersCrashed, quint64(1)); // the one chunk
    }

    void cancelDropsRemainingChunks()
    {
        PoolOptions options;
        options.maxWorkers = 1;
        options.prefetch = 0;
        m_manager->start(options);
        QList<int> items(200, 20); // 200 items of 20 ms, one chunk each: 4 s in all
        QFuture<int> future = m_manager->map(slow, items, chunked(1));
        QTRY_VERIFY(future.resultCount() >= 3);
        future.cancel();
        QTRY_VERIFY(future.isFinished());
        QVERIFY(future.isCanceled());
        // The queued chunks never ran: once the pool is empty, most of the 200 were counted
        // cancelled, not completed (run, they would all have completed), and none twice.
        QTRY_VERIFY(m_manager->getPool()->stats().queued == 0
                    && m_manager->getPool()->stats().running == 0);
        const PoolStats stats = m_manager->getPool()->stats();
        QVERIFY2(stats.completed < 50, qPrintable(QString::number(stats.completed)));
        QVERIFY(stats.cancelled > 100);
        QCOMPARE(stats.completed + stats.cancelled + stats.failed, stats.submitted);
        // And it keeps working.
        QCOMPARE(m_manager->map(square, range(10)).results().size(), 10);
    }

    void stopRunsEveryChunkTerminateFailsTheRest()
    {
        // A non-daemon pool's stop() finishes every chunk already submitted.
        m_manager->start(2);
        QFuture<int> drained = m_manager->map(slow, QList<int>(40, 5), chunked(4));
        m_manager->stop();
        QVERIFY(drained.isFinished());
        QCOMPARE(drained.results(), QList<int>(40, 5));

        // terminate() fails what has not finished with PoolStopped.
        m_manager->start(1);
        QFuture<int> killed = m_manager->map(slow, QList<int>(100, 20), chunked(5));
        QTRY_VERIFY(killed.resultCount() >= 5);
        m_manager->terminate();
        QVERIFY_THROWS_EXCEPTION(PoolStopped, killed.waitForFinished());
    }

    void taskTypeProtection()
    {
        m_manager->start(1, QStringLiteral("critical"));
        QVERIFY_THROWS_EXCEPTION(UnknownTaskError, m_manager->map(square, range(10)));
        MapOptions other;
        other.taskType = QStringLiteral("batch");
        QVERIFY_THROWS_EXCEPTION(UnknownTaskError, m_manager->map(square, range(10), other));
        QCOMPARE(m_manager->getPool()->stats().submitted, quint64(0)); // nothing was queued
        MapOptions matching;
        matching.taskType = QStringLiteral("critical");
        QCOMPARE(m_manager->map(square, range(10), matching).results().size(), 10);
    }

    void notRunningThrows()
    {
        QVERIFY_THROWS_EXCEPTION(PoolNotRunning, m_manager->map(square, range(10)));
    }

    // ---- mapStream() ---------------------------------------------------------------------

    void streamOverAnEndlessRangeKeepsTheWindowExact()
    {
        m_manager->start(2);
        const int window = 4;
        MapStream<int> stream = m_manager->mapStream(square, naturals(), window);
        ProcessPool *pool = m_manager->getPool();
        QCOMPARE(stream.window(), window);
        QCOMPARE(stream.inFlight(), qsizetype(window));
        QCOMPARE(pool->stats().submitted, quint64(window));
        // Items are taken only inside next(): after each one, exactly one more was submitted.
        for (int taken = 1; taken <= 100; ++taken) {
            const std::optional<int> value = stream.next();
            QVERIFY(value);
            QCOMPARE(*value, (taken - 1) * (taken - 1));
            QCOMPARE(pool->stats().submitted, quint64(taken + window));
            QCOMPARE(stream.inFlight(), qsizetype(window));
            QVERIFY(!stream.atEnd());
        }
        QCOMPARE(pool->stats().failed, quint64(0));
    }

    void streamTakesAnItemOnlyWhenAResultIsTaken()
    {
        m_manager->start(2);
        int taken = 0;
        MapStream<int> stream = m_manager->mapStream(square, counted(20, taken), 3);
        QCOMPARE(taken, 3);
        // Results that are ready do not make the stream take more items.
        stream.head().waitForFinished();
        QCOMPARE(taken, 3);
        QCOMPARE(stream.next(), std::optional<int>(0));
        QCOMPARE(taken, 4);
        for (int i = 1; i < 20; ++i) {
            QCOMPARE(stream.next(), std::optional<int>(i * i));
            QCOMPARE(taken, std::min(i + 4, 20));
        }
        QCOMPARE(taken, 20);
        QVERIFY(stream.atEnd());
        QCOMPARE(stream.inFlight(), qsizetype(0));
        QVERIFY(!stream.next());
        QVERIFY(!stream.next());
        QVERIFY(!stream.head().isValid());
        QCOMPARE(taken, 20);
        QCOMPARE(m_manager->getPool()->stats().submitted, quint64(20));
        QCOMPARE(m_manager->getPool()->stats().completed, quint64(20));
    }

    void failedItemRethrowsAndTheStreamGoesOn()
    {
        m_manager->start(2);
        const QList<int> items{55, 56, 57, 58, 59};
        MapStream<int> stream = m_manager->mapStream(failAt57, items, 2);
        QCOMPARE(stream.next(), std::optional<int>(55));
        QCOMPARE(stream.next(), std::optional<int>(56));
        try {
            stream.next();
            QFAIL("expected TaskException");
        } catch (const TaskException &e) {
            QCOMPARE(e.taskName(), QStringLiteral("map.failAt57"));
            QCOMPARE(e.typeName(), QStringLiteral("std::out_of_range"));
            QCOMPARE(e.originalMessage(), QStringLiteral("item 57 is out of range"));
        }
        QCOMPARE(stream.inFlight(), qsizetype(2)); // 58 was submitted all the same
        QCOMPARE(stream.next(), std::optional<int>(58));
        QCOMPARE(stream.next(), std::optional<int>(59));
        QVERIFY(!stream.next());
        QVERIFY(stream.atEnd());

        // Iteration rethrows the same way; iterating again goes on after the failed item.
        MapStream<int> again = m_manager->mapStream(failAt57, QList<int>{56, 57, 58}, 1);
        QList<int> results;
        QVERIFY_THROWS_EXCEPTION(TaskException, [&] {
            for (const int &r : again)
                results << r;
        }());
        QCOMPARE(results, QList<int>{56});
        for (const int &r : again)
            results << r;
        QCOMPARE(results, (QList<int>{56, 58}));
        QCOMPARE(m_manager->getPool()->stats().workersCrashed, quint64(0));
    }

    void cancelledItemThrowsTaskCancelled()
    {
        m_manager->start(1);
        MapStream<int> stream = m_manager->mapStream(slow, QList<int>{60000, 3}, 2);
        QFuture<int> head = stream.head();
        head.cancel(); // that item alone: the stream goes on
        try {
            stream.next();
            QFAIL("expected TaskCancelled");
        } catch (const TaskCancelled &e) {
            QCOMPARE(e.taskName(), QStringLiteral("map.slow"));
        }
        QVERIFY(head.isCanceled());
        QCOMPARE(stream.next(), std::optional<int>(3));
        QVERIFY(!stream.next());
    }

    void itemThatCannotBeSentFailsInItsPlace()
    {
        PoolOptions options;
        options.maxWorkers = 1;
        options.maxFrameSize = 1024;
        m_manager->start(options);
        const QList<QByteArray> items{QByteArray(10, 'a'), QByteArray(4000, 'b'),
                                      QByteArray(3, 'c')};
        MapStream<QByteArray> stream = m_manager->mapStream(tasks::echoBytes, items, 3);
        QCOMPARE(stream.inFlight(), qsizetype(3));
        QCOMPARE(stream.next(), std::optional<QByteArray>(items[0]));
        QVERIFY_THROWS_EXCEPTION(CodecError, stream.next()); // over maxFrameSize
        QCOMPARE(stream.next(), std::optional<QByteArray>(items[2]));
        QVERIFY(!stream.next());
        QCOMPARE(m_manager->getPool()->stats().submitted, quint64(2));
    }

    void cancelAndDestructionCancelWhatIsInFlight()
    {
        m_manager->start(2);
        ProcessPool *pool = m_manager->getPool();
        int taken = 0;
        MapStream<int> stream = m_manager->mapStream(sleepLong, counted(100, taken), 4);
        const QFuture<int> head = stream.head();
        QCOMPARE(taken, 4);
        stream.cancel();
        QVERIFY(head.isCanceled());
        QVERIFY(stream.atEnd());
        QCOMPARE(stream.inFlight(), qsizetype(0));
        QVERIFY(!stream.next());
        QVERIFY(!stream.head().isValid());
        QCOMPARE(taken, 4); // no item taken after cancel()
        // The pool dropped the queued items and stopped the running ones: none completed.
        QTRY_VERIFY(pool->stats().queued == 0 && pool->stats().running == 0);
        QCOMPARE(pool->stats().submitted, quint64(4));
        QCOMPARE(pool->stats().cancelled, quint64(4));
        QCOMPARE(pool->stats().completed, quint64(0));
        QCOMPARE(m_manager->submitTask(square, 7).result(), 49);

        // Destroying a stream cancels the same way.
        int takenByDestroyed = 0;
        QFuture<int> destroyedHead;
        {
            MapStream<int> doomed =
                m_manager->mapStream(sleepLong, counted(100, takenByDestroyed), 3);
            destroyedHead = doomed.head();
        }
        QVERIFY(destroyedHead.isCanceled());
        QCOMPARE(takenByDestroyed, 3);
        QTRY_VERIFY(pool->stats().queued == 0 && pool->stats().running == 0);
        QCOMPARE(pool->stats().submitted, quint64(4 + 1 + 3));
        QCOMPARE(pool->stats().cancelled, quint64(4 + 3));
        QCOMPARE(pool->stats().completed, quint64(1));
        QCOMPARE(takenByDestroyed, 3);
        QCOMPARE(m_manager->submitTask(square, 8).result(), 64);
    }

    void rangeForAndHead()
    {
        m_manager->start(3);
        std::vector<int> items(50);
        for (int i = 0; i < 50; ++i)
            items[size_t(i)] = i;
        MapStream<int> stream = m_manager->mapStream(square, items, 5);
        // Event-driven: watch head(), then next() takes the result without blocking.
        QFutureWatcher<int> watcher;
        QSignalSpy finished(&watcher, &QFutureWatcher<int>::finished);
        watcher.setFuture(stream.head());
        QTRY_COMPARE(finished.count(), 1);
        QVERIFY(stream.head().isFinished());
        QCOMPARE(stream.next(), std::optional<int>(0));
        // .then() on a head that has finished.
        QFuture<int> head = stream.head();
        head.waitForFinished();
        QCOMPARE(head.then([](int value) { return value + 100; }).result(), 101);
        QCOMPARE(stream.next(), std::optional<int>(1)); // head() did not take it
        QList<int> rest;
        for (const int &r : stream)
            rest << r;
        QCOMPARE(rest.size(), 48);
        for (int i = 2; i < 50; ++i)
            QCOMPARE(rest[i - 2], i * i);
        QVERIFY(stream.atEnd());
        QVERIFY(!stream.head().isValid());
    }

    void singlePassRangeOwnedByAMovedStream()
    {
        m_manager->start(2);
        int taken = 0;
        // An rvalue range is moved into the stream, which owns it.
        MapStream<int> first = m_manager->mapStream(square, Numbers(10, 30, &taken), 2);
        QCOMPARE(taken, 2);
        auto it = first.begin();
        QCOMPARE(*it, 100);
        // The iterator refers to the stream's state, which a move does not touch.
        MapStream<int> second = std::move(first);
        QVERIFY(first.atEnd());
        QVERIFY(!first.next());
        QCOMPARE(first.inFlight(), qsizetype(0));
        ++it;
        QCOMPARE(*it, 121);
        QList<int> results;
        for (const int &r : second)
            results << r;
        QCOMPARE(results.size(), 18);
        QCOMPARE(results.front(), 12 * 12);
        QCOMPARE(results.back(), 29 * 29);
        QCOMPARE(taken, 20);
        // Assigning another stream to it cancels what it had in flight.
        second = m_manager->mapStream(sleepLong, naturals(), 2);
        const QFuture<int> head = second.head();
        second = MapStream<int>();
        QVERIFY(head.isCanceled());
        QVERIFY(second.atEnd());
    }

    void windowBelowOneThrows()
    {
        m_manager->start(1);
        int taken = 0;
        for (int window : {0, -1}) {
            try {
                m_manager->mapStream(square, counted(10, taken), window);
                QFAIL("expected std::invalid_argument");
            } catch (const std::invalid_argument &e) {
                QVERIFY2(QByteArray(e.what()).contains("window"), e.what());
            }
        }
        QCOMPARE(taken, 0);
        QCOMPARE(m_manager->getPool()->stats().submitted, quint64(0));
    }

    void streamThrowsAsSubmitTaskDoes()
    {
        int taken = 0;
        QVERIFY_THROWS_EXCEPTION(PoolNotRunning,
                                 m_manager->mapStream(square, counted(10, taken), 2));
        m_manager->start(1, QStringLiteral("critical"));
        QVERIFY_THROWS_EXCEPTION(UnknownTaskError,
                                 m_manager->mapStream(square, counted(10, taken), 2));
        QCOMPARE(taken, 0); // nothing was taken from the range
        QCOMPARE(m_manager->getPool()->stats().submitted, quint64(0));
        MapStream<int> stream = m_manager->mapStream(square, counted(10, taken), 2,
                                                     TaskType(QStringLiteral("critical")));
        QList<int> results;
        for (const int &r : stream)
            results << r;
        QCOMPARE(results.size(), 10);
        QCOMPARE(results.back(), 81);
        // A pool stopped under a stream: the next submission throws, the result is kept.
        MapStream<int> stopped = m_manager->mapStream(square, naturals(), 1,
                                                      TaskType(QStringLiteral("critical")));
        stopped.head().waitForFinished();
        m_manager->stop();
        QVERIFY_THROWS_EXCEPTION(PoolNotRunning, stopped.next());
        QCOMPARE(stopped.inFlight(), qsizetype(1));
        m_manager->start(1, QStringLiteral("critical"));
        QCOMPARE(stopped.next(), std::optional<int>(0)); // item 1 went to the new pool
        QCOMPARE(stopped.next(), std::optional<int>(1));
        QCOMPARE(m_manager->getPool()->stats().submitted, quint64(2));
    }

    void frameBodiesAreStandardCbor()
    {
        // The engine writes frame bodies with its own CBOR writer; they must be the bytes Qt's
        // encoder produces for the same value.
        const QCborValue values[] = {
            0, 23, 24, 255, 256, 65535, 65536, qint64(0xffffffffLL), qint64(0x100000000LL),
            std::numeric_limits<qint64>::max(), -1, -24, -25, -256, -257,
            std::numeric_limits<qint64>::min(), 0.5, -1e300, std::numeric_limits<double>::infinity(),
            true, false, QCborValue(QCborValue::Null), QCborValue(), QCborValue(QCborSimpleType(42)),
            QStringLiteral(""), QStringLiteral("ascii"), QString::fromUtf8("\xc3\xbc\xe6\xbc\xa2"),
            QByteArray(), QByteArray(70000, 'x'),
            QCborValue(QCborTag(0x70700001), QByteArray("\x00\x01", 2)),
            QCborValue(QCborKnownTags::PositiveBignum, QByteArray(8, '\xff')),
            QCborArray{1, QStringLiteral("two"), QCborArray{3, QCborMap{{QStringLiteral("k"), 4}}}},
            QCborMap{{QStringLiteral("a"), 1}, {QStringLiteral("b"), QCborArray{}}, {2, 3}},
            QCborValue(QDateTime(QDate(2024, 2, 29), QTime(12, 0), Qt::UTC)),
            QCborValue(QUrl(QStringLiteral("https://example.org/x"))),
        };
        for (const QCborValue &value : values) {
            const QByteArray frame = detail::encodeFrame(detail::FrameType::Result, 1, value);
            QCOMPARE(frame.mid(detail::frameHeaderSize).toHex(), value.toCbor().toHex());
            QCOMPARE(qsizetype(qFromLittleEndian<quint32>(frame.constData())), frame.size() - 4);
            // And the engine's reader gives back what Qt's reader gives.
            QCborValue parsed;
            QString error;
            QVERIFY2(detail::parseBody(value.toCbor(), &parsed, &error), qPrintable(error));
            QCOMPARE(parsed, QCborValue::fromCbor(value.toCbor()));
            QCOMPARE(parsed.toCbor(), value.toCbor());
        }
        // Forms the engine's writer never produces still read as Qt reads them.
        const QByteArray others[] = {
            QByteArray::fromHex("f93c00"),             // half float 1.0
            QByteArray::fromHex("fa3fc00000"),         // float 1.5
            QByteArray::fromHex("9f0102ff"),           // indefinite-length array
            QByteArray::fromHex("1bffffffffffffffff"), // integer beyond qint64
            QByteArray::fromHex("a2616101616102"),     // duplicate map keys
            QByteArray::fromHex("62c3bc"),             // non-ASCII text
            QByteArray::fromHex("f820"),               // one-byte simple value
        };
        for (const QByteArray &cbor : others) {
            QCborValue parsed;
            QString error;
            QVERIFY2(detail::parseBody(cbor, &parsed, &error), qPrintable(error));
            QCOMPARE(parsed, QCborValue::fromCbor(cbor));
        }
    }

    void callFramesAreStandardCbor()
    {
        // encodeCallFrame() writes [name, [arguments...]] itself, an ASCII name straight from
        // its UTF-16: the bytes must be Qt's for the same array, whatever the name.
        const QString names[] = {
            QStringLiteral("add"), QString(), QString(23, QLatin1Char('n')),
            QString(24, QLatin1Char('n')), QString(300, QLatin1Char('n')),
            QString::fromUtf8("r\xc3\xa9sum\xc3\xa9"), QString::fromUtf8("\xe6\xbc\xa2\xf0\x9f\x98\x80"),
            QStringLiteral("tab\tand\x7f"),
        };
        const QCborArray arguments{1, QStringLiteral("two"), QByteArray("3")};
        for (const QString &name : names) {
            const QByteArray frame =
                detail::encodeCallFrame(detail::FrameType::Call, 7, name, arguments);
            const QByteArray expected = QCborArray{name, arguments}.toCborValue().toCbor();
            QCOMPARE(frame.mid(detail::frameHeaderSize).toHex(), expected.toHex());
            QCOMPARE(qsizetype(qFromLittleEndian<quint32>(frame.constData())), frame.size() - 4);
        }
    }

    void chunkFramesOnTheWire()
    {
        // A MapCall carries [name, [item...]]; the worker answers [result...].
        const QByteArray body = QCborArray{QStringLiteral("map.square"), QCborArray{2, 3}}
                                    .toCborValue()
                                    .toCbor();
        const QByteArray frame = detail::encodeFrame(detail::FrameType::MapCall, 9, body);
        QCOMPARE(quint8(frame.at(4)), quint8(7));
        QVERIFY(detail::isKnownFrameType(7));
        QVERIFY(detail::isKnownFrameType(8));
        QVERIFY(detail::isKnownFrameType(9)); // Attachments
        QVERIFY(detail::isKnownFrameType(10)); // Cancel
        QVERIFY(!detail::isKnownFrameType(11));
        detail::FrameDecoder decoder(1 << 20);
        decoder.append(frame);
        detail::Frame decoded;
        QCOMPARE(decoder.next(&decoded), detail::FrameDecoder::Status::Frame);
        QCOMPARE(decoded.type, detail::FrameType::MapCall);
        QCOMPARE(decoded.id, quint64(9));
        QCOMPARE(decoded.body, body);
    }
};

PROCPOOL_TEST_MAIN(TestMap)
#include "tst_map.moc"
