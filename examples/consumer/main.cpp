// procpool_consumer — the "typical usage" of the Python original, in C++:
//
//     manager = get_or_create_process_manager("render")
//     manager.start(max_workers=4, task_type="component_render")
//     future = manager.submit_task(render_component, "header", 2, task_type="component_render")
//     print(future.result())
//     manager.submit_task(render_component, "footer", 1)   # raises UnknownTaskError
//
// The workers are this executable started again: main() hands control to procpool first.
// Exits with 0 only when everything behaved as documented.
#include <procpool/procpool.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QFuture>
#include <QtCore/QString>

#include <cstdio>
#include <exception>
#include <unistd.h>

namespace {

// A task: declared once at namespace scope, so that the workers (this program) know it too.
const procpool::Task<QString(QString, int)> renderComponent{
    "renderComponent", [](const QString &component, int scale) {
        return QStringLiteral("<%1 scale=%2 rendered by %3 (pid %4)>")
            .arg(component)
            .arg(scale)
            .arg(procpool::workerName())
            .arg(qint64(::getpid()));
    }};

int failures = 0;

void check(bool condition, const char *what)
{
    std::printf("%s: %s\n", condition ? "ok  " : "FAIL", what);
    if (!condition)
        ++failures;
}

} // namespace

int main(int argc, char **argv)
{
    procpool::workerMain(argc, argv); // returns at once unless started as a pool worker
    QCoreApplication app(argc, argv);

    const QString taskType = QStringLiteral("component_render");
    try {
        // Get or create the manager of namespace "render", and start its dedicated pool.
        procpool::ProcessPoolManager *manager =
            procpool::getOrCreateProcessManager(QStringLiteral("render"));
        check(manager == procpool::getOrCreateProcessManager(QStringLiteral("render")),
              "the same namespace gives the same manager");
        manager->start(4, taskType, false, QStringLiteral("render"));
        check(manager->isRunning(), "the pool is running");
        check(manager->getPool()->maxWorkers() == 4, "the pool has 4 workers at most");

        // Submit a task with the pool's task type, and print its result.
        QFuture<QString> rendered = manager->submitTask(renderComponent,
                                                        QStringLiteral("header"), 2,
                                                        procpool::TaskType(taskType));
        const QString result = rendered.result();
        std::printf("result: %s\n", qPrintable(result));
        check(result.startsWith(QStringLiteral("<header scale=2 rendered by render-")),
              "the task ran in a worker of the pool");
        check(!result.contains(QStringLiteral("(pid %1)").arg(qint64(::getpid()))),
              "the worker is another process");

        // Submitting without the task type throws UnknownTaskError, before anything is queued.
        try {
            manager->submitTask(renderComponent, QStringLiteral("footer"), 1);
            check(false, "submitting without the task type throws UnknownTaskError");
        } catch (const procpool::UnknownTaskError &e) {
            std::printf("UnknownTaskError: %s\n", e.what());
            check(e.taskType().isEmpty() && e.poolTaskType() == taskType,
                  "submitting without the task type throws UnknownTaskError");
        }

        manager->stop(); // waits for the workers to exit
        check(!manager->isRunning(), "the pool stopped");
    } catch (const std::exception &e) {
        std::printf("FAIL: unexpected exception: %s\n", e.what());
        ++failures;
    }

    std::printf("%s\n", failures == 0 ? "consumer: all good" : "consumer: FAILED");
    return failures == 0 ? 0 : 1;
}
