// procpool tests — the codec: every supported type survives encode → CBOR bytes → decode, on
// its own and through a real worker process, and values that do not fit fail with CodecError.
#include "testmain.h"

#include <procpool/procpool.h>

#include <QtCore/QCborStreamReader>
#include <QtCore/QDateTime>
#include <QtTest/QTest>

#include <limits>

namespace {

//! A user type that crosses the boundary through its QDataStream operators only.
struct Sample
{
    qint32 id = 0;
    QString label;
    QList<double> values;
    friend bool operator==(const Sample &, const Sample &) = default;
};
QDataStream &operator<<(QDataStream &out, const Sample &s) { return out << s.id << s.label << s.values; }
QDataStream &operator>>(QDataStream &in, Sample &s) { return in >> s.id >> s.label >> s.values; }

//! A user type whose stream operators disagree: reading needs more bytes than writing gave.
struct Lopsided
{
    qint32 a = 0;
};
QDataStream &operator<<(QDataStream &out, const Lopsided &l) { return out << l.a; }
QDataStream &operator>>(QDataStream &in, Lopsided &l)
{
    qint64 wider = 0;
    in >> l.a >> wider;
    return in;
}

//! A user type whose stream operators disagree the other way: reading stops short of the end.
struct Forgetful
{
    qint32 a = 0;
    qint32 b = 0;
};
QDataStream &operator<<(QDataStream &out, const Forgetful &f) { return out << f.a << f.b; }
QDataStream &operator>>(QDataStream &in, Forgetful &f) { return in >> f.a; }

enum class Colour : quint8 { Red = 1, Green = 2, Blue = 250 };

} // namespace

//! A type with its own Codec specialisation instead of stream operators.
struct Celsius
{
    double degrees = 0;
    friend bool operator==(const Celsius &, const Celsius &) = default;
};
template <>
struct procpool::Codec<Celsius>
{
    static QCborValue encode(const Celsius &c) { return QCborValue(QStringLiteral("%1C").arg(c.degrees)); }
    static Celsius decode(const QCborValue &v)
    {
        QString text = v.toString();
        if (!v.isString() || !text.endsWith(QLatin1Char('C')))
            throw procpool::CodecError(QStringLiteral("expected a temperature like \"21.5C\""));
        text.chop(1);
        return Celsius{text.toDouble()};
    }
};

namespace {

// One echo task per type, so every codec runs on both sides of a real process boundary.
const procpool::Task<bool(bool)> echoBool{"codec.bool", [](bool v) { return v; }};
const procpool::Task<qint8(qint8)> echoI8{"codec.i8", [](qint8 v) { return v; }};
const procpool::Task<quint8(quint8)> echoU8{"codec.u8", [](quint8 v) { return v; }};
const procpool::Task<qint16(qint16)> echoI16{"codec.i16", [](qint16 v) { return v; }};
const procpool::Task<quint16(quint16)> echoU16{"codec.u16", [](quint16 v) { return v; }};
const procpool::Task<qint32(qint32)> echoI32{"codec.i32", [](qint32 v) { return v; }};
const procpool::Task<quint32(quint32)> echoU32{"codec.u32", [](quint32 v) { return v; }};
const procpool::Task<qint64(qint64)> echoI64{"codec.i64", [](qint64 v) { return v; }};
const procpool::Task<quint64(quint64)> echoU64{"codec.u64", [](quint64 v) { return v; }};
const procpool::Task<double(double)> echoDouble{"codec.double", [](double v) { return v; }};
const procpool::Task<float(float)> echoFloat{"codec.float", [](float v) { return v; }};
const procpool::Task<Colour(Colour)> echoEnum{"codec.enum", [](Colour v) { return v; }};
const procpool::Task<QString(QString)> echoString{"codec.string", [](const QString &v) { return v; }};
const procpool::Task<std::string(std::string)> echoStdString{"codec.stdstring",
                                                             [](const std::string &v) { return v; }};
const procpool::Task<QByteArray(QByteArray)> echoByteArray{"codec.bytes", [](const QByteArray &v) { return v; }};
const procpool::Task<QStringList(QStringList)> echoStringList{"codec.stringlist",
                                                              [](const QStringList &v) { return v; }};
const procpool::Task<QList<int>(QList<int>)> echoIntList{"codec.intlist", [](const QList<int> &v) { return v; }};
const procpool::Task<QVector<QList<QString>>(QVector<QList<QString>>)> echoNested{
    "codec.nested", [](const QVector<QList<QString>> &v) { return v; }};
const procpool::Task<std::vector<quint64>(std::vector<quint64>)> echoStdVector{
    "codec.stdvector", [](const std::vector<quint64> &v) { return v; }};
const procpool::Task<QMap<QString, int>(QMap<QString, int>)> echoMap{
    "codec.map", [](const QMap<QString, int> &v) { return v; }};
const procpool::Task<QHash<QString, QByteArray>(QHash<QString, QByteArray>)> echoHash{
    "codec.hash", [](const QHash<QString, QByteArray> &v) { return v; }};
const procpool::Task<std::optional<int>(std::optional<int>)> echoOptional{
    "codec.optional", [](std::optional<int> v) { return v; }};
const procpool::Task<QVariantList(QVariantList)> echoVariantList{"codec.variantlist",
                                                                 [](const QVariantList &v) { return v; }};
const procpool::Task<QVariantMap(QVariantMap)> echoVariantMap{"codec.variantmap",
                                                              [](const QVariantMap &v) { return v; }};
const procpool::Task<Sample(Sample)> echoSample{"codec.sample", [](const Sample &v) { return v; }};
const procpool::Task<Celsius(Celsius)> echoCelsius{"codec.celsius", [](const Celsius &v) { return v; }};
const procpool::Task<QDateTime(QDateTime)> echoDateTime{"codec.datetime", [](const QDateTime &v) { return v; }};
const procpool::Task<QByteArray(Lopsided)> acceptLopsided{"codec.lopsided",
                                                          [](const Lopsided &) { return QByteArray("read"); }};
const procpool::Task<QByteArray(Forgetful)> acceptForgetful{"codec.forgetful",
                                                            [](const Forgetful &) { return QByteArray("read"); }};
const procpool::Task<QString(Sample, QStringList, quint16, bool)> manyArguments{
    "codec.many", [](const Sample &s, const QStringList &l, quint16 n, bool flag) {
        return QStringLiteral("%1 %2 %3 %4 %5").arg(s.id).arg(s.label).arg(l.join(QLatin1Char('+'))).arg(n).arg(flag);
    }};

//! Encodes, serialises to CBOR bytes, parses them back and decodes: what a frame does.
template <typename T>
T throughBytes(const T &value)
{
    const QByteArray bytes = procpool::encode(value).toCbor();
    QCborStreamReader reader(bytes);
    const QCborValue parsed = QCborValue::fromCbor(reader);
    if (reader.lastError() != QCborError::NoError)
        qFatal("CBOR written by the codec does not parse: %s", qPrintable(reader.lastError().toString()));
    return procpool::decode<T>(parsed);
}

Sample sampleValue()
{
    return Sample{-7, QStringLiteral("naïve — ünïcödé ✓"), {0.5, -1e300, std::numeric_limits<double>::infinity()}};
}

QVariantMap variantMapValue()
{
    return QVariantMap{{QStringLiteral("int"), 42},
                       {QStringLiteral("big"), QVariant::fromValue(std::numeric_limits<quint64>::max())},
                       {QStringLiteral("neg"), qint64(-1) << 40},
                       {QStringLiteral("text"), QStringLiteral("hello")},
                       {QStringLiteral("bytes"), QByteArray("\0\1\2\xff", 4)},
                       {QStringLiteral("list"), QVariantList{1, QStringLiteral("two"), 3.5, true}},
                       {QStringLiteral("strings"), QStringList{QStringLiteral("a"), QStringLiteral("b")}},
                       {QStringLiteral("nested"), QVariantMap{{QStringLiteral("x"), QVariantList{}}}},
                       {QStringLiteral("double"), 2.25},
                       {QStringLiteral("bool"), false}};
}

} // namespace

class TestCodec : public QObject
{
    Q_OBJECT

private:
    procpool::ProcessPoolManager *m_manager = nullptr;

    //! Checks \a value locally through CBOR bytes and through a worker with \a task.
    template <typename T>
    void roundTrip(const procpool::Task<T(T)> &task, const T &value)
    {
        QCOMPARE(throughBytes(value), value);
        QCOMPARE(m_manager->submitTask(task, value).result(), value);
    }

private slots:
    void initTestCase()
    {
        m_manager = procpool::getOrCreateProcessManager(QStringLiteral("codec"));
        m_manager->start(2);
    }
    void cleanupTestCase() { m_manager->stop(); }

    void booleans()
    {
        roundTrip(echoBool, true);
        roundTrip(echoBool, false);
    }

    void everyIntegerWidthAtItsLimits()
    {
        roundTrip(echoI8, std::numeric_limits<qint8>::min());
        roundTrip(echoI8, std::numeric_limits<qint8>::max());
        roundTrip(echoU8, std::numeric_limits<quint8>::max());
        roundTrip(echoI16, std::numeric_limits<qint16>::min());
        roundTrip(echoU16, std::numeric_limits<quint16>::max());
        roundTrip(echoI32, std::numeric_limits<qint32>::min());
        roundTrip(echoU32, std::numeric_limits<quint32>::max());
        roundTrip(echoI64, std::numeric_limits<qint64>::min());
        roundTrip(echoI64, std::numeric_limits<qint64>::max());
        roundTrip(echoU64, quint64(0));
        roundTrip(echoU64, quint64(std::numeric_limits<qint64>::max()) + 1);
        roundTrip(echoU64, std::numeric_limits<quint64>::max());
        roundTrip(echoEnum, Colour::Blue);
    }

    void floatingPoint()
    {
        roundTrip(echoDouble, 0.1);
        roundTrip(echoDouble, -0.0);
        roundTrip(echoDouble, std::numeric_limits<double>::max());
        roundTrip(echoDouble, std::numeric_limits<double>::denorm_min());
        roundTrip(echoDouble, -std::numeric_limits<double>::infinity());
        roundTrip(echoFloat, 3.25f);
        const double nan = m_manager->submitTask(echoDouble, std::numeric_limits<double>::quiet_NaN()).result();
        QVERIFY(std::isnan(nan));
        // An integer is accepted where a floating-point number is expected.
        QCOMPARE(procpool::decode<double>(QCborValue(7)), 7.0);
    }

    void stringsAndBytes()
    {
        roundTrip(echoString, QString());
        roundTrip(echoString, QStringLiteral("naïve — ünïcödé ✓ \U0001F600"));
        roundTrip(echoStdString, std::string("plain bytes \xc3\xa9"));
        roundTrip(echoByteArray, QByteArray());
        QByteArray binary(256, '\0');
        for (int i = 0; i < binary.size(); ++i)
            binary[i] = char(i);
        roundTrip(echoByteArray, binary);
        roundTrip(echoByteArray, QByteArray(3 << 20, '\xab')); // several pipe buffers: partial reads
    }

    void containers()
    {
        roundTrip(echoStringList, QStringList{});
        roundTrip(echoStringList, QStringList{QStringLiteral("a"), QString(), QStringLiteral("ç")});
        roundTrip(echoIntList, QList<int>{1, -2, 3, std::numeric_limits<int>::min()});
        roundTrip(echoNested, QVector<QList<QString>>{{}, {QStringLiteral("x")}, {QStringLiteral("y"), QStringLiteral("z")}});
        roundTrip(echoStdVector, std::vector<quint64>{0, 1, std::numeric_limits<quint64>::max()});
        roundTrip(echoMap, QMap<QString, int>{{QStringLiteral("one"), 1}, {QStringLiteral("two"), 2}});
        roundTrip(echoHash, QHash<QString, QByteArray>{{QStringLiteral("k"), QByteArray("v")}});
        roundTrip(echoOptional, std::optional<int>());
        roundTrip(echoOptional, std::optional<int>(5));
    }

    void variants()
    {
        // Inside a QVariant, values travel in CBOR's own types (docs/protocol.md): integers
        // arrive as qlonglong (qulonglong beyond its range), a QStringList as a QVariantList;
        // everything else keeps its type.
        const QVariantMap sent = variantMapValue();
        QVariantMap expected = sent;
        expected[QStringLiteral("int")] = qlonglong(42);
        expected[QStringLiteral("list")] = QVariantList{qlonglong(1), QStringLiteral("two"), 3.5, true};
        expected[QStringLiteral("strings")] = QVariantList{QStringLiteral("a"), QStringLiteral("b")};
        QCOMPARE(throughBytes(sent), expected);
        const QVariantMap back = m_manager->submitTask(echoVariantMap, sent).result();
        QCOMPARE(back, expected);
        for (auto it = expected.cbegin(); it != expected.cend(); ++it)
            QCOMPARE(back.value(it.key()).metaType(), it.value().metaType());
        roundTrip(echoVariantList, QVariantList{qlonglong(1), QStringLiteral("x"), expected, QVariantList{2.5, false}});
        // A QVariant of a type CBOR has no native form for travels with its type name.
        const QVariant when = QDateTime(QDate(2026, 11, 25), QTime(12, 30), Qt::UTC);
        const QVariant echoed = m_manager->submitTask(QStringLiteral("echoVariant"), {when}).result();
        QCOMPARE(echoed.metaType(), QMetaType::fromType<QDateTime>());
        QCOMPARE(echoed, when);
        // A null QVariant stays null.
        QVERIFY(throughBytes(QVariant()).isNull());
    }

    void userTypes()
    {
        roundTrip(echoSample, sampleValue());
        roundTrip(echoSample, Sample{});
        roundTrip(echoCelsius, Celsius{21.5});
        roundTrip(echoDateTime, QDateTime(QDate(2000, 1, 1), QTime(0, 0), Qt::UTC));
        QCOMPARE(m_manager->submitTask(manyArguments, sampleValue(),
                                       QStringList{QStringLiteral("a"), QStringLiteral("b")}, 65535, true)
                     .result(),
                 QStringLiteral("-7 naïve — ünïcödé ✓ a+b 65535 1"));
    }

    void argumentsConvertToTheDeclaredTypes()
    {
        // A typed submission converts each argument to the parameter type at compile time...
        QCOMPARE(m_manager->submitTask(echoI64, 5).result(), qint64(5));
        QCOMPARE(m_manager->submitTask(echoString, QLatin1String("latin1")).result(), QStringLiteral("latin1"));
        // ...and an untyped one converts QVariants that fit, with the declared result type.
        const QVariant result = m_manager->submitTask(QStringLiteral("codec.u8"), {QVariant(200)}).result();
        QCOMPARE(result.metaType(), QMetaType::fromType<quint8>());
        QCOMPARE(result.value<quint8>(), quint8(200));
    }

    void valuesThatDoNotFitFailWithCodecError_data()
    {
        QTest::addColumn<QString>("task");
        QTest::addColumn<QVariantList>("arguments");
        QTest::addColumn<QString>("mentions");
        QTest::newRow("out of range for 8 bits") << QStringLiteral("codec.u8") << QVariantList{300} << QStringLiteral("300 does not fit in a 8-bit unsigned");
        QTest::newRow("negative for unsigned") << QStringLiteral("codec.u32") << QVariantList{-1} << QStringLiteral("32-bit unsigned");
        QTest::newRow("string for integer") << QStringLiteral("codec.i32") << QVariantList{QStringLiteral("12")}
                                            << QStringLiteral("integer");
        QTest::newRow("integer for string") << QStringLiteral("codec.string") << QVariantList{12}
                                            << QStringLiteral("string");
        QTest::newRow("too few arguments") << QStringLiteral("codec.many") << QVariantList{1} << QStringLiteral("takes 4 argument(s), got 1");
        QTest::newRow("too many arguments") << QStringLiteral("codec.bool") << QVariantList{true, false}
                                            << QStringLiteral("takes 1 argument(s), got 2");
    }
    void valuesThatDoNotFitFailWithCodecError()
    {
        QFETCH(QString, task);
        QFETCH(QVariantList, arguments);
        QFETCH(QString, mentions);
        const quint64 before = m_manager->getPool()->stats().submitted;
        try {
            m_manager->submitTask(task, arguments);
            QFAIL("the submission was accepted");
        } catch (const procpool::CodecError &e) {
            QVERIFY2(e.message().contains(mentions), qPrintable(e.message()));
        }
        QCOMPARE(m_manager->getPool()->stats().submitted, before); // nothing was queued
    }

    void decodingTheWrongShapeThrows()
    {
        QVERIFY_THROWS_EXCEPTION(procpool::CodecError, procpool::decode<bool>(QCborValue(1)));
        QVERIFY_THROWS_EXCEPTION(procpool::CodecError, procpool::decode<QStringList>(QCborValue(QStringLiteral("x"))));
        QVERIFY_THROWS_EXCEPTION(procpool::CodecError, procpool::decode<QList<int>>(QCborArray{1, QStringLiteral("x")}));
        QVERIFY_THROWS_EXCEPTION(procpool::CodecError, procpool::decode<QMap<QString, int>>(QCborValue(1)));
        QVERIFY_THROWS_EXCEPTION(procpool::CodecError, procpool::decode<Sample>(QCborValue(QByteArray("raw"))));
        QVERIFY_THROWS_EXCEPTION(procpool::CodecError, procpool::decode<Celsius>(QCborValue(3)));
        QVERIFY_THROWS_EXCEPTION(procpool::CodecError, procpool::decode<quint64>(QCborValue(-1)));
        // Truncated QDataStream bytes are detected, not read as garbage.
        QByteArray truncated = procpool::encode(sampleValue()).taggedValue().toByteArray();
        truncated.chop(3);
        QVERIFY_THROWS_EXCEPTION(procpool::CodecError,
                                 procpool::decode<Sample>(QCborValue(QCborTag(procpool::DataStreamTag), truncated)));
        // So are bytes left over after the value: operator>> did not read what operator<< wrote.
        QByteArray longer = procpool::encode(sampleValue()).taggedValue().toByteArray();
        longer.append("\0\0\2", 3);
        try {
            procpool::decode<Sample>(QCborValue(QCborTag(procpool::DataStreamTag), longer));
            QFAIL("bytes after the value were ignored");
        } catch (const procpool::CodecError &e) {
            QVERIFY2(e.message().contains(QLatin1String("left 3 of")), qPrintable(e.message()));
        }
        // The same inside a QVariant that travels with its type name.
        const QCborValue when = procpool::encode(QVariant(QDateTime(QDate(2026, 11, 26), QTime(9, 0), Qt::UTC)));
        QCOMPARE(when.tag(), QCborTag(procpool::VariantTypeTag));
        QCborArray pair = when.taggedValue().toArray();
        pair[1] = QCborValue(pair.at(1).toByteArray() + QByteArray(1, 'x'));
        QVERIFY_THROWS_EXCEPTION(procpool::CodecError,
                                 procpool::decode<QVariant>(QCborValue(QCborTag(procpool::VariantTypeTag), pair)));
    }

    void mismatchedStreamOperatorsFailTheFutureWithCodecError()
    {
        // The CodecError's message, or nothing if the task ran.
        const auto codecError = [](QFuture<QByteArray> f) {
            try {
                f.waitForFinished();
            } catch (const procpool::CodecError &e) {
                return e.message();
            }
            return QString();
        };
        // The worker cannot read the argument back: the future fails, the worker lives on.
        const QString tooShort = codecError(m_manager->submitTask(acceptLopsided, Lopsided{1}));
        QVERIFY2(tooShort.contains(QLatin1String("operator<<")), qPrintable(tooShort));
        QCOMPARE(m_manager->submitTask(echoI32, 9).result(), 9);
        // Reading less than was written is the same mistake, caught the same way.
        const QString tooLong = codecError(m_manager->submitTask(acceptForgetful, Forgetful{1, 2}));
        QVERIFY2(tooLong.contains(QLatin1String("left 4 of 8 bytes unread")), qPrintable(tooLong));
        QCOMPARE(m_manager->submitTask(echoI32, 10).result(), 10);
    }
};

PROCPOOL_TEST_MAIN(TestCodec)
#include "tst_codec.moc"
