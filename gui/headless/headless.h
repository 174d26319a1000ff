#pragma once

namespace procpool::headless {
//! `procpool --headless …`: runs pools and sample tasks from command-line flags.
int run(int argc, char **argv);
} // namespace procpool::headless
