// procpool — memory for the large byte arrays a pool receives from its workers.
//
// Every byte a worker sends is copied into memory of the pool's own before anything reads it
// (docs/architecture.md, "Trust model"). Into fresh memory, that copy of a large array would
// cost several times itself: each 4 KiB page is faulted in and zeroed on first touch. So
//  - a large array is allocated on huge-page boundaries, where the system may back it with
//    2 MiB pages (uninitializedArray());
//  - a ring's consumer keeps the last few large arrays it handed out (ReceiveBuffers) and
//    reuses one once its caller has dropped it: a caller that drops its results gets the same
//    warm pages every time, one that keeps them gets fresh arrays;
//  - for a caller that keeps them, the next fresh array is made ready ahead: a helper thread
//    faults its pages in while the caller works on the last result (one spare at a time).
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QByteArrayView>

#include <memory>
#include <vector>

namespace procpool::detail {

class Prefaulted;

//! A new byte array holding a copy of the \a size bytes at \a from (and a zero byte after
//! them). One of 4 MiB or more starts and ends on a huge-page boundary.
QByteArray copiedArray(const char *from, qsizetype size);

//! A new array that holds a copy of \a bytes and has room for \a capacity bytes in all, for
//! an array about to be written to its end (a large frame as it is read from a pipe). One of
//! ReceiveBuffers::reuseFrom or more starts on a huge-page boundary, as copiedArray()'s do.
QByteArray arrayWithRoom(QByteArrayView bytes, qsizetype capacity);

//! Large arrays one consumer hands out, kept for reuse once their users have dropped them.
//! One thread only (the consumer's).
//!
//! Each kept array holds one reference of its own, so Qt never frees it, and every user sees
//! it shared: a user that writes to it detaches from it first, and it is never written again
//! until it is handed out anew, which happens only once its reference is the only one left.
class ReceiveBuffers
{
public:
    ReceiveBuffers() = default;
    //! Lets go of every array; those still in use are freed by their last user.
    ~ReceiveBuffers();
    ReceiveBuffers(const ReceiveBuffers &) = delete;
    ReceiveBuffers &operator=(const ReceiveBuffers &) = delete;

    //! A copy of the \a size bytes at \a from, in a kept array no one uses any more when one
    //! fits, otherwise in a new one.
    QByteArray copy(const char *from, qsizetype size);
    //! Frees the kept arrays no one uses and the spare (an idle consumer gives its memory back).
    void trim();

    //! Arrays smaller than this are left to malloc(), which reuses such memory itself.
    static constexpr qsizetype reuseFrom = 4 * 1024 * 1024;
    //! Most arrays kept: an array its caller keeps stops being tracked two copies later, so the
    //! list stays short either way.
    static constexpr std::size_t maxKept = 4;

private:
    struct Kept
    {
        QArrayData *header;
        quint64 handedOut; //!< m_copies when it was last handed out
    };
    static bool unused(const Kept &k);
    static void release(const Kept &k);
    //! The spare as a new array's header with two references, if it suits \a size; nullptr
    //! otherwise (an unsuited spare is let go).
    QArrayData *takeSpare(qsizetype size);
    //! Starts faulting in memory for a next array of \a size bytes.
    void prepareSpare(qsizetype size);

    std::vector<Kept> m_kept;
    quint64 m_copies = 0;
    std::shared_ptr<Prefaulted> m_spare; //!< memory for the next new array, being faulted in
};

} // namespace procpool::detail
