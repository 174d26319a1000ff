// procpool headless mode — what a Runner shows besides the results: the registry of --list,
// the summary, the progress line on a terminal's stderr and the --watch table.
#include "runner.h"

#include <procpool/errors.h>

#include <QtCore/QHash>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonObject>

namespace procpool::headless {
namespace {

QString formatDuration(qint64 ms)
{
    if (ms < 10000)
        return QStringLiteral("%1 s").arg(double(ms) / 1000, 0, 'f', 2);
    if (ms < 3600000)
        return QStringLiteral("%1m%2s").arg(ms / 60000).arg((ms / 1000) % 60, 2, 10, QChar(u'0'));
    return QStringLiteral("%1h%2m").arg(ms / 3600000).arg((ms / 60000) % 60, 2, 10, QChar(u'0'));
}

QJsonObject statsObject(const PoolStats &stats)
{
    return QJsonObject{{QStringLiteral("workers_started"), qint64(stats.workersStarted)},
                       {QStringLiteral("workers_crashed"), qint64(stats.workersCrashed)}};
}

//! " on node1 (reported host n1.cluster, pid 4242)": where worker \a w runs; empty on this
//! machine.
QString whereText(const WorkerInfo &w)
{
    if (w.host.isEmpty())
        return {};
    QStringList reported;
    if (!w.reportedHost.isEmpty())
        reported.append(QStringLiteral("reported host %1").arg(w.reportedHost));
    if (w.remotePid != 0)
        reported.append(QStringLiteral("pid %1").arg(w.remotePid));
    return QStringLiteral(" on %1%2").arg(w.host, reported.isEmpty() ? QString()
                                                  : QStringLiteral(" (%1)").arg(reported.join(QStringLiteral(", "))));
}

//! The hosts of \a o for --list: a text ("2 on node1 (ssh), 1 on this machine") and JSON.
QString hostsText(const PoolOptions &o)
{
    QStringList hosts;
    for (const WorkerHost &h : o.hosts)
        hosts.append(QStringLiteral("%1 on %2").arg(h.workers).arg(h.describe()));
    return hosts.join(QStringLiteral(", "));
}

QJsonArray hostsArray(const PoolOptions &o)
{
    QJsonArray hosts;
    for (const WorkerHost &h : o.hosts)
        hosts.append(QJsonObject{{QStringLiteral("host"), h.host.isEmpty() ? QJsonValue() : QJsonValue(h.host)},
                                 {QStringLiteral("workers"), h.workers},
                                 {QStringLiteral("launcher"), h.launcher.describe()}});
    return hosts;
}

} // namespace

void Runner::printRegistry()
{
    const RegistryMap registry = ProcessPoolManager::registry();
    QJsonArray managers;
    QStringList lines{QStringLiteral("registry of process %1:").arg(ProcessPoolManager::currentProcessId())};
    for (auto creator = registry.cbegin(); creator != registry.cend(); ++creator) {
        for (auto entry = creator->cbegin(); entry != creator->cend(); ++entry) {
            ProcessPoolManager *manager = entry.value();
            lines.append(QStringLiteral("  %1").arg(manager->toString()));
            const PoolOptions options = manager->options();
            QJsonArray workers;
            QList<WorkerInfo> infos;
            try {
                infos = manager->getPool()->workers();
            } catch (const PoolNotRunning &) {
            }
            // The environment as written on the command line: the options hold a function.
            const qsizetype own = poolIndex(entry.key());
            const QList<limittext::EnvironmentEntry> environment =
                own >= 0 && m_pools.at(own).spec.namespaceId == entry.key()
                    ? m_pools.at(own).spec.workerEnvironment
                    : QList<limittext::EnvironmentEntry>();
            const QStringList limits = limitTexts(options, environment);
            if (!limits.isEmpty())
                lines.append(QStringLiteral("    limits: %1").arg(limits.join(QStringLiteral(", "))));
            if (!options.hosts.isEmpty())
                lines.append(QStringLiteral("    hosts: %1").arg(hostsText(options)));
            for (const WorkerInfo &w : std::as_const(infos)) {
                lines.append(QStringLiteral("    worker %1 %2 (slot %3) %4%5, %6 done, %7 failed%8")
                                 .arg(w.pid)
                                 .arg(w.name)
                                 .arg(w.slot)
                                 .arg(stateName(w.state),
                                      w.currentTask.isEmpty() ? QString()
                                                              : QStringLiteral(" running ") + w.currentTask)
                                 .arg(w.tasksDone)
                                 .arg(w.tasksFailed)
                                 .arg(whereText(w)));
                QJsonObject worker{
                    {QStringLiteral("pid"), w.pid},
                    {QStringLiteral("name"), w.name},
                    {QStringLiteral("slot"), w.slot},
                    {QStringLiteral("host"), w.host.isEmpty() ? QJsonValue() : QJsonValue(w.host)},
                    {QStringLiteral("state"), stateName(w.state)},
                    {QStringLiteral("current_task"),
                     w.currentTask.isEmpty() ? QJsonValue() : QJsonValue(w.currentTask)},
                    {QStringLiteral("tasks_done"), qint64(w.tasksDone)},
                    {QStringLiteral("tasks_failed"), qint64(w.tasksFailed)},
                    {QStringLiteral("started_at"), w.startedAt.toString(Qt::ISODateWithMs)},
                };
                if (!w.reportedHost.isEmpty())
                    worker.insert(QStringLiteral("reported_host"), w.reportedHost);
                if (w.remotePid != 0)
                    worker.insert(QStringLiteral("remote_pid"), w.remotePid);
                workers.append(worker);
            }
            if (infos.isEmpty())
                lines.append(QStringLiteral("    no workers"));
            QJsonObject json{
                {QStringLiteral("namespace"), entry.key()},
                {QStringLiteral("creator_pid"), creator.key()},
                {QStringLiteral("state"), stateName(manager->state())},
                {QStringLiteral("max_workers"), options.maxWorkers},
                {QStringLiteral("max_queued"), options.maxQueued},
                {QStringLiteral("task_type"),
                 options.taskType.isEmpty() ? QJsonValue() : QJsonValue(options.taskType)},
                {QStringLiteral("daemon"), options.daemon},
                {QStringLiteral("start_method"),
                 options.startContext.method == StartMethod::Exec ? QStringLiteral("exec")
                                                                  : QStringLiteral("fork-server")},
                {QStringLiteral("prefix"), options.processNamePrefix.isEmpty()
                                               ? QJsonValue()
                                               : QJsonValue(options.processNamePrefix)},
                {QStringLiteral("workers"), workers},
            };
            if (!options.hosts.isEmpty())
                json.insert(QStringLiteral("hosts"), hostsArray(options));
            addLimitFields(json, options, environment);
            managers.append(json);
        }
    }
    emitLine(lines.join(u'\n'), QJsonObject{{QStringLiteral("event"), QStringLiteral("registry")},
                                            {QStringLiteral("managers"), managers}});
}

void Runner::printSummary()
{
    const qint64 elapsed = m_clock.elapsed();
    const quint64 total = m_ok + m_failed + m_cancelled + m_rejected;
    QStringList lines{QStringLiteral("summary: %1 task(s) in %2: %3 ok, %4 failed, %5 cancelled, "
                                     "%6 rejected")
                          .arg(total)
                          .arg(formatDuration(elapsed))
                          .arg(m_ok)
                          .arg(m_failed)
                          .arg(m_cancelled)
                          .arg(m_rejected)};
    if (m_badLines > 0)
        lines.last() += QStringLiteral(", %1 bad job line(s)").arg(m_badLines);
    QJsonArray namespaces;
    for (const Pool &pool : std::as_const(m_pools)) {
        lines.append(QStringLiteral("  %1: %2 submitted, %3 ok, %4 failed, %5 cancelled, %6 "
                                    "rejected; %7 worker(s) started, %8 crashed")
                         .arg(pool.spec.namespaceId)
                         .arg(pool.submitted)
                         .arg(pool.ok)
                         .arg(pool.failed)
                         .arg(pool.cancelled)
                         .arg(pool.rejected)
                         .arg(pool.finalStats.workersStarted)
                         .arg(pool.finalStats.workersCrashed));
        QJsonObject entry{{QStringLiteral("namespace"), pool.spec.namespaceId},
                          {QStringLiteral("submitted"), qint64(pool.submitted)},
                          {QStringLiteral("ok"), qint64(pool.ok)},
                          {QStringLiteral("failed"), qint64(pool.failed)},
                          {QStringLiteral("cancelled"), qint64(pool.cancelled)},
                          {QStringLiteral("rejected"), qint64(pool.rejected)}};
        const QJsonObject stats = statsObject(pool.finalStats);
        for (auto it = stats.begin(); it != stats.end(); ++it)
            entry.insert(it.key(), it.value());
        namespaces.append(entry);
    }
    if (m_interrupted)
        lines.append(QStringLiteral("interrupted: the work was stopped before its end"));
    lines.append(QStringLiteral("exit status %1").arg(m_exitStatus));
    emitLine(lines.join(u'\n'),
             QJsonObject{{QStringLiteral("event"), QStringLiteral("summary")},
                         {QStringLiteral("total"), qint64(total)},
                         {QStringLiteral("ok"), qint64(m_ok)},
                         {QStringLiteral("failed"), qint64(m_failed)},
                         {QStringLiteral("cancelled"), qint64(m_cancelled)},
                         {QStringLiteral("rejected"), qint64(m_rejected)},
                         {QStringLiteral("bad_lines"), qint64(m_badLines)},
                         {QStringLiteral("interrupted"), m_interrupted},
                         {QStringLiteral("elapsed_ms"), elapsed},
                         {QStringLiteral("exit_status"), m_exitStatus},
                         {QStringLiteral("namespaces"), namespaces}});
}

void Runner::updateProgress()
{
    const quint64 done = m_ok + m_failed + m_cancelled + m_rejected;
    const double seconds = double(m_clock.elapsed()) / 1000;
    const double rate = seconds > 0 ? double(done) / seconds : 0;
    const bool totalKnown = m_plannedTotal >= 0;
    const qint64 total = totalKnown ? m_plannedTotal : m_nextSeq - 1;
    constexpr int width = 24;
    const int filled = total > 0 ? int(double(done) / double(total) * width) : 0;
    QString line = QStringLiteral("[%1%2] %3/%4%5 ok %6 failed %7 | %8/s")
                       .arg(QString(filled, u'#'), QString(width - filled, u'-'))
                       .arg(done)
                       .arg(total)
                       .arg(totalKnown ? QString() : QStringLiteral("+"))
                       .arg(m_ok)
                       .arg(m_failed + m_cancelled + m_rejected)
                       .arg(rate, 0, 'f', 1);
    if (totalKnown && rate > 0 && qint64(done) < total)
        line += QStringLiteral(" ETA %1").arg(
            formatDuration(qint64(double(total - qint64(done)) / rate * 1000)));
    m_terminal.setProgress(line);
}

void Runner::drawWatch()
{
    const quint64 done = m_ok + m_failed + m_cancelled + m_rejected;
    const qint64 total = m_plannedTotal >= 0 ? m_plannedTotal : m_nextSeq - 1;
    QStringList screen{
        QStringLiteral("procpool --headless  pid %1  %2  %3/%4%5 done: %6 ok, %7 failed, %8 "
                       "cancelled, %9 rejected%10")
            .arg(ProcessPoolManager::currentProcessId())
            .arg(formatDuration(m_clock.elapsed()))
            .arg(done)
            .arg(total)
            .arg(m_plannedTotal >= 0 ? QString() : QStringLiteral("+"))
            .arg(m_ok)
            .arg(m_failed)
            .arg(m_cancelled)
            .arg(m_rejected)
            .arg(m_interrupted ? QStringLiteral("  (interrupted)") : QString()),
        QString(),
        QStringLiteral("%1 %2 %3 %4 %5 %6 %7 %8")
            .arg(QStringLiteral("NAMESPACE"), -14)
            .arg(QStringLiteral("STATE"), -9)
            .arg(QStringLiteral("WORKERS"), 8)
            .arg(QStringLiteral("QUEUED"), 7)
            .arg(QStringLiteral("RUNNING"), 8)
            .arg(QStringLiteral("DONE"), 7)
            .arg(QStringLiteral("FAILED"), 7)
            .arg(QStringLiteral("TASK TYPE")),
    };
    // What the running tasks of this run add to their worker's line: "attempt 2 of 3, priority
    // 5", as their result line will. The open submissions are few (m_maxOpen).
    QHash<qint64, QString> running; // by worker pid
    for (const auto &[seq, s] : m_open) {
        if (s.done || s.id == 0)
            continue;
        const std::optional<TaskRecord> record = m_pools.at(s.pool).pool->taskRecord(s.id);
        if (!record || record->state != TaskState::Running || record->workerPid == 0)
            continue;
        Outcome o;
        takeRecord(o, *record);
        const QStringList details = attemptDetails(o);
        if (!details.isEmpty())
            running.insert(record->workerPid, details.join(QStringLiteral(", ")));
    }
    QStringList workerLines;
    const QDateTime now = QDateTime::currentDateTimeUtc();
    constexpr qsizetype hostColumn = 86; // past the widest UP ("59m59s")
    bool hostShown = false;
    for (const Pool &pool : std::as_const(m_pools)) {
        const PoolStats stats = pool.pool->stats();
        const QList<WorkerInfo> workers = pool.pool->workers();
        screen.append(QStringLiteral("%1 %2 %3 %4 %5 %6 %7 %8")
                          .arg(pool.spec.namespaceId.left(14), -14)
                          .arg(stateName(pool.pool->state()), -9)
                          .arg(QStringLiteral("%1/%2").arg(workers.size()).arg(pool.pool->maxWorkers()), 8)
                          .arg(stats.queued, 7)
                          .arg(stats.running, 8)
                          .arg(stats.completed, 7)
                          .arg(stats.failed, 7)
                          .arg(pool.spec.options.taskType.isEmpty() ? QStringLiteral("any")
                                                                    : pool.spec.options.taskType));
        for (const WorkerInfo &w : workers) {
            QString line = QStringLiteral("%1 %2 %3 %4 %5 %6 %7 %8")
                               .arg(w.pid, 8)
                               .arg(pool.spec.namespaceId.left(14), -14)
                               .arg(w.name.left(15), -15)
                               .arg(stateName(w.state), -9)
                               .arg(w.currentTask.left(12), -12)
                               .arg(w.tasksDone, 6)
                               .arg(w.tasksFailed, 6)
                               .arg(formatDuration(w.startedAt.msecsTo(now)));
            // A remote worker's host, in a column after UP where the terminal is wide enough.
            if (!w.host.isEmpty() && hostColumn + w.host.size() <= m_terminal.columns()) {
                line = line.leftJustified(hostColumn - 1) + u' ' + w.host;
                hostShown = true;
            }
            workerLines.append(line);
            // On a line of its own, under the name: the worker's line fills 80 columns.
            if (running.contains(w.pid))
                workerLines.append(QString(24, u' ') + running.value(w.pid));
        }
    }
    screen.append(QString());
    screen.append(QStringLiteral("%1 %2 %3 %4 %5 %6 %7 %8")
                      .arg(QStringLiteral("PID"), 8)
                      .arg(QStringLiteral("NAMESPACE"), -14)
                      .arg(QStringLiteral("NAME"), -15)
                      .arg(QStringLiteral("STATE"), -9)
                      .arg(QStringLiteral("TASK"), -12)
                      .arg(QStringLiteral("DONE"), 6)
                      .arg(QStringLiteral("FAILED"), 6)
                      .arg(QStringLiteral("UP")));
    if (hostShown)
        screen.last() = screen.last().leftJustified(hostColumn - 1) + QStringLiteral(" HOST");
    screen += workerLines;
    screen.append(QString());
    screen.append(QStringLiteral("recent (Ctrl-C: stop taking work; twice: kill the workers):"));
    const qsizetype room = std::max<qsizetype>(0, m_terminal.rows() - screen.size() - 1);
    const size_t first = m_recent.size() > size_t(room) ? m_recent.size() - size_t(room) : 0;
    for (size_t i = first; i < m_recent.size(); ++i)
        screen.append(m_recent.at(i).section(u'\n', 0, 0));
    m_terminal.drawScreen(screen.join(u'\n'));
}

} // namespace procpool::headless
