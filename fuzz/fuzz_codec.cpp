// libFuzzer target: the codec (procpool::decode<T>) on arbitrary CBOR, for many types.
//
// The first input byte picks the C++ type, the rest is parsed as CBOR the way the engine parses
// a frame body. decode<T>() must either return a value or throw CodecError; anything else (a
// crash, another exception, undefined behaviour, a leak of ASan's attention) is a finding. A
// value that decodes must encode again and decode to an equal value.
#include <procpool/codec.h>

#include <QtCore/QCborStreamReader>
#include <QtCore/QDateTime>
#include <QtCore/QPoint>
#include <QtCore/QUrl>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

enum class Color { Red, Green, Blue };

template <typename T>
void roundTrip(const QCborValue &value, bool comparable = true)
{
    T decoded;
    try {
        decoded = procpool::decode<T>(value);
    } catch (const procpool::CodecError &) {
        return; // refusing a value that does not fit is the expected outcome
    }
    const QCborValue encoded = procpool::encode(decoded);
    const T again = procpool::decode<T>(encoded); // must not throw: we produced it
    if (comparable && !(again == decoded))
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const unsigned type = data[0];
    QCborStreamReader reader(QByteArray::fromRawData(reinterpret_cast<const char *>(data + 1),
                                                     qsizetype(size - 1)));
    const QCborValue value = QCborValue::fromCbor(reader);
    if (reader.lastError() != QCborError::NoError)
        return 0;
    switch (type % 20) {
    case 0: roundTrip<bool>(value); break;
    case 1: roundTrip<int>(value); break;
    case 2: roundTrip<qint64>(value); break;
    case 3: roundTrip<quint64>(value); break;
    case 4: roundTrip<qint8>(value); break;
    case 5: roundTrip<quint16>(value); break;
    case 6: roundTrip<double>(value, false); break; // NaN != NaN
    case 7: roundTrip<float>(value, false); break;
    case 8: roundTrip<QString>(value); break;
    case 9: roundTrip<std::string>(value); break;
    case 10: roundTrip<QByteArray>(value); break;
    case 11: roundTrip<QStringList>(value); break;
    case 12: roundTrip<QList<int>>(value); break;
    case 13: roundTrip<std::vector<QString>>(value); break;
    case 14: roundTrip<QMap<QString, qint64>>(value); break;
    case 15: roundTrip<QHash<QString, QByteArray>>(value); break;
    case 16: roundTrip<std::optional<int>>(value); break;
    case 17: roundTrip<QVariant>(value, false); break; // QVariant equality is type-dependent
    case 18: roundTrip<Color>(value); break;
    default: // QDataStream-coded types read arbitrary bytes
        roundTrip<QDateTime>(value, false);
        roundTrip<QPoint>(value);
        roundTrip<QUrl>(value, false); // Qt streams every invalid URL as the empty one
        roundTrip<QVariantMap>(value, false);
    }
    return 0;
}
