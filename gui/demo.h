#pragma once

namespace procpool::demo {
//! A short terminal demo: two namespaces, a protected pool, a crash, the registry.
int run();
} // namespace procpool::demo
