#include "workermessages_p.h"

#include "frame_p.h"

#include <QtCore/QCborArray>
#include <QtCore/QCborMap>

#include <algorithm>
#include <limits>

namespace procpool::detail {

bool parseHello(const QByteArray &body, HelloMessage *hello, QString *error)
{
    QCborValue value;
    if (!parseBody(body, &value, error))
        return false;
    if (!value.isMap()) {
        *error = QStringLiteral("not a map");
        return false;
    }
    const QCborMap map = value.toMap();
    hello->protocol = integerOr(map.value(QStringLiteral("protocol")), -1);
    hello->sharedMemory = map.value(QStringLiteral("shm")).toBool();
    hello->cancel = map.value(QStringLiteral("cancel")).toBool();
    // Shown and quoted, never acted on: printable characters only, and not many.
    auto printable = [](QString text, qsizetype max) {
        text.truncate(max);
        text.removeIf([](QChar c) { return !c.isPrint(); });
        return text;
    };
    hello->host = printable(map.value(QStringLiteral("host")).toString(), 255);
    hello->pid = std::max<qint64>(integerOr(map.value(QStringLiteral("pid")), 0), 0);
    hello->catalogue = printable(map.value(QStringLiteral("catalogue")).toString(), 64);
    return true;
}

bool parseProgress(const QByteArray &body, ProgressMessage *progress, QString *error)
{
    QCborValue value;
    if (!parseBody(body, &value, error))
        return false;
    const QCborArray fields = value.toArray();
    auto toInt = [](const QCborValue &v) {
        return int(std::clamp<qint64>(integerOr(v, 0), std::numeric_limits<int>::min(),
                                      std::numeric_limits<int>::max()));
    };
    progress->value = toInt(fields.at(0));
    progress->maximum = toInt(fields.at(1));
    progress->text = fields.at(2).toString();
    return true;
}

bool parseError(const QByteArray &body, ErrorMessage *message, QString *error)
{
    QCborValue value;
    if (!parseBody(body, &value, error))
        return false;
    const QCborMap map = value.toMap();
    message->kind = map.value(QStringLiteral("kind")).toString();
    message->type = map.value(QStringLiteral("type")).toString();
    message->message = map.value(QStringLiteral("message")).toString();
    return true;
}

QString ErrorMessage::recordText() const
{
    return kind == QLatin1String("exception") ? QStringLiteral("%1: %2").arg(type, message)
                                              : message;
}

std::unique_ptr<TaskFailure> ErrorMessage::failure(const QString &taskName) const
{
    // A worker may say nothing, or only NULs, which end what() before a word: the failure
    // still says what happened.
    QString text = message;
    text.remove(QChar(0));
    const QString said = !text.isEmpty()
                             ? text
                             : QStringLiteral("task '%1' failed in its worker, which gave no "
                                              "message (error kind '%2')")
                                   .arg(taskName, kind);
    if (kind == QLatin1String("unknown-task"))
        return std::make_unique<UnknownTaskName>(taskName, QStringList());
    if (kind == QLatin1String("codec"))
        return std::make_unique<CodecError>(said);
    if (kind == QLatin1String("protocol"))
        return std::make_unique<ProtocolError>(said);
    return std::make_unique<TaskException>(taskName, type, message);
}

} // namespace procpool::detail
