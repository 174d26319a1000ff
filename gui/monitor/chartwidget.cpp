#include "chartwidget.h"

#include <QtGui/QPainter>
#include <QtGui/QPainterPath>

#include <algorithm>
#include <cmath>

namespace procpool::monitor {

ChartWidget::ChartWidget(QWidget *parent)
    : QWidget(parent)
{
    setAttribute(Qt::WA_OpaquePaintEvent);
}

int ChartWidget::addSeries(const QString &title, const QColor &color, const QString &unit)
{
    m_series.append(Series{title, color, unit, {}, {}});
    update();
    return int(m_series.size()) - 1;
}

void ChartWidget::addSamples(const QList<double> &values)
{
    for (qsizetype i = 0; i < m_series.size() && i < values.size(); ++i) {
        QList<double> &v = m_series[i].values;
        v.append(values.at(i));
        if (v.size() > m_capacity)
            v.remove(0, v.size() - m_capacity);
    }
    update();
}

void ChartWidget::setLimits(int index, const QList<Limit> &limits)
{
    if (index < 0 || index >= m_series.size() || m_series.at(index).limits == limits)
        return;
    m_series[index].limits = limits;
    update();
}

namespace {

//! A round upper bound for the y axis: 1, 2, 5, 10, 20, 50, ...
double niceCeiling(double value)
{
    if (value <= 1)
        return 1;
    const double magnitude = std::pow(10.0, std::floor(std::log10(value)));
    for (double step : {1.0, 2.0, 5.0, 10.0})
        if (value <= step * magnitude)
            return step * magnitude;
    return 10 * magnitude;
}

QString compact(double value)
{
    if (value >= 1e6)
        return QStringLiteral("%1M").arg(value / 1e6, 0, 'f', value >= 1e7 ? 0 : 1);
    if (value >= 1e4)
        return QStringLiteral("%1k").arg(value / 1e3, 0, 'f', 0);
    return QString::number(value, 'f', value == std::floor(value) ? 0 : 1);
}

} // namespace

void ChartWidget::paintEvent(QPaintEvent *)
{
    QPainter painter(this);
    painter.fillRect(rect(), palette().base());
    if (m_series.isEmpty())
        return;
    painter.setRenderHint(QPainter::Antialiasing);
    const double gap = 8;
    const double width = (double(this->width()) - gap * double(m_series.size() + 1)) / double(m_series.size());
    for (qsizetype i = 0; i < m_series.size(); ++i) {
        const QRectF panel(gap + double(i) * (width + gap), 6, width, double(height()) - 12);
        paintPanel(painter, panel, m_series.at(i));
    }
}

void ChartWidget::paintPanel(QPainter &painter, const QRectF &rect, const Series &series) const
{
    const QFontMetricsF fm(font());
    double maxValue = series.values.isEmpty()
                          ? 0
                          : *std::max_element(series.values.cbegin(), series.values.cend());
    for (const Limit &limit : series.limits)
        maxValue = std::max(maxValue, limit.value);
    const double top = niceCeiling(maxValue);
    const double current = series.values.isEmpty() ? 0 : series.values.last();

    // Title and current value.
    painter.setPen(palette().text().color());
    QFont bold = font();
    bold.setBold(true);
    painter.setFont(bold);
    const QString now = compact(current) + (series.unit.isEmpty() ? QString() : u' ' + series.unit);
    // A narrow panel shortens its title rather than write it under the value.
    const QFontMetricsF boldMetrics(bold);
    const double titleRoom = rect.width() - 2 - boldMetrics.horizontalAdvance(now) - 8;
    painter.drawText(QPointF(rect.left() + 2, rect.top() + fm.ascent()),
                     boldMetrics.elidedText(series.title, Qt::ElideRight, std::max(0.0, titleRoom)));
    painter.setPen(series.color.darker(120));
    painter.drawText(QRectF(rect.left(), rect.top(), rect.width() - 2, fm.height()),
                     Qt::AlignRight | Qt::AlignVCenter, now);
    painter.setFont(font());

    const double axisWidth = fm.horizontalAdvance(compact(top)) + 6;
    const QRectF plot(rect.left() + axisWidth, rect.top() + fm.height() + 4,
                      rect.width() - axisWidth - 2, rect.height() - 2 * fm.height() - 6);
    if (plot.height() < 10 || plot.width() < 20)
        return;

    // Frame, grid and axis labels.
    const QColor grid = palette().mid().color();
    painter.setPen(QPen(grid, 1));
    painter.setBrush(Qt::NoBrush);
    painter.drawRect(plot);
    QPen dashed(grid.lighter(120), 1, Qt::DotLine);
    painter.setPen(dashed);
    painter.drawLine(QPointF(plot.left(), plot.center().y()), QPointF(plot.right(), plot.center().y()));
    painter.setPen(palette().placeholderText().color());
    painter.drawText(QRectF(rect.left(), plot.top() - fm.height() / 2, axisWidth - 4, fm.height()),
                     Qt::AlignRight | Qt::AlignVCenter, compact(top));
    painter.drawText(QRectF(rect.left(), plot.bottom() - fm.height() / 2, axisWidth - 4, fm.height()),
                     Qt::AlignRight | Qt::AlignVCenter, QStringLiteral("0"));
    // The time axis grows with the data (1, 2, then capacity() samples), so that a fresh chart
    // is not a sliver at the right edge.
    const int span = series.values.size() <= 60 ? std::min(60, m_capacity)
                     : series.values.size() <= 120 ? std::min(120, m_capacity)
                                                   : m_capacity;
    const int spanSeconds = int(std::lround(span * m_period));
    painter.drawText(QRectF(plot.left(), plot.bottom() + 2, plot.width(), fm.height()),
                     Qt::AlignLeft | Qt::AlignTop,
                     spanSeconds >= 120 ? QStringLiteral("-%1 min").arg(spanSeconds / 60)
                                        : QStringLiteral("-%1 s").arg(spanSeconds));
    painter.drawText(QRectF(plot.left(), plot.bottom() + 2, plot.width(), fm.height()),
                     Qt::AlignRight | Qt::AlignTop, QStringLiteral("now"));

    paintLimits(painter, plot, top, series);
    if (series.values.size() < 2)
        return;
    // The newest sample sits at the right edge; the series scrolls left.
    const double dx = plot.width() / double(span - 1);
    const double x0 = plot.right() - dx * double(series.values.size() - 1);
    QPainterPath line;
    for (qsizetype i = 0; i < series.values.size(); ++i) {
        const QPointF p(x0 + dx * double(i), plot.bottom() - plot.height() * series.values.at(i) / top);
        if (i == 0)
            line.moveTo(p);
        else
            line.lineTo(p);
    }
    QPainterPath area = line;
    area.lineTo(plot.right(), plot.bottom());
    area.lineTo(x0, plot.bottom());
    area.closeSubpath();
    QColor fill = series.color;
    fill.setAlpha(50);
    painter.save();
    painter.setClipRect(plot);
    painter.fillPath(area, fill);
    painter.setPen(QPen(series.color, 1.6));
    painter.drawPath(line);
    painter.restore();
}

void ChartWidget::paintLimits(QPainter &painter, const QRectF &plot, double top,
                              const Series &series) const
{
    const QFontMetricsF fm(font());
    painter.save();
    for (const Limit &limit : series.limits) {
        const double y = plot.bottom() - plot.height() * limit.value / top;
        painter.setPen(QPen(limit.color, 1.2, Qt::DashLine));
        painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y));
        painter.setPen(limit.color.darker(110));
        // Above its line, or below it when the line runs along the top of the plot.
        const double labelTop = y - fm.height() - 1 < plot.top() ? y + 1 : y - fm.height() - 1;
        painter.drawText(QRectF(plot.left() + 3, labelTop, plot.width() - 6, fm.height()),
                         Qt::AlignLeft | Qt::AlignVCenter, limit.label);
    }
    painter.restore();
}

} // namespace procpool::monitor
