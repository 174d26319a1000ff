// procpool — attachments: large byte arrays that travel beside a frame's CBOR body.
//
// Codec<QByteArray> turns a byte array of attachmentThreshold bytes or more into a tag that
// names its index (while the engine collects, see AttachmentScope); the bytes themselves go
// in an Attachments frame sent just before the Call, MapCall or Result that refers to them:
//
//     Attachments frame body:  [[kind, offset, length, release]...]  then the inline bytes
//       kind 0: inline — offset is relative to the first byte after the array
//       kind 1: shared — offset is into the sender's SharedRing; release is the position the
//               receiver publishes once it has copied the bytes out
//
// Each direction of each worker has its own SharedRing (sharedring_p.h); whatever does not fit
// in it right now goes inline.
#pragma once

#include "sharedring_p.h"

#include <procpool/procpool_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QString>

namespace procpool::detail {

//! Set by the worker around one call: where ResultAttachmentScope collects.
extern thread_local QList<QByteArray> *t_resultCollect;

//! An Attachments frame ready to write: the frame up to the inline bytes, then those bytes
//! (shared with the caller's arrays, not copied).
struct EncodedAttachments
{
    QByteArray head;
    QList<QByteArray> inlineParts;
};

//! Builds the Attachments frame for \a id: each attachment goes through \a ring when it is
//! not null and has room, inline otherwise.
PROCPOOL_ENGINE_EXPORT EncodedAttachments encodeAttachments(quint64 id, const QList<QByteArray> &attachments,
                                     SharedRing *ring);
//! Reads an Attachments frame body into \a out, from \a ring (which may be null when the
//! sender has none) as \a placement says. False, and why, when malformed.
bool decodeAttachments(const QByteArray &body, SharedRing *ring, qint64 maxBytes,
                       Placement placement, QList<QByteArray> *out, QString *error);
//! The same, taking \a body over: a large inline attachment at its end becomes an array that
//! shares the body's allocation instead of a copy (a large array over a stream).
PROCPOOL_ENGINE_EXPORT bool decodeAttachments(QByteArray &&body, SharedRing *ring, qint64 maxBytes,
                       Placement placement, QList<QByteArray> *out, QString *error);

} // namespace procpool::detail
