#include "restartpolicy_p.h"

#include <algorithm>

namespace procpool::detail {

RestartPolicy::Decision RestartPolicy::failed(Cause cause, const QString &reason,
                                              bool restartPending)
{
    Decision d;
    if (cause == Cause::Fatal) {
        if (++m_fatal >= maxFatal)
            d.brokenReason = QStringLiteral("%1 workers in a row failed to start; the last one: %2")
                                 .arg(m_fatal)
                                 .arg(reason);
        return d;
    }
    if (restartPending)
        return d; // a fork server killed while it started four workers is one kill, not four
    if (++m_killed >= maxKilled) {
        d.brokenReason = QStringLiteral("%1 workers in a row were killed before they were "
                                        "ready; the last one: %2")
                             .arg(m_killed)
                             .arg(reason);
        return d;
    }
    d.restartDelayMs = m_killed == 1 ? 0
                                     : std::min(maxDelayMs, firstDelayMs << std::min(m_killed - 2, 16));
    return d;
}

void RestartPolicy::succeeded()
{
    m_fatal = 0;
    m_killed = 0;
}

} // namespace procpool::detail
