// procpool — the desktop monitor and, with --headless, the command-line driver.
//
// This executable links Qt Core only, and is also the worker program of the pools it starts.
// The monitor (Qt Widgets) lives in a module loaded just before the window is shown, so that
// a worker never maps the GUI libraries.
#include "headless/headless.h"

#include <procpool/worker.h>

#include <QtCore/QByteArray>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>

#include <cstdio>
#include <cstring>
#include <dlfcn.h>

namespace {

// Next to the executable in the build tree, in LIBDIR/procpool once installed.
QByteArray monitorModulePath()
{
    const QString exe = QFile::symLinkTarget(QStringLiteral("/proc/self/exe"));
    const QString dir = QFileInfo(exe).absolutePath();
    const QString name = QStringLiteral(PROCPOOL_MONITOR_MODULE);
    const QString beside = dir + QLatin1Char('/') + name;
    if (QFileInfo::exists(beside))
        return QFile::encodeName(beside);
    return QFile::encodeName(QFileInfo(dir + QStringLiteral("/" PROCPOOL_MONITOR_MODULE_DIR "/")
                                       + name)
                                 .absoluteFilePath());
}

int runMonitor(int argc, char **argv)
{
    const QByteArray path = monitorModulePath();
    void *module = ::dlopen(path.constData(), RTLD_NOW | RTLD_LOCAL);
    if (!module) {
        std::fprintf(stderr,
                     "procpool: cannot load the desktop monitor (%s): %s\n"
                     "Reinstall procpool, or run it without a window: procpool --headless --help\n",
                     path.constData(), ::dlerror());
        return 2;
    }
    using Entry = int (*)(int, char **);
    const auto entry = reinterpret_cast<Entry>(::dlsym(module, "procpool_monitor_main"));
    if (!entry) {
        std::fprintf(stderr, "procpool: %s is not the procpool monitor module: %s\n",
                     path.constData(), ::dlerror());
        return 2;
    }
    return entry(argc, argv); // the module stays loaded until the process exits
}

} // namespace

int main(int argc, char **argv)
{
    // In a worker process this never returns, and nothing below (no option parsing, no
    // module) runs there.
    procpool::workerMain(argc, argv);

    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--headless") == 0)
            return procpool::headless::run(argc, argv);
    }
    return runMonitor(argc, argv);
}
