#include "descriptors_p.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436 // the same number on every architecture
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace procpool::detail {
namespace {

enum class Action { MarkCloseOnExec, Close };

void apply(int fd, Action action, bool *ok)
{
    if (action == Action::Close) {
        ::close(fd); // releases the descriptor whatever it returns (Linux)
    } else if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 && errno != EBADF) {
        *ok = false;
    }
}

//! The descriptor number an entry of /proc/self/fd names; -1 for "." and "..".
int descriptorNamed(const char *name)
{
    if (*name == '\0')
        return -1;
    long long fd = 0;
    for (; *name; ++name) {
        if (*name < '0' || *name > '9' || fd > INT_MAX / 10)
            return -1;
        fd = fd * 10 + (*name - '0');
    }
    return fd > INT_MAX ? -1 : int(fd);
}

//! Every descriptor from \a lowest on, without close_range(): those /proc/self/fd lists, read
//! with getdents64 into a buffer on the stack (opendir() allocates, which a child between fork
//! and exec must not), or, without /proc, every number below the descriptor limit.
//! Kept out of line, and its buffer small: QProcess runs its child on a stack of its own (a
//! vfork-like clone()), 4 KiB in Qt 6.4, which Qt's own frames share.
[[gnu::noinline]] bool applyFromWithoutCloseRange(int lowest, Action action)
{
    bool ok = true;
    const int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
        rlimit limit{};
        if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
            return false;
        const rlim_t end = std::min<rlim_t>(limit.rlim_cur, INT_MAX);
        for (rlim_t fd = rlim_t(lowest); fd < end; ++fd)
            apply(int(fd), action, &ok);
        return ok;
    }
    // The kernel lists the descriptors in increasing order and continues from the number after
    // the last one it returned, so closing those already listed hides none of the rest.
    alignas(8) char buffer[512]; // some 20 entries a call
    for (;;) {
        const long got = ::syscall(SYS_getdents64, dir, buffer, sizeof buffer);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            ok = false;
        if (got <= 0)
            break;
        for (long at = 0; at < got;) {
            unsigned short length = 0;
            std::memcpy(&length, buffer + at + offsetof(struct dirent64, d_reclen), sizeof length);
            const int fd = descriptorNamed(buffer + at + offsetof(struct dirent64, d_name));
            at += length;
            if (fd >= lowest && fd != dir)
                apply(fd, action, &ok);
        }
    }
    ::close(dir);
    return ok;
}

bool applyFrom(int lowest, Action action)
{
    const unsigned flags = action == Action::Close ? 0 : CLOSE_RANGE_CLOEXEC;
    if (::syscall(SYS_close_range, unsigned(lowest), ~0U, flags) == 0)
        return true;
    // ENOSYS before Linux 5.9, EINVAL for CLOSE_RANGE_CLOEXEC before 5.11 (or a seccomp filter
    // that refuses the call).
    return applyFromWithoutCloseRange(lowest, action);
}

bool clearCloseOnExec(const int *keep, int count)
{
    bool ok = true;
    for (int i = 0; i < count; ++i) {
        if (keep[i] >= 0 && ::fcntl(keep[i], F_SETFD, 0) != 0)
            ok = false;
    }
    return ok;
}

bool keepOnly(int *keep, int count, bool closeRange)
{
    // Descriptor i receives keep[i] by dup2(), which replaces whatever was there: one of the
    // kept descriptors that sits below count in another's place would be lost, so those move
    // up out of the way first. One already in its own place stays, but dup2() would not clear
    // its close-on-exec flag, which here means what the worker's own children inherit.
    for (int i = 0; i < count; ++i) {
        if (keep[i] < 0)
            return false;
        if (keep[i] < count && keep[i] != i) {
            keep[i] = ::fcntl(keep[i], F_DUPFD_CLOEXEC, count);
            if (keep[i] < 0)
                return false;
        }
    }
    for (int i = 0; i < count; ++i) {
        if (keep[i] == i) {
            if (::fcntl(i, F_SETFD, 0) != 0)
                return false;
            continue;
        }
        if (::dup2(keep[i], i) < 0)
            return false;
        keep[i] = i;
    }
    return closeRange ? applyFrom(count, Action::Close)
                      : applyFromWithoutCloseRange(count, Action::Close);
}

} // namespace

bool inheritOnly(const int *keep, int count)
{
    const bool marked = applyFrom(STDERR_FILENO + 1, Action::MarkCloseOnExec);
    return clearCloseOnExec(keep, count) && marked;
}

bool inheritOnlyWithoutCloseRange(const int *keep, int count)
{
    const bool marked = applyFromWithoutCloseRange(STDERR_FILENO + 1, Action::MarkCloseOnExec);
    return clearCloseOnExec(keep, count) && marked;
}

bool keepOnly(int *keep, int count)
{
    return keepOnly(keep, count, true);
}

bool keepOnlyWithoutCloseRange(int *keep, int count)
{
    return keepOnly(keep, count, false);
}

} // namespace procpool::detail
