#include "runner.h"

#include "taskcall.h"

#include <procpool/errors.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>

#include <csignal>
#include <cstring>

namespace procpool::headless {
namespace {

//! How often the progress bar and the --watch table are redrawn.
constexpr int redrawIntervalMs = 250;
//! Lines of recent results the --watch table keeps.
constexpr size_t recentLines = 200;

QString stateLabel(Outcome::State state)
{
    switch (state) {
    case Outcome::State::Ok: return QStringLiteral("ok");
    case Outcome::State::Failed: return QStringLiteral("failed");
    case Outcome::State::Cancelled: return QStringLiteral("cancelled");
    case Outcome::State::Rejected: return QStringLiteral("rejected");
    }
    return {};
}

//! A result as one line of text: the line breaks a task put in it are written out too.
QString displayValue(const QVariant &value)
{
    switch (value.metaType().id()) {
    case QMetaType::QByteArray: return QStringLiteral("<%1 bytes>").arg(value.toByteArray().size());
    case QMetaType::QString:
        return u'"' + escapeControls(value.toString(), Newlines::Escape) + u'"';
    case QMetaType::QVariantList:
    case QMetaType::QStringList:
    case QMetaType::QVariantMap:
        return QString::fromUtf8(QJsonDocument::fromVariant(value).toJson(QJsonDocument::Compact));
    default:
        return value.isValid() ? escapeControls(value.toString(), Newlines::Escape)
                               : QStringLiteral("(nothing)");
    }
}

//! Byte arrays become text when they are UTF-8 and base64 otherwise (said by \a encoding).
QJsonValue jsonValue(const QVariant &value, QString *encoding = nullptr)
{
    if (value.metaType().id() == QMetaType::QByteArray) {
        const QByteArray bytes = value.toByteArray();
        const QString text = QString::fromUtf8(bytes);
        if (text.toUtf8() == bytes)
            return text;
        if (encoding)
            *encoding = QStringLiteral("base64");
        return QString::fromLatin1(bytes.toBase64());
    }
    return QJsonValue::fromVariant(value);
}

QString indentContinuation(const QString &text)
{
    QString out = text;
    out.replace(u'\n', QStringLiteral("\n    "));
    return out;
}

} // namespace

Runner::Runner(const Config &config, Terminal &terminal, QObject *parent)
    : QObject(parent)
    , m_config(config)
    , m_terminal(terminal)
{
    m_redraw.setInterval(redrawIntervalMs);
    connect(&m_redraw, &QTimer::timeout, this, [this] {
        if (m_watch)
            drawWatch();
        else
            updateProgress();
    });
}

Runner::~Runner() = default;

bool Runner::start()
{
    m_clock.start();
    if (!m_config.jobsPath.isEmpty()) {
        m_reader = std::make_unique<LineReader>();
        QString error;
        if (!m_reader->open(m_config.jobsPath, &error)) {
            m_terminal.diagnostic(QStringLiteral("procpool: %1").arg(error));
            return false;
        }
        connect(m_reader.get(), &LineReader::readyRead, this, &Runner::pump);
        m_plannedTotal = -1;
    }
    for (const PoolSpec &spec : std::as_const(m_config.pools)) {
        Pool pool;
        pool.spec = spec;
        try {
            pool.manager = getOrCreateProcessManager(spec.namespaceId);
            PoolOptions options = spec.options;
            if (options.maxQueued == 0) // the window of tasks waiting in this process
                options.maxQueued = std::max(8, 2 * options.maxWorkers);
            pool.manager->start(options);
            pool.pool = pool.manager->getPool();
        } catch (const std::exception &e) {
            m_terminal.diagnostic(QStringLiteral("procpool: cannot start the pool of namespace "
                                                 "'%1': %2")
                                      .arg(spec.namespaceId, QString::fromUtf8(e.what())));
            for (Pool &started : m_pools)
                started.manager->terminate();
            return false;
        }
        const QString ns = spec.namespaceId;
        connect(pool.manager, &ProcessPoolManager::workerLog, this,
                [this, ns](qint64 pid, const QString &line) {
                    const QString text = QStringLiteral("[%1 worker %2] %3").arg(ns).arg(pid).arg(line);
                    if (m_watch)
                        addRecent(text);
                    else
                        m_terminal.diagnostic(text);
                });
        for (const SubmitSpec &submit : spec.submits)
            if (m_plannedTotal >= 0)
                m_plannedTotal += submit.count;
        m_pools.append(pool);
    }
    m_maxOpen = std::max<qint64>(16, qint64(m_config.totalWorkers()) * 4);
    m_watch = m_config.watch && m_terminal.stdoutIsTerminal();
    if (m_watch || m_terminal.stderrIsTerminal())
        m_redraw.start();
    QMetaObject::invokeMethod(this, &Runner::pump, Qt::QueuedConnection);
    return true;
}

int Runner::poolIndex(const QString &namespaceId) const
{
    if (namespaceId.isEmpty())
        return 0;
    for (qsizetype i = 0; i < m_pools.size(); ++i)
        if (m_pools.at(i).spec.namespaceId == namespaceId)
            return int(i);
    return -1;
}

bool Runner::nextFromCommandLine(Job *job)
{
    while (m_submitPool < m_pools.size()) {
        const QList<SubmitSpec> &submits = m_pools.at(m_submitPool).spec.submits;
        if (m_submitIndex >= submits.size()) {
            ++m_submitPool;
            m_submitIndex = 0;
            continue;
        }
        const SubmitSpec &spec = submits.at(m_submitIndex);
        if (m_submitRepeat >= spec.count) {
            ++m_submitIndex;
            m_submitRepeat = 0;
            continue;
        }
        ++m_submitRepeat;
        *job = Job();
        job->task = spec.task;
        job->arguments = spec.arguments;
        job->taskType = spec.taskType;
        job->priority = spec.priority;
        job->attempts = spec.attempts;
        job->namespaceId = m_pools.at(m_submitPool).spec.namespaceId;
        return true;
    }
    return false;
}

void Runner::pump()
{
    QStringList namespaces;
    for (const Pool &p : std::as_const(m_pools))
        namespaces.append(p.spec.namespaceId);
    while (m_takingWork && !m_finishing && qint64(m_open.size()) < m_maxOpen) {
        Job job;
        if (m_held) {
            // Refused by a full queue before: first in line once a task has finished.
            job = *std::exchange(m_held, std::nullopt);
            if (!submit(job))
                return;
            continue;
        }
        if (nextFromCommandLine(&job)) {
            if (!submit(job))
                return; // the next finished task pumps again
            continue;
        }
        if (!m_reader) {
            stopTakingWork();
            break;
        }
        QByteArray line;
        qint64 number = 0;
        const LineReader::Status status = m_reader->next(&line, &number);
        if (status == LineReader::Status::Pending)
            return; // readyRead() calls again
        if (status == LineReader::Status::End) {
            stopTakingWork();
        } else if (status == LineReader::Status::Error) {
            m_config.onBadLine = BadLinePolicy::Stop; // nothing after this can be read
            badLine(number, m_reader->errorString());
        } else if (status == LineReader::Status::TooLong) {
            badLine(number, QStringLiteral("longer than %1 MiB, the most one job line may hold; "
                                           "write one job per line, each within that size")
                                .arg(LineReader::maxLineLength / (1024 * 1024)));
        } else {
            QString error;
            if (const auto parsed = parseJob(line, number, namespaces, &error)) {
                if (!submit(*parsed))
                    return;
            } else if (!error.isEmpty()) {
                badLine(number, error);
            }
        }
    }
    maybeFinish();
}

bool Runner::submit(const Job &job)
{
    Pool &target = m_pools[poolIndex(job.namespaceId)];
    const SubmitOptions options = submitOptions(job);
    ProcessPoolManager::TrackedTask tracked;
    std::optional<std::pair<QString, QString>> rejection; // message, error type
    try {
        tracked = target.manager->submitTracked(job.task, job.arguments, options);
    } catch (const QueueFull &) {
        m_held = job; // resubmitted when a task has finished
        return false;
    } catch (const std::exception &e) {
        // Task-type protection (UnknownTaskError), or arguments the engine refused.
        rejection.emplace(QString::fromUtf8(e.what()), errorType(e));
    }
    Submission s;
    s.seq = m_nextSeq++;
    s.pool = poolIndex(job.namespaceId);
    s.task = job.task;
    s.arguments = job.arguments;
    s.taskType = job.taskType;
    s.line = job.line;
    s.outcome.priority = job.priority;
    s.outcome.maxAttempts = job.attempts;
    ++target.submitted;
    const qint64 seq = s.seq;
    if (rejection) {
        s.outcome.state = Outcome::State::Rejected;
        s.outcome.error = rejection->first;
        s.outcome.errorType = rejection->second;
        complete(m_open.emplace(seq, std::move(s)).first->second);
        return true;
    }
    s.id = tracked.id;
    s.watcher = new QFutureWatcher<QVariant>(this);
    connect(s.watcher, &QFutureWatcherBase::finished, this, [this, seq] { onTaskFinished(seq); });
    QFutureWatcher<QVariant> *watcher = s.watcher;
    m_open.emplace(seq, std::move(s));
    watcher->setFuture(tracked.future);
    return true;
}

void Runner::onTaskFinished(qint64 seq)
{
    const auto it = m_open.find(seq);
    if (m_finishing || it == m_open.end())
        return;
    Submission &s = it->second;
    QFuture<QVariant> future = s.watcher->future();
    s.watcher->deleteLater();
    s.watcher = nullptr;
    Outcome &o = s.outcome;
    try {
        future.waitForFinished(); // finished already: rethrows the task's failure, if any
        if (future.isCanceled())
            o.state = Outcome::State::Cancelled;
        else if (future.resultCount() > 0)
            o.result = future.result();
    } catch (const std::exception &e) {
        takeFailure(o, e);
    }
    if (const auto record = m_pools.at(s.pool).pool->taskRecord(s.id))
        takeRecord(o, *record);
    complete(s);
}

void Runner::complete(Submission &s)
{
    s.done = true;
    Pool &pool = m_pools[s.pool];
    switch (s.outcome.state) {
    case Outcome::State::Ok: ++m_ok, ++pool.ok; break;
    case Outcome::State::Failed: ++m_failed, ++pool.failed; break;
    case Outcome::State::Cancelled: ++m_cancelled, ++pool.cancelled; break;
    case Outcome::State::Rejected: ++m_rejected, ++pool.rejected; break;
    }
    if (m_config.order == Order::Completed) {
        const qint64 seq = s.seq;
        report(s);
        m_open.erase(seq);
    } else {
        while (!m_open.empty() && m_open.begin()->second.done && !m_finishing) {
            report(m_open.begin()->second);
            m_open.erase(m_open.begin());
        }
    }
    if (!m_finishing)
        QMetaObject::invokeMethod(this, &Runner::pump, Qt::QueuedConnection);
}

void Runner::report(const Submission &s)
{
    const Outcome &o = s.outcome;
    const Pool &pool = m_pools.at(s.pool);
    const QString ns = pool.spec.namespaceId;

    QString human = QStringLiteral("#%1 %2 [%3] %4")
                        .arg(s.seq)
                        .arg(o.state == Outcome::State::Ok ? QStringLiteral("ok")
                                                           : stateLabel(o.state).toUpper())
                        .arg(ns, callText(s.task, s.arguments));
    if (o.state == Outcome::State::Ok)
        human += QStringLiteral(" = %1").arg(displayValue(o.result));
    QStringList details;
    if (s.line > 0)
        details.append(QStringLiteral("line %1").arg(s.line));
    if (o.workerPid != 0)
        details.append(QStringLiteral("worker %1").arg(o.workerPid));
    if (o.state == Outcome::State::Ok || o.state == Outcome::State::Failed)
        details.append(QStringLiteral("%1 ms").arg(o.durationMs));
    details += attemptDetails(o);
    if (!details.isEmpty())
        human += QStringLiteral(" (%1)").arg(details.join(QStringLiteral(", ")));
    if (!o.error.isEmpty())
        human += QStringLiteral(": ") + indentContinuation(o.error);

    QJsonArray args;
    for (const QVariant &a : s.arguments)
        args.append(jsonValue(a));
    QJsonObject json{
        {QStringLiteral("event"), QStringLiteral("result")},
        {QStringLiteral("seq"), s.seq},
        {QStringLiteral("id"), s.id != 0 ? QJsonValue(qint64(s.id)) : QJsonValue()},
        {QStringLiteral("task"), s.task},
        {QStringLiteral("args"), args},
        {QStringLiteral("namespace"), ns},
        {QStringLiteral("task_type"), s.taskType.isEmpty() ? QJsonValue() : QJsonValue(s.taskType)},
        {QStringLiteral("state"), stateLabel(o.state)},
        {QStringLiteral("worker_pid"), o.workerPid != 0 ? QJsonValue(o.workerPid) : QJsonValue()},
        {QStringLiteral("duration_ms"), o.durationMs},
    };
    if (s.line > 0)
        json.insert(QStringLiteral("line"), s.line);
    if (o.state == Outcome::State::Ok) {
        QString encoding;
        json.insert(QStringLiteral("result"), jsonValue(o.result, &encoding));
        if (!encoding.isEmpty())
            json.insert(QStringLiteral("result_encoding"), encoding);
    } else if (!o.error.isEmpty()) {
        json.insert(QStringLiteral("error"), o.error);
        json.insert(QStringLiteral("error_type"), o.errorType);
    }
    addAttemptFields(json, o);
    emitLine(human, json);
}

void Runner::emitLine(const QString &human, const QJsonObject &json)
{
    if (m_watch) {
        addRecent(human);
        return;
    }
    const QString line = m_config.json ? jsonLine(json) : human;
    if (!m_terminal.writeLine(line) && !m_finishing)
        outputClosed();
}

void Runner::addRecent(const QString &line)
{
    m_recent.push_back(line);
    while (m_recent.size() > recentLines)
        m_recent.pop_front();
}

void Runner::badLine(qint64 line, const QString &error)
{
    ++m_badLines;
    m_terminal.diagnostic(QStringLiteral("procpool: jobs line %1: %2").arg(line).arg(error));
    if (m_config.json)
        emitLine({}, QJsonObject{{QStringLiteral("event"), QStringLiteral("bad_line")},
                                 {QStringLiteral("line"), line},
                                 {QStringLiteral("error"), error}});
    if (m_config.onBadLine == BadLinePolicy::Stop) {
        m_badLineStop = true;
        stopTakingWork();
        m_terminal.diagnostic(QStringLiteral("procpool: stopped reading the jobs at line %1; the "
                                             "jobs already submitted finish (--on-bad-line=skip "
                                             "reads on past bad lines)")
                                  .arg(line));
    }
}

void Runner::stopTakingWork()
{
    m_takingWork = false;
    if (m_reader)
        m_reader->close();
    m_plannedTotal = m_nextSeq - 1;
}

void Runner::maybeFinish()
{
    if (!m_takingWork && m_open.empty() && !m_finishing)
        finish();
}

void Runner::interrupt(int signal)
{
    const QString name = QString::fromLatin1(sigabbrev_np(signal));
    if (m_finishing)
        return;
    if (!m_interrupted) {
        m_interrupted = true;
        stopTakingWork();
        int cancelled = 0;
        int running = 0;
        for (auto &[seq, s] : m_open) {
            if (s.done || !s.watcher)
                continue;
            const auto record = m_pools.at(s.pool).pool->taskRecord(s.id);
            if (record && record->state == TaskState::Queued) {
                s.watcher->future().cancel();
                ++cancelled;
            } else {
                ++running;
            }
        }
        m_terminal.diagnostic(QStringLiteral("procpool: SIG%1: taking no more work, cancelled %2 "
                                             "queued task(s), waiting for %3 running; press "
                                             "Ctrl-C again to kill the workers")
                                  .arg(name)
                                  .arg(cancelled)
                                  .arg(running));
        maybeFinish();
        return;
    }
    m_killed = true;
    m_finishing = true;
    m_redraw.stop();
    m_terminal.setProgress({});
    m_terminal.leaveScreen();
    qsizetype workers = 0;
    for (Pool &pool : m_pools) {
        workers += pool.pool->workerPids().size();
        pool.manager->terminate();
    }
    m_terminal.diagnostic(QStringLiteral("procpool: SIG%1 again: killed %2 worker(s); %3 task(s) "
                                         "did not finish")
                              .arg(name)
                              .arg(workers)
                              .arg(std::count_if(m_open.begin(), m_open.end(),
                                                 [](const auto &e) { return !e.second.done; })));
    m_exitStatus = 1;
    QMetaObject::invokeMethod(this, &Runner::finished, Qt::QueuedConnection);
}

void Runner::outputClosed()
{
    // Nobody reads the results any more: stop the work at once, as a second Ctrl-C would.
    m_finishing = true;
    m_takingWork = false;
    if (m_reader)
        m_reader->close();
    m_redraw.stop();
    m_terminal.setProgress({});
    for (Pool &pool : m_pools)
        pool.manager->terminate();
    m_exitStatus = 1;
    QMetaObject::invokeMethod(this, &Runner::finished, Qt::QueuedConnection);
}

void Runner::finish()
{
    m_finishing = true;
    m_redraw.stop();
    if (m_watch)
        drawWatch();
    m_terminal.setProgress({});
    m_terminal.leaveScreen();
    m_watch = false;
    if (m_config.list)
        printRegistry();
    for (Pool &pool : m_pools) {
        pool.finalStats = pool.pool->stats();
        pool.manager->stop(true); // every task is done: this lets the workers exit and waits
    }
    if (m_badLineStop)
        m_exitStatus = 2;
    else if (m_failed + m_cancelled + m_rejected + m_badLines > 0 || m_interrupted
             || m_terminal.outputClosed())
        m_exitStatus = 1;
    else
        m_exitStatus = 0;
    printSummary();
    QMetaObject::invokeMethod(this, &Runner::finished, Qt::QueuedConnection);
}

} // namespace procpool::headless
