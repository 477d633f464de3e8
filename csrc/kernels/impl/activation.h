// The activations a kernel's epilogue applies (contracts.h: Act), over Vec<T>:
// exp by range reduction (x = n ln2 + r) and a polynomial, erf by Abramowitz and
// Stegun 7.1.26 (|error| < 1.5e-7) for float; double's erf is libm's, lane by lane.
// Textually included by each ISA's kernel TU inside its namespace; includes no headers.

template <class T>
struct ExpConsts;
template <>
struct ExpConsts<float> {
  static constexpr float lo = -87.3f, hi = 88.3f;  // 2^n stays normal
  static constexpr float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
};
template <>
struct ExpConsts<double> {
  static constexpr double lo = -708.0, hi = 709.0;
  static constexpr double ln2_hi = 0.693145751953125, ln2_lo = 1.42860682030941723212e-6;
};

// e^x within 1 ulp or so for x in [lo, hi], where e^x is a normal number; an x outside
// that range (NaN included) is taken as its nearer end: the callers decide what those
// lanes give.
template <class T>
static inline typename Vec<T>::reg vexp(typename Vec<T>::reg x0) {
  using V = Vec<T>;
  using C = ExpConsts<T>;
  const auto x = V::min(V::max(x0, V::set1(C::lo)), V::set1(C::hi));
  const auto n = V::round(V::mul(x, V::set1(T(1.4426950408889634))));
  auto r = V::fmadd(n, V::set1(-C::ln2_hi), x);
  r = V::fmadd(n, V::set1(-C::ln2_lo), r);
  typename V::reg p;
  if constexpr (sizeof(T) == 4) {  // Cephes expf's polynomial, 1 + r + r^2 P(r), by Horner
    p = V::set1(T(1.9875691500e-4));
    const T c[] = {T(1.3981999507e-3), T(8.3334519073e-3), T(4.1665795894e-2), T(1.6666665459e-1),
                   T(5.0000001201e-1), T(1), T(1)};
    for (const T k : c) p = V::fmadd(p, r, V::set1(k));
  } else {  // Taylor to r^13 (|r| <= ln2 / 2: the first term left out is below 1e-17)
    p = V::set1(T(1) / T(6227020800.0));
    const T inv[] = {T(1) / T(479001600.0), T(1) / T(39916800.0), T(1) / T(3628800.0), T(1) / T(362880.0),
                     T(1) / T(40320.0),     T(1) / T(5040.0),     T(1) / T(720.0),      T(1) / T(120.0),
                     T(1) / T(24.0),        T(1) / T(6.0),        T(0.5),               T(1),
                     T(1)};
    for (const T c : inv) p = V::fmadd(p, r, V::set1(c));
  }
  return V::ldexp(p, n);
}

// x / (1 + e^-x). Below -hi, where e^-x leaves vexp's range: x * 0, i.e. -0 (the result's
// magnitude is under 1e-36 in float, 1e-305 in double) and NaN for -inf, as the formula
// gives. Above -lo, e^-x is e^lo: x / (1 + 1e-38) is x.
template <class T>
static inline typename Vec<T>::reg vsilu(typename Vec<T>::reg x) {
  using V = Vec<T>;
  const auto s = V::div(x, V::add(V::set1(T(1)), vexp<T>(V::sub(V::zero(), x))));
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
    const auto e = V::sub(V::set1(T(1)), V::mul(q, vexp<T>(V::sub(V::zero(), V::mul(a, a)))));  // erf(|z|)
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
