// procpool — building a Call frame from typed arguments, for ProcessPoolManager's templates
// (see docs/protocol.md). Not an API of its own.
#pragma once

#include <procpool/procpool_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QCborValue>
#include <QtCore/QString>

namespace procpool::detail {

//! A Call frame under construction: the frame header's room and the head of
//! [taskName, [arguments]] for \a argumentCount arguments. The pool writes the header (length,
//! type, task id) when it queues the frame.
PROCPOOL_ENGINE_EXPORT QByteArray beginCallFrame(const QString &taskName, qsizetype argumentCount);
//! Appends one argument to a frame from beginCallFrame().
PROCPOOL_ENGINE_EXPORT void appendCallArgument(QByteArray &frame, const QCborValue &argument);

} // namespace procpool::detail
