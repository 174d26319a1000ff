// procpool — helper threads for large copies.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

namespace procpool::detail {

//! Copies a chunk: memcpy() or a variant of it.
using CopyFunction = void (*)(char *, const char *, size_t);

//! Copies \a size bytes from \a from to \a to with \a function, in chunks that this thread and
//! helper threads take as each is free (see copyhelpers.cpp). On one core, in a child forked
//! after the helpers started, or while another large copy uses them: on this thread alone.
void copyWithHelpers(char *to, const char *from, size_t size, CopyFunction function);

//! A block of new memory whose pages a helper thread faults in before a copy needs them, while
//! this thread does other work. Zeroing fresh pages is the kernel's work and costs more than
//! the copy into them (docs/performance.md); done ahead, it leaves the copy only the copy.
//! Faulting in changes no byte, so the block is the same memory either way.
class Prefaulted
{
public:
    //! Takes over \a block (from malloc() or posix_memalign(), of \a size bytes) and queues it
    //! for the helper; nullptr, leaving the block with the caller, where there is no helper (a
    //! child forked after it started, or no thread to be had).
    static std::shared_ptr<Prefaulted> start(void *block, std::size_t size);
    //! Frees the block unless take() took it; never while the helper is at it (it holds a
    //! reference meanwhile).
    ~Prefaulted();
    Prefaulted(const Prefaulted &) = delete;
    Prefaulted &operator=(const Prefaulted &) = delete;

    std::size_t size() const { return m_size; }
    //! The block, which the caller owns from then on: at once if the helper has not begun on
    //! it (the copy then faults its pages itself), otherwise once the helper is done.
    void *take();

    //! Helper thread: faults the pages in, unless take() came first.
    void run();

private:
    Prefaulted(void *block, std::size_t size) : m_block(block), m_size(size) {}

    enum State { Queued, Running, Done, Taken };
    void *const m_block;
    const std::size_t m_size;
    std::atomic<int> m_state{Queued};
};

} // namespace procpool::detail
