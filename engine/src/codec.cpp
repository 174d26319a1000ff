#include <procpool/codec.h>

#include <QtCore/QtEndian>

namespace procpool::detail {

namespace {
thread_local QList<QByteArray> *t_collect = nullptr;
thread_local const QList<QByteArray> *t_source = nullptr;
} // namespace

// Set by the worker around one call; see t_resultCollect in attachments_p.h.
thread_local QList<QByteArray> *t_resultCollect = nullptr;

AttachmentScope::AttachmentScope(QList<QByteArray> *collect, const QList<QByteArray> *source)
    : m_collect(t_collect), m_source(t_source)
{
    t_collect = collect;
    t_source = source;
}

AttachmentScope::~AttachmentScope()
{
    t_collect = m_collect;
    t_source = m_source;
}

ResultAttachmentScope::ResultAttachmentScope() : m_collect(t_collect)
{
    t_collect = t_resultCollect;
}

ResultAttachmentScope::~ResultAttachmentScope()
{
    t_collect = m_collect;
}

namespace {

// While the engine encodes a call or a result on this thread: takes \a bytes (shared, not
// copied) as the next attachment and returns its tag; false when nothing collects.
bool attach(const QByteArray &bytes, QCborValue *tag)
{
    if (!t_collect)
        return false;
    *tag = QCborValue(QCborTag(AttachmentTag), qint64(t_collect->size()));
    t_collect->append(bytes); // shared: the bytes are copied once, by the transport
    return true;
}

// The attachment an AttachmentTag value names, while the engine decodes a call or a result on
// this thread; throws CodecError otherwise.
QByteArray attachment(const QCborValue &tag)
{
    const QCborValue index = tag.taggedValue();
    if (!t_source)
        throw CodecError(QStringLiteral("an attachment (CBOR tag 0x70700003) outside a call or "
                                        "a result that carries attachments"));
    if (!index.isInteger() || index.toInteger() < 0 || index.toInteger() >= t_source->size())
        throw CodecError(QStringLiteral("attachment %1 does not exist: the frame carries %2")
                             .arg(index.isInteger() ? QString::number(index.toInteger())
                                                    : cborTypeName(index))
                             .arg(t_source->size()));
    return t_source->at(qsizetype(index.toInteger()));
}

} // namespace

QCborValue encodeBytes(const QByteArray &bytes)
{
    QCborValue tag;
    if (bytes.size() >= attachmentThreshold && attach(bytes, &tag))
        return tag;
    return QCborValue(bytes);
}

QByteArray decodeBytes(const QCborValue &value)
{
    if (value.isByteArray())
        return value.toByteArray();
    if (value.isTag() && value.tag() == QCborTag(AttachmentTag))
        return attachment(value);
    throwCodecMismatch("a byte array", value);
}

QString cborTypeName(const QCborValue &v)
{
    switch (v.type()) {
    case QCborValue::Integer: return QStringLiteral("an integer (%1)").arg(v.toInteger());
    case QCborValue::ByteArray: return QStringLiteral("a byte array");
    case QCborValue::String: return QStringLiteral("a string (\"%1\")").arg(v.toString().left(40));
    case QCborValue::Array: return QStringLiteral("an array");
    case QCborValue::Map: return QStringLiteral("a map");
    case QCborValue::Tag: return QStringLiteral("a value with CBOR tag %1").arg(quint64(v.tag()));
    case QCborValue::False:
    case QCborValue::True: return QStringLiteral("a bool");
    case QCborValue::Null: return QStringLiteral("null");
    case QCborValue::Undefined: return QStringLiteral("nothing");
    case QCborValue::Double: return QStringLiteral("a floating-point number (%1)").arg(v.toDouble());
    default: return QStringLiteral("a CBOR value of type %1").arg(int(v.type()));
    }
}

void throwCodecMismatch(const char *expected, const QCborValue &got)
{
    throw CodecError(QStringLiteral("expected %1, got %2")
                         .arg(QString::fromLatin1(expected), cborTypeName(got)));
}

void requireReadToEnd(const QDataStream &in)
{
    if (in.atEnd())
        return;
    const qint64 total = in.device()->size();
    throw CodecError(QStringLiteral("QDataStream read the value but left %1 of %2 bytes unread; "
                                    "do operator<< and operator>> match?")
                         .arg(total - in.device()->pos())
                         .arg(total));
}

void throwOutOfRange(const QCborValue &got, int bits, bool isSigned)
{
    const QString value = got.isInteger() ? QString::number(got.toInteger())
                                          : QStringLiteral("a large unsigned value");
    throw CodecError(QStringLiteral("%1 does not fit in a %2-bit %3 integer")
                         .arg(value)
                         .arg(bits)
                         .arg(isSigned ? QStringLiteral("signed") : QStringLiteral("unsigned")));
}

QCborValue encodeUnsigned(quint64 value)
{
    if (value <= quint64(std::numeric_limits<qint64>::max()))
        return QCborValue(qint64(value));
    // Beyond qint64: a positive bignum (RFC 8949 tag 2), 8 big-endian bytes.
    QByteArray bytes(8, Qt::Uninitialized);
    qToBigEndian(value, bytes.data());
    return QCborValue(QCborKnownTags::PositiveBignum, bytes);
}

quint64 decodeUnsigned(const QCborValue &v, int bits)
{
    if (v.isInteger()) {
        if (v.toInteger() < 0)
            throwOutOfRange(v, bits, false);
        return quint64(v.toInteger());
    }
    if (v.isTag() && v.tag() == QCborTag(QCborKnownTags::PositiveBignum)
        && v.taggedValue().isByteArray()) {
        const QByteArray bytes = v.taggedValue().toByteArray();
        if (bytes.size() > 8)
            throwOutOfRange(v, bits, false);
        quint64 result = 0;
        for (char c : bytes)
            result = (result << 8) | quint8(c);
        return result;
    }
    throwCodecMismatch("an unsigned integer", v);
}

QCborValue encodeVariant(const QVariant &value)
{
    if (!value.isValid())
        return QCborValue(QCborValue::Null);
    switch (value.metaType().id()) {
    case QMetaType::Bool: return QCborValue(value.toBool());
    case QMetaType::Char:
    case QMetaType::SChar:
    case QMetaType::Short:
    case QMetaType::Int:
    case QMetaType::Long:
    case QMetaType::LongLong: return QCborValue(value.toLongLong());
    case QMetaType::UChar:
    case QMetaType::UShort:
    case QMetaType::UInt:
    case QMetaType::ULong:
    case QMetaType::ULongLong: return encodeUnsigned(value.toULongLong());
    case QMetaType::Float:
    case QMetaType::Double: return QCborValue(value.toDouble());
    case QMetaType::QString: return QCborValue(value.toString());
    case QMetaType::QByteArray: return encodeBytes(value.toByteArray());
    case QMetaType::QStringList: return Codec<QStringList>::encode(value.toStringList());
    case QMetaType::QVariantList: return Codec<QVariantList>::encode(value.toList());
    case QMetaType::QVariantMap: return Codec<QVariantMap>::encode(value.toMap());
    case QMetaType::QVariantHash: return Codec<QVariantHash>::encode(value.toHash());
    default: break;
    }
    const QMetaType type = value.metaType();
    if (type.hasRegisteredDataStreamOperators()) {
        QByteArray bytes;
        QDataStream out(&bytes, QIODevice::WriteOnly);
        out.setVersion(dataStreamVersion);
        if (type.save(out, value.constData()) && out.status() == QDataStream::Ok)
            return QCborValue(QCborTag(VariantTypeTag),
                              QCborArray{QString::fromLatin1(type.name()), encodeBytes(bytes)});
    }
    const QCborValue generic = QCborValue::fromVariant(value);
    if (!generic.isUndefined() && !generic.isNull())
        return generic;
    throw CodecError(QStringLiteral("a QVariant holding %1 cannot cross the process boundary; "
                                    "give the type QDataStream operators")
                         .arg(QString::fromLatin1(type.name() ? type.name() : "an unknown type")));
}

QVariant decodeVariant(const QCborValue &v)
{
    if (v.isTag() && v.tag() == QCborTag(VariantTypeTag)) {
        const QCborArray pair = v.taggedValue().toArray();
        const QByteArray name = pair.at(0).toString().toLatin1();
        const QMetaType type = QMetaType::fromName(name);
        if (!type.isValid())
            throw CodecError(QStringLiteral("QVariant type '%1' is not known in this process")
                                 .arg(QString::fromLatin1(name)));
        const QByteArray bytes = decodeBytes(pair.at(1));
        QDataStream in(bytes);
        in.setVersion(dataStreamVersion);
        QVariant result(type);
        if (!type.load(in, result.data()) || in.status() != QDataStream::Ok)
            throw CodecError(QStringLiteral("could not read a QVariant of type '%1'")
                                 .arg(QString::fromLatin1(name)));
        requireReadToEnd(in);
        return result;
    }
    if (v.isTag() && v.tag() == QCborTag(DataStreamTag))
        return QVariant(decodeBytes(v.taggedValue())); // the bytes are all we can give
    if (v.isTag() && v.tag() == QCborTag(AttachmentTag))
        return QVariant(attachment(v));
    if (v.isTag() && v.tag() == QCborTag(QCborKnownTags::PositiveBignum))
        return QVariant(decodeUnsigned(v, 64));
    if (v.isArray()) {
        QVariantList list;
        const QCborArray array = v.toArray();
        list.reserve(array.size());
        for (const QCborValue &item : array)
            list.append(decodeVariant(item));
        return list;
    }
    if (v.isMap()) {
        QVariantMap map;
        const QCborMap cbor = v.toMap();
        for (auto it = cbor.cbegin(); it != cbor.cend(); ++it)
            map.insert(it.key().toString(), decodeVariant(it.value()));
        return map;
    }
    if (v.isUndefined() || v.isNull())
        return QVariant();
    return v.toVariant();
}

} // namespace procpool::detail
