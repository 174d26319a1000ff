#include "dispatchpolicy_p.h"

#include <algorithm>

namespace procpool::detail::dispatch {

namespace {

//! Hands tasks from the head of the queue (up to \a end) to ready workers, in the workers'
//! order, until each holds \a depth. With automatic prefetch a worker holding two takes more
//! only while the work waiting for it is expected to take less than the budget.
void fill(const State &state, const Limits &limits, Plan &plan, std::size_t &next,
          std::size_t end, int depth)
{
    const bool automatic = limits.prefetch < 0;
    for (std::size_t i = 0; i < plan.workers.size(); ++i) {
        Worker &w = plan.workers[i];
        if (next >= end)
            return;
        if (!w.ready)
            continue;
        while (w.held < depth && next < end
               && (limits.maxTasksPerWorker == 0 || w.handedOut < limits.maxTasksPerWorker)) {
            const Task task = state.taskAt(next);
            if (automatic && w.held >= 2
                && (task.expectedNs < 0 || w.waitingNs + task.expectedNs > limits.budgetNs))
                break;
            ++next;
            if (task.cancelled) {
                plan.taken.push_back(-1);
                continue;
            }
            if (w.held > 0)
                w.waitingNs += std::max<qint64>(task.expectedNs, 0);
            ++w.held;
            ++w.handedOut;
            w.busy = true;
            plan.taken.push_back(int(i));
        }
    }
}

} // namespace

Plan plan(const State &state, const Limits &limits)
{
    Plan plan;
    plan.workers = state.workers;
    std::size_t next = 0;
    const std::size_t queued = state.queued;

    // Every idle worker gets one task first; prefetch comes second, and only once no more
    // workers may start, leaving the workers still starting their share.
    fill(state, limits, plan, next, queued, 1);
    const bool canGrow = state.active < limits.maxWorkers;
    const bool automatic = limits.prefetch < 0;
    const int prefetch = automatic ? limits.automaticMax : limits.prefetch;
    const std::size_t reserved = std::size_t(state.starting) * std::size_t(automatic ? 2 : 1 + prefetch);
    if (!canGrow && prefetch > 0 && queued - next > reserved)
        fill(state, limits, plan, next, queued - reserved, 1 + prefetch);

    const int remaining = int(queued - next);
    plan.saturated = remaining > 0 && !canGrow
                     && std::any_of(plan.workers.cbegin(), plan.workers.cend(),
                                    [](const Worker &w) { return w.busy; });
    if (remaining == 0 && limits.running && limits.maxTasksPerWorker == 0) {
        for (std::size_t i = 0; i < plan.workers.size(); ++i)
            if (plan.workers[i].ready && plan.workers[i].held == 0)
                plan.directIdle.push_back(int(i));
    }

    // Lazily: one new worker for each task no starting worker will take, and minWorkers.
    int starting = state.starting;
    int active = state.active;
    while (limits.mayStart && active < limits.maxWorkers
           && (remaining > starting || (limits.running && active < limits.minWorkers))) {
        ++plan.start;
        ++starting;
        ++active;
    }
    return plan;
}

} // namespace procpool::detail::dispatch
