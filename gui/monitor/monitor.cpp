#include "monitor.h"

#include "demoworkload.h"
#include "mainwindow.h"
#include "futuremodel.h"

#include <QtCore/QCommandLineParser>
#include <QtCore/QSettings>
#include <QtCore/QTemporaryDir>
#include <QtCore/QTimer>
#include <QtGui/QAction>
#include <QtWidgets/QApplication>
#include <QtWidgets/QTableView>

#include <cstdio>

namespace procpool::monitor {

namespace {

//! Selects the first failed future, so that a screenshot shows an error in the details pane.
void selectInterestingFuture(MainWindow &window)
{
    QAbstractItemModel *model = window.futureView()->model();
    for (int row = 0; row < model->rowCount(); ++row) {
        const QModelIndex index = model->index(row, FutureModel::State);
        if (index.data().toString() == stateName(TaskState::Failed)
            && model->index(row, FutureModel::Task).data().toString() == QLatin1String("crash")) {
            window.futureView()->selectRow(row);
            window.futureView()->scrollToTop(); // the running tasks, with their progress bars
            return;
        }
    }
}

const QCommandLineOption attach(QStringLiteral("attach"),
                                QStringLiteral("Show the pools of running procpool application <pid> too (repeatable; "
                                               "'procpool --headless --ps' lists them)."),
                                QStringLiteral("pid"));
const QCommandLineOption demo(QStringLiteral("demo"), QStringLiteral("Start a small demonstration workload."));
const QCommandLineOption screenshot(QStringLiteral("screenshot"),
                                    QStringLiteral("Start the demonstration workload (or, with --attach, show the attached "
                                                   "processes), save the window to <file> (PNG) and exit."),
                                    QStringLiteral("file"));
const QCommandLineOption after(QStringLiteral("screenshot-after"),
                               QStringLiteral("Milliseconds to wait before the screenshot (default 12000)."),
                               QStringLiteral("ms"), QStringLiteral("12000"));

void setUpParser(QCommandLineParser &parser)
{
    parser.setApplicationDescription(QStringLiteral(
        "The procpool desktop monitor: every process pool of this application, live.\n"
        "Run with --headless for the command-line driver."));
    parser.addHelpOption();
    parser.addOptions({attach, demo, screenshot, after});
}

bool hasDisplay()
{
    return !qEnvironmentVariableIsEmpty("DISPLAY") || !qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY")
        || !qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM");
}

} // namespace

int run(int argc, char **argv, const QList<TaskPreset> &presets)
{
    if (!hasDisplay()) {
        // Without a display QApplication would abort in the platform plugin: answer --help and
        // bad options from a plain QCoreApplication instead, and say what to do.
        QCoreApplication core(argc, argv);
        QCommandLineParser parser;
        setUpParser(parser);
        parser.process(core); // exits for --help and for an unknown option
        std::fprintf(stderr,
                     "procpool: no display to open the monitor on (DISPLAY, WAYLAND_DISPLAY and "
                     "QT_QPA_PLATFORM are unset).\nRun 'procpool --headless --help' for the "
                     "command-line driver, or set QT_QPA_PLATFORM=offscreen.\n");
        return 2;
    }
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("procpool"));
    QApplication::setApplicationName(QStringLiteral("procpool"));
    QApplication::setApplicationDisplayName(QStringLiteral("procpool monitor"));
    QApplication::setDesktopFileName(QStringLiteral("procpool"));

    QCommandLineParser parser;
    setUpParser(parser);
    parser.process(app);

    const QString file = parser.value(screenshot);
    bool delayOk = false;
    const int delay = parser.value(after).toInt(&delayOk);
    if (!delayOk || delay < 0) {
        std::fprintf(stderr, "procpool: --screenshot-after takes a number of milliseconds, not '%s'\n",
                     qPrintable(parser.value(after)));
        return 2;
    }

    QList<qint64> pids;
    for (const QString &value : parser.values(attach)) {
        bool ok = false;
        const qint64 pid = value.toLongLong(&ok);
        if (!ok || pid <= 0) {
            std::fprintf(stderr, "procpool: --attach takes a process id, not '%s'; "
                                 "'procpool --headless --ps' lists the processes there are\n",
                         qPrintable(value));
            return 2;
        }
        pids.append(pid);
    }

    // A screenshot neither reads nor changes this user's saved layout.
    QTemporaryDir scratchSettings;
    if (!file.isEmpty()) {
        QSettings::setDefaultFormat(QSettings::IniFormat);
        QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, scratchSettings.path());
    }
    MainWindow window;
    window.setTaskPresets(presets);
    if (!file.isEmpty()) {
        window.resize(1280, 800);
        window.setConfirmer([](const QString &, const QString &) { return true; });
        // Every pool's workers, so that the crashed ones show too.
        if (QAction *all = window.findChild<QAction *>(QStringLiteral("actionAllWorkers")))
            all->setChecked(true);
    }
    window.show();
    for (qint64 pid : std::as_const(pids))
        window.attachTo(pid);
    if (parser.isSet(demo) || (!file.isEmpty() && pids.isEmpty()))
        QTimer::singleShot(0, &window, [&window] { startDemoWorkload(&window); });

    int status = 0;
    if (!file.isEmpty()) {
        QTimer::singleShot(std::max(0, delay - 300), &window, [&window] { selectInterestingFuture(window); });
        QTimer::singleShot(delay, &window, [&window, &status, file] {
            if (!window.grab().save(file, "PNG")) {
                std::fprintf(stderr, "procpool: cannot write the screenshot to %s\n", qPrintable(file));
                status = 1;
            } else {
                std::fprintf(stdout, "procpool: screenshot saved to %s\n", qPrintable(file));
            }
            window.watcher()->terminateAll();
            QApplication::exit(status);
        });
    }
    const int code = app.exec();
    return status != 0 ? status : code;
}

} // namespace procpool::monitor
