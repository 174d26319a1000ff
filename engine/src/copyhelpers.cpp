#include "copyhelpers_p.h"

#include <QtCore/QtGlobal>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <pthread.h>
#include <sys/mman.h>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace procpool::detail {

namespace {

//! Large copies shared between the calling thread and helper threads. One thread copying
//! memory that is not in its caches is held back by the latency of its own misses long before
//! the memory bus is busy (16 MiB here: 1.4-1.5 ms for one memcpy(), about 1.0 ms for two
//! halves). The other side of the ring waits for the copy anyway, so the cores are free.
//!
//! The helpers are started at the first large copy and then stay, parked on a condition
//! variable: starting a thread per copy cost more than a tenth of each copy, and the thread
//! that started late finished late while the other waited for it. Work goes in chunks that
//! whichever thread is free takes, so the caller never waits for a helper to wake up: it
//! only waits for chunks a helper has already taken. The helpers belong to the process that
//! started them; a child forked afterwards copies alone.
class CopyHelpers
{
public:
    //! Never destroyed: helpers may still be parked on it while the process exits.
    static CopyHelpers &instance()
    {
        static CopyHelpers *helpers = new CopyHelpers;
        return *helpers;
    }

    void copy(char *to, const char *from, size_t size, CopyFunction function)
    {
        Job job{to, from, size, function, (size + chunkSize - 1) / chunkSize};
        // Another large copy in progress (two pools' engine threads) or a forked child whose
        // helpers stayed in the parent: copy on this thread alone.
        if (::getpid() != m_pid || m_busy.exchange(true, std::memory_order_acquire)) {
            function(to, from, size);
            return;
        }
        if (!started()) { // one core, or no thread to be had
            m_busy.store(false, std::memory_order_release);
            function(to, from, size);
            return;
        }
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_job = &job;
            ++m_generation;
        }
        m_wake.notify_all();
        job.run();
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_job = nullptr; // no helper takes it from here on
        }
        // A helper that took the job leaves it once no chunk is left and its last one is
        // copied: then every byte is in place, and the job, on this stack, may go.
        while (job.users.load(std::memory_order_acquire) > 0)
            std::this_thread::yield();
        m_busy.store(false, std::memory_order_release);
    }

private:
    static constexpr size_t chunkSize = 512 * 1024;

    struct Job
    {
        char *to;
        const char *from;
        size_t size;
        CopyFunction function;
        size_t chunks;
        std::atomic<size_t> next{0}; //!< the next chunk to take
        std::atomic<int> users{0};   //!< helpers that took the job and have not left it

        void run()
        {
            for (size_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < chunks;) {
                const size_t offset = c * chunkSize;
                function(to + offset, from + offset, std::min(chunkSize, size - offset));
            }
        }
    };

    CopyHelpers() : m_pid(::getpid()) {}

    //! Starts the helpers at the first use (one per extra core, at most three); false when
    //! there are none to be had.
    bool started()
    {
        if (m_helpers == 0) {
            static const unsigned cores = std::max(1U, std::thread::hardware_concurrency());
            const unsigned wanted = std::min(cores, 4U) - 1;
            for (unsigned i = 0; i < wanted; ++i) {
                try {
                    std::thread(&CopyHelpers::park, this).detach();
                    ++m_helpers;
                } catch (const std::system_error &) {
                    break; // no thread to be had: fewer helpers, or none
                }
            }
            if (m_helpers == 0)
                m_helpers = -1;
        }
        return m_helpers > 0;
    }

    [[noreturn]] void park()
    {
        pthread_setname_np(pthread_self(), "procpool copy");
        quint64 seen = 0;
        for (;;) {
            Job *job = nullptr;
            {
                std::unique_lock<std::mutex> lock(m_mutex);
                m_wake.wait(lock, [&] { return m_generation != seen; });
                seen = m_generation;
                job = m_job;
                if (job)
                    job->users.fetch_add(1, std::memory_order_relaxed);
            }
            if (job) {
                job->run();
                job->users.fetch_sub(1, std::memory_order_release);
            }
        }
    }

    const pid_t m_pid;
    std::atomic<bool> m_busy{false}; //!< a copy is using the helpers
    int m_helpers = 0;               //!< under m_busy: started, or -1 when none could be
    std::mutex m_mutex;
    std::condition_variable m_wake;
    quint64 m_generation = 0; //!< under m_mutex: one more for every job offered
    Job *m_job = nullptr;     //!< under m_mutex: the job on offer
};

//! The thread that faults in Prefaulted blocks, one after another: started at the first block
//! and then parked. It belongs to the process that started it; a child forked afterwards has
//! none and prepares nothing ahead.
class Prefaulter
{
public:
    //! Never destroyed: the thread may still be parked on it while the process exits.
    static Prefaulter &instance()
    {
        static Prefaulter *prefaulter = new Prefaulter;
        return *prefaulter;
    }

    bool post(std::shared_ptr<Prefaulted> block)
    {
        if (::getpid() != m_pid) // before the lock, which the parent may have held at the fork
            return false;
        std::lock_guard<std::mutex> lock(m_mutex);
        if (m_started == 0) {
            try {
                std::thread(&Prefaulter::loop, this).detach();
                m_started = 1;
            } catch (const std::system_error &) {
                m_started = -1;
            }
        }
        if (m_started < 0)
            return false;
        m_queue.push_back(std::move(block));
        m_wake.notify_one();
        return true;
    }

private:
    Prefaulter() : m_pid(::getpid()) {}

    [[noreturn]] void loop()
    {
        pthread_setname_np(pthread_self(), "procpool fault");
        for (;;) {
            std::shared_ptr<Prefaulted> block;
            {
                std::unique_lock<std::mutex> lock(m_mutex);
                m_wake.wait(lock, [&] { return !m_queue.empty(); });
                block = std::move(m_queue.front());
                m_queue.pop_front();
            }
            block->run();
        }
    }

    const pid_t m_pid;
    std::mutex m_mutex;
    std::condition_variable m_wake;
    std::deque<std::shared_ptr<Prefaulted>> m_queue; //!< under m_mutex
    int m_started = 0; //!< under m_mutex: 1 running, -1 no thread could be had
};

} // namespace

std::shared_ptr<Prefaulted> Prefaulted::start(void *block, std::size_t size)
{
    std::shared_ptr<Prefaulted> prefaulted(new Prefaulted(block, size));
    if (Prefaulter::instance().post(prefaulted))
        return prefaulted;
    prefaulted->m_state.store(Taken, std::memory_order_relaxed); // the block stays the caller's
    return nullptr;
}

Prefaulted::~Prefaulted()
{
    if (m_state.load(std::memory_order_acquire) != Taken)
        std::free(m_block);
}

void *Prefaulted::take()
{
    int state = Queued;
    if (!m_state.compare_exchange_strong(state, Taken, std::memory_order_acq_rel)) {
        while (state == Running) {
            m_state.wait(Running, std::memory_order_acquire);
            state = m_state.load(std::memory_order_acquire);
        }
        m_state.store(Taken, std::memory_order_relaxed);
    }
    return m_block;
}

void Prefaulted::run()
{
    int state = Queued;
    if (!m_state.compare_exchange_strong(state, Running, std::memory_order_acq_rel))
        return; // taken before its turn came
    if (::madvise(m_block, m_size, MADV_POPULATE_WRITE) != 0) {
        // Kernels before 5.14: a write to each page instead. No byte of the block matters yet,
        // and no one else sees it until take() returns it, which waits for this.
        static const long page = ::sysconf(_SC_PAGESIZE);
        for (std::size_t offset = 0; offset < m_size; offset += std::size_t(page))
            static_cast<volatile char *>(m_block)[offset] = 0;
    }
    m_state.store(Done, std::memory_order_release);
    m_state.notify_all();
}

void copyWithHelpers(char *to, const char *from, size_t size, CopyFunction function)
{
    CopyHelpers::instance().copy(to, from, size, function);
}

} // namespace procpool::detail
