// procpool monitor — ChartWidget: a few time series over the last minutes, drawn with QPainter.
#pragma once

#include <QtGui/QColor>
#include <QtWidgets/QWidget>

namespace procpool::monitor {

class ChartWidget : public QWidget
{
    Q_OBJECT
public:
    explicit ChartWidget(QWidget *parent = nullptr);

    //! Adds a panel; returns its index for addSample().
    int addSeries(const QString &title, const QColor &color, const QString &unit = QString());
    //! Appends one sample to every series (values in addSeries() order); keeps capacity() samples.
    void addSamples(const QList<double> &values);
    void setCapacity(int samples) { m_capacity = std::max(2, samples); }
    int capacity() const { return m_capacity; }
    //! Seconds between two samples, for the time axis labels.
    void setSamplePeriodSeconds(double seconds) { m_period = seconds; }
    QList<double> series(int index) const { return m_series.value(index).values; }

    QSize sizeHint() const override { return {600, 160}; }
    QSize minimumSizeHint() const override { return {300, 110}; }

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    struct Series
    {
        QString title;
        QColor color;
        QString unit;
        QList<double> values;
    };
    void paintPanel(class QPainter &painter, const QRectF &rect, const Series &series) const;

    QList<Series> m_series;
    int m_capacity = 300;
    double m_period = 1.0;
};

} // namespace procpool::monitor
