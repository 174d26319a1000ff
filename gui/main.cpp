#include "demo.h"
#include "sampletasks.h"

#include <procpool/worker.h>

#include <QtCore/QCoreApplication>

int main(int argc, char **argv)
{
    procpool::workerMain(argc, argv); // returns at once unless started as a pool worker
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("procpool"));
    return procpool::demo::run();
}
