// The engine's paths, each in its own file; run() (engine.cpp) chooses between them.
// Each returns an empty string on success, otherwise why it has no path for the
// descriptor (having written nothing then).
#pragma once
#include <string>

#include "engine/contraction.h"

namespace fastconv {
namespace engine {

// The paths that take a bias (tapreduce, gemm, fused) apply d's epilogue as they store
// the outputs (bias: d's bias operand, null where d has none), where it varies only
// along the output axes that their tiles store together (plan.cpp); the others
// leave it to epilogue_pass().

// Memory-bound, N empty: vectorised along output lanes (tapreduce.cpp).
template <class T>
std::string tapreduce_path(const Contraction& d, const T* a, const T* b, const T* bias, T* out,
                           const KernelTable& kt, int nthreads);
// N empty, long or strided sums: vectorised along the summed terms (dot.cpp).
template <class T>
std::string dot_path(const Contraction& d, const T* a, const T* b, T* out, const KernelTable& kt, int nthreads);

// Batch, M, N and K: register-tile GEMM over packed B (gemm.cpp).
template <class T>
std::string gemm_path(const Contraction& d, const T* a, const T* b, const T* bias, T* out, const KernelTable& kt,
                      int nthreads);
// Where the GEMM path reads B in place instead of packing it: as tuned per tile
// (GemmBlocking::in_place_tiles), or, for tests of both on any ISA, never or always
// (where B's layout allows it). Process-wide.
enum class BInPlace { tuned, never, always };
void set_b_in_place(BInPlace mode);
BInPlace b_in_place();
// GEMM regions that have read B in place so far (for tests), and the call that counts one.
long long b_in_place_runs();
void count_b_in_place();
// One operand, nothing summed: copies, the zip of a channel shuffle (permute.cpp).
template <class T>
std::string permute_path(const Contraction& d, const T* a, T* out, const KernelTable& kt, int nthreads);
// A tap-reduce stage feeding a GEMM, the intermediate a block at a time in cache (fused.cpp).
template <class T>
std::string fused_path(const Contraction& d1, const Contraction& d2, const T* x, const T* w1, const T* w2,
                       const T* bias, T* out, const KernelTable& kt, int nthreads);

// out = act(out + bias) over d's outputs, after a path that does not (epilogue.cpp).
template <class T>
void epilogue_pass(const Contraction& d, const T* bias, T* out, const KernelTable& kt, int nthreads);

}  // namespace engine
}  // namespace fastconv
