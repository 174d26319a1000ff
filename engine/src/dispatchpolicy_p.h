// procpool — the dispatch policy: which queued task goes to which worker, and how many workers
// to start. Pure functions of a snapshot, so that every rule can be tested without a process.
//
//   1. One task to each idle worker, from the head of the queue: parallelism before pipelining.
//   2. Prefetch only when the pool cannot grow, and not the share of the workers still
//      starting: ready workers are topped up to 1 + prefetch tasks (automatic prefetch: one
//      more, then only tasks known to be short, up to a time budget).
//   3. Start one worker for each queued task no starting worker will take, up to maxWorkers,
//      and enough to keep minWorkers alive while the pool runs.
//
// docs/architecture.md ("Dispatch policy") gives the reasons.
#pragma once

#include <procpool/procpool_export.h>

#include <QtCore/QtGlobal>

#include <functional>
#include <vector>

namespace procpool::detail::dispatch {

//! What the policy needs to know of one worker.
struct Worker
{
    bool ready = false;   //!< said hello, initialised, not leaving: takes tasks
    bool busy = false;    //!< alive and holding tasks (ready or not)
    int held = 0;         //!< tasks it holds: the running one and the prefetched ones
    int handedOut = 0;    //!< tasks given to it in its life (PoolOptions::maxTasksPerWorker)
    qint64 waitingNs = 0; //!< expected time of its prefetched tasks
};

//! What the policy needs to know of one queued task.
struct Task
{
    qint64 expectedNs = -1; //!< how long such a task keeps a worker busy; -1: not known
    bool cancelled = false; //!< its future was cancelled: dropped, never sent
};

struct Limits
{
    int maxWorkers = 1;
    int minWorkers = 0;
    int prefetch = -1;          //!< PoolOptions::prefetch; -1: automatic
    int maxTasksPerWorker = 0;  //!< 0: no limit
    qint64 budgetNs = 1000000;  //!< automatic prefetch: most expected work waiting per worker
    int automaticMax = 64;      //!< automatic prefetch: most prefetched tasks per worker
    bool running = true;        //!< the pool runs (minWorkers apply; idle workers may be handed
                                //!< tasks directly)
    bool mayStart = true;       //!< workers may be started now (no restart delay, not broken)
};

//! The snapshot: the workers (in the pool's order) and the queue (head first). The policy looks
//! at queued tasks from the head only as far as it hands them out, so a long queue costs
//! nothing: taskAt(i) for i below queued.
struct State
{
    std::vector<Worker> workers;
    std::size_t queued = 0;
    std::function<Task(std::size_t)> taskAt;
    int active = 0;   //!< workers counted against maxWorkers: alive and not leaving
    int starting = 0; //!< of those, the ones not ready yet
};

struct Plan
{
    //! For each task taken from the head of the queue, in order: the worker it goes to, or
    //! -1 when it was cancelled and is dropped. The tasks after these stay queued.
    std::vector<int> taken;
    //! The workers as they will be (held, handedOut, waitingNs updated).
    std::vector<Worker> workers;
    int start = 0; //!< workers to start
    //! Every worker is full, the pool cannot grow and some worker holds work: its next answer
    //! dispatches again, so a submission need not.
    bool saturated = false;
    //! Idle workers a submitting thread may hand its task to directly (nothing is queued).
    std::vector<int> directIdle;
};

PROCPOOL_ENGINE_EXPORT Plan plan(const State &state, const Limits &limits);

} // namespace procpool::detail::dispatch
