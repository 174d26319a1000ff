#include "streamcopy_p.h"

#include "copyhelpers_p.h"

#include <QtCore/QtGlobal>

#include <algorithm>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace procpool::detail {

namespace {

//! From this size on, copies into and out of a ring stream around the caches (streamBytes).
//! Measured on a machine with 32 MiB of last-level cache, echoes through procpool_bench
//! alternating with plain memcpy(): 4 MiB lost a fifth, 8 MiB was even, 12 and 16 MiB gained
//! 15-20 %, 64 MiB was even. A smaller cache only moves the break-even point down.
constexpr size_t streamingMinimum = 8 * 1024 * 1024;

//! memcpy() that writes around the caches (non-temporal stores). A large payload's copies in
//! an echo pass through four regions of its size (the caller's array, the two rings, the
//! result), more than a last-level cache holds, so a normal store first reads each
//! destination line from memory only to overwrite it; streaming stores skip that read.
//! For a payload that still fits in the cache that would be a loss, hence streamingMinimum.
void streamBytes(char *to, const char *from, size_t size)
{
#if defined(__SSE2__)
    const size_t head = std::min<size_t>(size, (16 - (reinterpret_cast<quintptr>(to) & 15)) & 15);
    std::memcpy(to, from, head);
    to += head;
    from += head;
    size -= head;
    for (const char *end = from + (size & ~size_t(63)); from != end; from += 64, to += 64) {
        const __m128i *in = reinterpret_cast<const __m128i *>(from);
        __m128i *out = reinterpret_cast<__m128i *>(to);
        const __m128i a = _mm_loadu_si128(in);
        const __m128i b = _mm_loadu_si128(in + 1);
        const __m128i c = _mm_loadu_si128(in + 2);
        const __m128i d = _mm_loadu_si128(in + 3);
        _mm_stream_si128(out, a);
        _mm_stream_si128(out + 1, b);
        _mm_stream_si128(out + 2, c);
        _mm_stream_si128(out + 3, d);
    }
    _mm_sfence(); // streaming stores are weakly ordered: make them visible before the release
    std::memcpy(to, from, size & 63);
#else
    std::memcpy(to, from, size);
#endif
}

void plainCopy(char *to, const char *from, size_t size)
{
    std::memcpy(to, from, size);
}

} // namespace

void copyPayload(char *to, const char *from, size_t size)
{
    constexpr size_t parallelMinimum = 4 * 1024 * 1024;
    const CopyFunction copy = size >= streamingMinimum ? streamBytes : plainCopy;
    if (size < parallelMinimum)
        copy(to, from, size);
    else
        copyWithHelpers(to, from, size, copy);
}

} // namespace procpool::detail
