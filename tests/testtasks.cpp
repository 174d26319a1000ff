#include "testtasks.h"

#include <procpool/processpoolmanager.h>

#include <QtCore/QFile>
#include <QtCore/QThread>

#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <sys/ioctl.h>
#include <unistd.h>

namespace tasks {

namespace {
QString readProcFile(const char *path)
{
    QFile f(QString::fromLatin1(path));
    if (!f.open(QIODevice::ReadOnly))
        return QString();
    QByteArray bytes = f.readAll();
    bytes.replace('\0', ' ');
    return QString::fromUtf8(bytes).trimmed();
}
} // namespace

const procpool::Task<int(int, int)> add{"add", [](int a, int b) { return a + b; }};
const procpool::Task<int(int)> increment{"increment", [](int x) { return x + 1; }};
const procpool::Task<qint64()> pid{"pid", [] { return qint64(::getpid()); }};
const procpool::Task<QString()> comm{"comm", [] { return readProcFile("/proc/self/comm"); }};
const procpool::Task<QString()> cmdline{"cmdline", [] { return readProcFile("/proc/self/cmdline"); }};
const procpool::Task<void(QString)> touch{"touch", [](const QString &path) {
                                              QFile f(path);
                                              if (!f.open(QIODevice::WriteOnly))
                                                  throw std::runtime_error("cannot create file");
                                          }};
const procpool::Task<int(int, QString)> sleepThenTouch{
    "sleepThenTouch", [](int ms, const QString &path) {
        QThread::msleep(ulong(ms));
        QFile f(path);
        if (!f.open(QIODevice::WriteOnly))
            throw std::runtime_error("cannot create file");
        return ms;
    }};
const procpool::Task<int(QString)> throwRuntime{"throwRuntime", [](const QString &m) -> int {
                                                    throw std::runtime_error(m.toStdString());
                                                }};
const procpool::Task<int()> throwInt{"throwInt", []() -> int { throw 42; }};
const procpool::Task<int(QString)> printBoth{"printBoth", [](const QString &text) {
                                                 std::printf("out:%s\n", qPrintable(text));
                                                 std::fprintf(stderr, "err:%s\n", qPrintable(text));
                                                 // Frame-like bytes on stdout must not confuse anything.
                                                 std::fwrite("\x05\x00\x00\x00\x03", 1, 5, stdout);
                                                 std::printf("\n");
                                                 return int(text.size());
                                             }};
const procpool::Task<int(int)> sleepMs{"sleepMs", [](int ms) {
                                           QThread::msleep(ulong(ms));
                                           return ms;
                                       }};
const procpool::Task<int()> segfault{"segfault", []() -> int {
                                         std::fprintf(stderr, "segfaulting now\n");
                                         std::raise(SIGSEGV);
                                         return 0;
                                     }};
const procpool::Task<QVariant(QVariant)> echoVariant{"echoVariant", [](const QVariant &v) { return v; }};
const procpool::Task<QByteArray(QByteArray)> echoBytes{"echoBytes", [](const QByteArray &b) { return b; }};

const procpool::Task<QStringList(QString, int)> nested{
    "nested", [](const QString &ns, int n) {
        procpool::ProcessPoolManager *m = procpool::getOrCreateProcessManager(ns);
        m->start(2);
        QStringList out;
        out << QString::number(::getpid());
        const auto registry = procpool::ProcessPoolManager::registry();
        out << QString::number(registry.contains(::getpid()) && registry[::getpid()].contains(ns));
        QList<QFuture<int>> futures;
        for (int i = 0; i < n; ++i)
            futures << m->submitTask(add, i, 1);
        int sum = 0;
        for (auto &f : futures)
            sum += f.result();
        out << QString::number(sum);
        out << QString::number(m->submitTask(pid).result());
        m->stop();
        return out;
    }};

// Writes \a lines numbered lines to stderr in large writes, then waits until the pool has read
// them all (its end of the pipe holds nothing more), so that when its future finishes the pool
// has seen every line.
const procpool::Task<int(int)> floodStderr{"floodStderr", [](int lines) {
    QByteArray chunk;
    for (int i = 0; i < lines; ++i) {
        chunk += "flood line " + QByteArray::number(i) + " of many, as a chatty library would\n";
        if (chunk.size() >= 1 << 20 || i + 1 == lines) {
            for (qsizetype at = 0; at < chunk.size();) {
                const ssize_t n = ::write(STDERR_FILENO, chunk.constData() + at, size_t(chunk.size() - at));
                if (n <= 0)
                    return -1;
                at += n;
            }
            chunk.clear();
        }
    }
    for (int unread = 1; unread > 0;) {
        if (::ioctl(STDERR_FILENO, FIONREAD, &unread) != 0)
            return -1;
        QThread::msleep(1);
    }
    return lines;
}};

} // namespace tasks
