// The worker pool (parallel.h): one job at a time, each worker woken by its own
// sequence number, spinning briefly then sleeping on its own condition variable.
#include "engine/parallel.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <vector>

#include "arch/fpenv.h"

namespace fastconv {
namespace parallel {
namespace {

using Clock = std::chrono::steady_clock;

// An idle worker (or a caller waiting for its team) spins this long before it
// sleeps, pausing for the first kSpinPause and yielding its core after: back-to-back
// calls find the workers awake, and a thread of another library (or of the caller)
// that needs the core gets it while a worker waits (docs/tuning.md).
constexpr auto kSpinPause = std::chrono::microseconds(50);
constexpr auto kSpin = std::chrono::microseconds(2000);
// Workers need little stack (the kernels' scratch is on the heap); a small one
// keeps the address space a team takes small (RLIMIT_AS).
constexpr size_t kStackBytes = size_t(4) << 20;

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// Spins until done() for about kSpin; false if it is still not done.
template <class Done>
bool spin_until(Done&& done) {
  const auto start = Clock::now();
  for (int i = 1;; ++i) {
    if (done()) return true;
    arch::spin_pause();
    if (i % 64 == 0 && Clock::now() > start + kSpinPause) break;
  }
  for (;;) {
    if (done()) return true;
    sched_yield();
    if (Clock::now() > start + kSpin) return done();
  }
}

struct Job {
  BodyFn fn = nullptr;
  void* ctx = nullptr;
  int n = 1;
  bool flush = false;
  std::atomic<int> pending{0};  // workers that have not finished
  std::atomic<bool> stop{false};
  std::atomic_flag has_error = ATOMIC_FLAG_INIT;
  std::exception_ptr error;
  std::atomic<int> arrived{0};  // barrier
  std::atomic<unsigned> phase{0};
  std::mutex m;  // for waiters of the barrier that sleep
  std::condition_variable cv;
};

thread_local Job* t_job = nullptr;
thread_local bool t_worker = false;
thread_local InterruptScope* t_scope = nullptr;

void run_share(Job& j, int tid) {
  Job* prev = t_job;
  t_job = &j;
  try {
    arch::DenormalMode mode(j.flush);
    j.fn(j.ctx, tid, j.n);
  } catch (...) {
    if (!j.has_error.test_and_set()) j.error = std::current_exception();
    j.stop.store(true);
  }
  t_job = prev;
}

struct alignas(64) Worker {
  std::atomic<unsigned> seq{0};  // bumped by the caller to hand this worker a job
  std::atomic<bool> sleeping{false};
  Job* job = nullptr;
  int tid = 0;
  std::mutex m;
  std::condition_variable cv;
};

class Pool {
 public:
  std::atomic<bool> busy{false};

  // Workers for a team of n (tid 1 .. n-1), created as needed; returns the team
  // size there are threads for.
  int team(int n) {
    while (int(workers_.size()) + 1 < n && start_worker()) {
    }
    return std::min<int>(n, int(workers_.size()) + 1);
  }

  void post(Job& j) {
    for (int t = 1; t < j.n; ++t) {
      Worker& w = *workers_[size_t(t - 1)];
      w.job = &j;
      w.seq.fetch_add(1);  // seq_cst: ordered before the load of sleeping
      if (w.sleeping.load()) {
        std::lock_guard<std::mutex> lock(w.m);
        w.cv.notify_one();
      }
    }
  }

  void wait(Job& j) {
    if (spin_until([&] { return j.pending.load(std::memory_order_acquire) == 0; })) return;
    std::unique_lock<std::mutex> lock(done_m_);
    done_cv_.wait(lock, [&] { return j.pending.load(std::memory_order_acquire) == 0; });
  }

  int size() const { return int(workers_.size()); }

 private:
  std::vector<std::unique_ptr<Worker>> workers_;  // never shrinks: the threads run until exit
  std::mutex done_m_;
  std::condition_variable done_cv_;

  struct Start {
    Pool* pool;
    Worker* w;
  };

  bool start_worker() {
    auto w = std::make_unique<Worker>();
    w->tid = int(workers_.size()) + 1;
    auto* start = new Start{this, w.get()};
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) return delete start, false;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, kStackBytes);
    // Signals go to the interpreter's threads, never to a worker.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    const int err = pthread_create(&th, &attr, &Pool::main, start);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    pthread_attr_destroy(&attr);
    if (err != 0) return delete start, false;  // EAGAIN, ENOMEM: a smaller team
    workers_.push_back(std::move(w));
    return true;
  }

  static void* main(void* arg) {
    const Start start = *static_cast<Start*>(arg);
    delete static_cast<Start*>(arg);
    t_worker = true;
    Worker& w = *start.w;
    unsigned seen = 0;
    for (;;) {
      if (!spin_until([&] { return w.seq.load(std::memory_order_acquire) != seen; })) {
        std::unique_lock<std::mutex> lock(w.m);
        w.sleeping.store(true);  // seq_cst: ordered before the load of seq
        while (w.seq.load() == seen) w.cv.wait(lock);
        w.sleeping.store(false, std::memory_order_relaxed);
      }
      seen = w.seq.load(std::memory_order_acquire);
      Job& j = *w.job;
      run_share(j, w.tid);
      Pool* pool = start.pool;
      // The job lives on its caller's stack: not touched after the last decrement.
      if (j.pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(pool->done_m_);
        pool->done_cv_.notify_all();
      }
    }
    return nullptr;
  }
};

std::atomic<Pool*> g_pool{nullptr};

// A forked child has none of the parent's workers (only the forking thread is
// copied): it starts a pool of its own. The parent's is left as it was (its memory
// in the child is never touched again, not even to free it).
void after_fork_in_child() { g_pool.store(nullptr); }

Pool* pool() {
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p) return p;
  static const bool registered = (pthread_atfork(nullptr, nullptr, &after_fork_in_child), true);
  (void)registered;
  Pool* fresh = new Pool;  // starts no thread until a team asks for one
  if (g_pool.compare_exchange_strong(p, fresh)) return fresh;
  delete fresh;
  return p;
}

std::atomic<int> g_threads{0};
std::atomic<bool> g_flush{false};

}  // namespace

int hardware_threads() {
  static const int n = [] {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    const long v = sysconf(_SC_NPROCESSORS_ONLN);
    return v > 0 ? int(v) : 1;
  }();
  return n;
}

int max_threads() { return std::max(kMinMaxThreads, kThreadsPerCpu * hardware_threads()); }

namespace {
// OMP_NUM_THREADS as libgomp parses it: a comma-separated list of positive integers
// (one per nesting level, spaces around each), of which the first is the count; 0
// when unset or malformed (libgomp then ignores it too, after a warning on stderr).
// Values beyond int's range saturate (max_threads() caps them in any case).
int omp_num_threads_env() {
  const char* p = std::getenv("OMP_NUM_THREADS");
  if (!p) return 0;
  int first = 0;
  for (bool more = true; more;) {
    while (*p == ' ' || *p == '\t') ++p;
    if (*p < '0' || *p > '9') return 0;
    errno = 0;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(p, &end, 10);
    if (v == 0) return 0;
    if (first == 0) first = errno == ERANGE || v > (unsigned long long)INT_MAX ? INT_MAX : int(v);
    for (p = end; *p == ' ' || *p == '\t';) ++p;
    more = *p == ',';
    if (more) ++p;
    else if (*p) return 0;
  }
  return first;
}

int initial_default_threads() {
  static const int n = [] {
    const int env = omp_num_threads_env();
    return env > 0 ? env : hardware_threads();
  }();
  return n;
}

thread_local int t_default = 0;  // set_default_threads' value on this thread (0: none)
}  // namespace

int default_threads() { return t_default > 0 ? t_default : initial_default_threads(); }

void set_default_threads(int n) { t_default = std::max(n, 0); }

int get_num_threads() {
  const int n = g_threads.load();
  return std::clamp(n > 0 ? n : default_threads(), 1, max_threads());
}

int set_num_threads(int n) {
  const int prev = get_num_threads();
  g_threads.store(std::clamp(n, 0, max_threads()));
  return prev;
}

bool flush_denormal() { return g_flush.load(std::memory_order_relaxed); }
void set_flush_denormal(bool on) { g_flush.store(on); }

void run_job(int nt, BodyFn fn, void* ctx) {
  Job j;
  j.fn = fn, j.ctx = ctx, j.flush = flush_denormal();
  Pool* p = nullptr;
  if (nt > 1 && !t_worker) {
    p = pool();
    if (p->busy.exchange(true, std::memory_order_acquire)) p = nullptr;  // another caller's call: run alone
  }
  if (p) {
    try {
      j.n = p->team(nt);
    } catch (...) {  // bad_alloc for a worker's slot: a smaller team
      j.n = 1 + p->size() < nt ? 1 + p->size() : nt;
    }
  }
  j.pending.store(j.n - 1, std::memory_order_relaxed);
  if (j.n > 1) p->post(j);
  run_share(j, 0);
  if (j.n > 1) p->wait(j);
  if (p) p->busy.store(false, std::memory_order_release);
  if (j.error) std::rethrow_exception(j.error);
}

bool barrier() {
  Job* j = t_job;
  if (!j) return true;
  if (j->n > 1) {
    const unsigned phase = j->phase.load(std::memory_order_acquire);
    if (j->arrived.fetch_add(1, std::memory_order_acq_rel) == j->n - 1) {
      j->arrived.store(0, std::memory_order_relaxed);
      {
        std::lock_guard<std::mutex> lock(j->m);
        j->phase.fetch_add(1, std::memory_order_release);
      }
      j->cv.notify_all();
    } else {
      auto passed = [&] { return j->phase.load(std::memory_order_acquire) != phase || j->stop.load(); };
      // Sleeping, not spinning, after a while: a team mate whose core another thread
      // shares can then be moved to this one.
      if (!spin_until(passed)) {
        std::unique_lock<std::mutex> lock(j->m);
        while (!passed()) j->cv.wait_for(lock, std::chrono::milliseconds(1));
      }
    }
  }
  return !should_stop();
}

bool should_stop() {
  Job* j = t_job;
  if (t_scope && t_scope->check()) {
    if (j) j->stop.store(true, std::memory_order_relaxed);
    return true;
  }
  return j && j->stop.load(std::memory_order_relaxed);
}

InterruptScope::InterruptScope(bool (*poll)(void*), void* arg)
    : poll_(poll), arg_(arg), next_ns_(now_ns() + kPollMs * 1000000LL), prev_(t_scope) {
  t_scope = this;
}

InterruptScope::~InterruptScope() { t_scope = prev_; }

bool InterruptScope::check() {
  if (interrupted_ || !poll_) return interrupted_;
  const long long t = now_ns();
  if (t < next_ns_) return false;
  next_ns_ = t + kPollMs * 1000000LL;
  interrupted_ = poll_(arg_);
  return interrupted_;
}

int pool_workers() {
  Pool* p = g_pool.load();
  return p ? p->size() : 0;
}

void on_every_worker(void (*f)()) {
  const int n = pool_workers() + 1;
  run(n, [&](int tid, int) {
    if (tid > 0) f();
  });
}

}  // namespace parallel
}  // namespace fastconv
