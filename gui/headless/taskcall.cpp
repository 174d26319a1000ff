#include "taskcall.h"

#include "../sampletasks.h"

#include <procpool/task.h>

#include <QtCore/QJsonDocument>

#include <cmath>
#include <limits>

namespace procpool::headless {
namespace {

//! The range of an integer parameter type; nullopt for every other type.
struct IntegerRange
{
    long double min;
    long double max;
};

template <typename T>
constexpr IntegerRange rangeOf()
{
    return {static_cast<long double>(std::numeric_limits<T>::min()),
            static_cast<long double>(std::numeric_limits<T>::max())};
}

std::optional<IntegerRange> integerRange(QMetaType type)
{
    switch (type.id()) {
    case QMetaType::Char:
    case QMetaType::SChar: return rangeOf<signed char>();
    case QMetaType::UChar: return rangeOf<unsigned char>();
    case QMetaType::Short: return rangeOf<short>();
    case QMetaType::UShort: return rangeOf<unsigned short>();
    case QMetaType::Int: return rangeOf<int>();
    case QMetaType::UInt: return rangeOf<unsigned int>();
    case QMetaType::Long: return rangeOf<long>();
    case QMetaType::ULong: return rangeOf<unsigned long>();
    case QMetaType::LongLong: return rangeOf<qlonglong>();
    case QMetaType::ULongLong: return rangeOf<qulonglong>();
    default: return std::nullopt;
    }
}

bool isFloating(QMetaType type)
{
    return type.id() == QMetaType::Double || type.id() == QMetaType::Float;
}

//! An integer in range, converted to \a type.
QVariant integerValue(QMetaType type, long double value, const IntegerRange &range, QString *error)
{
    if (value < range.min || value > range.max) {
        *error = QStringLiteral("%1 is out of range for %2 (%3 … %4)")
                     .arg(double(value), 0, 'g', 20)
                     .arg(typeLabel(type))
                     .arg(double(range.min), 0, 'g', 20)
                     .arg(double(range.max), 0, 'g', 20);
        return {};
    }
    QVariant v = value < 0 ? QVariant(qlonglong(value)) : QVariant(qulonglong(value));
    v.convert(type);
    return v;
}

QVariant fromText(QMetaType type, const QString &text, QString *error)
{
    const QString trimmed = text.trimmed();
    if (const auto range = integerRange(type)) {
        bool ok = false;
        const qlonglong s = trimmed.toLongLong(&ok);
        if (ok)
            return integerValue(type, static_cast<long double>(s), *range, error);
        const qulonglong u = trimmed.toULongLong(&ok);
        if (ok)
            return integerValue(type, static_cast<long double>(u), *range, error);
        *error = QStringLiteral("'%1' is not an integer").arg(text);
        return {};
    }
    if (isFloating(type)) {
        bool ok = false;
        const double d = trimmed.toDouble(&ok);
        if (!ok) {
            *error = QStringLiteral("'%1' is not a number").arg(text);
            return {};
        }
        QVariant v(d);
        v.convert(type);
        return v;
    }
    switch (type.id()) {
    case QMetaType::Bool: {
        const QString lower = trimmed.toLower();
        if (lower == u"true" || lower == u"1" || lower == u"yes")
            return true;
        if (lower == u"false" || lower == u"0" || lower == u"no")
            return false;
        *error = QStringLiteral("'%1' is not a boolean (true or false)").arg(text);
        return {};
    }
    case QMetaType::QString: return text;
    case QMetaType::QByteArray: return text.toUtf8();
    default: break;
    }
    QVariant v(text);
    if (!v.convert(type)) {
        *error = QStringLiteral("'%1' cannot be converted to %2").arg(text, typeLabel(type));
        return {};
    }
    return v;
}

QString jsonKind(const QJsonValue &value)
{
    switch (value.type()) {
    case QJsonValue::Null: return QStringLiteral("null");
    case QJsonValue::Bool: return QStringLiteral("a boolean");
    case QJsonValue::Double: return QStringLiteral("a number");
    case QJsonValue::String: return QStringLiteral("a string");
    case QJsonValue::Array: return QStringLiteral("an array");
    case QJsonValue::Object: return QStringLiteral("an object");
    case QJsonValue::Undefined: break;
    }
    return QStringLiteral("nothing");
}

QVariant fromJson(QMetaType type, const QJsonValue &value, QString *error)
{
    auto mismatch = [&](const QString &wanted) {
        *error = QStringLiteral("expected %1, got %2").arg(wanted, jsonKind(value));
        return QVariant();
    };
    if (const auto range = integerRange(type)) {
        if (!value.isDouble())
            return mismatch(QStringLiteral("an integer"));
        const double d = value.toDouble();
        if (std::floor(d) != d) {
            *error = QStringLiteral("expected an integer, got %1").arg(d, 0, 'g', 17);
            return {};
        }
        const qint64 exact = value.toInteger(std::numeric_limits<qint64>::min());
        return integerValue(type,
                            exact != std::numeric_limits<qint64>::min()
                                ? static_cast<long double>(exact)
                                : static_cast<long double>(d),
                            *range, error);
    }
    if (isFloating(type)) {
        if (!value.isDouble())
            return mismatch(QStringLiteral("a number"));
        QVariant v(value.toDouble());
        v.convert(type);
        return v;
    }
    switch (type.id()) {
    case QMetaType::Bool:
        return value.isBool() ? QVariant(value.toBool()) : mismatch(QStringLiteral("a boolean"));
    case QMetaType::QString:
        return value.isString() ? QVariant(value.toString()) : mismatch(QStringLiteral("a string"));
    case QMetaType::QByteArray:
        return value.isString() ? QVariant(value.toString().toUtf8())
                                : mismatch(QStringLiteral("a string"));
    default: break;
    }
    QVariant v = value.toVariant();
    if (!v.convert(type)) {
        *error = QStringLiteral("%1 cannot be converted to %2").arg(jsonKind(value), typeLabel(type));
        return {};
    }
    return v;
}

QString parameterLabel(const TaskSignature &task, qsizetype index)
{
    const Parameter &p = task.parameters.at(index);
    return QStringLiteral("argument %1 (%2:%3) of task '%4'")
        .arg(index + 1)
        .arg(p.name, typeLabel(p.type), task.name);
}

QString arityError(const TaskSignature &task, qsizetype got)
{
    return QStringLiteral("task '%1' takes %2 argument(s), got %3; usage: %4")
        .arg(task.name)
        .arg(task.parameters.size())
        .arg(got)
        .arg(task.synopsis());
}

//! Converts \a count given values with \a convert and fills the rest from the defaults.
template <typename Convert>
Arguments convertAll(const TaskSignature &task, qsizetype count, Convert convert)
{
    Arguments out;
    if (count > task.parameters.size()) {
        out.error = arityError(task, count);
        return out;
    }
    for (qsizetype i = 0; i < task.parameters.size(); ++i) {
        QString error;
        QVariant value;
        if (i < count) {
            value = convert(i, &error);
        } else if (task.parameters.at(i).fallback) {
            value = fromText(task.parameters.at(i).type, *task.parameters.at(i).fallback, &error);
        } else {
            out.error = arityError(task, count);
            return out;
        }
        if (!error.isEmpty()) {
            out.error = parameterLabel(task, i) + QStringLiteral(": ") + error;
            out.values.clear();
            return out;
        }
        out.values.append(value);
    }
    return out;
}

TaskSignature signatureOf(const QString &name, const samples::SampleTask *sample)
{
    TaskSignature s;
    s.name = name;
    const QList<QMetaType> types = taskArgumentTypes(name);
    for (qsizetype i = 0; i < types.size(); ++i) {
        Parameter p;
        p.type = types.at(i);
        p.name = QStringLiteral("arg%1").arg(i + 1);
        if (sample && i < sample->parameters.size()) {
            // "name:type=default"
            const QString &spec = sample->parameters.at(i);
            const qsizetype colon = spec.indexOf(u':');
            const qsizetype equals = spec.indexOf(u'=');
            p.name = spec.left(colon >= 0 ? colon : equals);
            if (equals >= 0)
                p.fallback = spec.mid(equals + 1);
        }
        s.parameters.append(p);
    }
    if (sample)
        s.description = sample->description;
    return s;
}

} // namespace

QString typeLabel(QMetaType type)
{
    switch (type.id()) {
    case QMetaType::Int: return QStringLiteral("int");
    case QMetaType::UInt: return QStringLiteral("uint");
    case QMetaType::LongLong: return QStringLiteral("int64");
    case QMetaType::ULongLong: return QStringLiteral("uint64");
    case QMetaType::Double:
    case QMetaType::Float: return QStringLiteral("number");
    case QMetaType::Bool: return QStringLiteral("bool");
    case QMetaType::QString: return QStringLiteral("string");
    case QMetaType::QByteArray: return QStringLiteral("bytes");
    default: return QString::fromLatin1(type.name());
    }
}

std::optional<QVariant> defaultValue(const Parameter &parameter)
{
    if (!parameter.fallback)
        return std::nullopt;
    QString error;
    QVariant value = fromText(parameter.type, *parameter.fallback, &error);
    if (!error.isEmpty())
        return std::nullopt;
    return value;
}

QString TaskSignature::synopsis() const
{
    QStringList params;
    for (const Parameter &p : parameters)
        params.append(p.name + u':' + typeLabel(p.type) + (p.fallback ? u'=' + *p.fallback : QString()));
    return name + u'(' + params.join(QStringLiteral(", ")) + u')';
}

std::optional<TaskSignature> findTask(const QString &name)
{
    if (!isTaskRegistered(name))
        return std::nullopt;
    for (const samples::SampleTask &sample : samples::sampleTasks())
        if (sample.name == name)
            return signatureOf(name, &sample);
    return signatureOf(name, nullptr);
}

QList<TaskSignature> allTasks()
{
    QList<TaskSignature> tasks;
    QStringList seen;
    for (const samples::SampleTask &sample : samples::sampleTasks()) {
        if (isTaskRegistered(sample.name)) {
            tasks.append(signatureOf(sample.name, &sample));
            seen.append(sample.name);
        }
    }
    QStringList others = registeredTaskNames();
    others.sort();
    for (const QString &name : others)
        if (!seen.contains(name))
            tasks.append(signatureOf(name, nullptr));
    return tasks;
}

Arguments argumentsFromText(const TaskSignature &task, const QStringList &texts)
{
    return convertAll(task, texts.size(), [&](qsizetype i, QString *error) {
        return fromText(task.parameters.at(i).type, texts.at(i), error);
    });
}

Arguments argumentsFromJson(const TaskSignature &task, const QJsonArray &values)
{
    return convertAll(task, values.size(), [&](qsizetype i, QString *error) {
        return fromJson(task.parameters.at(i).type, values.at(i), error);
    });
}

QString callText(const QString &task, const QVariantList &arguments)
{
    QStringList parts;
    for (const QVariant &a : arguments) {
        switch (a.metaType().id()) {
        case QMetaType::QString: parts.append(u'"' + a.toString() + u'"'); break;
        case QMetaType::QByteArray:
            parts.append(QStringLiteral("<%1 bytes>").arg(a.toByteArray().size()));
            break;
        default: parts.append(a.toString()); break;
        }
    }
    return task + u'(' + parts.join(QStringLiteral(", ")) + u')';
}

} // namespace procpool::headless
