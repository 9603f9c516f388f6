// A global executor for Swift concurrency with no periodic timer: see hwlabel_executor.h.
//
// What it assumes of the Swift runtime, none of it a stable ABI (the runtime's
// include/swift/Runtime/ConcurrencyHooks.def and the toolchain's swift/ExecutorImpl.h, which
// describe custom executors, are where to re-check them for a new toolchain):
//  1. The job header: SwiftJob is { metadata pointer, reference-count word, two
//     schedulerPrivate words, 32-bit flags }, aligned to two pointers, and the executor that
//     holds a job owns schedulerPrivate (this one links its ready queue through word 0).
//     hwl_job below mirrors it.
//  2. The hooks are the global variables swift_task_enqueueGlobal_hook,
//     swift_task_enqueueGlobalWithDelay_hook and swift_task_enqueueGlobalWithDeadline_hook,
//     called with the swiftcall convention and the signatures typedef'd below, and setting them
//     before the first task routes every global-executor job here.
//  3. swift_job_run(job, {identity, implementation}) with a null executor ref runs a job on the
//     generic executor, and swift_get_time(&sec, &nsec, clock) reads the clock a deadline was
//     taken on; both are exported by the shared and the static runtime.
//  4. Task.sleep schedules through the default executor (libdispatch), not these hooks (Swift
//     6.2+), which is why the agent's own timers use hwl_executor_after.
// hwlabel installs it only when built by a compiler it was checked with (AgentExecutor,
// Sources/hwlabel/AgentCommand.swift); beyond that range the runtime's default executor runs.
#include "hwlabel_executor.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

typedef struct hwl_job {
  const void *metadata;
  uintptr_t refCounts;
  struct hwl_job *schedulerPrivate[2];
  uint32_t flags;
} __attribute__((aligned(2 * sizeof(void *)))) hwl_job;

typedef struct {
  void *identity;
  uintptr_t implementation;
} hwl_executor_ref;

// Exported by the shared and the static runtime alike (ExecutorImpl.h's _swift_job_run_c and
// swift_time_now are in the static library only).
extern void swift_job_run(hwl_job *job, hwl_executor_ref executor) __attribute__((swiftcall));
extern void swift_get_time(long long *seconds, long long *nanoseconds, int clock) __attribute__((swiftcall));

typedef void enqueue_fn(hwl_job *job) __attribute__((swiftcall));
typedef void enqueue_hook_fn(hwl_job *job, enqueue_fn *original) __attribute__((swiftcall));
typedef void delay_fn(unsigned long long delay, hwl_job *job) __attribute__((swiftcall));
typedef void delay_hook_fn(unsigned long long delay, hwl_job *job, delay_fn *original) __attribute__((swiftcall));
typedef void deadline_fn(long long sec, long long nsec, long long tsec, long long tnsec, int clock,
                         hwl_job *job) __attribute__((swiftcall));
typedef void deadline_hook_fn(long long sec, long long nsec, long long tsec, long long tnsec, int clock,
                              hwl_job *job, deadline_fn *original) __attribute__((swiftcall));

extern enqueue_hook_fn *swift_task_enqueueGlobal_hook;
extern delay_hook_fn *swift_task_enqueueGlobalWithDelay_hook;
extern deadline_hook_fn *swift_task_enqueueGlobalWithDeadline_hook;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake;
static hwl_job *ready_head, *ready_tail;
static hwl_timer_heap timers;  // delayed jobs and timer callbacks, earliest first
static bool timer_waiter;  // one idle thread sleeps until the earliest deadline; the rest, untimed
static _Atomic int installed;  // read by AgentSleep on any thread

static uint64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// Called with the lock held.
static void push_ready(hwl_job *job) {
  job->schedulerPrivate[0] = NULL;
  if (ready_tail) ready_tail->schedulerPrivate[0] = job; else ready_head = job;
  ready_tail = job;
}

static hwl_job *pop_ready(void) {
  hwl_job *job = ready_head;
  if (job) {
    ready_head = job->schedulerPrivate[0];
    if (!ready_head) ready_tail = NULL;
  }
  return job;
}

// The timer heap: a binary min-heap on (at, seq), so equal deadlines leave in the order they
// were pushed. Not locked itself: the executor holds `lock` around every call.

static bool earlier(const hwl_timer *a, const hwl_timer *b) {
  return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void swap_timers(hwl_timer *a, hwl_timer *b) {
  hwl_timer t = *a;
  *a = *b;
  *b = t;
}

void hwl_timer_heap_push(hwl_timer_heap *heap, unsigned long long at, void *job, void (*fn)(void *), void *context) {
  if (heap->count == heap->capacity) {
    size_t capacity = heap->capacity ? heap->capacity * 2 : 16;
    hwl_timer *grown = realloc(heap->items, capacity * sizeof *grown);
    if (!grown) abort();  // as the runtime does when it cannot allocate a job
    heap->items = grown;
    heap->capacity = capacity;
  }
  size_t i = heap->count++;
  heap->items[i] = (hwl_timer){at, heap->next_seq++, job, fn, context};
  while (i > 0 && earlier(&heap->items[i], &heap->items[(i - 1) / 2])) {
    swap_timers(&heap->items[i], &heap->items[(i - 1) / 2]);
    i = (i - 1) / 2;
  }
}

int hwl_timer_heap_pop(hwl_timer_heap *heap, hwl_timer *out) {
  if (heap->count == 0) return -1;
  *out = heap->items[0];
  heap->items[0] = heap->items[--heap->count];
  for (size_t i = 0;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < heap->count && earlier(&heap->items[l], &heap->items[m])) m = l;
    if (r < heap->count && earlier(&heap->items[r], &heap->items[m])) m = r;
    if (m == i) break;
    swap_timers(&heap->items[i], &heap->items[m]);
    i = m;
  }
  return 0;
}

int hwl_timer_heap_peek(const hwl_timer_heap *heap, unsigned long long *at) {
  if (heap->count == 0) return -1;
  *at = heap->items[0].at;
  return 0;
}

void hwl_timer_heap_free(hwl_timer_heap *heap) {
  free(heap->items);
  *heap = (hwl_timer_heap){0};
}

static void *worker(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
  for (;;) {
    uint64_t now = monotonic_ns();
    bool fired = false;
    hwl_timer due;
    while (!fired && timers.count > 0 && timers.items[0].at <= now && hwl_timer_heap_pop(&timers, &due) == 0) {
      if (due.job) { push_ready(due.job); continue; }
      if (timers.count > 0 && !timer_waiter) pthread_cond_signal(&wake);
      pthread_mutex_unlock(&lock);
      due.fn(due.context);  // resumes a sleeping task: enqueues its job here
      pthread_mutex_lock(&lock);
      fired = true;
    }
    if (fired) continue;
    hwl_job *job = pop_ready();
    if (job) {
      // Leave no work unattended while this thread runs the job: another ready job, or a
      // deadline no idle thread is sleeping towards.
      if (ready_head || (timers.count > 0 && !timer_waiter)) pthread_cond_signal(&wake);
      pthread_mutex_unlock(&lock);
      swift_job_run(job, (hwl_executor_ref){NULL, 0});  // on the generic executor
      pthread_mutex_lock(&lock);
      continue;
    }
    if (timers.count > 0 && !timer_waiter) {
      timer_waiter = true;
      uint64_t at = timers.items[0].at;
      struct timespec ts = {(time_t)(at / 1000000000ull), (long)(at % 1000000000ull)};
      pthread_cond_timedwait(&wake, &lock, &ts);
      timer_waiter = false;
    } else {
      pthread_cond_wait(&wake, &lock);
    }
  }
  return NULL;
}

static void enqueue(hwl_job *job, enqueue_fn *original) __attribute__((swiftcall));
static void enqueue(hwl_job *job, enqueue_fn *original) {
  (void)original;
  pthread_mutex_lock(&lock);
  push_ready(job);
  pthread_cond_signal(&wake);
  pthread_mutex_unlock(&lock);
}

static void enqueue_at(uint64_t at, hwl_job *job, void (*fn)(void *), void *context) {
  pthread_mutex_lock(&lock);
  bool first = timers.count == 0 || at < timers.items[0].at;
  hwl_timer_heap_push(&timers, at, job, fn, context);
  // A new earliest deadline: the sleeping timer thread must shorten its sleep.
  if (first) pthread_cond_broadcast(&wake);
  pthread_mutex_unlock(&lock);
}

static void enqueue_delay(unsigned long long delay, hwl_job *job, delay_fn *original) __attribute__((swiftcall));
static void enqueue_delay(unsigned long long delay, hwl_job *job, delay_fn *original) {
  (void)original;
  enqueue_at(monotonic_ns() + delay, job, NULL, NULL);
}

static void enqueue_deadline(long long sec, long long nsec, long long tsec, long long tnsec, int clock,
                             hwl_job *job, deadline_fn *original) __attribute__((swiftcall));
static void enqueue_deadline(long long sec, long long nsec, long long tsec, long long tnsec, int clock,
                             hwl_job *job, deadline_fn *original) {
  (void)tsec; (void)tnsec; (void)original;
  // The deadline is on the task's clock (continuous or suspending); what is left of it is
  // the same span on CLOCK_MONOTONIC.
  long long now_sec = 0, now_nsec = 0;
  swift_get_time(&now_sec, &now_nsec, clock);
  long long left = (sec - now_sec) * 1000000000ll + (nsec - now_nsec);
  enqueue_at(monotonic_ns() + (left > 0 ? (uint64_t)left : 0), job, NULL, NULL);
}

int hwl_executor_install(int threads) {
  if (installed || swift_task_enqueueGlobal_hook || swift_task_enqueueGlobalWithDelay_hook ||
      swift_task_enqueueGlobalWithDeadline_hook)
    return -1;
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&wake, &attr);
  pthread_condattr_destroy(&attr);
  if (threads < 1) threads = 1;
  for (int i = 0; i < threads; i++) {
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &a, worker, NULL);
    pthread_attr_destroy(&a);
    if (rc != 0) {
      if (i == 0) { errno = rc; return -1; }
      break;
    }
  }
  installed = 1;
  swift_task_enqueueGlobal_hook = enqueue;
  swift_task_enqueueGlobalWithDelay_hook = enqueue_delay;
  swift_task_enqueueGlobalWithDeadline_hook = enqueue_deadline;
  return 0;
}

int hwl_executor_after(unsigned long long delay_ns, void (*fn)(void *), void *context) {
  if (!installed) return -1;
  enqueue_at(monotonic_ns() + delay_ns, NULL, fn, context);
  return 0;
}

int hwl_executor_installed(void) { return installed; }

int hwl_malloc_one_arena(void) { return mallopt(M_ARENA_MAX, 1) == 1 ? 0 : -1; }
