// procpool tests — the dispatch policy (dispatchpolicy_p.h) as the pure function it is: which
// queued task goes to which worker, and how many workers start, for snapshots built by hand.
// No process, no event loop: each rule of docs/architecture.md ("Dispatch policy") is a case.
#include "dispatchpolicy_p.h"

#include <QtTest/QTest>

#include <vector>

using namespace procpool::detail::dispatch;

namespace {

Worker ready(int held = 0)
{
    Worker w;
    w.ready = true;
    w.busy = held > 0;
    w.held = held;
    w.handedOut = held;
    return w;
}

Worker starting()
{
    return Worker{};
}

//! A snapshot of \a workers and \a queue (expected durations; -1: not known), with \a active
//! and \a starting counted from the workers.
State snapshot(std::vector<Worker> workers, std::vector<Task> queue)
{
    State s;
    s.workers = std::move(workers);
    for (const Worker &w : s.workers) {
        ++s.active;
        s.starting += !w.ready;
    }
    auto shared = std::make_shared<std::vector<Task>>(std::move(queue));
    s.queued = shared->size();
    s.taskAt = [shared](std::size_t i) { return shared->at(i); };
    return s;
}

std::vector<Task> tasks(int count, qint64 expectedNs = -1)
{
    return std::vector<Task>(size_t(count), Task{expectedNs, false});
}

Limits limits(int maxWorkers, int prefetch = 1)
{
    Limits l;
    l.maxWorkers = maxWorkers;
    l.prefetch = prefetch;
    return l;
}

} // namespace

class TestDispatchPolicy : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void eachIdleWorkerGetsOneTaskFirst()
    {
        const Plan p = plan(snapshot({ready(), ready(1), ready()}, tasks(5)), limits(3, 4));
        // The pool may not grow (3 of 3), so prefetch follows: but first one each to the idle
        // ones (workers 0 and 2), then the rest topped up in the workers' order.
        QCOMPARE(p.taken.size(), size_t(5));
        QCOMPARE(p.taken[0], 0);
        QCOMPARE(p.taken[1], 2);
        QCOMPARE(p.workers[0].held + p.workers[1].held + p.workers[2].held, 6);
        QCOMPARE(p.start, 0);
    }

    void noPrefetchWhileThePoolCanGrow()
    {
        // Two busy workers of at most four: the queued task waits for a new worker rather
        // than behind a running one.
        const Plan p = plan(snapshot({ready(1), ready(1)}, tasks(3)), limits(4, 8));
        QVERIFY(p.taken.empty());
        QCOMPARE(p.start, 2); // one for each queued task, up to maxWorkers
        QVERIFY(!p.saturated);
    }

    void prefetchTopsUpToOnePlusPrefetch()
    {
        const Plan p = plan(snapshot({ready(1), ready(1)}, tasks(10)), limits(2, 2));
        QCOMPARE(p.taken, (std::vector<int>{0, 0, 1, 1}));
        QCOMPARE(p.workers[0].held, 3);
        QCOMPARE(p.workers[1].held, 3);
        QVERIFY(p.saturated); // full, cannot grow, and busy: their answers dispatch again
        QCOMPARE(p.start, 0);
    }

    void startingWorkersKeepTheirShare()
    {
        // One ready worker, one starting, none may be added: the ready one is topped up, but
        // 1 + prefetch tasks stay queued for the one that is starting.
        const Plan p = plan(snapshot({ready(1), starting()}, tasks(5)), limits(2, 2));
        QCOMPARE(p.taken, (std::vector<int>{0, 0}));
        QCOMPARE(p.start, 0);
    }

    void automaticPrefetchTakesOnlyShortTasks()
    {
        Limits l = limits(1, -1);
        l.budgetNs = 1000;
        // Known to take 300 ns each: one beyond the running task as always, then more while
        // the prefetched ones add up to no more than the budget (300, 600, 900 of 1000).
        Plan p = plan(snapshot({ready(1)}, tasks(10, 300)), l);
        QCOMPARE(p.taken.size(), size_t(3));
        QCOMPARE(p.workers[0].held, 4);
        QCOMPARE(p.workers[0].waitingNs, qint64(900));
        // Unknown ones: only the one beyond the running task.
        p = plan(snapshot({ready(1)}, tasks(10, -1)), l);
        QCOMPARE(p.taken.size(), size_t(1));
        // Long ones: the same.
        p = plan(snapshot({ready(1)}, tasks(10, 5000)), l);
        QCOMPARE(p.taken.size(), size_t(1));
    }

    void cancelledTasksAreDroppedNotSent()
    {
        std::vector<Task> queue = tasks(4);
        queue[0].cancelled = true;
        queue[2].cancelled = true;
        const Plan p = plan(snapshot({ready(), ready()}, queue), limits(2, 0));
        QCOMPARE(p.taken, (std::vector<int>{-1, 0, -1, 1}));
        QCOMPARE(p.workers[0].held, 1);
        QCOMPARE(p.workers[1].held, 1);
    }

    void maxTasksPerWorkerStopsHandingOut()
    {
        Limits l = limits(1, 4);
        l.maxTasksPerWorker = 3;
        Worker w = ready(1);
        w.handedOut = 2;
        const Plan p = plan(snapshot({w}, tasks(5)), l);
        QCOMPARE(p.taken, (std::vector<int>{0})); // its third, and no more
        QVERIFY(p.directIdle.empty());           // never handed tasks directly
    }

    void workersStartLazilyUpToTheLimit()
    {
        Plan p = plan(snapshot({}, tasks(3)), limits(8));
        QCOMPARE(p.start, 3);
        p = plan(snapshot({}, tasks(30)), limits(8));
        QCOMPARE(p.start, 8);
        p = plan(snapshot({starting(), starting()}, tasks(3)), limits(8));
        QCOMPARE(p.start, 1); // the two starting take two of the three
        p = plan(snapshot({}, {}), limits(8));
        QCOMPARE(p.start, 0); // nothing queued: nothing started
    }

    void minWorkersWhileRunning()
    {
        Limits l = limits(4);
        l.minWorkers = 2;
        QCOMPARE(plan(snapshot({ready()}, {}), l).start, 1);
        l.running = false; // stopping: no new workers for nothing
        QCOMPARE(plan(snapshot({ready()}, {}), l).start, 0);
    }

    void noStartDuringARestartDelay()
    {
        Limits l = limits(4);
        l.mayStart = false;
        QCOMPARE(plan(snapshot({}, tasks(3)), l).start, 0);
    }

    void idleWorkersMayTakeTasksDirectly()
    {
        Plan p = plan(snapshot({ready(), ready(1), starting()}, {}), limits(3));
        QCOMPARE(p.directIdle, (std::vector<int>{0}));
        // Not while tasks wait in the queue (they go first), nor while stopping.
        p = plan(snapshot({ready(1), ready(1)}, tasks(1)), limits(2, 0));
        QVERIFY(p.directIdle.empty());
        Limits stopping = limits(3);
        stopping.running = false;
        QVERIFY(plan(snapshot({ready()}, {}), stopping).directIdle.empty());
    }

    void aLongQueueIsReadOnlyAsFarAsItIsHandedOut()
    {
        State s = snapshot({ready(), ready()}, {});
        std::size_t looked = 0;
        s.queued = 1000000;
        s.taskAt = [&looked](std::size_t) {
            ++looked;
            return Task{};
        };
        const Plan p = plan(s, limits(2, 0));
        QCOMPARE(p.taken.size(), size_t(2));
        QVERIFY2(looked <= 4, qPrintable(QString::number(looked)));
    }
};

QTEST_APPLESS_MAIN(TestDispatchPolicy)
#include "tst_dispatchpolicy.moc"
