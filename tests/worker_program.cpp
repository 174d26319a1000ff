// A dedicated worker program: it links tasks the test executable does not know.
#include <procpool/task.h>
#include <procpool/worker.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QDir>

#include <cstdio>

namespace {
const procpool::Task<QString()> cwd{"wp.cwd", [] { return QDir::currentPath(); }};
const procpool::Task<QString(QString)> env{"wp.env", [](const QString &name) {
                                               return qEnvironmentVariable(qPrintable(name));
                                           }};
const procpool::Task<QStringList()> arguments{"wp.arguments", [] {
                                                  return QCoreApplication::arguments().mid(1);
                                              }};
const procpool::Task<int(int, int)> multiply{"wp.multiply", [](int a, int b) { return a * b; }};
} // namespace

int main(int argc, char **argv)
{
    procpool::workerMain(argc, argv);
    std::fprintf(stderr, "worker_program: start me from a procpool pool\n");
    return 2;
}
