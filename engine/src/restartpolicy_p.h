// procpool — what a pool does when its workers fail to start.
//
// A worker that ends before it is ready either did so itself (a missing program, an exit or
// a crash of its own, a handshake broken or too slow, an initializer that throws), which
// another start would only repeat, or was killed from outside (a user's kill, the OOM killer,
// its fork server dying), which another start may well survive. The first kind breaks the pool
// after a few in a row; the second starts another worker after a delay that grows, the way a
// service manager restarts a unit, and breaks the pool only after many in a row. A worker that
// becomes ready resets both. docs/architecture.md ("Crash loops") gives the reasons.
#pragma once

#include <procpool/procpool_export.h>

#include <QtCore/QString>

namespace procpool::detail {

class PROCPOOL_ENGINE_EXPORT RestartPolicy
{
public:
    enum class Cause { Fatal, Killed };
    struct Decision
    {
        QString brokenReason;    //!< not empty: the pool is broken, for this reason
        int restartDelayMs = -1; //!< 0 or more: start the next worker after this long
    };

    //! A worker failed to start because of \a reason. \a restartPending: a restart delay is
    //! already running, so this worker ended together with others and counts with them.
    Decision failed(Cause cause, const QString &reason, bool restartPending);
    //! A worker became ready.
    void succeeded();

    //! Fatal failures in a row that break the pool: enough to ride out one unlucky start, few
    //! enough that a missing program is reported within moments rather than fork-storming.
    static constexpr int maxFatal = 3;
    //! Kills in a row that break the pool (about 12 s of trying): something keeps killing
    //! them, and the queued tasks should not wait for ever.
    static constexpr int maxKilled = 16;
    //! The delays after kills: none after the first, then doubling from here up to the ceiling.
    static constexpr int firstDelayMs = 50;
    static constexpr int maxDelayMs = 1000;

private:
    int m_fatal = 0;
    int m_killed = 0;
};

} // namespace procpool::detail
