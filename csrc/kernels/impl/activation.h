// The activations a kernel's epilogue applies (contracts.h: Act), over Vec<T>:
// e^-y by range reduction and a polynomial, erf by Abramowitz and
// Stegun 7.1.26 (|error| < 1.5e-7) for float; double's erf is libm's, lane by lane.
// Textually included by each ISA's kernel TU inside its namespace; includes no headers.

template <class T>
struct ExpConsts;
template <>
struct ExpConsts<float> {
  static constexpr float lo = -87.3f, hi = 88.3f;  // 2^n stays normal
  static constexpr float wide = 200.f;             // past float's range, r still exact enough
  static constexpr float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
};
template <>
struct ExpConsts<double> {
  static constexpr double lo = -708.0, hi = 709.0;
  static constexpr double wide = 1500.0;
  static constexpr double ln2_hi = 0.693145751953125, ln2_lo = 1.42860682030941723212e-6;
};

// Whether V::ldexp(p, n) is p 2^n for any integral n, inf or 0 past the type's range
// (AVX-512's scalef, libm's ldexp), not only where 2^n is a normal number (an exponent
// built in integer lanes).
template <class V, class = void>
struct LdexpSaturates : std::false_type {};
template <class V>
struct LdexpSaturates<V, std::void_t<decltype(V::kLdexpSaturates)>>
    : std::integral_constant<bool, V::kLdexpSaturates> {};

// e^-y by range reduction (-y = n ln2 + r, |r| <= ln2 / 2) and a polynomial in r,
// evaluated in u = -r (its odd coefficients negated), so that the argument is never
// negated. float: the degree-5 minimax polynomial of e^r on [-ln2/2, ln2/2] (XNNPACK's
// p5 coefficients; SiLU's bound: test_silu_is_within_a_few_ulps); double: Taylor to
// r^13 (the first term left out is below 1e-17). y is first clamped to where 2^n stays normal, or where ldexp
// saturates, to [-wide, wide]: e^-y is then inf or 0 beyond the type's range, as it is.
template <class T>
static inline typename Vec<T>::reg vexpm(typename Vec<T>::reg y) {
  using V = Vec<T>;
  using C = ExpConsts<T>;
  constexpr bool sat = LdexpSaturates<V>::value;
  y = V::min(V::max(y, V::set1(sat ? -C::wide : -C::hi)), V::set1(sat ? C::wide : -C::lo));
  const auto n = V::round(V::mul(y, V::set1(T(-1.4426950408889634))));
  auto u = V::fmadd(n, V::set1(C::ln2_hi), y);
  u = V::fmadd(n, V::set1(C::ln2_lo), u);
  typename V::reg p;
  if constexpr (sizeof(T) == 4) {  // c_k of r^k, k = 5 .. 0, signs of u^k
    p = V::set1(T(-0x1.0F9F9Cp-7f));
    const T c[] = {T(0x1.573A1Ap-5f), T(-0x1.555A80p-3f), T(0x1.FFFDC6p-2f), T(-0x1.FFFFF6p-1f), T(1)};
    for (const T k : c) p = V::fmadd(p, u, V::set1(k));
  } else {
    p = V::set1(T(-1) / T(6227020800.0));
    const T inv[] = {T(1) / T(479001600.0), T(-1) / T(39916800.0), T(1) / T(3628800.0), T(-1) / T(362880.0),
                     T(1) / T(40320.0),     T(-1) / T(5040.0),     T(1) / T(720.0),      T(-1) / T(120.0),
                     T(1) / T(24.0),        T(-1) / T(6.0),        T(0.5),               T(-1),
                     T(1)};
    for (const T c : inv) p = V::fmadd(p, u, V::set1(c));
  }
  return V::ldexp(p, n);
}

// x / (1 + e^-x). Where ldexp saturates, e^-x is inf below -wide: x / inf is -0 (the
// result's magnitude is under 1e-36 in float, 1e-305 in double), NaN for -inf, as the
// formula gives; elsewhere lanes below -hi are set to x * 0, the same. Above wide (or
// -lo), e^-x is 0 (or e^lo): x / (1 + 1e-38) is x.
template <class T>
static inline typename Vec<T>::reg vsilu(typename Vec<T>::reg x) {
  using V = Vec<T>;
  const auto s = V::div(x, V::add(V::set1(T(1)), vexpm<T>(x)));
  if constexpr (LdexpSaturates<V>::value) return s;
  return V::blend(s, V::mul(x, V::zero()), V::lt(x, V::set1(-ExpConsts<T>::hi)));
}

// x (1 + erf(x / sqrt 2)) / 2
template <class T>
static inline typename Vec<T>::reg vgelu(typename Vec<T>::reg x) {
  using V = Vec<T>;
  if constexpr (sizeof(T) == 4) {
    const auto z = V::mul(x, V::set1(T(0.70710678118654752)));
    const auto a = V::max(z, V::sub(V::zero(), z));  // |z|
    const auto t = V::div(V::set1(T(1)), V::fmadd(a, V::set1(T(0.3275911)), V::set1(T(1))));
    auto q = V::set1(T(1.061405429));
    q = V::fmadd(q, t, V::set1(T(-1.453152027)));
    q = V::fmadd(q, t, V::set1(T(1.421413741)));
    q = V::fmadd(q, t, V::set1(T(-0.284496736)));
    q = V::fmadd(q, t, V::set1(T(0.254829592)));
    q = V::mul(q, t);
    const auto e = V::sub(V::set1(T(1)), V::mul(q, vexpm<T>(V::mul(a, a))));  // erf(|z|)
    const auto erf = V::blend(e, V::sub(V::zero(), e), V::lt(z, V::zero()));
    return V::mul(V::mul(x, V::set1(T(0.5))), V::add(V::set1(T(1)), erf));
  } else {  // libm's erf, lane by lane
    T l[V::W];
    V::store(l, x);
    for (int i = 0; i < V::W; ++i) l[i] = T(0.5) * l[i] * (T(1) + std::erf(l[i] * T(0.70710678118654752)));
    return V::load(l);
  }
}

template <class T>
static inline typename Vec<T>::reg activate(typename Vec<T>::reg v, int act) {
  using V = Vec<T>;
  switch (Act(act)) {
    case Act::relu: return V::max(v, V::zero());
    case Act::relu6: return V::min(V::max(v, V::zero()), V::set1(T(6)));
    case Act::silu: return vsilu<T>(v);
    case Act::gelu: return vgelu<T>(v);
    case Act::none: break;
  }
  return v;
}

// A kernel's epilogue (contracts.h): bias (one value per output column, or none) then
// the activation, on a vector of outputs from column j or on one output.
template <class T>
struct Epilogue {
  const T* bias;
  int act;
  bool active() const { return bias || act; }
  typename Vec<T>::reg operator()(typename Vec<T>::reg v, idx_t j) const {
    if (bias) v = Vec<T>::add(v, Vec<T>::load(bias + j));
    return act ? activate<T>(v, act) : v;
  }
  // Outputs [j, j + n) of a vector (n < W): the bias read no further than them.
  typename Vec<T>::reg part(typename Vec<T>::reg v, idx_t j, idx_t n) const {
    if (bias) v = Vec<T>::add(v, Vec<T>::maskload(bias + j, n));
    return act ? activate<T>(v, act) : v;
  }
  T one(T v, idx_t j) const {
    if (bias) v += bias[j];
    if (!act) return v;
    T l[Vec<T>::W] = {};
    l[0] = v;
    Vec<T>::store(l, activate<T>(Vec<T>::load(l), act));
    return l[0];
  }
};

// The epilogue of a contiguous row of outputs (contracts.h: MemKernels::epilogue).
template <class T>
static void epilogue_row(T* x, idx_t n, const T* bias, int act) {
  using V = Vec<T>;
  const Epilogue<T> e{bias, act};
  idx_t j = 0;
  for (; j + V::W <= n; j += V::W) V::store(x + j, e(V::load(x + j), j));
  if (j < n) V::maskstore(x + j, n - j, e.part(V::maskload(x + j, n - j), j, n - j));
}
