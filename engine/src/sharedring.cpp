#include "sharedring_p.h"

#include "streamcopy_p.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <mutex>
#include <new>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace procpool::detail {

namespace {

using Position = std::atomic<quint64>;
static_assert(Position::is_always_lock_free, "the release position is shared between processes");

constexpr qint64 growthStep = 1024 * 1024;

qint64 roundUp(qint64 value, qint64 step)
{
    return (value + step - 1) / step * step;
}

} // namespace

int SharedRing::createFile()
{
    const int fd = ::memfd_create("procpool-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    // The header exists from the start; the data area grows when first needed. Sealed
    // against shrinking: a mapped page can then never disappear under the pool. And against
    // further seals: a worker could otherwise seal the file against writes or growth, and the
    // pool's next mmap() or ftruncate() of it would fail.
    if (::ftruncate(fd, headerSize) != 0
        || ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

SharedRing::SharedRing(int fd, qint64 maxSize)
    : m_fd(fd), m_maxSize(roundUp(std::max(maxSize, headerSize + growthStep), growthStep))
{
}

namespace {

//! Pages kept apart for arrays that outlived their ring (a caller kept a result after its
//! worker or pool was gone): unmapped by a later reclaim() of any ring once unused. Never
//! destroyed, so that a ring destroyed during exit still finds it.
struct Orphans
{
    std::atomic<std::size_t> count{0}; //!< so that a reclaim() with none takes no lock
    std::mutex mutex;
    std::vector<SharedRing::Kept> kept;
};

Orphans &orphans()
{
    static auto *const instance = new Orphans;
    return *instance;
}

bool unused(const QArrayData *header)
{
    return header->ref_.loadAcquire() == 1; // only the reference the ring keeps
}

void reapOrphans()
{
    Orphans &o = orphans();
    if (o.count.load(std::memory_order_relaxed) == 0)
        return;
    const std::lock_guard lock(o.mutex);
    std::erase_if(o.kept, [](SharedRing::Kept &k) { return k.unmapIfUnused(); });
    o.count.store(o.kept.size(), std::memory_order_relaxed);
}

} // namespace

bool SharedRing::Kept::unmapIfUnused()
{
    if (!std::all_of(headers.cbegin(), headers.cend(), unused))
        return false;
    ::munmap(begin, size_t(end - begin));
    return true;
}

SharedRing::~SharedRing()
{
    // Arrays still in use stay mapped for whoever holds them, moved apart from the ring so
    // that only their own pages stay; if they cannot be, the whole mapping stays.
    std::vector<QArrayData *> held = heldArrays();
    if (!held.empty() && !keepApart(held))
        m_kept.push_back(Kept{m_base, m_base + m_mapped, std::move(held)});
    else if (m_base)
        ::munmap(m_base, size_t(m_mapped));
    if (!m_kept.empty()) {
        Orphans &o = orphans();
        const std::lock_guard lock(o.mutex);
        std::move(m_kept.begin(), m_kept.end(), std::back_inserter(o.kept));
        o.count.store(o.kept.size(), std::memory_order_relaxed);
    }
    reapOrphans();
    if (m_fd >= 0)
        ::close(m_fd);
}

bool SharedRing::map(qint64 size)
{
    if (m_base && m_mapped >= size)
        return true;
    void *base = ::mmap(nullptr, size_t(size), PROT_READ | PROT_WRITE, MAP_SHARED, m_fd, 0);
    if (base == MAP_FAILED)
        return false;
    if (m_base)
        ::munmap(m_base, size_t(m_mapped));
    m_base = static_cast<char *>(base);
    m_mapped = size;
    return true;
}

quint64 SharedRing::released() const
{
    return reinterpret_cast<const Position *>(m_base)->load(std::memory_order_acquire);
}

bool SharedRing::write(const QByteArray &data, qint64 *offset, quint64 *release)
{
    if (m_broken || !map(headerSize))
        return false;
    const quint64 released = this->released();
    if (released < m_lastReleased || released > m_writePos) {
        m_broken = true;
        return false;
    }
    m_lastReleased = released;
    const qint64 size = data.size();
    // A block: room for a QByteArray header, the bytes, a terminating zero, rounded up to
    // blockAlignment (so that every block, and the bytes in it, start aligned).
    const qint64 block = blockPrefix + roundUp(size + 1, blockAlignment);
    const qint64 used = qint64(m_writePos - released);
    qint64 capacity = m_mapped - headerSize;
    if (used == 0) {
        m_epoch = m_writePos; // empty: start again at the beginning of the data area
        if (block > capacity) {
            // Grow while nothing is in flight: room for two such payloads, so that the next
            // one can go in while this one is read.
            const qint64 wanted = std::min(headerSize + roundUp(2 * block, growthStep), m_maxSize);
            if (wanted - headerSize < block || ::ftruncate(m_fd, wanted) != 0 || !map(wanted))
                return false;
            capacity = m_mapped - headerSize;
        }
    }
    if (capacity <= 0)
        return false;
    qint64 start = qint64((m_writePos - m_epoch) % quint64(capacity));
    qint64 skip = 0;
    if (start + block > capacity) {
        skip = capacity - start; // no wrapping inside a payload: continue at the beginning
        start = 0;
    }
    if (used + skip + block > capacity)
        return false;
    char *bytes = m_base + headerSize + start + blockPrefix;
    copyPayload(bytes, data.constData(), size_t(size));
    bytes[size] = '\0';
    m_writePos += quint64(skip + block);
    *offset = headerSize + start + blockPrefix;
    *release = m_writePos;
    return true;
}

bool SharedRing::read(qint64 offset, qint64 size, Placement placement, QByteArray *out,
                      QString *error)
{
    if (offset < headerSize || size < 0 || offset > m_maxSize - size) {
        *error = QStringLiteral("shared-memory range %1+%2 is outside the ring (at most %3 bytes)")
                     .arg(offset)
                     .arg(size)
                     .arg(m_maxSize);
        return false;
    }
    if (offset + size > m_mapped || !m_base) {
        struct stat st;
        if (::fstat(m_fd, &st) != 0 || st.st_size < offset + size) {
            *error = QStringLiteral("shared-memory range %1+%2 is beyond the ring's end")
                         .arg(offset)
                         .arg(size);
            return false;
        }
        if (!m_pinned.empty()) {
            // The writer grows the ring only when all of it is released, and this side
            // releases nothing while arrays in the ring are in use.
            *error = QStringLiteral("the shared-memory ring grew while arrays in it were in use");
            return false;
        }
        if (!map(std::min<qint64>(st.st_size, m_maxSize))) {
            *error = QStringLiteral("cannot map the shared-memory ring: %1")
                         .arg(QString::fromLocal8Bit(std::strerror(errno)));
            return false;
        }
    }
    if (placement == Placement::InPlace && size > 0 && offset >= headerSize + blockPrefix
        && offset % blockAlignment == 0 && offset + size < m_mapped && m_base[offset + size] == '\0'
        && !overlapsPinned(m_base + offset - blockPrefix, m_base + offset + size + 1)) {
        // The block's prefix becomes the array's header, as if Qt had allocated it there:
        // one reference for the array handed out, one that this side keeps (see reclaim()).
        // Qt never frees it, since the count never drops below that second reference, and a
        // write through any copy of the array detaches it first, since it is shared.
        auto *header = new (m_base + offset - blockPrefix) QTypedArrayData<char>;
        header->ref_.storeRelaxed(2);
        header->flags = {};
        header->alloc = size;
        m_pinned.push_back(header);
        *out = QByteArray(QByteArray::DataPointer(header, m_base + offset, size));
        return true;
    }
    *out = m_buffers.copy(m_base + offset, qsizetype(size));
    return true;
}

bool SharedRing::release(quint64 position, QString *error)
{
    if (position < m_releasedPos || !map(headerSize)) {
        *error = QStringLiteral("shared-memory release position %1 goes back from %2")
                     .arg(position)
                     .arg(m_releasedPos);
        return false;
    }
    m_releasedPos = position;
    reinterpret_cast<Position *>(m_base)->store(position, std::memory_order_release);
    return true;
}

bool SharedRing::overlapsPinned(const char *begin, const char *end) const
{
    // Two blocks of one frame cannot overlap unless the writer is broken; then they are
    // copied, so that one array's header can never be another's bytes.
    return std::any_of(m_pinned.cbegin(), m_pinned.cend(), [&](const QArrayData *header) {
        const char *pinned = reinterpret_cast<const char *>(header);
        return begin < pinned + blockPrefix + header->alloc + 1 && pinned < end;
    });
}

std::vector<QArrayData *> SharedRing::heldArrays() const
{
    std::vector<QArrayData *> held;
    std::copy_if(m_pinned.cbegin(), m_pinned.cend(), std::back_inserter(held),
                 [](const QArrayData *header) { return !unused(header); });
    return held;
}

bool SharedRing::finishRead(quint64 position, QString *error)
{
    if (position < std::max(m_releasedPos, m_heldRelease)) {
        *error = QStringLiteral("shared-memory release position %1 goes back from %2")
                     .arg(position)
                     .arg(std::max(m_releasedPos, m_heldRelease));
        return false;
    }
    if (m_pinned.empty() && m_heldRelease == 0)
        return release(position, error);
    m_heldRelease = position; // released by reclaim(), once nothing uses the ring
    return true;
}

void SharedRing::reclaim()
{
    reapOrphans();
    std::erase_if(m_kept, [](Kept &k) { return k.unmapIfUnused(); });
    const std::vector<QArrayData *> held = heldArrays();
    if (!held.empty() && !keepApart(held))
        return; // everything stays as it is, released at a later reclaim()
    m_pinned.clear();
    if (m_heldRelease != 0) {
        QString ignored; // positions were checked in finishRead()
        release(m_heldRelease, &ignored);
        m_heldRelease = 0;
    }
}

bool SharedRing::keepApart(std::vector<QArrayData *> held)
{
    // Pages that hold an array someone kept become private to this process at the same
    // addresses; the ring is then used through a new mapping, and the old one is unmapped
    // except for those pages. The arrays keep their addresses and bytes, and the ring can be
    // released and written over.
    //
    // Another thread (of the task, or of the caller) may copy or drop such an array meanwhile,
    // changing the reference count in its header. A copy of the page put in its place would
    // lose a change made after the copy was taken. So the same range of the file is mapped
    // privately over itself instead: until a page is written, both mappings show the same
    // page, so nothing is lost; and the first write to a page, which the loop below makes at
    // once, gives this process its own copy of the page as it is then.
    const qint64 page = ::sysconf(_SC_PAGESIZE);
    std::sort(held.begin(), held.end());
    std::vector<Kept> ranges;
    for (QArrayData *header : held) {
        char *begin = reinterpret_cast<char *>(quintptr(header) / quintptr(page) * quintptr(page));
        char *end = reinterpret_cast<char *>(header) + blockPrefix + header->alloc + 1;
        end = m_base + roundUp(end - m_base, page);
        if (!ranges.empty() && begin <= ranges.back().end) {
            ranges.back().end = std::max(ranges.back().end, end);
            ranges.back().headers.push_back(header);
        } else {
            ranges.push_back(Kept{begin, end, {header}});
        }
    }
    void *fresh = ::mmap(nullptr, size_t(m_mapped), PROT_READ | PROT_WRITE, MAP_SHARED, m_fd, 0);
    if (fresh == MAP_FAILED)
        return false;
    for (const Kept &range : ranges) {
        if (::mmap(range.begin, size_t(range.end - range.begin), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_FIXED, m_fd, range.begin - m_base)
            == MAP_FAILED) {
            // Ranges made private so far hold what the ring holds there; since nothing is
            // released, the writer puts nothing there, so the old mapping stays right.
            ::munmap(fresh, size_t(m_mapped));
            return false;
        }
        // The first four bytes of a page are a header's reference count (blocks start 16-byte
        // aligned) or bytes of an array that no one writes: an atomic exchange of them for
        // themselves. (An atomic add of nothing would do too, but a compiler may turn that
        // into a plain load, which copies nothing: clang does.)
        for (char *p = range.begin; p < range.end; p += page) {
            auto *word = reinterpret_cast<std::atomic<int> *>(p);
            int value = word->load(std::memory_order_relaxed);
            while (!word->compare_exchange_weak(value, value, std::memory_order_relaxed)) {
            }
        }
    }
    char *cursor = m_base;
    for (const Kept &range : ranges) {
        if (range.begin > cursor)
            ::munmap(cursor, size_t(range.begin - cursor));
        cursor = range.end;
    }
    if (cursor < m_base + m_mapped)
        ::munmap(cursor, size_t(m_base + m_mapped - cursor));
    m_base = static_cast<char *>(fresh);
    std::move(ranges.begin(), ranges.end(), std::back_inserter(m_kept));
    return true;
}

bool SharedRing::trim()
{
    // The writer's side waits until the reader released everything: an array in the ring
    // that the reader still uses must keep its pages.
    if (m_writePos != 0 && (!m_base || released() != m_writePos))
        return false;
    if (!m_pinned.empty())
        return false;
    m_buffers.trim();
    struct stat st;
    if (m_fd >= 0 && ::fstat(m_fd, &st) == 0 && st.st_size > headerSize)
        ::fallocate(m_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, headerSize,
                    st.st_size - headerSize);
    return true;
}

} // namespace procpool::detail
