// procpool tests — a wait for a condition is a hang guard, never a timing threshold.
//
// Qt's QTRY_VERIFY, QTRY_VERIFY2 and QTRY_COMPARE give up after 5 s, which a busy 2-core
// machine (sanitizer builds, two suites at once) can exceed for things that do happen: a
// killed worker being reaped, a poll catching up, a batch of tasks under ThreadSanitizer. Here
// every wait of every suite, these macros included, gives up only after hangGuardMs; a test
// that passes is no slower for it. A suite never picks a bound of its own: a shorter one is a
// threshold in disguise, a longer one is not needed.
#pragma once

#include <QtTest/QTest>

namespace procpool::tests {
//! Upper bound of every wait in the suites: a hang guard, never a performance expectation.
inline constexpr int hangGuardMs = 180000;
} // namespace procpool::tests

#undef QTRY_VERIFY
#define QTRY_VERIFY(expr) QTRY_VERIFY_WITH_TIMEOUT(expr, procpool::tests::hangGuardMs)
#undef QTRY_VERIFY2
#define QTRY_VERIFY2(expr, message)                                                           \
    QTRY_VERIFY2_WITH_TIMEOUT(expr, message, procpool::tests::hangGuardMs)
#undef QTRY_COMPARE
#define QTRY_COMPARE(expr, expected)                                                          \
    QTRY_COMPARE_WITH_TIMEOUT(expr, expected, procpool::tests::hangGuardMs)
