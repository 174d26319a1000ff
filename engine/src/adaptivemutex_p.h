// procpool — the mutex of a pool's short critical sections.
#pragma once

#include <QtCore/QtGlobal>

#include <pthread.h>

namespace procpool::detail {

//! A pool's locks are taken by submitting threads and by the engine thread for a few dozen
//! instructions at a time, thousands of times a second. QMutex sleeps in the kernel at the
//! first contention, and the holder then pays a system call to wake it; glibc's adaptive mutex
//! spins briefly first, which is what such short sections want.
class AdaptiveMutex
{
public:
    AdaptiveMutex()
    {
        pthread_mutexattr_t attributes;
        pthread_mutexattr_init(&attributes);
        pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_ADAPTIVE_NP);
        pthread_mutex_init(&m_mutex, &attributes);
        pthread_mutexattr_destroy(&attributes);
    }
    ~AdaptiveMutex() { pthread_mutex_destroy(&m_mutex); }
    Q_DISABLE_COPY_MOVE(AdaptiveMutex)
    void lock() noexcept { pthread_mutex_lock(&m_mutex); }
    void unlock() noexcept { pthread_mutex_unlock(&m_mutex); }
    bool try_lock() noexcept { return pthread_mutex_trylock(&m_mutex) == 0; }

private:
    pthread_mutex_t m_mutex;
};

} // namespace procpool::detail
