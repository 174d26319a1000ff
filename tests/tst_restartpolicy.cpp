// procpool tests — what a pool does when its workers fail to start (restartpolicy_p.h), as
// the pure decision it is: broken after three failures of a worker's own in a row, started
// again with growing delays after kills from outside, broken after sixteen of those, and both
// forgotten once a worker is ready.
#include "restartpolicy_p.h"

#include <QtTest/QTest>

using procpool::detail::RestartPolicy;
using Cause = RestartPolicy::Cause;

class TestRestartPolicy : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void fatalFailuresBreakThePoolOnTheThird()
    {
        RestartPolicy p;
        QVERIFY(p.failed(Cause::Fatal, QStringLiteral("one"), false).brokenReason.isEmpty());
        QVERIFY(p.failed(Cause::Fatal, QStringLiteral("two"), false).brokenReason.isEmpty());
        const RestartPolicy::Decision d = p.failed(Cause::Fatal, QStringLiteral("three"), false);
        QCOMPARE(d.brokenReason,
                 QStringLiteral("3 workers in a row failed to start; the last one: three"));
        QCOMPARE(d.restartDelayMs, -1); // no restart of a program that fails by itself
    }

    void killsRestartWithGrowingDelays()
    {
        RestartPolicy p;
        QList<int> delays;
        for (int i = 0; i < 8; ++i)
            delays << p.failed(Cause::Killed, QStringLiteral("killed by SIGKILL"), false).restartDelayMs;
        QCOMPARE(delays, (QList<int>{0, 50, 100, 200, 400, 800, 1000, 1000}));
    }

    void killsTogetherCountOnce()
    {
        RestartPolicy p;
        QCOMPARE(p.failed(Cause::Killed, QString(), false).restartDelayMs, 0);
        // Its siblings, reported while the restart is pending: nothing more.
        for (int i = 0; i < 3; ++i) {
            const RestartPolicy::Decision d = p.failed(Cause::Killed, QString(), true);
            QCOMPARE(d.restartDelayMs, -1);
            QVERIFY(d.brokenReason.isEmpty());
        }
        QCOMPARE(p.failed(Cause::Killed, QString(), false).restartDelayMs, 50); // the second
    }

    void sixteenKillsInARowBreakThePool()
    {
        RestartPolicy p;
        for (int i = 1; i < RestartPolicy::maxKilled; ++i)
            QVERIFY(p.failed(Cause::Killed, QStringLiteral("x"), false).brokenReason.isEmpty());
        QCOMPARE(p.failed(Cause::Killed, QStringLiteral("killed by SIGKILL"), false).brokenReason,
                 QStringLiteral("16 workers in a row were killed before they were ready; the "
                                "last one: killed by SIGKILL"));
    }

    void aReadyWorkerForgetsBoth()
    {
        RestartPolicy p;
        p.failed(Cause::Fatal, QString(), false);
        p.failed(Cause::Fatal, QString(), false);
        for (int i = 0; i < 5; ++i)
            p.failed(Cause::Killed, QString(), false);
        p.succeeded();
        QVERIFY(p.failed(Cause::Fatal, QString(), false).brokenReason.isEmpty());
        QVERIFY(p.failed(Cause::Fatal, QString(), false).brokenReason.isEmpty());
        QCOMPARE(p.failed(Cause::Killed, QString(), false).restartDelayMs, 0);
    }

    void killsAndFailuresCountApart()
    {
        // A kill between two failures of the program's own does not hide the crash loop.
        RestartPolicy p;
        p.failed(Cause::Fatal, QString(), false);
        p.failed(Cause::Killed, QString(), false);
        p.failed(Cause::Fatal, QString(), false);
        QVERIFY(!p.failed(Cause::Fatal, QStringLiteral("third"), false).brokenReason.isEmpty());
    }
};

QTEST_APPLESS_MAIN(TestRestartPolicy)
#include "tst_restartpolicy.moc"
