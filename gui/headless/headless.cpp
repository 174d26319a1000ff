#include "headless.h"

#include "../demo.h"

#include <QtCore/QCoreApplication>

namespace procpool::headless {

int run(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("procpool"));
    return procpool::demo::run();
}

} // namespace procpool::headless
