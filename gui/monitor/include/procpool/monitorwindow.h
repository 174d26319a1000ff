// procpool — the monitor as a window of your own Qt Widgets application.
//
//     #include <procpool/monitorwindow.h>
//     auto *monitor = new procpool::MonitorWindow;
//     monitor->setAttribute(Qt::WA_DeleteOnClose);
//     monitor->show();
//
// It shows this process's pools, every namespace of its registry, live: workers with their CPU
// and memory, futures, task records, charts and worker output, with the operator's actions on
// them (start, stop, submit any task the application links, cancel, kill a worker). Closing it
// leaves the pools running. It can also attach to other procpool processes of the same user,
// as the procpool monitor does. Link procpool::monitor (find_package(procpool COMPONENTS
// monitor)).
#pragma once

#include <procpool/procpool_monitor_export.h>

#include <QtWidgets/QWidget>

#include <memory>

namespace procpool {

class PROCPOOL_MONITOR_EXPORT MonitorWindow : public QWidget
{
    Q_OBJECT
public:
    //! A top-level window unless \a parent is given: then a widget to place in a layout, a
    //! dock or a tab.
    explicit MonitorWindow(QWidget *parent = nullptr);
    ~MonitorWindow() override;

    //! Shows the pools of procpool process \a pid beside this process's, as File › Attach to
    //! Process… does. It is followed until it exits and attached again when it comes back.
    void attach(qint64 pid);

    //! How often the window reads the pools, in milliseconds (the default, 100, or the last
    //! value chosen in its Preferences).
    int refreshInterval() const;
    void setRefreshInterval(int milliseconds);

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    struct Private;
    std::unique_ptr<Private> d;
};

} // namespace procpool
