// The threads that run a call: fastconv's own worker pool, the thread count and the
// denormal mode, cancellation between blocks of work.
//
// Not OpenMP's threads: libgomp's pool does not survive fork() (a child hangs in its
// next parallel region), exits the process when it cannot create a thread, and its
// idle workers spin for milliseconds on the cores the next library's threads need.
// Here a forked child starts a fresh pool, a thread that cannot be created means a
// smaller team, and idle workers sleep after a short spin (docs/tuning.md).
// The default thread count follows OpenMP's conventions without linking an OpenMP
// runtime: OMP_NUM_THREADS, else the CPUs this process may run on, per thread as
// OpenMP's nthreads-var (threadpoolctl sets it through fastconv's controller).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <limits>
#include <type_traits>
#include <vector>

namespace fastconv {
namespace parallel {

using idx_t = std::ptrdiff_t;

// CPUs this process may run on (its affinity mask).
int hardware_threads();
// The largest count set_num_threads accepts: kThreadsPerCpu per CPU, at least kMinMaxThreads.
constexpr int kThreadsPerCpu = 4, kMinMaxThreads = 64;
int max_threads();
// The default count of the calling thread, as libgomp's omp_get_max_threads(): what
// set_default_threads gave this thread, else OMP_NUM_THREADS's first value where it
// is a positive integer (read once, at the first call), else hardware_threads().
int default_threads();
// Sets the calling thread's default count (n <= 0: back to the initial value), as
// omp_set_num_threads() does.
void set_default_threads(int n);
// Threads a call uses: set_num_threads' count, else default_threads() (at most max_threads()).
int get_num_threads();
// n in [0, max_threads()] (0: follow default_threads() again; the caller checks the range).
// Returns the previous get_num_threads().
int set_num_threads(int n);

// Flush denormals to zero in the threads of a call (off by default: IEEE results).
bool flush_denormal();
void set_flush_denormal(bool on);

using BodyFn = void (*)(void* ctx, int tid, int n);
void run_job(int nt, BodyFn fn, void* ctx);

// Runs body(tid, n) for tid < n on n <= nt threads, the calling thread as tid 0, and
// returns when all have. n < nt where threads could not be created, where the pool
// is busy with another caller's call, or in a call made from a worker. An exception
// thrown by any body stops the others at their next should_stop() or barrier() and
// is rethrown here.
template <class F>
void run(int nt, F&& body) {
  using Fn = std::remove_reference_t<F>;
  run_job(nt, [](void* ctx, int tid, int n) { (*static_cast<Fn*>(ctx))(tid, n); },
          const_cast<void*>(static_cast<const void*>(&body)));
}

// Inside run(): waits for every thread of the team. false: the call is stopping
// (interrupted, or a thread failed), and the body should return.
bool barrier();

// Between blocks of work: whether the call should stop. On the thread that made the
// call, polls its InterruptScope's hook (at most every kPollMs).
bool should_stop();

// While in scope, calls made by this thread poll(arg) between blocks (kPollMs
// apart); once it returns true, should_stop() is true for the call's threads.
constexpr int kPollMs = 50;
class InterruptScope {
 public:
  InterruptScope(bool (*poll)(void*), void* arg);
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
  bool interrupted() const { return interrupted_; }
  bool check();  // polls when due; true once interrupted

 private:
  bool (*poll_)(void*);
  void* arg_;
  long long next_ns_;
  bool interrupted_ = false;
  InterruptScope* prev_;
};

// Work items [0, total) cut into one contiguous share per thread of a team (`shares`:
// the team's size asked for), at multiples of `grain` items. Thread tid claims chunks of
// its own share front to back, then of the others' shares (from the front of what is
// left of each), so that a thread on a slower core, or one whose core another library's
// threads share, takes fewer; where the cores keep pace, a thread takes the same items
// call after call and the lines it writes stay in its own cache (a line another core
// has just written costs far more to read or write: docs/tuning.md). A chunk is half of
// what is left of its share, between `least` and `most` items (no chunk runs long
// between two checks for an interrupt), cut to a multiple of `grain` where it holds one:
// f(begin, end) for each chunk, until none is left or the call stops.
class Claims {
 public:
  Claims(idx_t total, int shares, idx_t least, idx_t most = std::numeric_limits<idx_t>::max(), idx_t grain = 1)
      : least_(std::max<idx_t>(1, least)), most_(std::max(least_, most)), grain_(std::max<idx_t>(1, grain)),
        slots_(size_t(std::max(1, shares))) {
    const idx_t grains = (total + grain_ - 1) / grain_, n = idx_t(slots_.size());
    for (idx_t t = 0; t < n; ++t) {
      slots_[size_t(t)].next.store(std::min(total, grains * t / n * grain_), std::memory_order_relaxed);
      slots_[size_t(t)].end = std::min(total, grains * (t + 1) / n * grain_);
    }
  }
  template <class F>
  void run(int tid, F&& f) {
    const size_t n = slots_.size();
    for (size_t i = 0; i < n; ++i) {
      Slot& s = slots_[(size_t(tid) + i) % n];
      for (idx_t r = s.next.load(std::memory_order_relaxed), r1;; r = s.next.load(std::memory_order_relaxed)) {
        do {
          if (r >= s.end) break;
          idx_t chunk = std::clamp((s.end - r) / 2, least_, most_);
          if (chunk >= grain_) chunk -= chunk % grain_;
          r1 = std::min(s.end, r + chunk);
        } while (!s.next.compare_exchange_weak(r, r1, std::memory_order_relaxed));
        if (r >= s.end) break;
        if (should_stop()) return;
        f(r, r1);
      }
    }
  }

 private:
  struct alignas(64) Slot {
    std::atomic<idx_t> next{0};
    idx_t end = 0;
  };
  idx_t least_, most_, grain_;
  std::vector<Slot> slots_;
};

// Elements a thread touches between two checks for an interrupt, at most (a few ms).
constexpr idx_t kChunkWork = idx_t(1) << 22;

// Threads worth using for a pass that moves `bytes`: about 64 KiB per thread at least.
inline int threads_for(idx_t bytes, int nthreads) {
  return int(std::max<idx_t>(1, std::min<idx_t>(nthreads, bytes / (64 << 10))));
}

// Worker threads started so far (the pool grows to the largest team asked for).
int pool_workers();
// Runs f() once on every worker thread (each frees what it keeps between calls).
void on_every_worker(void (*f)());

}  // namespace parallel
}  // namespace fastconv
