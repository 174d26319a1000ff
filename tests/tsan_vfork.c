/* Preloaded into the ThreadSanitizer runs of the tests (test preset tsan in CMakePresets.json).
 *
 * QProcess starts a program with clone(CLONE_VM | CLONE_VFORK): until it execs, the child runs
 * in the parent's memory, on the parent's thread-local storage. Under ThreadSanitizer that child
 * runs TSan's interceptors on the shadow state of the thread that called QProcess::start(), and
 * leaves through execve() from inside them. That state is left inconsistent: without this file
 * TSan missed races on the engine thread (the one that starts workers) that it reports on every
 * run with it.
 * TSan's own vfork() interceptor turns vfork() into fork() for this reason; Qt's call to clone()
 * bypasses it, so this does the same for such a clone(): fork() (which TSan intercepts), run
 * the child function, and hand back the pid file descriptor that CLONE_PIDFD asked for.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

typedef int (*CloneFunction)(int (*)(void *), void *, int, void *, ...);

int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    pid_t *parentTid = va_arg(ap, pid_t *);
    void *tls = va_arg(ap, void *);
    pid_t *childTid = va_arg(ap, pid_t *);
    va_end(ap);

    if ((flags & CLONE_VM) && !(flags & CLONE_THREAD)) {
        const pid_t pid = fork();
        if (pid == 0)
            _exit(fn(arg));
        if (pid > 0 && (flags & CLONE_PIDFD))
            *(int *)parentTid = (int)syscall(SYS_pidfd_open, pid, 0);
        return pid;
    }
    static CloneFunction next;
    if (!next)
        next = (CloneFunction)dlsym(RTLD_NEXT, "clone");
    return next(fn, stack, flags, arg, parentTid, tls, childTid);
}
