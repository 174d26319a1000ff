// procpool — ForkServer: the pool's side of a fork server (the engine thread's client of it).
//
// A fork server is the worker program started once per program, arguments, directory and
// environment, which forks each new worker from itself (forkserverloop.cpp is its loop,
// forkprotocol_p.h the messages between them). This side starts servers, keeps the few most
// recently used, asks them to fork workers for ChildProcess and passes on what they report.
#pragma once

#include "childprocess_p.h"

#include <QtCore/QHash>
#include <QtCore/QObject>
#include <QtCore/QPointer>
#include <QtCore/QProcess>
#include <QtCore/QSocketNotifier>
#include <QtCore/QTimer>

#include <vector>

namespace procpool::detail {

//! Fork servers kept for programs and environments no pool uses at the moment.
inline constexpr qsizetype maxKeptForkServers = 4;

class ForkServer : public QObject
{
    Q_OBJECT
public:
    //! The server for \a setup's program, arguments, directory and environment, started if
    //! needed; nullptr if that program did not answer as a fork server (start it with exec).
    static ForkServer *forSetup(const ChildProcess::Setup &setup);
    //! Ends every server (engine thread, at shutdown); their workers live on.
    static void closeAll();

    ~ForkServer() override;
    void spawn(ChildProcess *child);
    void forget(ChildProcess *child);
    //! Workers it is starting or that run and have not been reported ended.
    bool hasChildren() const;

private:
    ForkServer(const ChildProcess::Setup &setup);
    bool matches(const ChildProcess::Setup &setup) const;
    void start();
    void send(ChildProcess *child);
    void readMessages();
    void unusable();
    void serverFinished(int exitCode, QProcess::ExitStatus status);
    void abandonChildren();

    QString m_program;
    QStringList m_arguments;
    QString m_workingDirectory;
    QStringList m_environment;
    QProcess *m_process = nullptr;
    int m_control = -1;
    QSocketNotifier *m_notifier = nullptr;
    QTimer m_helloTimer;
    enum class State { Starting, Ready, Unusable, Gone } m_state = State::Starting;
    quint32 m_nextId = 1;
    std::vector<QPointer<ChildProcess>> m_waiting;      //!< before its hello
    QHash<quint32, QPointer<ChildProcess>> m_requested; //!< sent, not forked yet
    QHash<quint32, QPointer<ChildProcess>> m_running;   //!< forked, exit not reported yet
};

} // namespace procpool::detail
