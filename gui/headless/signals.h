// procpool headless mode — SIGINT and SIGTERM delivered to the event loop.
#pragma once

#include <QtCore/QObject>

class QSocketNotifier;

namespace procpool::headless {

//! Catches SIGINT and SIGTERM with an async-signal-safe handler that only writes the signal
//! number into a pipe (the self-pipe trick); the event loop reads it and emits signalled().
//! One instance at a time; the previous dispositions come back when it is destroyed.
class SignalWatcher : public QObject
{
    Q_OBJECT
public:
    explicit SignalWatcher(QObject *parent = nullptr);
    ~SignalWatcher() override;

Q_SIGNALS:
    void signalled(int signal);

private:
    void drain();
    int m_readFd = -1;
    QSocketNotifier *m_notifier = nullptr;
};

} // namespace procpool::headless
