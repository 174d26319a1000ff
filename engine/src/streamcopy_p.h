// procpool — copying payloads: large ones around the caches and on all cores.
#pragma once

#include <cstddef>

namespace procpool::detail {

//! memcpy() for payloads: from 8 MiB on with streaming stores, from 4 MiB on shared with
//! helper threads (see streamcopy.cpp).
void copyPayload(char *to, const char *from, size_t size);

} // namespace procpool::detail
