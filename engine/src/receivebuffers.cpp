#include "receivebuffers_p.h"

#include "streamcopy_p.h"

#include <algorithm>
#include <cstdlib>
#include <new>
#include <sys/mman.h>

namespace procpool::detail {

namespace {

constexpr size_t hugePage = 2 * 1024 * 1024;
constexpr size_t headerSize = sizeof(QTypedArrayData<char>);
static_assert(headerSize == 16 && alignof(QTypedArrayData<char>) <= 16,
              "the bytes must follow the header where Qt expects them");

//! Allocates an array's header and room for \a size bytes as Qt would (freed with free() once
//! the last reference goes), but starting on a huge-page boundary and ending on one: an array
//! that starts at a malloc()ed address leaves up to 4 MiB at its two ends in 4 KiB pages, whose
//! faults cost more than the copy. nullptr when there is no memory.
QArrayData *allocateOnHugePages(qsizetype size, int references)
{
    const size_t bytes = (headerSize + size_t(size) + 1 + hugePage - 1) / hugePage * hugePage;
    void *block = nullptr;
    if (::posix_memalign(&block, hugePage, bytes) != 0)
        return nullptr;
    ::madvise(block, bytes, MADV_HUGEPAGE); // a hint: where huge pages are off, nothing changes
    auto *header = new (block) QTypedArrayData<char>;
    header->ref_.storeRelaxed(references);
    header->flags = {};
    header->alloc = qsizetype(bytes - headerSize - 1); // room for the zero byte after the last
    return header;
}

char *bytesOf(QArrayData *header)
{
    return reinterpret_cast<char *>(header) + headerSize;
}

//! An array over \a header holding a copy of \a size bytes at \a from. Written through the
//! header, not through QByteArray::data(), which would detach from the reference kept here.
QByteArray copyInto(QArrayData *header, const char *from, qsizetype size)
{
    char *bytes = bytesOf(header);
    copyPayload(bytes, from, size_t(size));
    bytes[size] = '\0';
    return QByteArray(QByteArray::DataPointer(static_cast<QTypedArrayData<char> *>(header), bytes,
                                              size));
}

} // namespace

QByteArray copiedArray(const char *from, qsizetype size)
{
    if (size >= ReceiveBuffers::reuseFrom) {
        if (QArrayData *header = allocateOnHugePages(size, 1))
            return copyInto(header, from, size);
    }
    QByteArray bytes(size, Qt::Uninitialized); // reports a failure to allocate as Qt does
    copyPayload(bytes.data(), from, size_t(size));
    return bytes;
}

ReceiveBuffers::~ReceiveBuffers()
{
    for (const Kept &k : m_kept)
        release(k);
}

bool ReceiveBuffers::unused(const Kept &k)
{
    return k.header->ref_.loadAcquire() == 1; // only the reference kept here
}

void ReceiveBuffers::release(const Kept &k)
{
    if (!k.header->deref())
        QTypedArrayData<char>::deallocate(k.header);
}

QByteArray ReceiveBuffers::copy(const char *from, qsizetype size)
{
    if (size < reuseFrom)
        return copiedArray(from, size);
    const quint64 now = ++m_copies;
    // Arrays still used two copies after they were handed out are the caller's to keep: stop
    // tracking them (their last user frees them). The one before may just not have been
    // dropped yet (its future holds it until the engine lets go of the task).
    std::erase_if(m_kept, [now](const Kept &k) {
        if (unused(k) || k.handedOut + 2 > now)
            return false;
        release(k);
        return true;
    });
    // The smallest unused one that fits without wasting more than a huge page and a quarter.
    Kept *best = nullptr;
    for (Kept &k : m_kept) {
        const qsizetype capacity = k.header->alloc;
        if (unused(k) && capacity >= size && capacity <= size + size / 4 + qsizetype(hugePage)
            && (!best || capacity < best->header->alloc))
            best = &k;
    }
    if (best) {
        // Only this reference was left, so no other thread can be copying it now.
        best->header->ref_.storeRelaxed(2);
        best->handedOut = now;
        return copyInto(best->header, from, size);
    }
    if (m_kept.size() >= maxKept) {
        // Room for the new one: the oldest unused one goes first, else the oldest of all.
        auto victim = std::find_if(m_kept.begin(), m_kept.end(), unused);
        if (victim == m_kept.end())
            victim = m_kept.begin();
        release(*victim);
        m_kept.erase(victim);
    }
    QArrayData *header = allocateOnHugePages(size, 2);
    if (!header)
        return copiedArray(from, size);
    m_kept.push_back(Kept{header, now});
    return copyInto(header, from, size);
}

void ReceiveBuffers::trim()
{
    std::erase_if(m_kept, [](const Kept &k) {
        if (!unused(k))
            return false;
        release(k);
        return true;
    });
}

} // namespace procpool::detail
