// The GEMM path's parallel driver: the threads' shares (Partition) and the parallel
// region that packs B and runs each thread's blocks (gemm_region); shared by the
// GEMM path and the fused chain.
#pragma once
#include <algorithm>
#include <atomic>
#include <utility>
#include <vector>

#include "arch/fpenv.h"
#include "dispatch.h"
#include "engine/paths/gemm/macrokernel.h"
#include "engine/paths/paths.h"
#include "engine/parallel.h"

namespace fastconv {
namespace engine {

// Whether an output written once (one K block) by nt threads bypasses the caches:
// where each thread's share of the output is at least half its L2, streaming it is
// faster; smaller shares stay in L2 for whatever reads them next (docs/tuning.md).
inline bool stream_output(idx_t bytes, idx_t nblocks, int nt) {
  return nblocks == 1 && bytes >= idx_t(nt) * (l2_cache_bytes() / 2);
}

inline int gemm_threads(idx_t flops, int nthreads) {
  return int(std::max<idx_t>(1, std::min<idx_t>(nthreads, flops >> 16)));
}

// The threads' shares of a GEMM. The work is a grid of row units (a tile of MR rows
// in one of `go` groups, groups innermost: they read the same pixels) by N panels.
// The panels are cut into tn column shares (only where the row units cannot feed
// every thread: a column split re-reads A), each served by tm threads. Each thread
// claims the row units of its own part of the share front to back, then helps the
// others (parallel::Claims): a static split leaves a thread idle whenever another's
// core runs slower, and one counter for all moved a row's output between the cores
// from call to call. A chunk is half of what is left of a part, at most an M block of
// mc rows of every group and at least a quarter of one (each chunk
// streams the share's packed B once more). A thread walks a chunk in M blocks,
// every group of a block in turn: the block's pixels stay in L2 while the groups
// and the share's panels pass.
struct Partition {
  idx_t M, MR, mc, go, units, npanels, tm = 1, tn = 1;
  Partition(idx_t M_, idx_t npanels_, idx_t go_, idx_t MR_, idx_t mc_max, int nt, bool split_n)
      : M(M_), MR(MR_), mc(std::min(mc_max, (M_ + MR_ - 1) / MR_ * MR_)), go(go_),
        units(go_ * ((M_ + MR_ - 1) / MR_)), npanels(npanels_) {
    idx_t best = -1;
    for (idx_t n = 1; n <= std::min<idx_t>(nt, npanels); ++n) {
      if (n > 1 && !split_n && units >= nt) break;
      const idx_t m = std::min<idx_t>(units, nt / n);
      const idx_t cost = (units + m - 1) / m * ((npanels + n - 1) / n);
      if (best < 0 || cost < best) best = cost, tm = m, tn = n;
    }
  }
  int threads() const { return int(tm * tn); }
  // Row units of each column share, claimed by its tm threads (parallel::Claims: a
  // chunk is at most an M block of every group, at least a quarter of one, and starts at
  // a tile's first group where it holds a tile); one per call.
  struct Claims {
    std::vector<parallel::Claims> shares;
    explicit Claims(const Partition& p) {
      const idx_t block_units = p.block_units(), least = p.tm == 1 ? block_units : std::max<idx_t>(1, block_units / 4);
      shares.reserve(size_t(p.tn));
      for (idx_t i = 0; i < p.tn; ++i) shares.emplace_back(p.units, int(p.tm), least, block_units, p.go);
    }
  };
  idx_t block_units() const { return std::max<idx_t>(1, mc / MR) * go; }
  // The panels [first, second) of thread tid's column share.
  std::pair<idx_t, idx_t> panels(int tid) const {
    const idx_t in = tid % tn;
    return {npanels * in / tn, npanels * (in + 1) / tn};
  }
  // Rows [m0, m0 + mcur) of group g by panels [p0, p1).
  struct Block {
    idx_t g, m0, mcur, p0, p1;
  };
  // Calls f(block, next) for each (M block, group) of the chunks that thread tid
  // claims in its column share, in order; next: the block that follows (nullptr
  // for the last one). The chunk after a block is claimed before f runs on it,
  // so that f can fetch the next block's rows ahead. Stops claiming once the call
  // is stopping (parallel::should_stop).
  template <class F>
  void for_blocks(int tid, Claims& claims, F&& f) const {
    const auto [p0, p1] = panels(tid);
    auto rows = [&](idx_t t, idx_t count) { return std::min(count * MR, M - t * MR); };
    Block cur{};
    bool pending = false;
    auto visit = [&](const Block& b) {
      if (pending) f(cur, &b);
      cur = b, pending = true;
    };
    claims.shares[size_t(tid % tn)].run(int(tid / tn), [&](idx_t r, idx_t r1) {
      while (r < r1) {
        const idx_t t = r / go;
        if (r % go != 0 || r1 - r < go) {  // a chunk of only some groups of a tile
          visit({r % go, t * MR, rows(t, 1), p0, p1});
          ++r;
          continue;
        }
        const idx_t count = (r1 - r) / go;  // at most mc / MR
        for (idx_t g = 0; g < go; ++g) visit({g, t * MR, rows(t, count), p0, p1});
        r += count * go;
      }
    });
    if (pending) f(cur, static_cast<const Block*>(nullptr));
  }
};

// A packed B of at most this many bytes is packed by every thread of a team into
// its own buffer (the panels of its column share), and read there: a line another
// core has just written costs far more to read than packing it again
// (docs/tuning.md). A larger one is packed once, each thread a share of its rows.
constexpr idx_t kOwnPackedB = idx_t(512) << 10;

// Whether the kernels read B in place rather than packed (GemmPlan::ldb, and the tile's
// in_place_tiles: few row tiles per thread pass over each panel), unless a test forced
// it (set_b_in_place).
template <class T>
bool read_b_in_place(const GemmPlan<T>& p, const Partition& part) {
  if (p.ldb == 0) return false;
  const BInPlace mode = b_in_place();
  if (mode != BInPlace::tuned) return mode == BInPlace::always;
  const idx_t tiles = (p.M + p.MR - 1) / p.MR;
  return (tiles + part.tm - 1) / part.tm <= p.bl.in_place_tiles;
}

// The parallel region of a GEMM: B packed (kOwnPackedB) unless read in place, then
// each thread's blocks, block(b, next, pb, rows_a, rows_o, next_a, tiles)
// (Partition::Block, the next one or nullptr, the B the thread reads: packed, or B
// itself where in place) with per-thread buffers of the partition's block size;
// streamed stores fenced.
template <class T, class Block>
void gemm_region(GemmPlan<T>& p, const T* b, const Partition& part, Block&& block) {
  const int nt = part.threads();
  const bool own = nt > 1 && sat_mul(p.packed(), idx_t(sizeof(T))) <= kOwnPackedB;
  p.in_place = read_b_in_place(p, part);
  if (p.in_place)
    count_b_in_place();
  else
    p.bp = scratch::get<T>(scratch::kPackedB, size_t(p.packed()));
  Partition::Claims claims(part);
  parallel::run(nt, [&](int tid, int n) {
    const T* src = b;  // where the kernels read B: B itself (GemmPlan::panel), or packed
    if (!p.in_place) {
      T* pb = p.bp;
      if (own || n == 1) {
        if (tid > 0) pb = scratch::get<T>(scratch::kPackedB, size_t(p.packed()));
        // A thread with several shares (n < nt: a smaller team) packs every panel.
        const auto [p0, p1] = n == nt ? part.panels(tid) : std::pair<idx_t, idx_t>(0, p.npanels);
        p.pack_b(b, 0, 1, pb, p0, p1);
      } else {
        p.pack_b(b, tid, n, pb, 0, p.npanels);
        if (!parallel::barrier()) return;
      }
      src = pb;
    }
    idx_t* offs = scratch::get<idx_t>(scratch::kRowOffsets, size_t(3 * part.mc));
    T* tiles = scratch::get<T>(scratch::kTiles, size_t(p.scratch));
    for (int share = tid; share < nt; share += n)  // n < nt where the pool gave fewer threads
      part.for_blocks(share, claims, [&](const Partition::Block& blk, const Partition::Block* next) {
        block(blk, next, src, offs, offs + part.mc, offs + 2 * part.mc, tiles);
      });
    if (p.stream) arch::store_fence();
  });
}

}  // namespace engine
}  // namespace fastconv
