#include "program.h"

#include <QtCore/QCborValue>
#include <QtCore/QFileInfo>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QProcess>

namespace procpool::headless {

namespace {

//! How long a program may take to print its catalogue: it only has to reach the first line of
//! main(). One that runs as an application instead (no workerMain()) is stopped after it.
constexpr int describeTimeoutMs = 30000;

} // namespace

std::optional<QCborArray> programCatalogue(const QString &path, QString *error)
{
    const QFileInfo info(path);
    if (!info.isFile() || !info.isExecutable()) {
        *error = QStringLiteral("--program %1: %2").arg(path, info.exists() ? QStringLiteral("not an executable file")
                                                                            : QStringLiteral("no such file"));
        return std::nullopt;
    }
    QProcess program;
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("PROCPOOL_CATALOGUE"), QStringLiteral("1"));
    environment.insert(QStringLiteral("PROCPOOL_INSPECT"), QStringLiteral("off"));
    environment.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    program.setProcessEnvironment(environment);
    program.setProcessChannelMode(QProcess::SeparateChannels);
    program.start(info.absoluteFilePath(), {});
    program.closeWriteChannel();
    const bool finished = program.waitForStarted(describeTimeoutMs) && program.waitForFinished(describeTimeoutMs);
    if (!finished) {
        program.kill();
        program.waitForFinished();
    }
    const QString hint = QStringLiteral("is it a procpool program whose main() calls "
                                        "procpool::workerMain() first?");
    if (!finished || program.exitStatus() != QProcess::NormalExit || program.exitCode() != 0) {
        *error = QStringLiteral("--program %1 did not list its tasks (%2); %3")
                     .arg(path,
                          !finished ? QStringLiteral("no answer within %1 s").arg(describeTimeoutMs / 1000)
                          : program.exitStatus() != QProcess::NormalExit ? QStringLiteral("it crashed")
                                                                          : QStringLiteral("exit status %1").arg(program.exitCode()),
                          hint);
        return std::nullopt;
    }
    QJsonParseError parse;
    const QJsonDocument document = QJsonDocument::fromJson(program.readAllStandardOutput().trimmed(), &parse);
    if (parse.error != QJsonParseError::NoError || !document.isArray()) {
        *error = QStringLiteral("--program %1 printed something other than a task catalogue; %2").arg(path, hint);
        return std::nullopt;
    }
    return QCborValue::fromJsonValue(document.array()).toArray();
}

} // namespace procpool::headless
