#include "monitor.h"

#include "../demo.h"

#include <QtCore/QCoreApplication>

namespace procpool::monitor {

int run(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("procpool"));
    return procpool::demo::run();
}

} // namespace procpool::monitor
