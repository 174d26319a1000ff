#include "demoworkload.h"

#include "mainwindow.h"

#include <procpool/processpoolmanager.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QTimer>

namespace procpool::monitor {

namespace {

void submit(MainWindow *window, ProcessPoolManager *manager, const QString &task,
            const QVariantList &arguments, int count, const QString &taskType = QString(),
            bool log = true)
{
    window->submit(manager, SubmitDialog::Request{task, arguments, count, taskType}, log);
}

} // namespace

void startDemoWorkload(MainWindow *window)
{
    // render: a protected pool of three workers whose tasks report progress.
    const QString renderType = QStringLiteral("component_render");
    ProcessPoolManager *render = getOrCreateProcessManager(QStringLiteral("render"));
    if (render->state() == PoolState::Stopped)
        render->start(3, renderType, true, QStringLiteral("render"));
    submit(window, render, QStringLiteral("progress"), {16}, 2, renderType);
    submit(window, render, QStringLiteral("progress"), {11}, 1, renderType);

    // io: short tasks, output, failures and a crash the pool survives.
    ProcessPoolManager *io = getOrCreateProcessManager(QStringLiteral("io"));
    if (io->state() == PoolState::Stopped)
        io->start(2, QString(), true, QStringLiteral("io"));
    submit(window, io, QStringLiteral("crash"), {}, 1);
    submit(window, io, QStringLiteral("throw"), {QStringLiteral("invalid configuration key 'timeout_ms'")}, 1);
    submit(window, io, QStringLiteral("print"), {QStringLiteral("loading shard 7")}, 1);
    submit(window, io, QStringLiteral("echo"), {4096}, 2);
    // A task that fails once and succeeds on its retry, ahead of the queued sleeps; it counts
    // its attempts in a file of its own, removed with the window.
    const QString marker = QDir::temp().filePath(
        QStringLiteral("procpool-demo-flaky-%1").arg(QCoreApplication::applicationPid()));
    QFile::remove(marker);
    QObject::connect(window, &QObject::destroyed, [marker] { QFile::remove(marker); });
    window->submit(io, SubmitDialog::Request{QStringLiteral("flaky"), {marker, 1}, 1, QString(), 5, 3},
                   true);
    submit(window, render, QStringLiteral("primes"), {150000}, 3, renderType);
    submit(window, io, QStringLiteral("sleep"), {250}, 90);

    // batch: bursts of small tasks, a different size every second.
    ProcessPoolManager *batch = getOrCreateProcessManager(QStringLiteral("batch"));
    if (batch->state() == PoolState::Stopped)
        batch->start(2, QStringLiteral("etl"), true, QStringLiteral("batch"));
    auto *bursts = new QTimer(window);
    bursts->setInterval(1000);
    QObject::connect(bursts, &QTimer::timeout, window, [window, batch, round = 0]() mutable {
        if (batch->state() != PoolState::Running)
            return;
        const int size = 20 + (round * 37) % 60;
        ++round;
        submit(window, batch, QStringLiteral("sleep"), {5}, size, QStringLiteral("etl"), false);
    });
    bursts->start();

    // legacy: a pool whose worker program exits at once, so the pool breaks.
    ProcessPoolManager *legacy = getOrCreateProcessManager(QStringLiteral("legacy"));
    if (legacy->state() == PoolState::Stopped) {
        PoolOptions options;
        options.maxWorkers = 1;
        options.daemon = true;
        options.processNamePrefix = QStringLiteral("legacy");
        options.startContext.program = QStringLiteral("/bin/false");
        legacy->start(options);
        submit(window, legacy, QStringLiteral("sleep"), {10}, 1);
    }

    // reports: a namespace that was never started.
    getOrCreateProcessManager(QStringLiteral("reports"));

    window->selectManager(render);
}

} // namespace procpool::monitor
