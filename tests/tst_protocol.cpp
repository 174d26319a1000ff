// procpool tests — the wire protocol: the frame encoder and decoder on split, oversized,
// truncated and garbage input, and a real worker whose task code writes to stdout and stderr
// (through stdio and raw file descriptors) without corrupting a single frame.
#include "faultsupport.h"
#include "attachments_p.h"
#include "frame_p.h"
#include "workerloop_p.h"
#include "testmain.h"
#include "testtasks.h"

#include <procpool/procpool.h>

#include <QtCore/QCborArray>
#include <QtCore/QCborMap>
#include <QtCore/QtEndian>
#include <QtCore/QFile>
#include <QtCore/QRandomGenerator>
#include <QtCore/QStandardPaths>
#include <QtCore/QTemporaryDir>
#include <QtTest/QTest>

#include <cstdio>
#include <thread>
#include <unistd.h>

using namespace procpool;
using procpool::detail::Frame;
using procpool::detail::FrameDecoder;
using procpool::detail::FrameType;

namespace {

void writeAll(int fd, const QByteArray &bytes)
{
    qsizetype done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.constData() + done, size_t(bytes.size() - done));
        if (n <= 0)
            return;
        done += n;
    }
}

// Task code that does its worst to the worker's standard streams.
const Task<int(int)> rawFrameToStdout{"protocol.rawFrameToStdout", [](int n) {
    // Bytes that form a perfectly valid Result frame for task id 1, written straight to fd 1.
    writeAll(STDOUT_FILENO, detail::encodeFrame(FrameType::Result, 1, QCborValue(666).toCbor()) + "\n");
    std::printf("buffered stdout without a newline");
    std::fflush(stdout);
    std::fputs("\nstderr line\n", stderr);
    writeAll(STDERR_FILENO, QByteArray("\x00\x01\xfe\xff binary on stderr\n", 22));
    return n * 2;
}};

const Task<int(int)> hugeLine{"protocol.hugeLine", [](int bytes) {
    writeAll(STDOUT_FILENO, QByteArray(bytes, 'y')); // no newline at all
    return bytes;
}};

const Task<QByteArray(int)> bigResult{"protocol.bigResult", [](int bytes) {
    QByteArray out(bytes, '\0');
    for (int i = 0; i < bytes; ++i)
        out[i] = char(i * 31 + 7);
    return out;
}};

// Reports progress as floats, one beyond what an int holds and one beyond qint64: the pool
// must read them as "not an integer" (0), not convert them (1e300 to an integer is undefined).
const Task<int()> hugeProgress{"protocol.hugeProgress", [] {
    const QByteArray body = QCborArray{1e10, 1e300, QStringLiteral("huge")}.toCborValue().toCbor();
    detail::writeRawToPool(detail::encodeFrame(FrameType::Progress, detail::currentCallId(), body));
    return 7;
}};

// Served by the Python worker of docs/protocol.md; never run here.
const Task<int(int)> square{"square", [](int) -> int {
    throw std::logic_error("square runs in the Python worker");
}};

//! The Python worker printed in docs/protocol.md, section 11, as a file: the document is the test.
QString pythonWorkerFromTheDocument(const QTemporaryDir &dir)
{
    QFile doc(QStringLiteral(PROCPOOL_SOURCE_DIR "/docs/protocol.md"));
    if (!doc.open(QIODevice::ReadOnly))
        return QString();
    const QString text = QString::fromUtf8(doc.readAll());
    const qsizetype section = text.indexOf(QStringLiteral("## 11. A worker in another language"));
    const qsizetype begin = text.indexOf(QStringLiteral("```python\n"), section);
    const qsizetype end = text.indexOf(QStringLiteral("\n```"), begin + 10);
    if (section < 0 || begin < 0 || end < 0)
        return QString();
    const QString path = dir.filePath(QStringLiteral("worker.py"));
    QFile script(path);
    if (!script.open(QIODevice::WriteOnly))
        return QString();
    script.write(text.mid(begin + 10, end - begin - 9).toUtf8());
    return path;
}

QByteArray helloBody()
{
    return QCborMap{{QStringLiteral("protocol"), detail::protocolVersion}}.toCborValue().toCbor();
}

} // namespace

class TestProtocol : public QObject
{
    Q_OBJECT

private slots:
    void encoderWritesTheDocumentedHeader()
    {
        const QByteArray body("\x83\x01\x02\x03", 4);
        const QByteArray frame = detail::encodeFrame(FrameType::Call, 0x0102030405060708ull, body);
        QCOMPARE(frame.size(), detail::frameHeaderSize + body.size());
        // u32 length (type + id + body) little-endian, u8 type, u64 id little-endian, body.
        QCOMPARE(frame.left(4), QByteArray("\x0d\x00\x00\x00", 4));
        QCOMPARE(quint8(frame.at(4)), quint8(FrameType::Call));
        QCOMPARE(frame.mid(5, 8), QByteArray("\x08\x07\x06\x05\x04\x03\x02\x01", 8));
        QCOMPARE(frame.mid(13), body);
        QCOMPARE(detail::encodeFrame(FrameType::Shutdown, 0).size(), detail::frameHeaderSize);
    }

    // A call's options follow its arguments as a third element, only when it has any; the
    // bytes are those of the example in docs/protocol.md, section 5.
    void callOptionsFollowTheArguments()
    {
        detail::CallOptions limit;
        limit.timeoutMs = 2000;
        const QCborArray arguments{2, 3};
        const QByteArray frame = detail::encodeCallFrame(FrameType::Call, 3, QStringLiteral("add"),
                                                         arguments, limit);
        QCOMPARE(frame.toHex(' '),
                 QByteArray("1d 00 00 00 02 03 00 00 00 00 00 00 00 "
                            "83 63 61 64 64 82 02 03 a1 67 74 69 6d 65 6f 75 74 19 07 d0"));
        QString name, error;
        QCborArray parsed;
        detail::CallOptions options;
        QVERIFY2(detail::parseCall(frame.mid(detail::frameHeaderSize), &name, &parsed, &options,
                                   &error),
                 qPrintable(error));
        QCOMPARE(name, QStringLiteral("add"));
        QCOMPARE(parsed, arguments);
        QCOMPARE(options.timeoutMs, qint64(2000));

        // Without a limit the body is the two elements it always was.
        const QByteArray plain =
            detail::encodeCallFrame(FrameType::Call, 3, QStringLiteral("add"), arguments);
        QCOMPARE(quint8(plain.at(detail::frameHeaderSize)), quint8(0x82));
        QVERIFY(detail::parseCall(plain.mid(detail::frameHeaderSize), &name, &parsed, &options,
                                  &error));
        QCOMPARE(options.timeoutMs, qint64(0));

        // Qt's reader (a name beyond ASCII leaves the fast one) reads the same; unknown keys
        // and a limit that is not a positive integer are ignored.
        const QString accented = QStringLiteral("d\u00e9j\u00e0");
        const QCborMap extra{{QStringLiteral("timeout"), 15}, {QStringLiteral("later"), true}};
        QVERIFY(detail::parseCall(QCborArray{accented, arguments, extra}.toCborValue().toCbor(),
                                  &name, &parsed, &options, &error));
        QCOMPARE(name, accented);
        QCOMPARE(options.timeoutMs, qint64(15));
        for (const QCborValue &odd : {QCborValue(-5), QCborValue(QStringLiteral("soon"))}) {
            const QCborMap map{{QStringLiteral("timeout"), odd}};
            const QByteArray body =
                QCborArray{QStringLiteral("add"), arguments, map}.toCborValue().toCbor();
            QVERIFY(detail::parseCall(body, &name, &parsed, &options, &error));
            QCOMPARE(options.timeoutMs, qint64(0));
        }

        // Anything else in the third place, or a fourth element, is a malformed call.
        for (const QCborArray &bad : {QCborArray{QStringLiteral("add"), arguments, 2000},
                                      QCborArray{QStringLiteral("add"), arguments, extra, extra}}) {
            QVERIFY(!detail::parseCall(bad.toCborValue().toCbor(), &name, &parsed, &options,
                                       &error));
            QVERIFY2(error.contains(QLatin1String("{options}")), qPrintable(error));
        }
    }

    void decoderReassemblesFramesSplitAnywhere()
    {
        QByteArray stream;
        QList<QByteArray> bodies;
        for (int i = 0; i < 50; ++i) {
            bodies << QCborValue(QByteArray(i * 37, char('a' + i % 26))).toCbor();
            detail::appendFrame(stream, i % 2 ? FrameType::Result : FrameType::Progress, quint64(i), bodies.last());
        }
        detail::appendFrame(stream, FrameType::Shutdown, 99);
        // Byte by byte, in random pieces, and all at once: always the same frames.
        for (int mode = 0; mode < 3; ++mode) {
            FrameDecoder decoder(1 << 20);
            QList<Frame> frames;
            qsizetype pos = 0;
            while (pos < stream.size()) {
                qsizetype piece = stream.size();
                if (mode == 0)
                    piece = 1;
                else if (mode == 1)
                    piece = 1 + QRandomGenerator::global()->bounded(200);
                piece = qMin(piece, stream.size() - pos);
                decoder.append(stream.constData() + pos, piece);
                pos += piece;
                Frame f;
                FrameDecoder::Status status;
                while ((status = decoder.next(&f)) == FrameDecoder::Status::Frame)
                    frames << f;
                QCOMPARE(status, FrameDecoder::Status::NeedMore);
            }
            QCOMPARE(frames.size(), 51);
            for (int i = 0; i < 50; ++i) {
                QCOMPARE(frames[i].id, quint64(i));
                QCOMPARE(frames[i].type, i % 2 ? FrameType::Result : FrameType::Progress);
                QCOMPARE(frames[i].body, bodies[i]);
            }
            QCOMPARE(frames[50].type, FrameType::Shutdown);
            QVERIFY(frames[50].body.isEmpty());
            QCOMPARE(decoder.bufferedBytes(), 0);
        }
    }

    void aLargeArrayFromAPipeIsReadOnceAndNeverCopied()
    {
        // A worker without shared memory (behind ssh, or with PoolOptions::sharedMemory off)
        // sends a large result as a stream frame: a small frame before it, then its
        // Attachments frame with the bytes inline, then the Result. Read from a real pipe the
        // way both ends read it, the bytes go from the kernel into the array the caller gets:
        // the frame is not copied out of the decoder, and the array is not copied out of the
        // frame.
        const qsizetype size = 16 * 1024 * 1024 + 3;
        QByteArray payload(size, Qt::Uninitialized);
        for (qsizetype i = 0; i < size; ++i)
            payload[i] = char(i * 7 + i / 4093);
        const detail::EncodedAttachments a = detail::encodeAttachments(8, {payload}, nullptr);
        QCOMPARE(a.inlineParts.size(), 1);
        const QByteArray before = detail::encodeFrame(FrameType::Progress, 7, QCborValue(1).toCbor());
        const QByteArray after = detail::encodeFrame(FrameType::Result, 8, QCborValue(2).toCbor());
        int ends[2];
        QCOMPARE(::pipe(ends), 0);
        std::thread writer([&] {
            for (const QByteArray &part : {before, a.head, a.inlineParts.first(), after})
                writeAll(ends[1], part);
            ::close(ends[1]);
        });
        FrameDecoder decoder(64 * 1024 * 1024);
        QList<Frame> frames;
        for (;;) {
            Frame f;
            FrameDecoder::Status status;
            while ((status = decoder.next(&f)) == FrameDecoder::Status::Frame)
                frames << f;
            QCOMPARE(status, FrameDecoder::Status::NeedMore);
            if (decoder.readFrom(ends[0], 1024 * 1024) <= 0)
                break;
        }
        writer.join();
        ::close(ends[0]);
        QCOMPARE(decoder.bufferedBytes(), 0);
        QCOMPARE(frames.size(), 3);
        QCOMPARE(frames[0].type, FrameType::Progress);
        QCOMPARE(frames[2].type, FrameType::Result);
        QCOMPARE(frames[2].body, QCborValue(2).toCbor());
        QCOMPARE(frames[1].type, FrameType::Attachments);
        // The frame is the decoder's own array, handed over: one made for it on a huge-page
        // boundary (16 bytes of Qt's header, then the frame's 13-byte header), where a copy
        // would be a plain allocation.
        const char *body = frames[1].body.constData();
        const qsizetype bodySize = frames[1].body.size();
        QCOMPARE(quintptr(body - detail::frameHeaderSize - 16) % (2 * 1024 * 1024), quintptr(0));
        QList<QByteArray> out;
        QString error;
        QVERIFY2(detail::decodeAttachments(std::move(frames[1].body), nullptr, 64 * 1024 * 1024,
                                           detail::Placement::Copy, &out, &error),
                 qPrintable(error));
        QCOMPARE(out.size(), 1);
        QVERIFY(out.first() == payload);
        // The array is the frame's bytes, cut out of it in place.
        QVERIFY(out.first().constData() > body && out.first().constData() + size == body + bodySize);
    }

    void oversizedFrameIsRejectedBeforeItsBodyArrives()
    {
        FrameDecoder decoder(1024);
        QByteArray header(4, '\0');
        qToLittleEndian<quint32>(1025, header.data());
        decoder.append(header); // only the length: the decoder must not wait for 1 KiB more
        Frame f;
        QCOMPARE(decoder.next(&f), FrameDecoder::Status::Error);
        QVERIFY2(decoder.errorString().contains(QLatin1String("exceeds the limit of 1024")),
                 qPrintable(decoder.errorString()));
        // The limit itself is allowed.
        FrameDecoder exact(detail::frameHeaderSize - 4 + 100);
        exact.append(detail::encodeFrame(FrameType::Result, 1, QByteArray(100, 'x')));
        QCOMPARE(exact.next(&f), FrameDecoder::Status::Frame);
        QCOMPARE(f.body.size(), 100);
    }

    void garbageIsAnErrorAndStaysOne()
    {
        Frame f;
        {
            FrameDecoder decoder(1 << 20);
            decoder.append(QByteArray("Segmentation fault (core dumped)\n"));
            QCOMPARE(decoder.next(&f), FrameDecoder::Status::Error);
            QVERIFY(!decoder.errorString().isEmpty());
            // Even valid bytes after it do not resynchronise a stream that lost its framing.
            decoder.append(detail::encodeFrame(FrameType::Hello, 0, helloBody()));
            QCOMPARE(decoder.next(&f), FrameDecoder::Status::Error);
        }
        {
            FrameDecoder decoder(1 << 20);
            decoder.append(QByteArray("\x05\x00\x00\x00\x03", 5)); // length below the header
            QCOMPARE(decoder.next(&f), FrameDecoder::Status::Error);
            QVERIFY2(decoder.errorString().contains(QLatin1String("shorter")), qPrintable(decoder.errorString()));
        }
        {
            FrameDecoder decoder(1 << 20);
            decoder.append(QByteArray("\x09\x00\x00\x00\x2a", 5)); // unknown type 42, id not yet here
            QCOMPARE(decoder.next(&f), FrameDecoder::Status::Error);
            QVERIFY2(decoder.errorString().contains(QLatin1String("unknown frame type 42")),
                     qPrintable(decoder.errorString()));
        }
    }

    void truncatedFrameIsVisibleAtEndOfStream()
    {
        const QByteArray frame = detail::encodeFrame(FrameType::Result, 7, QCborValue(12345).toCbor());
        FrameDecoder decoder(1 << 20);
        decoder.append(frame.left(frame.size() - 1));
        Frame f;
        QCOMPARE(decoder.next(&f), FrameDecoder::Status::NeedMore);
        QCOMPARE(decoder.bufferedBytes(), frame.size() - 1); // what a pool reports at EOF
        decoder.append(frame.right(1));
        QCOMPARE(decoder.next(&f), FrameDecoder::Status::Frame);
        QCOMPARE(f.id, quint64(7));
    }

    void bodiesMustHoldExactlyOneCborItem()
    {
        QCborValue value;
        QString error;
        QVERIFY(detail::parseBody(QCborArray{QStringLiteral("add"), QCborArray{1, 2}}.toCborValue().toCbor(),
                                  &value, &error));
        QCOMPARE(value.toArray().at(0).toString(), QStringLiteral("add"));
        QVERIFY(!detail::parseBody(QByteArray("\x82\x01", 2), &value, &error)); // array cut short
        QVERIFY2(error.contains(QLatin1String("malformed CBOR")), qPrintable(error));
        QVERIFY(!detail::parseBody(QCborValue(1).toCbor() + QCborValue(2).toCbor(), &value, &error));
        QVERIFY2(error.contains(QLatin1String("after its CBOR item")), qPrintable(error));
        QVERIFY(!detail::parseBody(QByteArray(), &value, &error));
    }

    void printingTasksNeverCorruptTheChannel()
    {
        ProcessPoolManager *m = getOrCreateProcessManager(QStringLiteral("protocol-print"));
        m->start(2);
        // workerLog is emitted on the engine thread: recorded under a mutex, not by a spy.
        faultsupport::SignalRecorder<QString> log(
            m, &ProcessPoolManager::workerLog, [](qint64, const QString &line) { return line; });
        QList<QFuture<int>> futures;
        for (int i = 0; i < 40; ++i)
            futures << m->submitTask(rawFrameToStdout, i);
        for (int i = 0; i < futures.size(); ++i)
            QCOMPARE(futures[i].result(), 2 * i); // never 666, the forged frame's value
        m->stop();
        const QStringList lines = log.values();
        QCOMPARE(lines.count(QStringLiteral("stderr line")), 40);
        QCOMPARE(lines.count(QStringLiteral("buffered stdout without a newline")), 40);
        QVERIFY(lines.filter(QStringLiteral("binary on stderr")).size() == 40);
        const QString forged = QString::fromUtf8(detail::encodeFrame(FrameType::Result, 1, QCborValue(666).toCbor()));
        QCOMPARE(lines.count(forged), 40); // arrived as text
    }

    void endlessLinesAreCutNotHoarded()
    {
        ProcessPoolManager *m = getOrCreateProcessManager(QStringLiteral("protocol-huge"));
        m->start(1);
        faultsupport::SignalRecorder<QString> log(
            m, &ProcessPoolManager::workerLog, [](qint64, const QString &line) { return line; });
        const int bytes = 1 << 20;
        QCOMPARE(m->submitTask(hugeLine, bytes).result(), bytes);
        m->stop(); // the worker exits: the rest of its output is flushed as a last line
        qsizetype total = 0;
        int pieces = 0;
        for (const QString &line : log.values()) {
            if (line.startsWith(QLatin1Char('y'))) {
                QVERIFY(line.size() <= 64 * 1024);
                total += line.size();
                ++pieces;
            }
        }
        QCOMPARE(total, qsizetype(bytes));
        QVERIFY(pieces >= 16);
    }

    void largeResultsCrossInPieces()
    {
        ProcessPoolManager *m = getOrCreateProcessManager(QStringLiteral("protocol-large"));
        m->start(2);
        for (int size : {0, 1, 65535, 65536, 65537, 5 << 20}) {
            const QByteArray expected = [size] {
                QByteArray out(size, '\0');
                for (int i = 0; i < size; ++i)
                    out[i] = char(i * 31 + 7);
                return out;
            }();
            QCOMPARE(m->submitTask(bigResult, size).result(), expected);
        }
        m->stop();
    }

    void progressWithHugeFloatsIsHarmless()
    {
        ProcessPoolManager *m = getOrCreateProcessManager(QStringLiteral("protocol-progress"));
        m->start(1);
        QFuture<int> f = m->submitTask(hugeProgress);
        QCOMPARE(f.result(), 7);
        QCOMPARE(f.progressValue(), 0); // not 1e10 cut down to 32 bits
        QCOMPARE(f.progressMaximum(), 0);
        QCOMPARE(m->getPool()->stats().workersStarted, quint64(1));
        m->stop();
    }

    void pythonWorkerFromTheDocumentation()
    {
        const QString python = QStandardPaths::findExecutable(QStringLiteral("python3"));
        if (python.isEmpty())
            QFAIL("python3 not found (scripts/install-deps.sh installs it)");
        QTemporaryDir dir;
        const QString script = pythonWorkerFromTheDocument(dir);
        QVERIFY2(!script.isEmpty(), "no Python worker in docs/protocol.md section 11");
        PoolOptions options;
        options.maxWorkers = 2;
        options.startContext.program = python;
        options.startContext.arguments = {script};
        ProcessPoolManager *m = getOrCreateProcessManager(QStringLiteral("protocol-python"));
        m->start(options);
        QCOMPARE(m->submitTask(tasks::add, 2, 3).result(), 5);
        // A call with a time limit carries it as a third element, which the worker accepts.
        SubmitOptions limited;
        limited.timeout = std::chrono::minutes(5);
        QCOMPARE(m->submitTask(tasks::add, 4, 5, limited).result(), 9);
        QList<int> items;
        for (int i = -50; i < 50; ++i)
            items.append(i);
        MapOptions chunks;
        chunks.chunkSize = 7;
        chunks.timeout = std::chrono::minutes(5);
        const QList<int> squares = m->map(square, items, chunks).results();
        QCOMPARE(squares.size(), items.size());
        for (qsizetype i = 0; i < items.size(); ++i)
            QCOMPARE(squares.at(i), items.at(i) * items.at(i));
        try {
            m->submitTask(QStringLiteral("nope"), {}).waitForFinished();
            QFAIL("an unknown task succeeded");
        } catch (const UnknownTaskName &) {
        }
        // The worker announced no shared memory: a large argument would go inline. (Its tasks
        // take integers, so none is sent; the handshake and the frames above are the point.)
        QCOMPARE(m->getPool()->stats().workersCrashed, quint64(0));
        m->stop();
    }

    void resultOverTheFrameLimitFailsOnlyThatTask()
    {
        PoolOptions options;
        options.maxWorkers = 1;
        options.maxFrameSize = 64 * 1024;
        ProcessPoolManager *m = getOrCreateProcessManager(QStringLiteral("protocol-limit"));
        m->start(options);
        QFuture<QByteArray> tooBig = m->submitTask(bigResult, 100 * 1024);
        try {
            tooBig.waitForFinished();
            QFAIL("a result over maxFrameSize was delivered");
        } catch (const CodecError &e) {
            QVERIFY2(e.message().contains(QLatin1String("maxFrameSize")), qPrintable(e.message()));
        }
        QCOMPARE(m->submitTask(bigResult, 1000).result().size(), 1000);
        QCOMPARE(m->getPool()->stats().workersStarted, quint64(1)); // the worker lived on
        m->stop();
    }
};

PROCPOOL_TEST_MAIN(TestProtocol)
#include "tst_protocol.moc"
