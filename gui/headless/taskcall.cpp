#include "taskcall.h"

#include "terminal.h"

#include "../sampletasks.h"

#include <procpool/task.h>

#include <QtCore/QCborMap>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <variant>

namespace procpool::headless {
namespace {

//! An integer as it was written: signed when it fits qint64, unsigned above that. Never a
//! floating-point number, which holds integers exactly only up to 2^53 (long double is no
//! wider than double on some targets).
using Integer = std::variant<qint64, quint64>;

QString integerText(const Integer &value)
{
    return std::visit([](auto n) { return QString::number(n); }, value);
}

//! The values an integer parameter type takes.
struct IntegerRange
{
    bool (*contains)(const Integer &value);
    QString min;
    QString max;
};

template <typename T>
IntegerRange rangeOf()
{
    return {[](const Integer &value) {
                return std::visit([](auto n) { return std::in_range<T>(n); }, value);
            },
            QString::number(std::numeric_limits<T>::min()),
            QString::number(std::numeric_limits<T>::max())};
}

//! The range of an integer parameter type; nullopt for every other type.
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

QString outOfRange(const QString &written, QMetaType type, const IntegerRange &range)
{
    return QStringLiteral("%1 is out of range for %2 (%3 … %4)")
        .arg(written, typeLabel(type), range.min, range.max);
}

bool isFloating(QMetaType type)
{
    return type.id() == QMetaType::Double || type.id() == QMetaType::Float;
}

//! An integer in range, converted to \a type.
QVariant integerValue(QMetaType type, const Integer &value, const IntegerRange &range,
                      QString *error)
{
    if (!range.contains(value)) {
        *error = outOfRange(integerText(value), type, range);
        return {};
    }
    QVariant v = std::visit([](auto n) { return QVariant::fromValue(n); }, value);
    v.convert(type);
    return v;
}

//! Digits with an optional sign: an integer, whether or not it fits 64 bits.
bool isIntegerSyntax(QStringView text)
{
    if (text.startsWith(u'-') || text.startsWith(u'+'))
        text = text.sliced(1);
    return !text.isEmpty()
           && std::all_of(text.begin(), text.end(), [](QChar c) { return c >= u'0' && c <= u'9'; });
}

QVariant integerFromText(QMetaType type, const QString &text, const IntegerRange &range,
                         QString *error)
{
    bool ok = false;
    if (const qlonglong s = text.toLongLong(&ok); ok)
        return integerValue(type, Integer(s), range, error);
    if (const qulonglong u = text.toULongLong(&ok); ok)
        return integerValue(type, Integer(u), range, error);
    *error = isIntegerSyntax(text) ? outOfRange(text, type, range)
                                   : QStringLiteral("'%1' is not an integer").arg(text);
    return {};
}

QVariant fromText(QMetaType type, const QString &text, QString *error)
{
    const QString trimmed = text.trimmed();
    if (const auto range = integerRange(type))
        return integerFromText(type, trimmed, *range, error);
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
    case QMetaType::QVariantList:
    case QMetaType::QVariantMap:
    case QMetaType::QStringList:
    case QMetaType::QJsonArray:
    case QMetaType::QJsonObject:
    case QMetaType::QJsonValue: {
        // Nested: written as JSON (without commas, which separate --submit's arguments).
        QJsonParseError parse;
        const QJsonDocument document = QJsonDocument::fromJson(QStringLiteral("[%1]").arg(trimmed).toUtf8(), &parse);
        QVariant v = document.array().size() == 1 ? document.array().at(0).toVariant() : QVariant();
        if (parse.error != QJsonParseError::NoError || !v.isValid() || !v.convert(type)) {
            *error = QStringLiteral("'%1' is not JSON for a %2 (on the command line without commas, "
                                    "e.g. [7] or {\"key\":1})")
                         .arg(text, typeLabel(type));
            return {};
        }
        return v;
    }
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

//! An integer argument of a job. The JSON reader holds a number in a qint64 or a double and
//! rounds on the way (-9223372036854775809 becomes -9223372036854775808), so one written in
//! digits is read from its text \a written; one with a fraction or an exponent is taken when it
//! is a whole number that a double holds exactly.
QVariant integerFromJson(QMetaType type, const QJsonValue &value, const QByteArray &written,
                         const IntegerRange &range, QString *error)
{
    if (isIntegerSyntax(QString::fromLatin1(written)))
        return integerFromText(type, QString::fromLatin1(written), range, error);
    const double d = value.toDouble();
    if (std::floor(d) != d) {
        *error = QStringLiteral("expected an integer, got %1").arg(d, 0, 'g', 17);
        return {};
    }
    if (std::abs(d) >= 0x1p53) {
        *error = QStringLiteral("%1 is not an exact integer: a number with a fraction or an "
                                "exponent is read as a floating-point number, exact only below "
                                "2^53; write the integer in digits")
                     .arg(QString::fromLatin1(written));
        return {};
    }
    return integerValue(type, Integer(qint64(d)), range, error);
}

QVariant fromJson(QMetaType type, const QJsonValue &value, const QByteArray &written,
                  QString *error)
{
    auto mismatch = [&](const QString &wanted) {
        *error = QStringLiteral("expected %1, got %2").arg(wanted, jsonKind(value));
        return QVariant();
    };
    if (const auto range = integerRange(type)) {
        if (!value.isDouble())
            return mismatch(QStringLiteral("an integer"));
        return integerFromJson(type, value, written, *range, error);
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

namespace {

//! \a entry of a catalogue as a signature; nullopt and why when a type cannot be written here.
std::optional<TaskSignature> catalogueSignature(const QCborMap &entry, QString *error)
{
    TaskSignature signature;
    signature.name = entry.value(QLatin1String("name")).toString();
    signature.description = entry.value(QLatin1String("description")).toString();
    const QCborArray arguments = entry.value(QLatin1String("arguments")).toArray();
    for (qsizetype i = 0; i < arguments.size(); ++i) {
        const QByteArray typeName = arguments.at(i).toString().toLatin1();
        const QMetaType type = QMetaType::fromName(typeName);
        if (!type.isValid()) {
            *error = QStringLiteral("argument %1 of task '%2' is a %3, which headless mode cannot write")
                         .arg(i + 1)
                         .arg(signature.name, QString::fromLatin1(typeName));
            return std::nullopt;
        }
        signature.parameters.append(Parameter{QStringLiteral("arg%1").arg(i + 1), type, std::nullopt});
    }
    return signature;
}

} // namespace

QList<TaskSignature> catalogueTasks(const QCborArray &catalogue, QStringList *skipped)
{
    QList<TaskSignature> tasks;
    for (const QCborValue &entry : catalogue) {
        QString error;
        if (auto signature = catalogueSignature(entry.toMap(), &error))
            tasks.append(std::move(*signature));
        else if (skipped)
            skipped->append(error);
    }
    return tasks;
}

std::optional<TaskSignature> catalogueTask(const QCborArray &catalogue, const QString &name, QString *error)
{
    QStringList names;
    for (const QCborValue &entry : catalogue) {
        const QString entryName = entry.toMap().value(QLatin1String("name")).toString();
        names.append(entryName);
        if (entryName == name)
            return catalogueSignature(entry.toMap(), error);
    }
    *error = QStringLiteral("the program has no task '%1'; its tasks: %2")
                 .arg(name, names.isEmpty() ? QStringLiteral("none") : names.join(QStringLiteral(", ")));
    return std::nullopt;
}

Arguments argumentsFromText(const TaskSignature &task, const QStringList &texts)
{
    return convertAll(task, texts.size(), [&](qsizetype i, QString *error) {
        return fromText(task.parameters.at(i).type, texts.at(i), error);
    });
}

Arguments argumentsFromJson(const TaskSignature &task, const QJsonArray &values,
                            const QList<QByteArray> &texts)
{
    return convertAll(task, values.size(), [&](qsizetype i, QString *error) {
        return fromJson(task.parameters.at(i).type, values.at(i), texts.value(i), error);
    });
}

QString callText(const QString &task, const QVariantList &arguments)
{
    QStringList parts;
    for (const QVariant &a : arguments) {
        switch (a.metaType().id()) {
        case QMetaType::QString:
            parts.append(u'"' + escapeControls(a.toString(), Newlines::Escape) + u'"');
            break;
        case QMetaType::QByteArray:
            parts.append(QStringLiteral("<%1 bytes>").arg(a.toByteArray().size()));
            break;
        case QMetaType::QVariantList:
        case QMetaType::QVariantMap:
        case QMetaType::QStringList:
            parts.append(QString::fromUtf8(QJsonDocument::fromVariant(a).toJson(QJsonDocument::Compact)));
            break;
        default: parts.append(a.toString()); break;
        }
    }
    return task + u'(' + parts.join(QStringLiteral(", ")) + u')';
}

} // namespace procpool::headless
