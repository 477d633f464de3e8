// Pairwise (cascade) summation of a sequence of partial sums pushed in order: a binary
// counter of partial sums, so that each value takes part in at most log2(count)
// additions, as numpy's pairwise sum; O(log count) state, whatever the length.
#pragma once
#include <cstdint>

namespace fastconv {
namespace engine {

template <class T>
class Cascade {
 public:
  static constexpr int kLevels = 64;
  // Level l holds the sum of the latest complete aligned block of 2^l values.
  void push(T v) {
    std::uint64_t c = count_++;
    int l = 0;
    for (; c & 1; c >>= 1, ++l) v = level_[l] + v;
    level_[l] = v;
  }
  std::uint64_t count() const { return count_; }
  // The total, continuing `acc` (set: acc holds a value): the levels from the
  // smallest block to the largest.
  void fold(T& acc, bool& set) const {
    for (int l = 0; l < kLevels; ++l)
      if (count_ >> l & 1) acc = set ? level_[l] + acc : level_[l], set = true;
  }
  T total() const {
    T acc = T(0);
    bool set = false;
    fold(acc, set);
    return acc;
  }

 private:
  T level_[kLevels];
  std::uint64_t count_ = 0;
};

// Chunk sums are summed in blocks of kBlock (aligned, a perfect pairwise tree each),
// block sums in a cascade over blocks, and a trailing partial block in one of its own:
// the same total as one cascade over every chunk, in a form whose blocks threads can
// compute apart (the result does not depend on the thread count).
constexpr std::int64_t kBlockLog2 = 6, kBlock = std::int64_t(1) << kBlockLog2;

// The total of a sequence: `blocks` over its complete blocks' sums, `tail` over the
// chunks after them (the smaller blocks come first, as in one cascade).
template <class T>
T blocked_total(const Cascade<T>& blocks, const Cascade<T>& tail) {
  T acc = T(0);
  bool set = false;
  tail.fold(acc, set);
  blocks.fold(acc, set);
  return acc;
}

}  // namespace engine
}  // namespace fastconv
