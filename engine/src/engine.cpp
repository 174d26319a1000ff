#include "engine_p.h"

#include "forkserverclient_p.h"
#include "poolcore_p.h"

#include <QtCore/QAbstractEventDispatcher>
#include <QtCore/QCoreApplication>

#include <algorithm>

namespace procpool::detail {

namespace {
void shutdownAtApplicationExit()
{
    Engine::instance().shutdown(Engine::ApplicationExit);
}
} // namespace

Engine &Engine::instance()
{
    static Engine engine; // destroyed at exit: non-daemon pools finish before the process ends
    return engine;
}

Engine::~Engine()
{
    shutdown(StaticDestruction);
}

QThread *Engine::thread()
{
    QMutexLocker locker(&m_mutex);
    if (!m_thread) {
        // PR_SET_PDEATHSIG fires when the thread that forked a worker ends, so workers are
        // forked here only, on a thread that lives as long as any pool does. The QThread
        // object is never deleted: cores that outlive a shutdown still point at it.
        m_thread = new QThread;
        m_thread->setObjectName(QStringLiteral("procpool engine"));
    }
    if (!m_thread->isRunning()) {
        m_thread->start();
        m_running = true;
    }
    QCoreApplication *app = QCoreApplication::instance();
    if (app && app != m_postRoutineApp) {
        // ~QCoreApplication runs this while Qt still delivers events, and then forgets it: a
        // later application object gets it registered again. The static destructor above is
        // the fallback for std::exit() with the application object still alive.
        qAddPostRoutine(shutdownAtApplicationExit);
        m_postRoutineApp = app;
    }
    return m_thread;
}

bool Engine::isEngineThread() const
{
    QMutexLocker locker(&m_mutex);
    return m_running && QThread::currentThread() == m_thread;
}

void Engine::adopt(const std::shared_ptr<PoolCore> &core)
{
    QThread *t = thread();
    core->moveToThread(t);
    QMutexLocker locker(&m_mutex);
    m_cores.push_back(core);
}

void Engine::release(PoolCore *core)
{
    std::shared_ptr<PoolCore> last; // dropped outside the lock
    QMutexLocker locker(&m_mutex);
    const auto it = std::find_if(m_cores.begin(), m_cores.end(),
                                 [core](const auto &c) { return c.get() == core; });
    if (it != m_cores.end()) {
        last = std::move(*it);
        m_cores.erase(it);
    }
}

void Engine::shutdown(ShutdownReason reason)
{
    std::vector<std::shared_ptr<PoolCore>> cores;
    QThread *t = nullptr;
    {
        QMutexLocker locker(&m_mutex);
        if (reason == ApplicationExit)
            m_postRoutineApp = nullptr;
        if (!m_running)
            return;
        cores = m_cores;
        t = m_thread;
    }
    if (!QCoreApplication::instance() && !cores.empty()) {
        // Without an application object Qt delivers no events to the engine thread, so the
        // pools cannot be drained. start() refuses to run without one, and the application's
        // post routine drains them, so this is only reached if that contract was broken.
        qWarning("procpool: %d pool(s) still running after the application object was "
                 "destroyed; their workers are left to finish on their own",
                 int(cores.size()));
        return;
    }
    if (QThread::currentThread() == t) {
        qWarning("procpool: the engine cannot shut down from its own thread");
        return;
    }
    for (const auto &core : cores)
        core->requestStop(core->fixedOptions().daemon ? StopMode::Kill : StopMode::Drain);
    for (const auto &core : cores)
        core->waitStopped();
    {
        QMutexLocker locker(&m_mutex);
        m_cores.clear();
        m_running = false;
    }
    cores.clear(); // managers may still hold their cores; the deleter copes with a dead thread
    // The fork servers end with the thread that started them (PR_SET_PDEATHSIG); their
    // objects live on it, so they are closed there.
    QMetaObject::invokeMethod(QAbstractEventDispatcher::instance(t), &ForkServer::closeAll,
                              Qt::BlockingQueuedConnection);
    t->quit();
    t->wait();
}

void Engine::deleteCore(PoolCore *core)
{
    QThread *t = core->thread();
    if (t && t->isRunning())
        core->deleteLater(); // on the engine thread, never inside one of the core's own calls
    else
        delete core;
}

} // namespace procpool::detail
