// procpool ManagerRelay: how a pool's signals, emitted on the engine thread, reach a manager
// that its own thread may delete at any moment.
#pragma once

#include "engine_p.h"
#include "postedcall_p.h"

#include <procpool/processpoolmanager.h>

#include <QtCore/QObject>
#include <QtCore/QThread>

#include <atomic>
#include <functional>

namespace procpool::detail {

//! A pool's signals come from the engine thread, straight into its manager's signals. A
//! manager may be deleted on its own thread at any moment (removeProcessManager() lets its
//! pool drain without it), so it detaches first and waits until no emission is running into
//! it; one that starts after that finds no manager and goes nowhere.
class ManagerRelay
{
public:
    //! A child of the manager (so on its thread, and gone with it) that runs posted calls.
    class Mailbox : public QObject
    {
    public:
        using QObject::QObject;
        bool event(QEvent *e) override { return runPostedCall(e) || QObject::event(e); }
    };

    explicit ManagerRelay(ProcessPoolManager *manager)
        : m_manager(manager), m_mailbox(new Mailbox(manager))
    {
    }

    //! Runs \a call on the manager's thread, after the events queued there; only while the
    //! manager exists.
    void post(std::function<void()> call)
    {
        deliver([&](ProcessPoolManager *) { postCall(m_mailbox, std::move(call)); });
    }

    template <typename Emit>
    void deliver(Emit &&emit)
    {
        m_running.fetch_add(1, std::memory_order_seq_cst);
        if (ProcessPoolManager *manager = m_manager.load(std::memory_order_seq_cst))
            emit(manager);
        m_running.fetch_sub(1, std::memory_order_release);
    }

    void detach()
    {
        m_manager.store(nullptr, std::memory_order_seq_cst);
        if (Engine::instance().isEngineThread())
            return; // deleted from a slot of its own signal: that emission is below us
        while (m_running.load(std::memory_order_acquire) != 0)
            QThread::yieldCurrentThread();
    }

private:
    std::atomic<ProcessPoolManager *> m_manager;
    Mailbox *const m_mailbox; //!< the manager's child: used only while the manager exists
    std::atomic<int> m_running{0};
};

} // namespace procpool::detail
