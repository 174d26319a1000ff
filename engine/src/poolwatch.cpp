// procpool — a worker's watch for the end of its pool: the thread that notices the pool process
// is gone, and what the worker loop tells it of each call.
#include "poolwatch_p.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

namespace procpool::detail {

qint64 monotonicNs()
{
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return qint64(now.tv_sec) * 1000000000 + now.tv_nsec;
}

namespace {

// When the pool is gone.
//
// A daemon worker dies with its pool (PR_SET_PDEATHSIG). A non-daemon one lets the call it is
// running finish, as a non-daemon pool promises, but starts nothing more, and it keeps that
// call's time limit, which only the pool enforced so far. The loop cannot watch for this while
// it blocks in task code or in read(), so a thread of its own does, without touching the
// protocol: it polls the protocol's output pipe for errors only. A pipe's write end reports
// POLLERR once no process holds the read end, and the pool is the only one that does (its end
// is close-on-exec, and the fork server closes what it passes on), so that is the moment the
// pool process ended. The end of our input would not do: the pool closes it to retire a worker
// that is to finish normally, and calls prefetched into the pipe stay readable after the pool
// died.
//
// The loop publishes each call before it starts it and then looks whether the pool is gone;
// the watcher says the pool is gone and then looks whether a call runs. One of the two sees the
// other (sequentially consistent operations), so no call starts unseen once the pool is gone.

//! How a worker ends when its pool died while it ran a call that then outlived its time limit.
constexpr int poolGoneTimeLimitExit = 124; // as timeout(1)

struct PoolWatch
{
    std::atomic<bool> poolGone{false};
    std::atomic<quint64> running{0}; //!< the running call's serial; 0 between calls
    // Of the running call, written before running (whose store publishes them):
    std::atomic<qint64> startNs{0};
    std::atomic<qint64> limitMs{0}; //!< 0: no time limit
    std::atomic<quint64> callId{0};
    int out = -1;       //!< the protocol's output descriptor
    bool daemon = false; //!< a daemon worker that no parent-death signal reaches: ends at once
    quint64 serial = 0; //!< the loop's count of calls
};

PoolWatch &poolWatch()
{
    static PoolWatch w; // only atomics and integers: nothing to destroy while the watcher runs
    return w;
}

[[noreturn]] void leaveForGonePool()
{
    std::fflush(stdout);
    std::_Exit(0);
}

void *watchPool(void *)
{
    PoolWatch &w = poolWatch();
    for (;;) {
        pollfd p{w.out, 0, 0};
        if (::poll(&p, 1, -1) < 0)
            continue; // EINTR (this thread blocks every signal, so hardly ever)
        if (p.revents & (POLLERR | POLLHUP))
            break;
        if (p.revents & POLLNVAL)
            return nullptr; // task code closed our descriptor: nothing left to watch
    }
    w.poolGone.store(true);
    if (w.daemon)
        leaveForGonePool();
    for (;;) {
        const quint64 serial = w.running.load();
        if (serial == 0)
            std::_Exit(0); // between calls: the loop would only find prefetched ones
        const qint64 limitMs = w.limitMs.load(std::memory_order_relaxed);
        if (limitMs <= 0)
            return nullptr; // the loop exits once the call is over
        const qint64 deadline = w.startNs.load(std::memory_order_relaxed) + limitMs * 1000000;
        const timespec until{time_t(deadline / 1000000000), long(deadline % 1000000000)};
        while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) == EINTR) {
        }
        if (w.running.load() == serial) {
            char line[160];
            const int n = std::snprintf(line, sizeof line,
                                        "procpool worker %d: the pool is gone and call %llu "
                                        "ran past its time limit of %lld ms; exiting\n",
                                        int(::getpid()),
                                        static_cast<unsigned long long>(w.callId.load()),
                                        static_cast<long long>(limitMs));
            if (n > 0) // most likely nobody reads it: stderr went to the pool as well
                [[maybe_unused]] const ssize_t written =
                    ::write(STDERR_FILENO, line, std::min<size_t>(size_t(n), sizeof line - 1));
            std::_Exit(poolGoneTimeLimitExit);
        }
        // That call ended meanwhile: the loop exits now; should it not have yet, look again.
    }
}

} // namespace

void startPoolWatch(int out, bool daemon)
{
    PoolWatch &w = poolWatch();
    w.out = out;
    w.daemon = daemon;
    pthread_attr_t attributes;
    ::pthread_attr_init(&attributes);
    // It needs next to no stack: a poll(), a sleep, a line of text.
    ::pthread_attr_setstacksize(&attributes, std::max<size_t>(PTHREAD_STACK_MIN, 64 * 1024));
    ::pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    // Signals keep going to the loop's thread, as before this thread existed: it inherits a
    // mask that blocks them all.
    sigset_t all, previous;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &previous);
    pthread_t thread;
    const int error = ::pthread_create(&thread, &attributes, watchPool, nullptr);
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    ::pthread_attr_destroy(&attributes);
    if (error != 0) {
        // The worker still works; only a pool's death goes unnoticed until a write fails.
        std::fprintf(stderr, "procpool worker %d: cannot watch for the pool's end: %s\n",
                     int(::getpid()), std::strerror(error));
        return;
    }
    ::pthread_setname_np(thread, "procpool-watch");
}

void callStarting(quint64 id, qint64 limitMs)
{
    PoolWatch &w = poolWatch();
    w.startNs.store(limitMs > 0 ? monotonicNs() : 0, std::memory_order_relaxed);
    w.limitMs.store(limitMs, std::memory_order_relaxed);
    w.callId.store(id, std::memory_order_relaxed);
    w.running.store(++w.serial);
    if (w.poolGone.load())
        leaveForGonePool(); // a prefetched call: it must not run
}

void callEnded()
{
    PoolWatch &w = poolWatch();
    w.running.store(0);
    if (w.poolGone.load())
        leaveForGonePool(); // the call ran to its end; nothing more runs
}

} // namespace procpool::detail
