// procpool — the codec: how arguments and results cross the process boundary.
//
// Every value travels as one CBOR data item (QCborValue). procpool::Codec<T> converts a C++
// value to and from that item. Supported out of the box:
//
//   bool, every integer width (signed and unsigned, 64-bit included), enums, float, double,
//   QString, QByteArray, QStringList, std::string, QList<T>/QVector<T>, std::vector<T>,
//   QMap<QString, T>, QHash<QString, T>, std::optional<T>, QVariant (and so QVariantList and
//   QVariantMap), and any other type with QDataStream operators << and >>.
//
// To carry a type in another way, specialise procpool::Codec<YourType> with two static
// functions:  QCborValue encode(const YourType &)  and  YourType decode(const QCborValue &).
// decode() throws procpool::CodecError when the value does not fit.
#pragma once

#include <procpool/detail/codec_impl.h>
#include <procpool/errors.h>
#include <procpool/procpool_export.h>

#include <QtCore/QBuffer>
#include <QtCore/QCborArray>
#include <QtCore/QCborMap>
#include <QtCore/QCborValue>
#include <QtCore/QDataStream>
#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QMap>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QVariant>

#include <concepts>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace procpool {

//! CBOR tags procpool uses for values CBOR has no native form for (see docs/protocol.md).
enum CborTag : quint64 {
    DataStreamTag = 0x70700001, //!< QDataStream bytes of a C++ type with stream operators
    VariantTypeTag = 0x70700002, //!< [QMetaType name, QDataStream bytes] for a QVariant
    AttachmentTag = 0x70700003, //!< index of a byte array sent beside the frame's CBOR body
};

//! The QDataStream version both sides use for user types.
inline constexpr int dataStreamVersion = QDataStream::Qt_6_0;


//! Primary template: types with QDataStream operators. Specialise it for anything else.
template <typename T>
struct Codec
{
    static_assert(detail::StreamableType<T>,
                  "procpool: this type cannot cross the process boundary. Give it QDataStream "
                  "operators << and >>, or specialise procpool::Codec<T>.");

    static QCborValue encode(const T &value)
    {
        QByteArray bytes;
        QDataStream out(&bytes, QIODevice::WriteOnly);
        out.setVersion(dataStreamVersion);
        out << value;
        return QCborValue(QCborTag(DataStreamTag), detail::encodeBytes(bytes));
    }
    static T decode(const QCborValue &value)
    {
        if (!value.isTag() || value.tag() != QCborTag(DataStreamTag)
            || !(value.taggedValue().isByteArray() || value.taggedValue().isTag()))
            detail::throwCodecMismatch("QDataStream bytes (CBOR tag 0x70700001)", value);
        const QByteArray bytes = detail::decodeBytes(value.taggedValue());
        QDataStream in(bytes);
        in.setVersion(dataStreamVersion);
        T result{};
        in >> result;
        if (in.status() != QDataStream::Ok)
            throw CodecError(QStringLiteral("QDataStream could not read the value back "
                                            "(%1 bytes); do operator<< and operator>> match?")
                                 .arg(bytes.size()));
        detail::requireReadToEnd(in);
        return result;
    }
};

template <>
struct Codec<bool>
{
    static QCborValue encode(bool v) { return QCborValue(v); }
    static bool decode(const QCborValue &v)
    {
        if (!v.isBool())
            detail::throwCodecMismatch("bool", v);
        return v.toBool();
    }
};

template <std::integral T>
    requires(!std::same_as<T, bool>)
struct Codec<T>
{
    static constexpr int bits = int(sizeof(T)) * 8;
    static QCborValue encode(T v)
    {
        if constexpr (std::is_signed_v<T>)
            return QCborValue(qint64(v));
        else
            return detail::encodeUnsigned(quint64(v));
    }
    static T decode(const QCborValue &v)
    {
        if constexpr (std::is_unsigned_v<T>) {
            const quint64 u = detail::decodeUnsigned(v, bits);
            if (u > quint64(std::numeric_limits<T>::max()))
                detail::throwOutOfRange(v, bits, false);
            return T(u);
        } else {
            if (!v.isInteger())
                detail::throwCodecMismatch("an integer", v);
            const qint64 i = v.toInteger();
            if (i < qint64(std::numeric_limits<T>::min()) || i > qint64(std::numeric_limits<T>::max()))
                detail::throwOutOfRange(v, bits, true);
            return T(i);
        }
    }
};

template <typename T>
    requires std::is_enum_v<T>
struct Codec<T>
{
    using U = std::underlying_type_t<T>;
    static QCborValue encode(T v) { return Codec<U>::encode(U(v)); }
    static T decode(const QCborValue &v) { return T(Codec<U>::decode(v)); }
};

template <std::floating_point T>
struct Codec<T>
{
    static QCborValue encode(T v) { return QCborValue(double(v)); }
    static T decode(const QCborValue &v)
    {
        if (v.isDouble())
            return T(v.toDouble());
        if (v.isInteger())
            return T(v.toInteger());
        detail::throwCodecMismatch("a floating-point number", v);
    }
};

template <>
struct Codec<QString>
{
    static QCborValue encode(const QString &v) { return QCborValue(v); }
    static QString decode(const QCborValue &v)
    {
        if (!v.isString())
            detail::throwCodecMismatch("a string", v);
        return v.toString();
    }
};

template <>
struct Codec<std::string>
{
    static QCborValue encode(const std::string &v)
    {
        return QCborValue(QString::fromUtf8(v.data(), qsizetype(v.size())));
    }
    static std::string decode(const QCborValue &v) { return Codec<QString>::decode(v).toStdString(); }
};

template <>
struct Codec<QByteArray>
{
    static QCborValue encode(const QByteArray &v) { return detail::encodeBytes(v); }
    static QByteArray decode(const QCborValue &v) { return detail::decodeBytes(v); }
};

template <>
struct Codec<QVariant>
{
    static QCborValue encode(const QVariant &v) { return detail::encodeVariant(v); }
    static QVariant decode(const QCborValue &v) { return detail::decodeVariant(v); }
};

namespace detail {
template <typename Container>
QCborValue encodeSequence(const Container &c)
{
    using T = typename Container::value_type;
    QCborArray array;
    for (const auto &item : c)
        array.append(Codec<T>::encode(item));
    return array;
}
template <typename Container>
Container decodeSequence(const QCborValue &v)
{
    using T = typename Container::value_type;
    if (!v.isArray())
        throwCodecMismatch("an array", v);
    const QCborArray array = v.toArray();
    Container c;
    c.reserve(decltype(c.size())(array.size()));
    for (const QCborValue &item : array)
        c.push_back(Codec<T>::decode(item));
    return c;
}
template <typename Map>
QCborValue encodeStringMap(const Map &m)
{
    using T = typename Map::mapped_type;
    QCborMap map;
    for (auto it = m.cbegin(); it != m.cend(); ++it)
        map.insert(it.key(), Codec<T>::encode(it.value()));
    return map;
}
template <typename Map>
Map decodeStringMap(const QCborValue &v)
{
    using T = typename Map::mapped_type;
    if (!v.isMap())
        throwCodecMismatch("a map", v);
    const QCborMap map = v.toMap();
    Map m;
    for (auto it = map.cbegin(); it != map.cend(); ++it)
        m.insert(it.key().toString(), Codec<T>::decode(it.value()));
    return m;
}
} // namespace detail

template <typename T>
struct Codec<QList<T>>
{
    static QCborValue encode(const QList<T> &v) { return detail::encodeSequence(v); }
    static QList<T> decode(const QCborValue &v) { return detail::decodeSequence<QList<T>>(v); }
};

template <>
struct Codec<QStringList>
{
    static QCborValue encode(const QStringList &v) { return detail::encodeSequence(v); }
    static QStringList decode(const QCborValue &v) { return detail::decodeSequence<QStringList>(v); }
};

template <typename T>
struct Codec<std::vector<T>>
{
    static QCborValue encode(const std::vector<T> &v) { return detail::encodeSequence(v); }
    static std::vector<T> decode(const QCborValue &v)
    {
        return detail::decodeSequence<std::vector<T>>(v);
    }
};

template <typename T>
struct Codec<QMap<QString, T>>
{
    static QCborValue encode(const QMap<QString, T> &v) { return detail::encodeStringMap(v); }
    static QMap<QString, T> decode(const QCborValue &v)
    {
        return detail::decodeStringMap<QMap<QString, T>>(v);
    }
};

template <typename T>
struct Codec<QHash<QString, T>>
{
    static QCborValue encode(const QHash<QString, T> &v) { return detail::encodeStringMap(v); }
    static QHash<QString, T> decode(const QCborValue &v)
    {
        return detail::decodeStringMap<QHash<QString, T>>(v);
    }
};

template <typename T>
struct Codec<std::optional<T>>
{
    static QCborValue encode(const std::optional<T> &v)
    {
        return v ? Codec<T>::encode(*v) : QCborValue(QCborValue::Null);
    }
    static std::optional<T> decode(const QCborValue &v)
    {
        if (v.isNull())
            return std::nullopt;
        return Codec<T>::decode(v);
    }
};

//! Encodes \a value with its codec.
template <typename T>
QCborValue encode(const T &value)
{
    return Codec<std::remove_cvref_t<T>>::encode(value);
}

//! Decodes a \a T; throws CodecError when \a value does not hold one.
template <typename T>
T decode(const QCborValue &value)
{
    return Codec<std::remove_cvref_t<T>>::decode(value);
}

} // namespace procpool
