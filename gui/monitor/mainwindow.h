// procpool monitor — MainWindow: namespaces, workers, futures, charts and log of every pool in
// this process, and the actions an operator takes on them.
#pragma once

#include "submitdialog.h"

#include <procpool/processpoolmanager.h>

#include <QtCore/QCborMap>
#include <QtCore/QElapsedTimer>
#include <QtCore/QTimer>
#include <QtWidgets/QMainWindow>

#include <functional>

class QComboBox;
class QLabel;
class QLineEdit;
class QSortFilterProxyModel;
class QTableView;
class QTextBrowser;
class QTreeView;
class QCheckBox;

namespace procpool::monitor {

class ChartWidget;
class EngineWatcher;
struct ManagerView;
class FutureFilterModel;
class FutureModel;
class LogFilterModel;
class LogModel;
class NamespaceModel;
class WorkerModel;

class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    //! Who the window belongs to. The procpool executable's window owns the pools it shows:
    //! quitting stops them. A window inside an application (procpool::MonitorWindow) closes
    //! without touching them and keeps its settings apart from the application's.
    enum class Host { Monitor, Application };

    explicit MainWindow(QWidget *parent = nullptr, Host host = Host::Monitor);
    ~MainWindow() override;

    EngineWatcher *watcher() const { return m_watcher; }
    NamespaceModel *namespaceModel() const { return m_namespaces; }
    WorkerModel *workerModel() const { return m_workers; }
    FutureModel *futureModel() const { return m_futures; }
    LogModel *logModel() const { return m_log; }
    QTreeView *namespaceView() const { return m_namespaceView; }
    QTableView *workerView() const { return m_workerView; }
    QTableView *futureView() const { return m_futureView; }
    ChartWidget *chart() const { return m_chart; }
    QLabel *statusLabel() const { return m_statusTotals; }

    //! Asks before destructive actions; replaceable (tests answer without a message box).
    using Confirmer = std::function<bool(const QString &title, const QString &text)>;
    void setConfirmer(Confirmer confirmer) { m_confirm = std::move(confirmer); }

    //! The pool the actions apply to (selected in the namespace tree), local or attached.
    const ManagerView *selectedView() const;
    //! The manager of this process the actions apply to, or null (none, or an attached one).
    ProcessPoolManager *selectedManager() const;
    void selectManager(const ProcessPoolManager *manager);
    void selectKey(quintptr key); //!< ManagerView::key

    //! Shows the pools of process \a pid beside this process's (File › Attach to Process…).
    void attachTo(qint64 pid);

    //! The tasks Submit offers on this process's pools, with named parameters. Without any, it
    //! offers every task this process links, from its catalogue, with an editor per argument type.
    void setTaskPresets(QList<TaskPreset> presets) { m_presets = std::move(presets); }

    //! Submits \a request to \a manager; returns the error (nothing was submitted) or empty.
    //! Beyond a few thousand tasks the rest is submitted in slices from the event loop.
    //! \a log: say so in the log.
    QString submit(ProcessPoolManager *manager, const SubmitDialog::Request &request, bool log = true);

    //! Saves window layout, column widths and filters to QSettings.
    void saveSettings() const;
    QString settingsGroup() const;

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    QAction *addAction(QMenu *menu, const char *objectName, const QString &text, const char *icon,
                       const QKeySequence &shortcut, const QString &tip,
                       void (MainWindow::*slot)());
    void createActions();
    QWidget *createFuturesPane();
    QWidget *createLogPane();
    void restoreSettings();
    void updateActions();
    void updateStatus();
    void updateDetails();
    void sampleCharts();
    void workerFilterChanged();
    void refreshFilterChoices();
    void applyFutureFilter();
    void report(const QString &namespaceId, const QString &text, bool error = false);
    bool confirm(const QString &title, const QString &text);
    QList<quint64> selectedFutureIds() const;
    QString submitFrom(ProcessPoolManager *manager, const SubmitDialog::Request &request, int done, bool log);

    void attachToProcess();
    void detachProcess();
    //! Sends command \a op to the attached namespace of view \a key (ManagerView::key), looked
    //! up now: a view read before a dialog may be gone after it; reports \a done or the error.
    void remoteCommand(quintptr key, const QString &op, const QString &done, const QCborMap &fields = {});
    void startRemotePool(const ManagerView &view);
    void submitRemoteTasks(const ManagerView &view);
    void submitCatalogueTasks(ProcessPoolManager *manager);

    void newNamespace();
    void startPool();
    void stopPool();
    void stopPoolNow();
    void terminatePool();
    void removeNamespace();
    void submitTasks();
    void cancelFutures();
    void killWorker();
    void clearLog();
    void quit();
    void findFutures();
    void showPreferences();
    void showAbout();

    const Host m_host;
    EngineWatcher *m_watcher;
    NamespaceModel *m_namespaces;
    WorkerModel *m_workers;
    FutureModel *m_futures;
    LogModel *m_log;
    QSortFilterProxyModel *m_workerFilter;
    FutureFilterModel *m_futureFilter;
    LogFilterModel *m_logFilter;

    QTreeView *m_namespaceView = nullptr;
    QTableView *m_workerView = nullptr;
    QTableView *m_futureView = nullptr;
    QTableView *m_logView = nullptr;
    QTextBrowser *m_details = nullptr;
    ChartWidget *m_chart = nullptr;
    QComboBox *m_stateFilter = nullptr;
    QComboBox *m_namespaceFilter = nullptr;
    QComboBox *m_typeFilter = nullptr;
    QLineEdit *m_futureSearch = nullptr;
    QLabel *m_futureCounts = nullptr;
    QLineEdit *m_logSearch = nullptr;
    QCheckBox *m_logOutput = nullptr;
    QCheckBox *m_logEngine = nullptr;
    QLabel *m_statusTotals = nullptr;
    QLabel *m_statusRate = nullptr;

    QAction *m_actStart = nullptr, *m_actStop = nullptr, *m_actStopNow = nullptr,
            *m_actTerminate = nullptr, *m_actRemove = nullptr, *m_actSubmit = nullptr,
            *m_actCancel = nullptr, *m_actKill = nullptr, *m_actAllWorkers = nullptr,
            *m_actDetach = nullptr;

    Confirmer m_confirm;
    QList<TaskPreset> m_presets;
    QTimer m_chartTimer;
    QElapsedTimer m_chartClock;
    qint64 m_lastChartMs = 0;
    quint64 m_lastDone = 0;
    bool m_firstSelection = true;
    QString m_detailsShown;
};

} // namespace procpool::monitor
