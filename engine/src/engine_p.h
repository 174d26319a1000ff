// procpool — the engine: one thread, with its own event loop, that owns every QProcess and
// does all pipe I/O, so that callers on any thread never touch a worker directly.
#pragma once

#include <QtCore/QCoreApplication>
#include <QtCore/QMutex>
#include <QtCore/QObject>
#include <QtCore/QThread>

#include <atomic>
#include <memory>
#include <vector>

namespace procpool::detail {

class PoolCore;

class Engine
{
public:
    static Engine &instance();

    //! The engine thread, started on first use (and again after a shutdown).
    QThread *thread();
    bool isEngineThread() const;

    //! Keeps \a core alive until it reports that it stopped, and moves it to the engine thread.
    void adopt(const std::shared_ptr<PoolCore> &core);
    //! Called (queued) by a core once it has stopped.
    void release(PoolCore *core);

    enum ShutdownReason { ApplicationExit, StaticDestruction };
    //! Application exit: drains non-daemon pools, kills daemon pools, joins the thread.
    void shutdown(ShutdownReason reason);

    quint64 nextTaskId() { return m_nextTaskId.fetch_add(1, std::memory_order_relaxed); }

    //! Deleter for shared_ptr<PoolCore>: deletes on the engine thread.
    static void deleteCore(PoolCore *core);

private:
    Engine() = default;
    ~Engine();

    mutable QMutex m_mutex;
    QThread *m_thread = nullptr;
    std::vector<std::shared_ptr<PoolCore>> m_cores;
    std::atomic<quint64> m_nextTaskId{1};
    bool m_running = false;
    QCoreApplication *m_postRoutineApp = nullptr; //!< the application whose exit drains us
};

} // namespace procpool::detail
