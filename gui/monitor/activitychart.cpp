#include "activitychart.h"

#include "chartwidget.h"
#include "workermodel.h"

#include <algorithm>

namespace procpool::monitor {

namespace {

constexpr double mebibyte = 1024.0 * 1024.0;

//! The largest resident size, in MiB, among the live workers of pool \a key (0: every pool).
double largestWorker(const WorkerModel *workers, quintptr key)
{
    qint64 largest = 0;
    for (int row = 0; row < workers->rowCount(); ++row) {
        const QModelIndex memory = workers->index(row, WorkerModel::Memory);
        if (!memory.data(WorkerModel::AliveRole).toBool()
            || (key != 0 && memory.data(WorkerModel::ManagerRole).value<quintptr>() != key))
            continue;
        largest = std::max(largest, memory.data(Qt::UserRole).toLongLong());
    }
    return double(largest) / mebibyte;
}

QList<ChartWidget::Limit> memoryLimits(const ManagerView *selected)
{
    QList<ChartWidget::Limit> limits;
    if (!selected)
        return limits;
    auto add = [&limits](qint64 bytes, const QString &name, const QColor &color) {
        if (bytes > 0)
            limits.append({double(bytes) / mebibyte,
                           QStringLiteral("%1 %2 MiB").arg(name).arg(double(bytes) / mebibyte, 0, 'f', 0),
                           color});
    };
    add(selected->options.softMemoryLimit, QStringLiteral("soft limit"), QColor(0xd9, 0x8c, 0x00));
    add(selected->options.hardMemoryLimit, QStringLiteral("hard limit"), QColor(0xc6, 0x28, 0x28));
    return limits;
}

} // namespace

void addActivitySeries(ChartWidget *chart)
{
    chart->addSeries(QStringLiteral("Completed tasks"), QColor(0x2e, 0x8b, 0x57), QStringLiteral("/s"));
    chart->addSeries(QStringLiteral("Queue depth"), QColor(0x7a, 0x5c, 0xc4));
    chart->addSeries(QStringLiteral("Busy workers"), QColor(0x1e, 0x6f, 0xb8));
    chart->addSeries(QStringLiteral("Worker memory"), QColor(0x00, 0x83, 0x8f), QStringLiteral("MiB"));
}

void sampleActivity(ChartWidget *chart, double rate, const Totals &totals,
                    const ManagerView *selected, const WorkerModel *workers)
{
    chart->setLimits(MemorySeries, memoryLimits(selected));
    chart->addSamples({rate, double(totals.queued), double(totals.busyWorkers),
                       largestWorker(workers, selected ? selected->key : 0)});
}

} // namespace procpool::monitor
