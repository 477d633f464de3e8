// Builds one ISA's kernels (contracts.h: IsaKernels) from its lines of registry.inc.
// Included by that ISA's kernel TU (config/<isa>.cpp) inside its namespace, after
// its Vec traits and the other impl headers, with kIsa, kIsaName and kL2 defined.

// The traits every kernel uses (a compile-time check of simd/<isa>.h). A vector type
// as a template argument drops its alignment attribute, which GCC warns about; the
// checks only compare types.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
template <class T>
constexpr bool vec_traits_complete() {
  using V = Vec<T>;
  using R = typename V::reg;
  static_assert(V::W >= 1, "Vec<T>::W: lanes");
  static_assert(std::is_same<decltype(V::zero()), R>::value, "Vec<T>::zero()");
  static_assert(std::is_same<decltype(V::load(static_cast<const T*>(nullptr))), R>::value, "Vec<T>::load");
  static_assert(std::is_same<decltype(V::broadcast(static_cast<const T*>(nullptr))), R>::value, "Vec<T>::broadcast");
  static_assert(std::is_same<decltype(V::fmadd(V::zero(), V::zero(), V::zero())), R>::value, "Vec<T>::fmadd");
  static_assert(std::is_same<decltype(V::add(V::zero(), V::zero())), R>::value, "Vec<T>::add");
  static_assert(std::is_same<decltype(V::maskload(static_cast<const T*>(nullptr), idx_t(0))), R>::value,
                "Vec<T>::maskload");
  static_assert(std::is_same<decltype(V::hsum(V::zero())), T>::value, "Vec<T>::hsum");
  static_assert(std::is_same<decltype(V::store(static_cast<T*>(nullptr), V::zero())), void>::value, "Vec<T>::store");
  static_assert(std::is_same<decltype(V::stream(static_cast<T*>(nullptr), V::zero())), void>::value, "Vec<T>::stream");
  static_assert(std::is_same<decltype(V::maskstore(static_cast<T*>(nullptr), idx_t(0), V::zero())), void>::value,
                "Vec<T>::maskstore");
  static_assert(std::is_same<decltype(V::permute(V::make_perm(nullptr), V::zero())), R>::value, "Vec<T>::permute");
  static_assert(std::is_same<decltype(V::blend(V::zero(), V::zero(), V::make_mask(nullptr))), R>::value,
                "Vec<T>::blend");
  static_assert(std::is_same<decltype(V::template blend_imm<1>(V::zero(), V::zero())), R>::value,
                "Vec<T>::blend_imm");
  static_assert(std::is_same<decltype(V::permute_merge(V::zero(), V::make_mask(nullptr), V::make_perm(nullptr),
                                                       V::zero())),
                             R>::value,
                "Vec<T>::permute_merge");
  return true;
}
static_assert(vec_traits_complete<float>() && vec_traits_complete<double>(), "simd traits");
#pragma GCC diagnostic pop

// (I: only to make each registry line's expression depend on build_kernels' I.)
template <class T, Isa I>
static MemKernels<T> membound() {
  return {&tapreduce<T>, &dot<T>, &zip<T>, &epilogue_row<T>, Vec<T>::W};
}

template <class T, int MR, int NV, Isa I>
static GemmKernels<T> gemm_tile_kernels(const char* name, idx_t kc) {
  using Tl = Tile<MR, NV>;
  return {name, &gemm<T, Tl>, &gemm_zip<T, Tl>, &pack_b<T, Tl>, {MR, NV * Vec<T>::W, Vec<T>::W, kc, kL2, kInPlaceTiles}};
}

static GemmList<float>& gemm_list(IsaKernels& k, float*) { return k.gemm_f32; }
static GemmList<double>& gemm_list(IsaKernels& k, double*) { return k.gemm_f64; }
static MemKernels<float>& mem_of(IsaKernels& k, float*) { return k.mem_f32; }
static MemKernels<double>& mem_of(IsaKernels& k, double*) { return k.mem_f64; }

// The registry's GEMM lines of dtype T for ISA I (what its GemmList must hold).
template <class T, Isa I>
constexpr size_t registry_tiles() {
  size_t n = 0;
#define FASTCONV_MEMBOUND(isa, U)
#define FASTCONV_GEMM(isa, U, MR, NV, KC) n += Isa::isa == I && std::is_same<T, U>::value;
#include "kernels/registry.inc"
#undef FASTCONV_MEMBOUND
#undef FASTCONV_GEMM
  return n;
}
static_assert(registry_tiles<float, kIsa>() <= GemmList<float>::kMax &&
                  registry_tiles<double, kIsa>() <= GemmList<double>::kMax,
              "more GEMM lines in registry.inc than GemmList::kMax");

// The registry line of tile (MR, NV) (config/<isa>.cpp names one that is there). Reads
// items and n, not the list's members (contracts.h: GemmList).
template <class T>
static size_t find_tile(const GemmList<T>& l, const int (&tile)[2]) {
  size_t found = 0;
  for (size_t i = 0; i < l.n; ++i)
    if (l.items[i].blocking.mr == tile[0] && l.items[i].blocking.nr == tile[1] * Vec<T>::W) found = i;
  return found;
}

// The lines of registry.inc for ISA I (the others are discarded, never instantiated).
template <Isa I>
static IsaKernels build_kernels() {
  IsaKernels k{kIsaName, {}, {}, {}, {}};
#define FASTCONV_MEMBOUND(isa, T) \
  if constexpr (Isa::isa == I) mem_of(k, static_cast<T*>(nullptr)) = membound<T, I>();
#define FASTCONV_GEMM(isa, T, MR, NV, KC)                                       \
  if constexpr (Isa::isa == I) {                                                \
    GemmList<T>& l = gemm_list(k, static_cast<T*>(nullptr));                    \
    l.items[l.n++] = gemm_tile_kernels<T, MR, NV, I>(#isa " " #T " gemm " #MR "x" #NV, KC); \
  }
#include "kernels/registry.inc"
#undef FASTCONV_MEMBOUND
#undef FASTCONV_GEMM
  k.dispatch_f32 = find_tile(k.gemm_f32, kDispatchF32);
  k.dispatch_f64 = find_tile(k.gemm_f64, kDispatchF64);
  if (kFitF32[0]) k.fit_f32 = find_tile(k.gemm_f32, kFitF32);
  if (kFitF64[0]) k.fit_f64 = find_tile(k.gemm_f64, kFitF64);
  return k;
}

const IsaKernels& kernels() {
  static const IsaKernels k = build_kernels<kIsa>();
  return k;
}
