// procpool — worker internals that tests reach for.
#pragma once

#include <procpool/procpool_export.h>

#include <QtCore/QByteArray>

namespace procpool::detail {

//! Writes raw bytes to the pool's end of the protocol, bypassing the framing: lets a test
//! task play a misbehaving worker (garbage, truncated or oversized frames). Returns false
//! outside a worker.
PROCPOOL_ENGINE_EXPORT bool writeRawToPool(const QByteArray &bytes);
//! The id of the call this worker is running (0 outside a call): for tests that forge frames.
PROCPOOL_ENGINE_EXPORT quint64 currentCallId();

} // namespace procpool::detail
