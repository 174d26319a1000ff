// procpool — the desktop monitor and, with --headless, the command-line driver.
#include "headless/headless.h"
#include "monitor/monitor.h"

#include <procpool/worker.h>

#include <cstring>

int main(int argc, char **argv)
{
    // In a worker process this never returns, and nothing below (no Widgets, no option
    // parsing) runs there.
    procpool::workerMain(argc, argv);

    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--headless") == 0)
            return procpool::headless::run(argc, argv);
    }
    return procpool::monitor::run(argc, argv);
}
