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

    //! A horizontal line across a panel, e.g. a limit the series should stay under.
    struct Limit
    {
        double value = 0;
        QString label;
        QColor color;
        bool operator==(const Limit &) const = default;
    };
    //! The lines drawn across the panel of series \a index; its y axis reaches the highest.
    void setLimits(int index, const QList<Limit> &limits);
    QList<Limit> limits(int index) const { return m_series.value(index).limits; }

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
        QList<Limit> limits;
    };
    void paintPanel(class QPainter &painter, const QRectF &rect, const Series &series) const;
    void paintLimits(class QPainter &painter, const QRectF &plot, double top, const Series &series) const;

    QList<Series> m_series;
    int m_capacity = 300;
    double m_period = 1.0;
};

} // namespace procpool::monitor
