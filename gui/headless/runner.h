// procpool headless mode — runs the configured pools and work, and reports the outcome.
#pragma once

#include "jobs.h"
#include "options.h"
#include "outcome.h"
#include "terminal.h"

#include <procpool/processpoolmanager.h>

#include <QtCore/QElapsedTimer>
#include <QtCore/QFutureWatcher>
#include <QtCore/QJsonObject>
#include <QtCore/QObject>
#include <QtCore/QTimer>

#include <deque>
#include <map>
#include <optional>

namespace procpool::headless {

class Runner : public QObject
{
    Q_OBJECT
public:
    Runner(const Config &config, Terminal &terminal, QObject *parent = nullptr);
    ~Runner() override;

    //! Starts the pools and the work; false (with the message printed) when a pool cannot start.
    bool start();
    //! The exit status, once finished() was emitted.
    int exitStatus() const { return m_exitStatus; }

    //! SIGINT/SIGTERM: the first stops taking work and cancels queued tasks; the second kills
    //! the workers.
    void interrupt(int signal);

Q_SIGNALS:
    void finished();

private:
    struct Pool
    {
        PoolSpec spec;
        ProcessPoolManager *manager = nullptr;
        ProcessPool *pool = nullptr;
        quint64 submitted = 0, ok = 0, failed = 0, cancelled = 0, rejected = 0;
        PoolStats finalStats;
    };
    //! One submission from the moment it is made until it is reported.
    struct Submission
    {
        qint64 seq = 0;
        quint64 id = 0; //!< the engine's task id; 0 when rejected
        int pool = 0;
        QString task;
        QVariantList arguments;
        QString taskType;
        qint64 line = 0; //!< jobs line; 0 for --submit
        QFutureWatcher<QVariant> *watcher = nullptr;
        bool done = false;
        Outcome outcome;
    };

    void pump();
    bool nextFromCommandLine(Job *job);
    //! False when the pool's queue is full (PoolOptions::maxQueued): the job is held in m_held
    //! and submitted first once a task has finished.
    bool submit(const Job &job);
    void onTaskFinished(qint64 seq);
    void complete(Submission &s);
    void report(const Submission &s);
    void badLine(qint64 line, const QString &error);
    void stopTakingWork();
    void maybeFinish();
    void finish();
    void outputClosed();
    void emitLine(const QString &human, const QJsonObject &json);
    //! Keeps \a line for the "recent" panel of --watch.
    void addRecent(const QString &line);
    void printRegistry();
    void printSummary();
    void updateProgress();
    void drawWatch();
    int poolIndex(const QString &namespaceId) const;

    Config m_config;
    Terminal &m_terminal;
    QList<Pool> m_pools;
    std::unique_ptr<LineReader> m_reader;
    std::map<qint64, Submission> m_open; //!< submitted and not yet reported, by seq
    qint64 m_nextSeq = 1;
    qint64 m_maxOpen = 0;
    std::optional<Job> m_held; //!< refused by a full queue, submitted first when there is room
    // Where the command line's --submit expansion stands.
    int m_submitPool = 0;
    int m_submitIndex = 0;
    qint64 m_submitRepeat = 0;
    qint64 m_plannedTotal = 0; //!< known total (--submit only); -1 while a jobs stream is open

    bool m_takingWork = true;
    bool m_interrupted = false;
    bool m_killed = false;
    bool m_badLineStop = false;
    bool m_finishing = false;
    quint64 m_ok = 0, m_failed = 0, m_cancelled = 0, m_rejected = 0, m_badLines = 0;
    int m_exitStatus = 0;
    QElapsedTimer m_clock;
    QTimer m_redraw;
    bool m_watch = false;
    std::deque<QString> m_recent; //!< last reported lines, for --watch
};

} // namespace procpool::headless
