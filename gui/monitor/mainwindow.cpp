#include "mainwindow.h"

#include "activitychart.h"
#include "chartwidget.h"
#include "enginewatcher.h"
#include "futuremodel.h"
#include "logmodel.h"
#include "namespacemodel.h"
#include "progressdelegate.h"
#include "style.h"
#include "workermodel.h"

#include <QtCore/QRegularExpression>
#include <QtCore/QSettings>
#include <QtGui/QCloseEvent>
#include <QtWidgets/QApplication>
#include <QtWidgets/QCheckBox>
#include <QtWidgets/QComboBox>
#include <QtWidgets/QDockWidget>
#include <QtWidgets/QHBoxLayout>
#include <QtWidgets/QHeaderView>
#include <QtWidgets/QLabel>
#include <QtWidgets/QLineEdit>
#include <QtWidgets/QMenuBar>
#include <QtWidgets/QMessageBox>
#include <QtWidgets/QScrollBar>
#include <QtWidgets/QSplitter>
#include <QtWidgets/QStatusBar>
#include <QtWidgets/QTableView>
#include <QtWidgets/QTextBrowser>
#include <QtWidgets/QToolBar>
#include <QtWidgets/QTreeView>
#include <QtWidgets/QVBoxLayout>

namespace procpool::monitor {

namespace {

//! Chart history: one sample a second for five minutes.
constexpr int chartSamples = 300;

void setupTable(QTableView *view)
{
    view->setSelectionBehavior(QAbstractItemView::SelectRows);
    view->setAlternatingRowColors(true);
    view->setShowGrid(false);
    view->setWordWrap(false);
    view->verticalHeader()->hide();
    view->verticalHeader()->setDefaultSectionSize(view->fontMetrics().height() + 6);
    view->horizontalHeader()->setHighlightSections(false);
    view->horizontalHeader()->setStretchLastSection(true);
    view->horizontalHeader()->setDefaultAlignment(Qt::AlignLeft | Qt::AlignVCenter);
    view->setEditTriggers(QAbstractItemView::NoEditTriggers);
}

void setColumnWidths(QHeaderView *header, std::initializer_list<int> widths)
{
    int i = 0;
    for (int w : widths)
        header->resizeSection(i++, w);
}

QDockWidget *makeDock(QMainWindow *window, const QString &title, const char *objectName, QWidget *content)
{
    auto *dock = new QDockWidget(title, window);
    dock->setObjectName(QLatin1String(objectName));
    dock->setWidget(content);
    dock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable
                      | QDockWidget::DockWidgetClosable);
    return dock;
}

} // namespace

MainWindow::MainWindow(QWidget *parent, Host host)
    : QMainWindow(parent)
    , m_host(host)
    , m_watcher(new EngineWatcher(this))
    , m_namespaces(new NamespaceModel(m_watcher, this))
    , m_workers(new WorkerModel(m_watcher, this))
    , m_futures(new FutureModel(m_watcher, this))
    , m_log(new LogModel(m_watcher, this))
    , m_workerFilter(new QSortFilterProxyModel(this))
    , m_futureFilter(new FutureFilterModel(this))
    , m_logFilter(new LogFilterModel(this))
{
    setWindowTitle(QStringLiteral("procpool monitor"));
    setWindowIcon(style::icon("procpool"));
    setDockOptions(AnimatedDocks | AllowNestedDocks | AllowTabbedDocks);
    m_confirm = [this](const QString &title, const QString &text) {
        return QMessageBox::question(this, title, text, QMessageBox::Yes | QMessageBox::Cancel,
                                     QMessageBox::Cancel)
               == QMessageBox::Yes;
    };

    // Namespaces.
    m_namespaceView = new QTreeView(this);
    m_namespaceView->setObjectName(QStringLiteral("namespaceView"));
    m_namespaceView->setModel(m_namespaces);
    m_namespaceView->setAlternatingRowColors(true);
    m_namespaceView->setUniformRowHeights(true);
    m_namespaceView->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_namespaceView->header()->setStretchLastSection(false);
    setColumnWidths(m_namespaceView->header(), {205, 86, 90, 34, 56, 58, 56, 42, 42});
    m_namespaceView->setIndentation(14);
    m_namespaceView->expandAll();
    connect(m_namespaces, &QAbstractItemModel::rowsInserted, m_namespaceView,
            [this](const QModelIndex &under, int first, int last) {
                for (int r = first; r <= last; ++r)
                    m_namespaceView->expandRecursively(m_namespaces->index(r, 0, under));
                if (m_firstSelection && !selectedManager()) {
                    // Once the whole tree is in: select the first registered manager.
                    QTimer::singleShot(0, this, [this] {
                        if (!m_firstSelection || selectedManager())
                            return;
                        for (const ManagerView &v : m_watcher->managers()) {
                            if (v.registered) {
                                m_firstSelection = false;
                                selectKey(v.key);
                                break;
                            }
                        }
                    });
                }
            });

    // Workers.
    m_workerFilter->setSourceModel(m_workers);
    m_workerFilter->setFilterRole(WorkerModel::ManagerRole);
    m_workerFilter->setSortRole(Qt::UserRole);
    m_workerView = new QTableView(this);
    m_workerView->setObjectName(QStringLiteral("workerView"));
    setupTable(m_workerView);
    m_workerView->setModel(m_workerFilter);
    m_workerView->setSelectionMode(QAbstractItemView::SingleSelection);
    m_workerView->setSortingEnabled(true);
    m_workerView->sortByColumn(WorkerModel::Pid, Qt::AscendingOrder);
    setColumnWidths(m_workerView->horizontalHeader(), {50, 58, 36, 52, 76, 78, 60, 40, 44, 44, 60, 52, 56});

    // Charts and log.
    m_chart = new ChartWidget(this);
    m_chart->setObjectName(QStringLiteral("chart"));
    m_chart->setCapacity(chartSamples);
    addActivitySeries(m_chart);

    setCentralWidget(createFuturesPane());
    QDockWidget *namespaceDock = makeDock(this, QStringLiteral("Namespaces"), "namespacesDock", m_namespaceView);
    QDockWidget *workerDock = makeDock(this, QStringLiteral("Workers"), "workersDock", m_workerView);
    QDockWidget *chartDock = makeDock(this, QStringLiteral("Activity"), "chartsDock", m_chart);
    QDockWidget *logDock = makeDock(this, QStringLiteral("Log"), "logDock", createLogPane());
    addDockWidget(Qt::TopDockWidgetArea, namespaceDock);
    addDockWidget(Qt::TopDockWidgetArea, workerDock);
    splitDockWidget(namespaceDock, workerDock, Qt::Horizontal);
    addDockWidget(Qt::BottomDockWidgetArea, chartDock);
    addDockWidget(Qt::BottomDockWidgetArea, logDock);
    splitDockWidget(chartDock, logDock, Qt::Horizontal);
    resizeDocks({namespaceDock, workerDock}, {640, 640}, Qt::Horizontal);
    resizeDocks({chartDock, logDock}, {640, 640}, Qt::Horizontal);
    resizeDocks({namespaceDock}, {252}, Qt::Vertical);
    resizeDocks({chartDock}, {170}, Qt::Vertical);

    // Status bar.
    m_statusTotals = new QLabel(this);
    m_statusTotals->setObjectName(QStringLiteral("statusTotals"));
    m_statusRate = new QLabel(this);
    statusBar()->addPermanentWidget(m_statusTotals, 1);
    statusBar()->addPermanentWidget(m_statusRate);

    createActions();
    QMenu *view = menuBar()->findChild<QMenu *>(QStringLiteral("viewMenu"));
    for (QDockWidget *dock : {namespaceDock, workerDock, chartDock, logDock})
        view->addAction(dock->toggleViewAction());

    connect(m_namespaceView->selectionModel(), &QItemSelectionModel::currentChanged, this, [this] {
        workerFilterChanged();
        updateActions();
    });
    connect(m_workerView->selectionModel(), &QItemSelectionModel::selectionChanged, this, &MainWindow::updateActions);
    connect(m_futureView->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this] {
        updateActions();
        updateDetails();
    });
    connect(m_watcher, &EngineWatcher::polled, this, [this] {
        updateStatus();
        updateActions();
        updateDetails();
    });
    connect(m_futures, &FutureModel::vocabularyChanged, this, &MainWindow::refreshFilterChoices);

    m_chartClock.start();
    m_chartTimer.setInterval(1000);
    connect(&m_chartTimer, &QTimer::timeout, this, &MainWindow::sampleCharts);
    m_chartTimer.start();

    resize(1280, 800);
    restoreSettings();
    updateStatus();
    updateActions();
}

MainWindow::~MainWindow() = default;

QWidget *MainWindow::createFuturesPane()
{
    auto *pane = new QWidget(this);
    m_stateFilter = new QComboBox(pane);
    m_stateFilter->setObjectName(QStringLiteral("stateFilter"));
    m_stateFilter->addItem(QStringLiteral("All states"));
    m_stateFilter->addItem(QStringLiteral("Active (queued, running)"));
    for (TaskState s : {TaskState::Queued, TaskState::Running, TaskState::Finished, TaskState::Failed, TaskState::Cancelled})
        m_stateFilter->addItem(style::stateDot(stateName(s)), stateName(s), int(s));
    m_namespaceFilter = new QComboBox(pane);
    m_namespaceFilter->setObjectName(QStringLiteral("namespaceFilter"));
    m_namespaceFilter->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    m_typeFilter = new QComboBox(pane);
    m_typeFilter->setObjectName(QStringLiteral("typeFilter"));
    m_typeFilter->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    refreshFilterChoices();
    m_futureSearch = new QLineEdit(pane);
    m_futureSearch->setObjectName(QStringLiteral("futureSearch"));
    m_futureSearch->setPlaceholderText(QStringLiteral("Filter by task, result or id (Ctrl+F)"));
    m_futureSearch->setClearButtonEnabled(true);
    m_futureCounts = new QLabel(pane);
    m_futureCounts->setObjectName(QStringLiteral("futureCounts"));
    m_futureCounts->setTextFormat(Qt::RichText);

    auto *filters = new QHBoxLayout;
    filters->setContentsMargins(6, 4, 6, 0);
    filters->addWidget(new QLabel(QStringLiteral("Futures"), pane));
    filters->addWidget(m_stateFilter);
    filters->addWidget(m_namespaceFilter);
    filters->addWidget(m_typeFilter);
    filters->addWidget(m_futureSearch, 1);
    filters->addWidget(m_futureCounts);
    for (QComboBox *combo : {m_stateFilter, m_namespaceFilter, m_typeFilter})
        connect(combo, &QComboBox::currentIndexChanged, this, &MainWindow::applyFutureFilter);
    connect(m_futureSearch, &QLineEdit::textChanged, this, &MainWindow::applyFutureFilter);

    m_futureFilter->setSourceModel(m_futures);
    m_futureFilter->setSortRole(FutureModel::SortRole);
    m_futureView = new QTableView(pane);
    m_futureView->setObjectName(QStringLiteral("futureView"));
    setupTable(m_futureView);
    m_futureView->setModel(m_futureFilter);
    m_futureView->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_futureView->setItemDelegateForColumn(FutureModel::Progress, new ProgressDelegate(m_futureView));
    m_futureView->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder);
    m_futureView->setSortingEnabled(true);
    setColumnWidths(m_futureView->horizontalHeader(), {40, 62, 108, 74, 82, 50, 56, 64, 92, 92, 92, 60, 90, 120});
    // Follow the newest tasks while the view is scrolled to the bottom.
    connect(m_futureFilter, &QAbstractItemModel::rowsAboutToBeInserted, this, [this] {
        QScrollBar *bar = m_futureView->verticalScrollBar();
        m_futureView->setProperty("follow", bar->value() >= bar->maximum());
    });
    connect(m_futureFilter, &QAbstractItemModel::rowsInserted, this, [this] {
        if (m_futureView->property("follow").toBool())
            QTimer::singleShot(0, m_futureView, &QTableView::scrollToBottom);
    });

    m_details = new QTextBrowser(pane);
    m_details->setObjectName(QStringLiteral("futureDetails"));
    m_details->setPlaceholderText(QStringLiteral("Select a future to see its arguments, result or error."));
    m_details->setOpenLinks(false);

    auto *splitter = new QSplitter(Qt::Horizontal, pane);
    splitter->setObjectName(QStringLiteral("futureSplitter"));
    splitter->addWidget(m_futureView);
    splitter->addWidget(m_details);
    splitter->setStretchFactor(0, 4);
    splitter->setStretchFactor(1, 1);
    splitter->setSizes({1010, 270});

    auto *layout = new QVBoxLayout(pane);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(4);
    layout->addLayout(filters);
    layout->addWidget(splitter, 1);
    applyFutureFilter();
    return pane;
}

QWidget *MainWindow::createLogPane()
{
    auto *pane = new QWidget(this);
    m_logFilter->setSourceModel(m_log);
    m_logView = new QTableView(pane);
    m_logView->setObjectName(QStringLiteral("logView"));
    setupTable(m_logView);
    m_logView->setModel(m_logFilter);
    setColumnWidths(m_logView->horizontalHeader(), {92, 74, 58, 56});
    m_logSearch = new QLineEdit(pane);
    m_logSearch->setPlaceholderText(QStringLiteral("Filter log"));
    m_logSearch->setClearButtonEnabled(true);
    m_logOutput = new QCheckBox(QStringLiteral("Worker output"), pane);
    m_logOutput->setChecked(true);
    m_logEngine = new QCheckBox(QStringLiteral("Engine events"), pane);
    m_logEngine->setChecked(true);
    auto apply = [this] {
        m_logFilter->setSources(m_logOutput->isChecked(), m_logEngine->isChecked());
        m_logFilter->setText(m_logSearch->text());
    };
    connect(m_logSearch, &QLineEdit::textChanged, this, apply);
    connect(m_logOutput, &QCheckBox::toggled, this, apply);
    connect(m_logEngine, &QCheckBox::toggled, this, apply);
    connect(m_logFilter, &QAbstractItemModel::rowsAboutToBeInserted, this, [this] {
        QScrollBar *bar = m_logView->verticalScrollBar();
        m_logView->setProperty("follow", bar->value() >= bar->maximum());
    });
    connect(m_logFilter, &QAbstractItemModel::rowsInserted, this, [this] {
        if (m_logView->property("follow").toBool())
            QTimer::singleShot(0, m_logView, &QTableView::scrollToBottom);
    });
    auto *bar = new QHBoxLayout;
    bar->setContentsMargins(4, 2, 4, 0);
    bar->addWidget(m_logSearch, 1);
    bar->addWidget(m_logOutput);
    bar->addWidget(m_logEngine);
    auto *layout = new QVBoxLayout(pane);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(2);
    layout->addLayout(bar);
    layout->addWidget(m_logView, 1);
    return pane;
}

QAction *MainWindow::addAction(QMenu *menu, const char *objectName, const QString &text,
                               const char *icon, const QKeySequence &shortcut, const QString &tip,
                               void (MainWindow::*slot)())
{
    auto *action = new QAction(text, this);
    action->setObjectName(QLatin1String(objectName));
    if (icon)
        action->setIcon(style::icon(icon));
    action->setShortcut(shortcut);
    action->setShortcutContext(Qt::WindowShortcut);
    action->setStatusTip(tip);
    const QString name = QString(text).remove(QLatin1String("…")).remove(u'&');
    action->setToolTip(shortcut.isEmpty() ? name
                                          : QStringLiteral("%1 (%2)").arg(name, shortcut.toString(QKeySequence::NativeText)));
    connect(action, &QAction::triggered, this, slot);
    menu->addAction(action);
    return action;
}

void MainWindow::createActions()
{
    QMenu *file = menuBar()->addMenu(QStringLiteral("&File"));
    QMenu *pool = menuBar()->addMenu(QStringLiteral("&Pool"));
    QMenu *tasks = menuBar()->addMenu(QStringLiteral("&Tasks"));
    QMenu *view = menuBar()->addMenu(QStringLiteral("&View"));
    view->setObjectName(QStringLiteral("viewMenu"));
    QMenu *help = menuBar()->addMenu(QStringLiteral("&Help"));

    QAction *newNs = addAction(pool, "actionNewNamespace", QStringLiteral("&New Namespace…"), "namespace-new",
                               QKeySequence(Qt::CTRL | Qt::Key_N), QStringLiteral("Create a manager in a new namespace"),
                               &MainWindow::newNamespace);
    m_actStart = addAction(pool, "actionStart", QStringLiteral("&Start…"), "start", QKeySequence(Qt::CTRL | Qt::Key_R),
                           QStringLiteral("Start the selected manager's pool"), &MainWindow::startPool);
    m_actStop = addAction(pool, "actionStop", QStringLiteral("S&top"), "stop", QKeySequence(Qt::CTRL | Qt::Key_T),
                          QStringLiteral("Stop the pool once its tasks have finished"), &MainWindow::stopPool);
    m_actStopNow = addAction(pool, "actionStopNow", QStringLiteral("Stop &Now"), "stop-now",
                             QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_T),
                             QStringLiteral("Stop without waiting (daemon pools kill their workers)"), &MainWindow::stopPoolNow);
    m_actTerminate = addAction(pool, "actionTerminate", QStringLiteral("&Terminate"), "terminate",
                               QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_K),
                               QStringLiteral("Kill every worker; unfinished tasks fail"), &MainWindow::terminatePool);
    pool->addSeparator();
    m_actRemove = addAction(pool, "actionRemoveNamespace", QStringLiteral("&Remove Namespace"), "remove",
                            QKeySequence(Qt::CTRL | Qt::Key_Delete),
                            QStringLiteral("Remove the stopped namespace's manager from the registry"), &MainWindow::removeNamespace);
    pool->addSeparator();
    m_actKill = addAction(pool, "actionKillWorker", QStringLiteral("&Kill Worker"), "kill",
                          QKeySequence(Qt::CTRL | Qt::Key_K),
                          QStringLiteral("Send SIGKILL to the selected worker and watch the pool recover"), &MainWindow::killWorker);

    m_actSubmit = addAction(tasks, "actionSubmit", QStringLiteral("&Submit Sample Tasks…"), "submit",
                            QKeySequence(Qt::CTRL | Qt::Key_Return), QStringLiteral("Submit sample tasks to the selected pool"),
                            &MainWindow::submitTasks);
    m_actCancel = addAction(tasks, "actionCancel", QStringLiteral("&Cancel Selected Futures"), "cancel",
                            QKeySequence(Qt::Key_Delete), QStringLiteral("Cancel the selected queued or running futures"),
                            &MainWindow::cancelFutures);
    tasks->addSeparator();
    QAction *find = addAction(tasks, "actionFind", QStringLiteral("&Find Futures"), "find", QKeySequence::Find,
                              QStringLiteral("Filter the futures by text"), &MainWindow::findFutures);

    m_actAllWorkers = new QAction(QStringLiteral("Workers of &All Pools"), this);
    m_actAllWorkers->setObjectName(QStringLiteral("actionAllWorkers"));
    m_actAllWorkers->setCheckable(true);
    m_actAllWorkers->setIcon(style::icon("workers"));
    m_actAllWorkers->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_A));
    m_actAllWorkers->setToolTip(QStringLiteral("Show the workers of every pool, not just the selected one (Ctrl+Shift+A)"));
    connect(m_actAllWorkers, &QAction::toggled, this, &MainWindow::workerFilterChanged);
    view->addAction(m_actAllWorkers);
    QAction *clearLog = addAction(view, "actionClearLog", QStringLiteral("&Clear Log"), "clear", QKeySequence(Qt::CTRL | Qt::Key_L),
              QStringLiteral("Remove every line from the log"), &MainWindow::clearLog);
    view->addSeparator();

    QAction *attach = addAction(file, "actionAttach", QStringLiteral("&Attach to Process…"), "process",
              QKeySequence(Qt::CTRL | Qt::Key_O), QStringLiteral("Show the pools of another running procpool application"),
              &MainWindow::attachToProcess);
    m_actDetach = addAction(file, "actionDetach", QStringLiteral("&Detach"), "remove", QKeySequence(Qt::CTRL | Qt::Key_W),
                            QStringLiteral("Stop showing the selected attached process (it keeps running)"),
                            &MainWindow::detachProcess);
    file->addSeparator();
    QAction *preferences = addAction(file, "actionPreferences", QStringLiteral("&Preferences…"), "settings",
              QKeySequence(Qt::CTRL | Qt::Key_Comma), QStringLiteral("History size and refresh rate"),
              &MainWindow::showPreferences);
    file->addSeparator();
    if (m_host == Host::Monitor)
        addAction(file, "actionQuit", QStringLiteral("&Quit"), "quit", QKeySequence::Quit,
                  QStringLiteral("Quit the monitor"), &MainWindow::quit);
    else
        addAction(file, "actionQuit", QStringLiteral("&Close"), "quit", QKeySequence(),
                  QStringLiteral("Close the monitor; the pools run on"), &MainWindow::quit);
    addAction(help, "actionAbout", QStringLiteral("&About procpool"), "procpool", QKeySequence(Qt::Key_F1),
              QStringLiteral("About this program"), &MainWindow::showAbout);

    // The toolbar shows every action with a short label; menus carry the full names.
    const std::pair<QAction *, const char *> short_[] = {
        {attach, "Attach"},      {newNs, "New"},          {m_actStart, "Start"},        {m_actStop, "Stop"},
        {m_actStopNow, "Stop Now"}, {m_actTerminate, "Terminate"}, {m_actRemove, "Remove"},
        {m_actSubmit, "Submit"}, {m_actCancel, "Cancel"},      {m_actKill, "Kill Worker"},
        {m_actAllWorkers, "All Workers"},
    };
    for (const auto &[action, label] : short_)
        action->setIconText(QString::fromLatin1(label));
    // The same actions on the views' context menus.
    m_namespaceView->setContextMenuPolicy(Qt::ActionsContextMenu);
    m_namespaceView->addActions({m_actStart, m_actStop, m_actStopNow, m_actTerminate, m_actRemove, m_actSubmit});
    m_workerView->setContextMenuPolicy(Qt::ActionsContextMenu);
    m_workerView->addActions({m_actKill, m_actAllWorkers});
    m_futureView->setContextMenuPolicy(Qt::ActionsContextMenu);
    m_futureView->addActions({m_actCancel, find});
    m_logView->setContextMenuPolicy(Qt::ActionsContextMenu);
    m_logView->addAction(clearLog);

    QToolBar *bar = addToolBar(QStringLiteral("Main"));
    bar->setObjectName(QStringLiteral("mainToolBar"));
    bar->setIconSize(QSize(20, 20));
    bar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    bar->addAction(attach);
    bar->addSeparator();
    bar->addAction(newNs);
    bar->addAction(m_actStart);
    bar->addAction(m_actStop);
    bar->addAction(m_actStopNow);
    bar->addAction(m_actTerminate);
    bar->addAction(m_actRemove);
    bar->addSeparator();
    bar->addAction(m_actSubmit);
    bar->addAction(m_actCancel);
    bar->addAction(m_actKill);
    bar->addSeparator();
    bar->addAction(m_actAllWorkers);
    bar->addAction(find);
    bar->addAction(clearLog);
    bar->addAction(preferences);
    view->addAction(bar->toggleViewAction());
}

// ---- state --------------------------------------------------------------------------------

const ManagerView *MainWindow::selectedView() const
{
    const quintptr key = NamespaceModel::keyAt(m_namespaceView->currentIndex());
    return key ? m_watcher->viewByKey(key) : nullptr;
}

ProcessPoolManager *MainWindow::selectedManager() const
{
    const ManagerView *v = selectedView();
    return v ? v->manager : nullptr;
}

void MainWindow::selectManager(const ProcessPoolManager *manager)
{
    selectKey(quintptr(manager));
}

void MainWindow::selectKey(quintptr key)
{
    if (!m_namespaces->indexOf(key).isValid())
        m_watcher->pollNow(); // created a moment ago: not polled yet
    const QModelIndex index = m_namespaces->indexOf(key);
    if (index.isValid()) {
        m_namespaceView->setCurrentIndex(index);
        m_namespaceView->scrollTo(index);
    }
}

void MainWindow::workerFilterChanged()
{
    const ManagerView *v = selectedView();
    if (m_actAllWorkers->isChecked() || !v)
        m_workerFilter->setFilterFixedString(QString());
    else
        m_workerFilter->setFilterRegularExpression(QRegularExpression(QStringLiteral("^%1$").arg(v->key)));
}

QList<quint64> MainWindow::selectedFutureIds() const
{
    QList<quint64> ids;
    for (const QModelIndex &i : m_futureView->selectionModel()->selectedRows())
        ids.append(i.data(FutureModel::IdRole).value<quint64>());
    return ids;
}

void MainWindow::updateActions()
{
    const ManagerView *v = selectedView();
    // A read-only or departed attached process takes no commands.
    if (v && v->remote && (v->remote->readOnly() || v->remote->status() != RemoteProcess::Status::Attached))
        v = nullptr;
    ProcessPoolManager *manager = v ? v->manager : nullptr;
    const bool stopping = v && (v->stopping || m_watcher->isBeingStopped(manager));
    const bool active = v && !stopping && v->state != PoolState::Stopped;
    m_actStart->setEnabled(v && !stopping && v->state == PoolState::Stopped);
    m_actStop->setEnabled(active);
    m_actStopNow->setEnabled(active);
    m_actTerminate->setEnabled(active || (v && v->stopping && !m_watcher->isBeingStopped(manager)));
    m_actRemove->setEnabled(manager && v->registered && v->state == PoolState::Stopped && !stopping);
    m_actSubmit->setEnabled(v && v->state == PoolState::Running && !stopping);
    m_actDetach->setEnabled(m_namespaceView->currentIndex().data(NamespaceModel::RemoteRole).toBool());
    bool cancellable = false;
    for (const QModelIndex &i : m_futureView->selectionModel()->selectedRows())
        cancellable |= i.data(FutureModel::CancellableRole).toBool();
    m_actCancel->setEnabled(cancellable);
    const QModelIndexList workers = m_workerView->selectionModel()->selectedRows();
    m_actKill->setEnabled(!workers.isEmpty() && workers.first().data(WorkerModel::AliveRole).toBool());
}

void MainWindow::updateStatus()
{
    const Totals &t = m_watcher->totals();
    m_statusTotals->setText(
        QStringLiteral("Managers <b>%1</b> (%2 running) &nbsp;·&nbsp; Workers <b>%3</b> (%4 busy) &nbsp;·&nbsp; "
                       "Queued <b>%5</b> &nbsp;·&nbsp; Running <b>%6</b> &nbsp;·&nbsp; Done <b>%7</b> &nbsp;·&nbsp; "
                       "Failed <b>%8</b> &nbsp;·&nbsp; Cancelled <b>%9</b>")
            .arg(t.managers)
            .arg(t.runningPools)
            .arg(t.workers)
            .arg(t.busyWorkers)
            .arg(QLocale().toString(t.queued), QLocale().toString(t.running),
                 QLocale().toString(t.completed), QLocale().toString(t.failed),
                 QLocale().toString(t.cancelled)));
    const QList<double> done = m_chart->series(0);
    m_statusRate->setText(QStringLiteral("%1 tasks/s · updates %2/s ")
                              .arg(done.isEmpty() ? 0.0 : done.last(), 0, 'f', 0)
                              .arg(1000 / std::max(1, m_watcher->interval())));
    m_futureCounts->setText(
        QStringLiteral("<span style='color:#666'>%1 shown · kept %2 of %3 seen · failed %4</span>")
            .arg(QLocale().toString(m_futureFilter->rowCount()), QLocale().toString(m_futures->rowCount()),
                 QLocale().toString(m_futures->seen()), QLocale().toString(m_futures->count(TaskState::Failed))));
}

void MainWindow::updateDetails()
{
    const QModelIndex current = m_futureView->selectionModel()->currentIndex();
    QString html;
    if (current.isValid())
        html = m_futures->details(current.data(FutureModel::IdRole).value<quint64>());
    if (html != m_detailsShown) {
        m_detailsShown = html;
        m_details->setHtml(html);
    }
}

void MainWindow::sampleCharts()
{
    const qint64 now = m_chartClock.elapsed();
    const Totals &t = m_watcher->totals();
    const quint64 done = t.completed + t.failed;
    const double seconds = double(now - m_lastChartMs) / 1000.0;
    const double rate = m_lastChartMs == 0 || seconds <= 0 || done < m_lastDone
                            ? 0.0
                            : double(done - m_lastDone) / seconds;
    m_lastChartMs = now;
    m_lastDone = done;
    sampleActivity(m_chart, rate, t, selectedView(), m_workers);
}

void MainWindow::refreshFilterChoices()
{
    auto refill = [](QComboBox *combo, const QString &all, const QStringList &values, const QString &emptyName) {
        const QVariant current = combo->currentData();
        const QSignalBlocker blocker(combo);
        combo->clear();
        combo->addItem(all); // null data: no filter
        for (const QString &v : values)
            combo->addItem(v.isEmpty() ? emptyName : v, QStringList{v}); // invalid data: all
        const int at = current.isValid() ? combo->findData(current) : 0;
        combo->setCurrentIndex(std::max(0, at));
    };
    refill(m_namespaceFilter, QStringLiteral("All namespaces"), m_futures->namespaces(), QStringLiteral("(unregistered)"));
    refill(m_typeFilter, QStringLiteral("All task types"), m_futures->taskTypes(), QStringLiteral("(no task type)"));
}

void MainWindow::applyFutureFilter()
{
    const int s = m_stateFilter->currentIndex();
    if (s <= 0)
        m_futureFilter->setStates({});
    else if (s == 1)
        m_futureFilter->setStates({TaskState::Queued, TaskState::Running});
    else
        m_futureFilter->setStates({TaskState(m_stateFilter->currentData().toInt())});
    auto choice = [](const QComboBox *combo) -> std::optional<QString> {
        const QVariant selected = combo->currentData();
        return selected.isValid() ? std::optional<QString>(selected.toStringList().value(0)) : std::nullopt;
    };
    m_futureFilter->setNamespace(choice(m_namespaceFilter));
    m_futureFilter->setTaskType(choice(m_typeFilter));
    m_futureFilter->setText(m_futureSearch->text().trimmed());
    if (m_statusTotals)
        updateStatus();
}

void MainWindow::report(const QString &namespaceId, const QString &text, bool error)
{
    m_log->addMessage(error ? LogModel::Source::Error : LogModel::Source::Engine, namespaceId,
                      QStringLiteral("monitor: ") + text);
    statusBar()->showMessage(text, 8000);
}

bool MainWindow::confirm(const QString &title, const QString &text)
{
    return !m_confirm || m_confirm(title, text);
}

// ---- settings -----------------------------------------------------------------------------

void MainWindow::saveSettings() const
{
    QSettings s;
    s.beginGroup(settingsGroup());
    if (m_host == Host::Monitor) // inside an application's window, that window keeps its geometry
        s.setValue(QStringLiteral("geometry"), saveGeometry());
    s.setValue(QStringLiteral("state"), saveState());
    s.setValue(QStringLiteral("namespaceColumns"), m_namespaceView->header()->saveState());
    s.setValue(QStringLiteral("workerColumnsWithHost"), m_workerView->horizontalHeader()->saveState());
    s.setValue(QStringLiteral("futureColumns"), m_futureView->horizontalHeader()->saveState());
    s.setValue(QStringLiteral("logColumns"), m_logView->horizontalHeader()->saveState());
    s.setValue(QStringLiteral("futureSplitter"), findChild<QSplitter *>(QStringLiteral("futureSplitter"))->saveState());
    s.setValue(QStringLiteral("allWorkers"), m_actAllWorkers->isChecked());
    s.setValue(QStringLiteral("stateFilter"), m_stateFilter->currentIndex());
    s.setValue(QStringLiteral("historyLimit"), m_futures->historyLimit());
    s.setValue(QStringLiteral("pollInterval"), m_watcher->interval());
    s.endGroup();
}

void MainWindow::restoreSettings()
{
    QSettings s;
    s.beginGroup(settingsGroup());
    if (m_host == Host::Monitor)
        restoreGeometry(s.value(QStringLiteral("geometry")).toByteArray());
    restoreState(s.value(QStringLiteral("state")).toByteArray());
    m_namespaceView->header()->restoreState(s.value(QStringLiteral("namespaceColumns")).toByteArray());
    m_workerView->horizontalHeader()->restoreState(s.value(QStringLiteral("workerColumnsWithHost")).toByteArray());
    m_futureView->horizontalHeader()->restoreState(s.value(QStringLiteral("futureColumns")).toByteArray());
    m_logView->horizontalHeader()->restoreState(s.value(QStringLiteral("logColumns")).toByteArray());
    findChild<QSplitter *>(QStringLiteral("futureSplitter"))->restoreState(s.value(QStringLiteral("futureSplitter")).toByteArray());
    m_actAllWorkers->setChecked(s.value(QStringLiteral("allWorkers"), false).toBool());
    m_stateFilter->setCurrentIndex(s.value(QStringLiteral("stateFilter"), 0).toInt());
    m_futures->setHistoryLimit(s.value(QStringLiteral("historyLimit"), 10000).toInt());
    m_watcher->setInterval(s.value(QStringLiteral("pollInterval"), 100).toInt());
    s.endGroup();
}

QString MainWindow::settingsGroup() const
{
    // An application's own settings hold the monitor's under a name of procpool's.
    return m_host == Host::Monitor ? QStringLiteral("mainWindow") : QStringLiteral("procpoolMonitor");
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    if (m_host == Host::Application) {
        saveSettings();
        event->accept();
        return;
    }
    int active = 0;
    for (const ManagerView &v : m_watcher->managers())
        active += !v.remote && (v.state != PoolState::Stopped || v.stopping); // attached ones run on
    if (active > 0
        && !confirm(QStringLiteral("Quit"),
                    tr("%n pool(s) are still running. Quit and kill their workers?", nullptr, active))) {
        event->ignore();
        return;
    }
    saveSettings();
    m_watcher->terminateAll();
    event->accept();
}

} // namespace procpool::monitor
