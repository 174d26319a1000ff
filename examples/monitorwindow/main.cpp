// procpool_monitorwindow — an application with pools of its own opens procpool's monitor on them.
//
// The application starts namespace "crunching" (two workers) and gives it work; the window shows
// its workers, futures and charts as they run, and its Submit offers this application's own task,
// example.crunch, with an editor for its argument. Closing the window leaves the pool running.
//
//     monitorwindow               the window, until it is closed
//     monitorwindow --check FILE  waits until the window lists the namespace with its two
//                                 workers, saves a picture of the window to FILE, and exits
//                                 with 0 (procpool's package tests run it offscreen)
#include <procpool/monitorwindow.h>
#include <procpool/procpool.h>

#include <QtCore/QAbstractItemModel>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QTimer>
#include <QtWidgets/QApplication>
#include <QtWidgets/QTreeView>

#include <cstdio>

namespace {

const procpool::Task<qint64(int)> crunch{"example.crunch", "Sums the integers below N", [](int n) {
                                             qint64 sum = 0;
                                             for (int i = 0; i < n; ++i)
                                                 sum += i;
                                             return sum;
                                         }};

//! Whether \a model shows \a text in column 0 somewhere under \a parent.
bool shows(const QAbstractItemModel *model, const QString &text, const QModelIndex &parent = {})
{
    for (int row = 0; row < model->rowCount(parent); ++row) {
        const QModelIndex index = model->index(row, 0, parent);
        if (index.data().toString() == text || shows(model, text, index))
            return true;
    }
    return false;
}

} // namespace

int main(int argc, char **argv)
{
    procpool::workerMain(argc, argv); // the workers are this program started again
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("procpool-monitorwindow-example"));

    procpool::PoolOptions options;
    options.maxWorkers = 2;
    options.minWorkers = 2;
    procpool::ProcessPoolManager *manager = procpool::getOrCreateProcessManager(QStringLiteral("crunching"));
    manager->start(options);
    for (int i = 1; i <= 8; ++i)
        manager->submitTask(crunch, i * 1000000);

    auto *monitor = new procpool::MonitorWindow;
    monitor->setAttribute(Qt::WA_DeleteOnClose);
    monitor->show();

    const QStringList arguments = QApplication::arguments();
    if (arguments.value(1) != u"--check")
        return app.exec();

    const QString file = arguments.value(2);
    QDeadlineTimer deadline(60000);
    QTimer poll;
    QObject::connect(&poll, &QTimer::timeout, &app, [&] {
        auto *tree = monitor->findChild<QTreeView *>(QStringLiteral("namespaceView"));
        const bool ready = tree && shows(tree->model(), QStringLiteral("crunching"))
                           && manager->getPool()->workers().size() == 2;
        if (!ready && !deadline.hasExpired())
            return;
        poll.stop();
        if (!ready) {
            std::fprintf(stderr, "monitorwindow: the window did not show namespace 'crunching' in 60 s\n");
            QApplication::exit(1);
        } else if (!monitor->grab().save(file, "PNG")) {
            std::fprintf(stderr, "monitorwindow: cannot save %s\n", qPrintable(file));
            QApplication::exit(1);
        } else {
            std::printf("monitorwindow: all good\n");
            QApplication::exit(0);
        }
    });
    poll.start(100);
    const int status = app.exec();
    manager->terminate();
    return status;
}
