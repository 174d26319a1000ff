// procpool — helper threads for large copies.
#pragma once

#include <cstddef>

namespace procpool::detail {

//! Copies a chunk: memcpy() or a variant of it.
using CopyFunction = void (*)(char *, const char *, size_t);

//! Copies \a size bytes from \a from to \a to with \a function, in chunks that this thread and
//! helper threads take as each is free (see copyhelpers.cpp). On one core, in a child forked
//! after the helpers started, or while another large copy uses them: on this thread alone.
void copyWithHelpers(char *to, const char *from, size_t size, CopyFunction function);

} // namespace procpool::detail
