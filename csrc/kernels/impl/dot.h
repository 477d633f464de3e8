// The dot kernel (contracts.h: DotFn): the dot path's chunk sum.
// Written once over the SIMD traits Vec<T> (simd/*.h): textually included by each
// ISA's kernel TU (config/*.cpp) inside that ISA's namespace; includes no headers.

// The dot path's chunk sum (contracts.h): four accumulators, the tail's (at most four)
// vectors dealt to them in turn, combined pairwise.
template <class T>
static T dot(const T* a, const T* b, idx_t n, idx_t b_inc) {
  using V = Vec<T>;
  constexpr idx_t W = V::W;
  typename V::reg c0 = V::zero(), c1 = V::zero(), c2 = V::zero(), c3 = V::zero();
  idx_t i = 0;
  if (b_inc == 0) {
    const auto bv = V::broadcast(b);
    for (; i + 4 * W <= n; i += 4 * W) {
      c0 = V::fmadd(V::load(a + i), bv, c0);
      c1 = V::fmadd(V::load(a + i + W), bv, c1);
      c2 = V::fmadd(V::load(a + i + 2 * W), bv, c2);
      c3 = V::fmadd(V::load(a + i + 3 * W), bv, c3);
    }
    if (i < n) c0 = V::fmadd(V::maskload(a + i, n - i), bv, c0), i += W;
    if (i < n) c1 = V::fmadd(V::maskload(a + i, n - i), bv, c1), i += W;
    if (i < n) c2 = V::fmadd(V::maskload(a + i, n - i), bv, c2), i += W;
    if (i < n) c3 = V::fmadd(V::maskload(a + i, n - i), bv, c3);
  } else {
    for (; i + 4 * W <= n; i += 4 * W) {
      c0 = V::fmadd(V::load(a + i), V::load(b + i), c0);
      c1 = V::fmadd(V::load(a + i + W), V::load(b + i + W), c1);
      c2 = V::fmadd(V::load(a + i + 2 * W), V::load(b + i + 2 * W), c2);
      c3 = V::fmadd(V::load(a + i + 3 * W), V::load(b + i + 3 * W), c3);
    }
    if (i < n) c0 = V::fmadd(V::maskload(a + i, n - i), V::maskload(b + i, n - i), c0), i += W;
    if (i < n) c1 = V::fmadd(V::maskload(a + i, n - i), V::maskload(b + i, n - i), c1), i += W;
    if (i < n) c2 = V::fmadd(V::maskload(a + i, n - i), V::maskload(b + i, n - i), c2), i += W;
    if (i < n) c3 = V::fmadd(V::maskload(a + i, n - i), V::maskload(b + i, n - i), c3);
  }
  return V::hsum(V::add(V::add(c0, c1), V::add(c2, c3)));
}
