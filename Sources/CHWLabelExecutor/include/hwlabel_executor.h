#ifndef HWLABEL_EXECUTOR_H
#define HWLABEL_EXECUTOR_H

/// Installs a small global executor for Swift concurrency: `threads` threads that sleep on one
/// condition variable until a job or the earliest delayed job is due. It replaces the runtime's
/// default, libdispatch's global queues, whose thread-pool monitor wakes the process every
/// second for as long as it lives (swift-corelibs-libdispatch src/event/workqueue.c).
/// Call once, before any task runs; returns 0, or -1 when already installed or a hook is taken.
int hwl_executor_install(int threads);

/// Calls `fn(context)` on one of the executor's threads once `delay_ns` have passed
/// (CLOCK_MONOTONIC). Task.sleep does not reach the runtime's delay hooks (Swift 6.2+ sleeps
/// through the default executor, libdispatch), so the agent sleeps through this. Returns 0, or
/// -1 when the executor is not installed (nothing is scheduled).
int hwl_executor_after(unsigned long long delay_ns, void (*fn)(void *context), void *context);

/// 1 once `hwl_executor_install` has succeeded.
int hwl_executor_installed(void);

/// Makes every thread allocate from glibc's one main malloc arena (M_ARENA_MAX = 1) instead of
/// one arena per thread, whose freed memory malloc_trim cannot all return. Call before threads
/// start. Returns 0, or -1 when glibc refused.
int hwl_malloc_one_arena(void);

#endif
