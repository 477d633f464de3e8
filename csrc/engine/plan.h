// One Plan per call: the path a contraction (or a fused chain) takes, with its
// operands as that path sees them. run() executes a Plan and describe() explains
// it: the engine decides once, and what it says is what it does.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "engine/contraction.h"

namespace fastconv {
namespace engine {

enum class Path { kNone, kPermute, kTapReduce, kDot, kGemm, kFused };

struct Plan {
  Path path = Path::kNone;
  Contraction d;       // the contraction as its path sees it; kFused: the tap-reduce stage
  Contraction d2;      // kFused: the GEMM stage, reading the stage's result D
  bool swap = false;   // a and b exchanged: the larger operand goes first (the GEMM
                       // streams it and packs the other; tap-reduce vectorises along it)
  bool ones = false;   // one operand summed: b is a virtual operand of ones
  bool epi_fused = false;  // the path applies the epilogue as it stores (else a pass after it)
  std::string reason;  // kNone: why there is no path
};

// out = act(a x b + bias) (b null: one operand: a permutation, or a sum over a's labels
// missing from out; bias null: none; act an Act). err: what is wrong with the operands
// (then no plan).
Plan plan(const Operand& a, const Operand* b, const Operand& out, const KernelTable& kt, std::string& err,
          const Operand* bias = nullptr, int act = 0);

// D = a x b, then out = act(D x c + bias), with D (labels ld) computed a block of rows
// at a time and never stored whole: kFused where that chain has a path, else kNone and why.
Plan plan_chain(const Operand& a, const Operand& b, const std::string& ld, const Operand& c, const Operand& out,
                const KernelTable& kt, std::string& err, const Operand* bias = nullptr, int act = 0);

// The path's name ("none", "permute", "tapreduce", "dot", "gemm", "fused").
const char* path_name(Path p);

// Executes p on the operands it was planned for (a, b and c in the caller's order; c:
// the chain's third; bias: the epilogue's, null where it was planned without). Returns
// an empty string, or why a path refused at run time (having written nothing).
template <class T>
std::string run(const Plan& p, const T* a, const T* b, const T* c, T* out, const KernelTable& kt, int nthreads,
                const T* bias = nullptr);

// D = a x b (labels ld, C-contiguous), then out = D x c reading D with labels ld2 (a
// reshape of D: some axis split), a block of `block` indices at a time (a label of a,
// ld, ld2 and out), D held for one block in at most block_bytes (paths/staged.cpp).
template <class T>
std::string run_staged(const Operand& a, const Operand& b, const std::string& ld, const std::string& ld2,
                       const Operand& c, const Operand& out, char block, idx_t block_bytes, const T* pa,
                       const T* pb, const T* pc, T* po, const KernelTable& kt, int nthreads);

}  // namespace engine
}  // namespace fastconv
