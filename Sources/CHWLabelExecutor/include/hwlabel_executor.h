#ifndef HWLABEL_EXECUTOR_H
#define HWLABEL_EXECUTOR_H

#include <stddef.h>

/// Installs a small global executor for Swift concurrency: `threads` threads that sleep on one
/// condition variable until a job or the earliest delayed job is due. It replaces the runtime's
/// default, libdispatch's global queues, whose thread-pool monitor wakes the process every
/// second for as long as it lives (swift-corelibs-libdispatch src/event/workqueue.c).
/// Call once, before any task runs; returns 0, or -1 when already installed or a hook is taken.
///
/// It relies on private Swift runtime details (listed in executor.c) that were checked against
/// the toolchains `hwlabel agent` gates it on (AgentExecutor in Sources/hwlabel): built with any
/// other compiler, the agent does not call this and runs on the runtime's default executor.
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

/// One entry of the executor's timer heap: a delayed job (`job`), or else a callback
/// (`fn(context)`), due at `at` (CLOCK_MONOTONIC nanoseconds). `seq` orders equal deadlines
/// first in, first out.
typedef struct {
  unsigned long long at;
  unsigned long long seq;
  void *job;
  void (*fn)(void *);
  void *context;
} hwl_timer;

/// The executor's timers: a binary min-heap on (at, seq). Zero-initialised is empty. Not
/// thread-safe (the executor calls it under its lock); exposed so that tests can check it.
typedef struct {
  hwl_timer *items;
  size_t count, capacity;
  unsigned long long next_seq;
} hwl_timer_heap;

/// Adds a timer (aborts when memory runs out, as the Swift runtime does for a job).
void hwl_timer_heap_push(hwl_timer_heap *heap, unsigned long long at, void *job, void (*fn)(void *), void *context);
/// Removes the earliest timer (the first pushed among equal deadlines) into `out`: 0, or -1 when empty.
int hwl_timer_heap_pop(hwl_timer_heap *heap, hwl_timer *out);
/// The earliest deadline into `at`: 0, or -1 when empty.
int hwl_timer_heap_peek(const hwl_timer_heap *heap, unsigned long long *at);
/// Frees the heap's storage; it is empty afterwards.
void hwl_timer_heap_free(hwl_timer_heap *heap);

#endif
