// procpool — SharedRing: one direction of shared memory between the pool and one worker.
//
// Each direction of each worker has its own ring: an anonymous memory file (memfd) that the
// pool creates before the worker starts and the worker inherits. A memfd has no name, so
// nothing is left behind when either side dies. The pool seals it against shrinking, so a
// worker can never make the pool's mapping fault, and against further seals, so a worker
// cannot seal it against the writes or growth the pool still needs. A ring is an optimisation
// only: whatever does not fit right now goes inline through the pipe (attachments_p.h).
//
// The worker trusts the pool, the pool never trusts the worker (docs/architecture.md, "Trust
// model"). So a worker uses a call's arrays where they lie in the ring (Placement::InPlace),
// while the pool copies every byte a worker wrote into memory of its own before anything
// reads it (Placement::Copy): a delivered result can never change afterwards, and no
// decision of the pool reads memory a worker can write, except the one number below.
#pragma once

#include "receivebuffers_p.h"

#include <QtCore/QByteArray>
#include <QtCore/QString>

#include <vector>

namespace procpool::detail {

//! How the consumer of a SharedRing takes a payload out of it.
enum class Placement {
    Copy, //!< copied out, and released at once: the pool's way
    //! An array that uses the bytes where they are, until reclaim() finds it unused: the
    //! worker's way with the pool's ring, never the pool's with a worker's (its header would
    //! lie in memory the worker can write).
    InPlace,
};

//! One direction of shared memory between the pool and one worker: a single producer copies
//! bytes in, a single consumer copies them out and releases them, in the same order.
//!
//! The only number either side reads from the shared memory is the consumer's release
//! position, in the header: the producer accepts it only if it lies between the last one it
//! accepted and its own write position, and stops using the ring otherwise. Offsets and sizes
//! travel through the pipe and are checked against the consumer's own mapping.
class SharedRing
{
public:
    //! Bytes before the data area; the first 8 hold the consumer's release position.
    static constexpr qint64 headerSize = 4096;
    //! Each payload is a block: this many bytes of room for a QByteArray header, the bytes,
    //! a terminating zero, and padding to blockAlignment.
    static constexpr qint64 blockPrefix = 16;
    static constexpr qint64 blockAlignment = 16;
    static_assert(sizeof(QArrayData) <= blockPrefix && alignof(QArrayData) <= blockAlignment);

    //! Creates the memory file (close-on-exec, sealed against shrinking and against further
    //! seals), or returns -1.
    static int createFile();
    //! Takes \a fd over. \a maxSize bounds the file, so neither side maps more than that.
    SharedRing(int fd, qint64 maxSize);
    ~SharedRing();
    SharedRing(const SharedRing &) = delete;
    SharedRing &operator=(const SharedRing &) = delete;

    int fd() const { return m_fd; }

    // Producer.
    //! Copies \a data in; false when the ring has no room for it now (send it inline).
    bool write(const QByteArray &data, qint64 *offset, quint64 *release);

    // Consumer.
    //! Reads [offset, offset + size) as \a placement says. False (and why) when the range is
    //! not in the file.
    bool read(qint64 offset, qint64 size, Placement placement, QByteArray *out, QString *error);
    //! After read(): hands everything up to \a position back to the producer, now or, while
    //! arrays in the ring are in use, at the reclaim() that finds them unused.
    bool finishRead(quint64 position, QString *error);
    //! Releases what in-place arrays held back once they are unused. Arrays still in use
    //! (a task or a caller kept one) are moved apart first: their pages become private copies
    //! at the same addresses and the ring is mapped anew; if that is impossible, nothing is
    //! released yet.
    void reclaim();

    //! Gives the data area's memory back to the system, keeping the file's size and mappings
    //! (reading it then yields zeros). Only while nothing is in flight in either direction;
    //! false on the producer's side until the consumer has released everything, and on the
    //! consumer's side while an array handed out in place is still in the ring.
    bool trim();

    //! Consumer: a copy of a payload (from the ring or from the pipe) in the pool's own memory,
    //! reusing the memory of large ones handed out before once their users dropped them.
    QByteArray copyOut(const char *from, qsizetype size) { return m_buffers.copy(from, size); }

    //! Pages of an old mapping kept for in-place arrays someone held on to.
    struct Kept
    {
        char *begin;
        char *end;
        std::vector<QArrayData *> headers;

        //! Unmaps the pages once no one but the ring holds their arrays; true if it did.
        bool unmapIfUnused();
    };

private:
    bool map(qint64 size);
    quint64 released() const;
    bool release(quint64 position, QString *error);
    //! The in-place arrays in the current mapping that someone besides the ring still holds.
    std::vector<QArrayData *> heldArrays() const;
    bool keepApart(std::vector<QArrayData *> held);
    bool overlapsPinned(const char *begin, const char *end) const;

    int m_fd;
    const qint64 m_maxSize;
    char *m_base = nullptr;
    qint64 m_mapped = 0;
    // Producer: positions count every byte ever written (and skipped at the end of the ring).
    quint64 m_writePos = 0;
    quint64 m_epoch = 0; //!< position of the data area's first byte
    quint64 m_lastReleased = 0;
    bool m_broken = false; //!< the consumer published nonsense: stop using the ring
    // Consumer.
    quint64 m_releasedPos = 0;
    quint64 m_heldRelease = 0;          //!< to publish at reclaim(); 0: none
    std::vector<QArrayData *> m_pinned; //!< in-place arrays in the current mapping
    std::vector<Kept> m_kept;
    ReceiveBuffers m_buffers; //!< what Placement::Copy copies into
};

} // namespace procpool::detail
