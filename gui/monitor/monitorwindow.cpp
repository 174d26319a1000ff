#include <procpool/monitorwindow.h>

#include "enginewatcher.h"
#include "mainwindow.h"

#include <QtCore/QSettings>
#include <QtGui/QCloseEvent>
#include <QtWidgets/QVBoxLayout>

namespace procpool {

namespace {
const auto geometryKey = QStringLiteral("procpoolMonitor/windowGeometry");
}

struct MonitorWindow::Private
{
    monitor::MainWindow *window = nullptr;
};

MonitorWindow::MonitorWindow(QWidget *parent)
    : QWidget(parent)
    , d(std::make_unique<Private>())
{
    d->window = new monitor::MainWindow(this, monitor::MainWindow::Host::Application);
    d->window->setWindowFlags(Qt::Widget);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(d->window);
    setWindowTitle(d->window->windowTitle());
    setWindowIcon(d->window->windowIcon());
    if (isWindow()) {
        const QByteArray geometry = QSettings().value(geometryKey).toByteArray();
        if (geometry.isEmpty() || !restoreGeometry(geometry))
            resize(1200, 760);
    }
}

MonitorWindow::~MonitorWindow() = default;

void MonitorWindow::attach(qint64 pid)
{
    d->window->attachTo(pid);
}

int MonitorWindow::refreshInterval() const
{
    return d->window->watcher()->interval();
}

void MonitorWindow::setRefreshInterval(int milliseconds)
{
    d->window->watcher()->setInterval(milliseconds);
}

void MonitorWindow::closeEvent(QCloseEvent *event)
{
    d->window->saveSettings();
    if (isWindow())
        QSettings().setValue(geometryKey, saveGeometry());
    QWidget::closeEvent(event);
}

} // namespace procpool
