// A global executor for Swift concurrency with no periodic timer: see hwlabel_executor.h.
//
// The runtime's hooks and job entry points are declared as swift/ExecutorImpl.h (shipped
// with the toolchain for custom executors) declares them; the job header below mirrors its
// SwiftJob, whose schedulerPrivate words belong to the executor that holds the job.
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

typedef struct {
  uint64_t at;   // CLOCK_MONOTONIC nanoseconds
  uint64_t seq;  // FIFO among equal deadlines
  hwl_job *job;  // a delayed job, or else a timer callback:
  void (*fn)(void *);
  void *context;
} timed_job;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake;
static hwl_job *ready_head, *ready_tail;
static timed_job *timers;
static size_t timer_count, timer_capacity;
static uint64_t timer_seq;
static bool timer_waiter;  // one idle thread sleeps until the earliest deadline; the rest, untimed
static _Atomic int installed;  // read by AgentSleep on any thread

static uint64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool earlier(const timed_job *a, const timed_job *b) {
  return a->at < b->at || (a->at == b->at && a->seq < b->seq);
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

static void push_timer(uint64_t at, hwl_job *job, void (*fn)(void *), void *context) {
  if (timer_count == timer_capacity) {
    size_t capacity = timer_capacity ? timer_capacity * 2 : 16;
    timed_job *grown = realloc(timers, capacity * sizeof *grown);
    if (!grown) abort();  // as the runtime does when it cannot allocate a job
    timers = grown;
    timer_capacity = capacity;
  }
  size_t i = timer_count++;
  timers[i] = (timed_job){at, timer_seq++, job, fn, context};
  while (i > 0 && earlier(&timers[i], &timers[(i - 1) / 2])) {
    timed_job t = timers[i];
    timers[i] = timers[(i - 1) / 2];
    timers[(i - 1) / 2] = t;
    i = (i - 1) / 2;
  }
}

static timed_job pop_timer(void) {
  timed_job due = timers[0];
  timers[0] = timers[--timer_count];
  for (size_t i = 0;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < timer_count && earlier(&timers[l], &timers[m])) m = l;
    if (r < timer_count && earlier(&timers[r], &timers[m])) m = r;
    if (m == i) break;
    timed_job t = timers[i];
    timers[i] = timers[m];
    timers[m] = t;
    i = m;
  }
  return due;
}

static void *worker(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
  for (;;) {
    uint64_t now = monotonic_ns();
    bool fired = false;
    while (!fired && timer_count > 0 && timers[0].at <= now) {
      timed_job due = pop_timer();
      if (due.job) { push_ready(due.job); continue; }
      if (timer_count > 0 && !timer_waiter) pthread_cond_signal(&wake);
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
      if (ready_head || (timer_count > 0 && !timer_waiter)) pthread_cond_signal(&wake);
      pthread_mutex_unlock(&lock);
      swift_job_run(job, (hwl_executor_ref){NULL, 0});  // on the generic executor
      pthread_mutex_lock(&lock);
      continue;
    }
    if (timer_count > 0 && !timer_waiter) {
      timer_waiter = true;
      uint64_t at = timers[0].at;
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
  bool first = timer_count == 0 || at < timers[0].at;
  push_timer(at, job, fn, context);
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
