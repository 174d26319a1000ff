#include "receivebuffers_p.h"

#include "copyhelpers_p.h"
#include "streamcopy_p.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>
#include <sys/mman.h>

namespace procpool::detail {

namespace {

constexpr size_t hugePage = 2 * 1024 * 1024;
constexpr size_t headerSize = sizeof(QTypedArrayData<char>);
static_assert(headerSize == 16 && alignof(QTypedArrayData<char>) <= 16,
              "the bytes must follow the header where Qt expects them");

//! Bytes to allocate for an array of \a size bytes as allocateOnHugePages() lays it out.
size_t blockSize(qsizetype size)
{
    return (headerSize + size_t(size) + 1 + hugePage - 1) / hugePage * hugePage;
}

//! A block of \a bytes on a huge-page boundary (blockSize()), with huge pages asked for: an array
//! that starts at a malloc()ed address leaves up to 4 MiB at its two ends in 4 KiB pages, whose
//! faults cost more than the copy. nullptr when there is no memory.
void *allocateBlock(size_t bytes)
{
    void *block = nullptr;
    if (::posix_memalign(&block, hugePage, bytes) != 0)
        return nullptr;
    ::madvise(block, bytes, MADV_HUGEPAGE); // a hint: where huge pages are off, nothing changes
    return block;
}

//! An array's header at the start of \a block (of \a bytes), as Qt would have allocated it (freed
//! with free() once the last of its \a references goes).
QArrayData *headerAt(void *block, size_t bytes, int references)
{
    auto *header = new (block) QTypedArrayData<char>;
    header->ref_.storeRelaxed(references);
    header->flags = {};
    header->alloc = qsizetype(bytes - headerSize - 1); // room for the zero byte after the last
    return header;
}

//! A new array's header with room for \a size bytes on huge pages, or nullptr.
QArrayData *allocateOnHugePages(qsizetype size, int references)
{
    const size_t bytes = blockSize(size);
    void *block = allocateBlock(bytes);
    return block ? headerAt(block, bytes, references) : nullptr;
}

//! Whether an array with room for \a capacity bytes suits \a size bytes: it fits, without
//! wasting more than a huge page and a quarter.
bool suits(qsizetype capacity, qsizetype size)
{
    return capacity >= size && capacity <= size + size / 4 + qsizetype(hugePage);
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

QByteArray arrayWithRoom(QByteArrayView bytes, qsizetype capacity)
{
    Q_ASSERT(capacity >= bytes.size());
    if (capacity >= ReceiveBuffers::reuseFrom) {
        if (QArrayData *header = allocateOnHugePages(capacity, 1)) {
            char *data = bytesOf(header);
            std::memcpy(data, bytes.data(), size_t(bytes.size()));
            data[bytes.size()] = '\0';
            return QByteArray(QByteArray::DataPointer(static_cast<QTypedArrayData<char> *>(header),
                                                      data, bytes.size()));
        }
    }
    QByteArray array;
    array.reserve(capacity); // reports a failure to allocate as Qt does
    array.append(bytes.data(), bytes.size());
    return array;
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
    // The smallest unused one that suits.
    Kept *best = nullptr;
    for (Kept &k : m_kept) {
        if (unused(k) && suits(k.header->alloc, size) && (!best || k.header->alloc < best->header->alloc))
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
    // Every array handed out before is still in use: the caller keeps its results, and each
    // needs new memory. Its pages are faulted in ahead, while the caller works on this one.
    const bool keeping = !m_kept.empty();
    QArrayData *header = takeSpare(size);
    if (!header)
        header = allocateOnHugePages(size, 2);
    if (!header)
        return copiedArray(from, size);
    m_kept.push_back(Kept{header, now});
    QByteArray copied = copyInto(header, from, size);
    if (keeping)
        prepareSpare(size);
    return copied;
}

QArrayData *ReceiveBuffers::takeSpare(qsizetype size)
{
    if (!m_spare)
        return nullptr;
    const std::shared_ptr<Prefaulted> spare = std::exchange(m_spare, nullptr);
    if (!suits(qsizetype(spare->size() - headerSize - 1), size))
        return nullptr; // freed once the helper lets go of it
    return headerAt(spare->take(), spare->size(), 2);
}

void ReceiveBuffers::prepareSpare(qsizetype size)
{
    const size_t bytes = blockSize(size);
    void *block = allocateBlock(bytes);
    if (!block)
        return;
    m_spare = Prefaulted::start(block, bytes);
    if (!m_spare)
        std::free(block);
}

void ReceiveBuffers::trim()
{
    m_spare.reset();
    std::erase_if(m_kept, [](const Kept &k) {
        if (!unused(k))
            return false;
        release(k);
        return true;
    });
}

} // namespace procpool::detail
