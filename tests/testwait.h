// procpool tests — a wait for a condition is a hang guard, never a timing threshold.
//
// Qt's QTRY_VERIFY, QTRY_VERIFY2 and QTRY_COMPARE give up after 5 s, which a busy 2-core
// machine (sanitizer builds, two suites at once) can exceed for things that do happen: a
// killed worker being reaped, a poll catching up, a batch of tasks under ThreadSanitizer. Here
// every wait of every suite, these macros included, gives up only after hangGuardMs; a test
// that passes is no slower for it. A suite never picks a bound of its own: a shorter one is a
// threshold in disguise, a longer one is not needed.
#pragma once

#include <QtCore/QDeadlineTimer>
#include <QtTest/QTest>

namespace procpool::tests {
//! Upper bound of every wait in the suites: a hang guard, never a performance expectation.
inline constexpr int hangGuardMs = 180000;
} // namespace procpool::tests

// Qt's macros look a second time, for twice as long, before they fail, to say how long would
// have been enough: a failing wait would last three hang guards, longer than Qt Test's watchdog
// and ctest's timeout, and end as a timeout that does not say what failed. These look once.
// A loop, not QTest::qWaitFor() and a lambda: clang 14 cannot capture structured bindings.
#define PROCPOOL_WAIT_FOR(condition)                                                          \
    for (QDeadlineTimer procpool_deadline(procpool::tests::hangGuardMs);                      \
         !QTest::currentTestFailed() && !(condition) && !procpool_deadline.hasExpired();)      \
    QTest::qWait(10)

#undef QTRY_VERIFY
#define QTRY_VERIFY(expr)                                                                     \
    do {                                                                                      \
        PROCPOOL_WAIT_FOR(expr);                                                              \
        QVERIFY(expr);                                                                        \
    } while (false)
#undef QTRY_VERIFY2
#define QTRY_VERIFY2(expr, message)                                                           \
    do {                                                                                      \
        PROCPOOL_WAIT_FOR(expr);                                                              \
        QVERIFY2(expr, message);                                                              \
    } while (false)
#undef QTRY_COMPARE
#define QTRY_COMPARE(expr, expected)                                                          \
    do {                                                                                      \
        PROCPOOL_WAIT_FOR((expr) == (expected));                                              \
        QCOMPARE(expr, expected);                                                             \
    } while (false)
