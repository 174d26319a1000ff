#include "style.h"

#include <QtCore/QHash>
#include <QtGui/QPainter>
#include <QtGui/QPixmap>

// Resources of a static library are registered explicitly, once.
static void initMonitorResources()
{
    Q_INIT_RESOURCE(procpool);
}

namespace procpool::monitor::style {

QIcon icon(const char *name)
{
    static const bool initialised = [] {
        initMonitorResources();
        return true;
    }();
    Q_UNUSED(initialised);
    static QHash<QByteArray, QIcon> cache;
    const QByteArray key(name);
    auto it = cache.find(key);
    if (it == cache.end())
        it = cache.insert(key, QIcon(QStringLiteral(":/icons/%1.svg").arg(QLatin1String(name))));
    return *it;
}

QColor stateColor(const QString &state)
{
    static const QHash<QString, QColor> colors = {
        {QStringLiteral("running"), QColor(0x2e, 0x8b, 0x57)},
        {QStringLiteral("busy"), QColor(0x2e, 0x8b, 0x57)},
        {QStringLiteral("finished"), QColor(0x2e, 0x7d, 0x32)},
        {QStringLiteral("idle"), QColor(0x1e, 0x6f, 0xb8)},
        {QStringLiteral("queued"), QColor(0x7a, 0x5c, 0xc4)},
        {QStringLiteral("starting"), QColor(0xc2, 0x85, 0x0c)},
        {QStringLiteral("stopping"), QColor(0xc2, 0x85, 0x0c)},
        {QStringLiteral("exiting"), QColor(0xc2, 0x85, 0x0c)},
        {QStringLiteral("cancelled"), QColor(0x80, 0x80, 0x80)},
        {QStringLiteral("stopped"), QColor(0x80, 0x80, 0x80)},
        {QStringLiteral("exited"), QColor(0x80, 0x80, 0x80)},
        {QStringLiteral("failed"), QColor(0xc6, 0x28, 0x28)},
        {QStringLiteral("crashed"), QColor(0xc6, 0x28, 0x28)},
        {QStringLiteral("broken"), QColor(0xc6, 0x28, 0x28)},
    };
    return colors.value(state, QColor(0x60, 0x60, 0x60));
}

QIcon stateDot(const QString &state)
{
    static QHash<QString, QIcon> cache;
    auto it = cache.find(state);
    if (it != cache.end())
        return *it;
    QPixmap pixmap(32, 32);
    pixmap.fill(Qt::transparent);
    QPainter painter(&pixmap);
    painter.setRenderHint(QPainter::Antialiasing);
    painter.setPen(Qt::NoPen);
    painter.setBrush(stateColor(state));
    painter.drawEllipse(QRectF(7, 7, 18, 18));
    painter.end();
    return *cache.insert(state, QIcon(pixmap));
}

QString formatBytes(qint64 bytes)
{
    if (bytes < 1024)
        return QStringLiteral("%1 B").arg(bytes);
    if (bytes < 1024 * 1024)
        return QStringLiteral("%1 KiB").arg(double(bytes) / 1024.0, 0, 'f', 0);
    if (bytes < qint64(1024) * 1024 * 1024)
        return QStringLiteral("%1 MiB").arg(double(bytes) / (1024.0 * 1024.0), 0, 'f', 1);
    return QStringLiteral("%1 GiB").arg(double(bytes) / (1024.0 * 1024.0 * 1024.0), 0, 'f', 2);
}

QString formatDuration(qint64 ms)
{
    if (ms < 0)
        return QString();
    if (ms < 1000)
        return QStringLiteral("%1 ms").arg(ms);
    const qint64 s = ms / 1000;
    if (s < 60)
        return QStringLiteral("%1.%2 s").arg(s).arg((ms % 1000) / 100);
    if (s < 3600)
        return QStringLiteral("%1m %2s").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1h %2m").arg(s / 3600).arg((s / 60) % 60, 2, 10, QLatin1Char('0'));
}

} // namespace procpool::monitor::style
