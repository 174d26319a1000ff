#include "demo.h"

#include <procpool/procpool.h>

#include <QtCore/QDebug>
#include <QtCore/QElapsedTimer>
#include <QtCore/QTextStream>

namespace procpool::demo {

int run()
{
    QTextStream out(stdout);
    auto say = [&out](const QString &line) { out << line << Qt::endl; };

    ProcessPoolManager *cpu = getOrCreateProcessManager(QStringLiteral("cpu"));
    ProcessPoolManager *render = getOrCreateProcessManager(QStringLiteral("render"));
    cpu->start(2, QString(), false, QStringLiteral("cpu"));
    render->start(2, QStringLiteral("component_render"), true, QStringLiteral("render"));
    QObject::connect(cpu, &ProcessPoolManager::workerLog, cpu,
                     [&say](qint64 pid, const QString &line) {
                         say(QStringLiteral("  [worker %1] %2").arg(pid).arg(line));
                     }, Qt::DirectConnection);

    say(QStringLiteral("procpool demo — registry:"));
    const RegistryMap registry = ProcessPoolManager::registry();
    for (auto pid = registry.cbegin(); pid != registry.cend(); ++pid)
        for (auto ns = pid->cbegin(); ns != pid->cend(); ++ns)
            say(QStringLiteral("  %1").arg(ns.value()->toString()));

    QElapsedTimer timer;
    timer.start();
    QList<QFuture<QVariant>> futures;
    for (int i = 0; i < 8; ++i)
        futures.append(cpu->submitTask(QStringLiteral("primes"), {200000 + i}));
    for (auto &f : futures)
        f.waitForFinished();
    say(QStringLiteral("8 × primes(200000) on 2 workers: %1 primes each, %2 ms")
            .arg(futures.first().result().toLongLong())
            .arg(timer.elapsed()));

    try {
        render->submitTask(QStringLiteral("sleep"), {10});
    } catch (const UnknownTaskError &e) {
        say(QStringLiteral("task-type protection: %1").arg(QString::fromUtf8(e.what())));
    }
    auto rendered = render->submitTask(QStringLiteral("echo"), {16},
                                       TaskType(QStringLiteral("component_render")));
    say(QStringLiteral("typed submission: echo returned %1 bytes")
            .arg(rendered.result().toByteArray().size()));

    auto crashed = cpu->submitTask(QStringLiteral("crash"), {});
    try {
        crashed.waitForFinished();
    } catch (const WorkerCrashed &e) {
        say(QStringLiteral("a crash fails one task: %1").arg(e.message()));
    }
    say(QStringLiteral("the pool goes on: sleep(5) returned %1")
            .arg(cpu->submitTask(QStringLiteral("print"), {QStringLiteral("hello")}).result().toInt()));

    cpu->stop();
    render->stop();
    say(QStringLiteral("stopped: %1").arg(cpu->toString()));
    return 0;
}

} // namespace procpool::demo
