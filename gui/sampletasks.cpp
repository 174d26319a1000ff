#include "sampletasks.h"

#include "limittext.h"

#include <procpool/task.h>
#include <procpool/worker.h>

#include <QtCore/QByteArray>
#include <QtCore/QFile>
#include <QtCore/QThread>
#include <QtCore/QVariantMap>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

namespace procpool::samples {
namespace {

const Task<int(int)> sleepTask{"sleep", [](int ms) {
                                   QThread::msleep(ulong(std::max(0, ms)));
                                   return ms;
                               }};

const Task<qint64(qint64)> primesTask{"primes", [](qint64 below) {
                                          qint64 count = 0;
                                          for (qint64 n = 2; n < below; ++n) {
                                              bool prime = true;
                                              for (qint64 d = 2; d * d <= n; ++d) {
                                                  if (n % d == 0) {
                                                      prime = false;
                                                      break;
                                                  }
                                              }
                                              count += prime;
                                          }
                                          return count;
                                      }};

const Task<QByteArray(int)> echoTask{"echo", [](int bytes) {
                                         return QByteArray(std::max(0, bytes), 'x');
                                     }};

const Task<int(int)> progressTask{"progress", [](int seconds) {
                                      const int steps = std::max(1, seconds) * 10;
                                      for (int i = 1; i <= steps; ++i) {
                                          QThread::msleep(100);
                                          procpool::reportProgress(i, steps,
                                                                   QStringLiteral("step %1 of %2")
                                                                       .arg(i)
                                                                       .arg(steps));
                                      }
                                      return steps;
                                  }};

const Task<int(QString)> throwTask{"throw", [](const QString &message) -> int {
                                       throw std::runtime_error(message.toStdString());
                                   }};

const Task<int(QString)> printTask{"print", [](const QString &text) {
                                       std::printf("stdout: %s\n", qPrintable(text));
                                       std::fprintf(stderr, "stderr: %s\n", qPrintable(text));
                                       return int(text.size());
                                   }};

const Task<QString(QString)> greetTask{"greet", [](const QString &name) {
                                           return QStringLiteral("hello, %1").arg(name);
                                       }};

const Task<int(QString, int)> flakyTask{"flaky", [](const QString &marker, int failures) {
    // The attempt number lives in the file: each attempt may run in another worker.
    QFile file(marker);
    const int attempt = file.open(QIODevice::ReadOnly) ? file.readAll().trimmed().toInt() + 1 : 1;
    file.close();
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate)
        || file.write(QByteArray::number(attempt)) < 0)
        throw std::runtime_error("cannot write the marker file " + marker.toStdString());
    file.close();
    std::printf("flaky: attempt %d\n", attempt);
    std::fflush(stdout);
    if (attempt <= failures)
        throw std::runtime_error("attempt " + std::to_string(attempt) + " fails on purpose");
    return attempt;
}};

const Task<int()> crashTask{"crash", []() -> int {
                                std::fprintf(stderr, "about to crash with SIGSEGV\n");
                                std::raise(SIGSEGV);
                                return 0;
                            }};

const Task<int()> abortTask{"abort", []() -> int {
                                std::fprintf(stderr, "about to abort()\n");
                                std::abort();
                            }};

const Task<int()> hangTask{"hang", []() -> int {
                               for (;;)
                                   QThread::sleep(1);
                           }};

const Task<int(int)> allocateTask{"allocate", [](int megabytesPerStep) -> int {
                                      std::vector<QByteArray> hoard;
                                      for (;;) {
                                          hoard.emplace_back(std::max(1, megabytesPerStep) << 20, 'm');
                                          QThread::msleep(10);
                                      }
                                  }};

const Task<int(int)> floodTask{"flood", [](int lines) -> int {
    // In chunks of about 1 MiB, so that the flood outruns whoever shows the lines.
    QByteArray chunk;
    for (int i = 0; i < lines; ++i) {
        chunk += "flood line " + QByteArray::number(i + 1) + " of " + QByteArray::number(lines) + '\n';
        if (chunk.size() >= 1 << 20 || i + 1 == lines) {
            std::fwrite(chunk.constData(), 1, size_t(chunk.size()), stderr);
            std::fflush(stderr);
            chunk.clear();
        }
    }
    // Returns once the pool has read every line: its result then comes after all of them.
    for (int unread = 1; unread > 0;) {
        if (::ioctl(STDERR_FILENO, FIONREAD, &unread) != 0)
            break;
        if (unread > 0)
            QThread::msleep(1);
    }
    return lines;
}};

//! A soft resource limit of this process; -1 when there is none.
qint64 softLimit(int resource)
{
    struct rlimit limit {};
    if (::getrlimit(__rlimit_resource(resource), &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
        return -1;
    return qint64(limit.rlim_cur);
}

const Task<QVariantMap(QString)> limitsTask{"limits", [](const QString &variable) {
    QVariantMap limits;
    limits.insert(QStringLiteral("nice"), ::getpriority(PRIO_PROCESS, 0));
    cpu_set_t set;
    CPU_ZERO(&set);
    QList<int> cpus;
    if (::sched_getaffinity(0, sizeof set, &set) == 0)
        for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
            if (CPU_ISSET(cpu, &set))
                cpus.append(cpu);
    limits.insert(QStringLiteral("cpus"), limittext::cpuListText(cpus));
    limits.insert(QStringLiteral("address_space"), softLimit(RLIMIT_AS));
    limits.insert(QStringLiteral("cpu_time"), softLimit(RLIMIT_CPU));
    if (qEnvironmentVariableIsSet(qPrintable(variable)))
        limits.insert(QStringLiteral("env"), qEnvironmentVariable(qPrintable(variable)));
    return limits;
}};

} // namespace

const QList<SampleTask> &sampleTasks()
{
    static const QList<SampleTask> tasks = {
        {QStringLiteral("sleep"), {QStringLiteral("ms:int=200")}, QStringLiteral("Sleeps for the given milliseconds and returns them")},
        {QStringLiteral("primes"), {QStringLiteral("below:int=200000")}, QStringLiteral("CPU-bound: counts the primes below N")},
        {QStringLiteral("echo"), {QStringLiteral("bytes:int=1024")}, QStringLiteral("Returns a payload of N bytes")},
        {QStringLiteral("progress"), {QStringLiteral("seconds:int=3")}, QStringLiteral("Reports progress ten times a second for N seconds")},
        {QStringLiteral("throw"), {QStringLiteral("message:string=boom")}, QStringLiteral("Throws std::runtime_error with the message")},
        {QStringLiteral("print"), {QStringLiteral("text:string=hello")}, QStringLiteral("Prints the text to stdout and stderr")},
        {QStringLiteral("greet"), {QStringLiteral("name:string=world")}, QStringLiteral("Returns the text \"hello, NAME\"")},
        {QStringLiteral("flaky"), {QStringLiteral("marker:string=/tmp/procpool-flaky"), QStringLiteral("failures:int=2")},
         QStringLiteral("Throws on its first N attempts, counted in the marker file (remove it to start over); returns the attempt that succeeded")},
        {QStringLiteral("crash"), {}, QStringLiteral("Crashes its worker with SIGSEGV")},
        {QStringLiteral("abort"), {}, QStringLiteral("Calls abort() in its worker")},
        {QStringLiteral("hang"), {}, QStringLiteral("Never returns (for timeouts and kills)")},
        {QStringLiteral("allocate"), {QStringLiteral("mbPerStep:int=64")}, QStringLiteral("Allocates memory until the worker is killed")},
        {QStringLiteral("flood"), {QStringLiteral("lines:int=100000")}, QStringLiteral("Prints N lines to stderr at once; what the pool cannot pass on, it counts in a line of its own")},
        {QStringLiteral("limits"), {QStringLiteral("variable:string=CUDA_VISIBLE_DEVICES")},
         QStringLiteral("Returns its worker's nice value, CPU affinity, address-space and CPU-time limits (-1: none) and, when set, the environment variable VARIABLE (env)")},
    };
    return tasks;
}

} // namespace procpool::samples
