// Per-element logic of the deformable convolution, shared by the CUDA kernels
// (deform_kernels.cu) and the host test build (deform_host.cpp).
//
// Every function here is `__host__ __device__` under nvcc and a plain inline
// function under a host compiler, so the exact code that runs inside the CUDA
// kernels is also compiled by g++ and checked against the pure-PyTorch reference
// on machines without a GPU (tests/ops/test_host_kernels.py).
//
// Semantics (torchvision.ops.deform_conv2d / DCN):
//   input  (N, C, H, W), stored here channels-last: (N, H, W, C)
//   offset (N, 2*Go*K, Ho, Wo), stored here as (N, Ho, Wo, 2*Go*K);
//          channel 2*(g*K + k) holds dy and 2*(g*K + k) + 1 holds dx for offset
//          group g and kernel tap k = i*kw + j
//   mask   (N, Go*K, Ho, Wo), stored here as (N, Ho, Wo, Go*K) (DCNv2 modulation)
//   tap k of output pixel (ho, wo) samples input channel c of offset group
//   g = c / (C/Go) at
//       y = ho*sh - ph + i*dh + dy,   x = wo*sw - pw + j*dw + dx      (pixels)
//   by bilinear interpolation with zeros outside the image: a sample with
//   y <= -1, y >= H, x <= -1 or x >= W is 0, and a corner outside the image
//   contributes 0.
//   Dai et al., "Deformable Convolutional Networks", ICCV 2017 (DCNv1, eq. 2-4);
//   Zhu et al., "Deformable ConvNets v2", CVPR 2019 (DCNv2, eq. 3: modulation).
//
// Column buffer (the GEMM operand): (P, Gw, K, Cg) with P = N*Ho*Wo output
// pixels, Gw weight groups and Cg = C/Gw channels per weight group; channel c
// sits in weight group c / Cg at position c % Cg. With Gw == 1 this is the
// (P, K*C) matrix that multiplies the (K*C, Cout) weight matrix.
//
// Work decomposition ("item" = one output pixel p, tap k, offset group g):
// a team of `tpi` threads (a power of two <= 32, aligned inside a warp) owns an
// item; lane l handles channel vectors l, l + tpi, ... of `vec` consecutive
// channels, so a warp reads and writes contiguous channels (coalesced, 16-byte
// vector accesses for the widest `vec`). The per-item coordinate gradient is a
// reduction over the team's lanes (warp shuffles in the kernel, a loop on the
// host). This channel-innermost layout follows the DCNv3/InternImage (Wang et
// al., CVPR 2023) and DCNv4 (Xiong et al., CVPR 2024) kernels, which group
// channels of one sampling point together for memory efficiency.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#if defined(__CUDACC__)
#define EVD_HD __host__ __device__ __forceinline__
#else
#define EVD_HD inline
#endif

namespace evolve_deform {

// Storage dtypes the kernels are instantiated for.
enum class DType : int { kFloat32 = 0, kFloat64 = 1, kFloat16 = 2, kBFloat16 = 3 };

// Accumulation ("opmath") type: float for fp32/fp16/bf16, double for fp64.
template <typename T>
struct OpMath {
  using type = float;
};
template <>
struct OpMath<double> {
  using type = double;
};

// Widest vector (in elements) used for 16-byte loads/stores of a storage type.
template <typename T>
struct MaxVec {
  static constexpr int value = static_cast<int>(16 / sizeof(T));
};

// Geometry of one launch (one chunk of the batch). Plain data: passed by value
// to the kernels.
struct Params {
  int64_t n;              // samples in this chunk
  int64_t c, h, w;        // input channels, height, width (pixels)
  int64_t ho, wo;         // output height, width (pixels)
  int64_t kh, kw, k;      // kernel height, width, taps (k = kh*kw)
  int64_t sh, sw;         // stride (pixels)
  int64_t ph, pw;         // zero padding (pixels)
  int64_t dh, dw;         // dilation (pixels)
  int64_t go, gw;         // offset groups, weight groups
  int64_t cgo, cg;        // channels per offset group (C/Go), per weight group (C/Gw)
  int64_t items;          // n*ho*wo*k*go
  int64_t vec;            // channels per vector access (1 or MaxVec<T>)
  int64_t tpi;            // threads per item, power of two in [1, 32]
  int32_t tpi_log2;       // log2(tpi): the CUDA launch maps thread -> (item, lane) with shifts
  int64_t nvec;           // cgo / vec
  bool has_mask;          // DCNv2 modulation present
  bool wide_index;        // decode items with 64-bit arithmetic (items >= 2^31)
};

template <typename T, int V>
struct alignas(sizeof(T) * V) Vec {
  T v[V];
};

template <typename T, int V>
EVD_HD Vec<T, V> load_vec(const T* p) {
  return *reinterpret_cast<const Vec<T, V>*>(p);
}

template <typename T, int V>
EVD_HD void store_vec(T* p, const Vec<T, V>& x) {
  *reinterpret_cast<Vec<T, V>*>(p) = x;
}

EVD_HD float evd_floor(float v) { return floorf(v); }
EVD_HD double evd_floor(double v) { return floor(v); }

// One work item decoded: output pixel p = (n, ho, wo), tap k = (i, j), offset group g.
struct Item {
  int64_t p, n, ho, wo, k, i, j, g;
};

// item = (p*K + k)*Go + g,  p = (n*Ho + ho)*Wo + wo.
EVD_HD Item decode_item(const Params& P, int64_t item) {
  Item t;
  if (!P.wide_index) {
    // 32-bit divisions are several times cheaper than 64-bit ones on the GPU.
    const uint32_t it = static_cast<uint32_t>(item);
    const uint32_t go = static_cast<uint32_t>(P.go), k = static_cast<uint32_t>(P.k);
    const uint32_t wo = static_cast<uint32_t>(P.wo), ho = static_cast<uint32_t>(P.ho);
    const uint32_t kw = static_cast<uint32_t>(P.kw);
    const uint32_t r0 = it / go;
    const uint32_t p = r0 / k;
    const uint32_t r1 = p / wo;
    const uint32_t kk = r0 - p * k;
    t.g = it - r0 * go;
    t.k = kk;
    t.p = p;
    t.wo = p - r1 * wo;
    t.n = r1 / ho;
    t.ho = r1 - t.n * ho;
    t.i = kk / kw;
    t.j = kk - (kk / kw) * kw;
  } else {
    const int64_t r0 = item / P.go;
    t.g = item - r0 * P.go;
    t.p = r0 / P.k;
    t.k = r0 - t.p * P.k;
    const int64_t r1 = t.p / P.wo;
    t.wo = t.p - r1 * P.wo;
    t.n = r1 / P.ho;
    t.ho = r1 - t.n * P.ho;
    t.i = t.k / P.kw;
    t.j = t.k - t.i * P.kw;
  }
  return t;
}

// Bilinear sampling of one point: corner pixel indices (y*W + x), weights and
// their derivatives with respect to the sampling position. Corners outside the
// image have weight 0 and derivative 0 and must not be read.
// Corner order: 0 = (y0, x0), 1 = (y0, x0+1), 2 = (y0+1, x0), 3 = (y0+1, x0+1).
template <typename acc_t>
struct Bilinear {
  int64_t idx[4];
  bool valid[4];
  acc_t w[4];
  acc_t dwdy[4];
  acc_t dwdx[4];
  bool inside;  // -1 < y < H and -1 < x < W; otherwise the sample and its gradients are 0
};

template <typename acc_t>
EVD_HD Bilinear<acc_t> make_bilinear(acc_t y, acc_t x, int64_t H, int64_t W) {
  Bilinear<acc_t> b;
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    b.idx[q] = 0;
    b.valid[q] = false;
    b.w[q] = acc_t(0);
    b.dwdy[q] = acc_t(0);
    b.dwdx[q] = acc_t(0);
  }
  // NaN positions fail these comparisons and sample 0.
  b.inside = (y > acc_t(-1)) && (x > acc_t(-1)) && (y < acc_t(H)) && (x < acc_t(W));
  if (!b.inside) return b;
  const acc_t yf = evd_floor(y), xf = evd_floor(x);
  const int64_t y0 = static_cast<int64_t>(yf), x0 = static_cast<int64_t>(xf);
  const acc_t ly = y - yf, lx = x - xf;
  const acc_t hy = acc_t(1) - ly, hx = acc_t(1) - lx;
  const acc_t w[4] = {hy * hx, hy * lx, ly * hx, ly * lx};
  const acc_t dy[4] = {-hx, -lx, hx, lx};
  const acc_t dx[4] = {-hy, hy, -ly, ly};
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const int64_t yy = y0 + (q >> 1), xx = x0 + (q & 1);
    const bool ok = yy >= 0 && yy < H && xx >= 0 && xx < W;
    b.valid[q] = ok;
    b.idx[q] = ok ? yy * W + xx : 0;
    b.w[q] = ok ? w[q] : acc_t(0);
    b.dwdy[q] = ok ? dy[q] : acc_t(0);
    b.dwdx[q] = ok ? dx[q] : acc_t(0);
  }
  return b;
}

// Sampling position and modulation scalar of an item.
template <typename T, typename acc_t>
struct Tap {
  Item t;
  acc_t m;               // modulation (1 without mask)
  Bilinear<acc_t> b;
  int64_t q;             // g*K + k: index of (offset group, tap) in the offset/mask channels
};

template <typename T>
EVD_HD Tap<T, typename OpMath<T>::type> make_tap(const Params& P, const T* off, const T* msk,
                                                  int64_t item) {
  using acc_t = typename OpMath<T>::type;
  Tap<T, acc_t> s;
  s.t = decode_item(P, item);
  s.q = s.t.g * P.k + s.t.k;
  const T* o = off + s.t.p * (2 * P.go * P.k) + 2 * s.q;  // offset (N, Ho, Wo, 2*Go*K)
  const acc_t y = static_cast<acc_t>(s.t.ho * P.sh - P.ph + s.t.i * P.dh) + static_cast<acc_t>(o[0]);
  const acc_t x = static_cast<acc_t>(s.t.wo * P.sw - P.pw + s.t.j * P.dw) + static_cast<acc_t>(o[1]);
  s.m = P.has_mask ? static_cast<acc_t>(msk[s.t.p * (P.go * P.k) + s.q]) : acc_t(1);
  s.b = make_bilinear<acc_t>(y, x, P.h, P.w);
  return s;
}

// Index of column element (p, channel c, tap k) in the (P, Gw, K, Cg) column buffer.
EVD_HD int64_t col_index(const Params& P, int64_t p, int64_t k, int64_t c) {
  // channel counts fit in 32 bits; a 32-bit division is several times cheaper on the GPU
  const int64_t gw = static_cast<int32_t>(c) / static_cast<int32_t>(P.cg);
  return ((p * P.gw + gw) * P.k + k) * P.cg + (c - gw * P.cg);
}

// Forward sampling ("deformable im2col"): lane `lane` of the team owning `item`
// writes col[p, c, k] = m * bilinear(input[n, :, :, c], y, x) for its channel vectors.
//   in  (N, H, W, C), off (N, Ho, Wo, 2*Go*K), msk (N, Ho, Wo, Go*K) or null,
//   col (P, Gw, K, Cg); all pointers relative to the chunk's first sample.
template <typename T, int V>
EVD_HD void im2col_thread(const Params& P, const T* __restrict__ in, const T* __restrict__ off,
                          const T* __restrict__ msk, T* __restrict__ col, int64_t item,
                          int64_t lane) {
  using acc_t = typename OpMath<T>::type;
  const Tap<T, acc_t> s = make_tap<T>(P, off, msk, item);
  const T* img = in + s.t.n * P.h * P.w * P.c;  // (H, W, C) of sample n
  for (int64_t v = lane; v < P.nvec; v += P.tpi) {
    const int64_t c = s.t.g * P.cgo + v * V;  // first channel of this vector
    acc_t acc[V];
#pragma unroll
    for (int e = 0; e < V; ++e) acc[e] = acc_t(0);
    if (s.b.inside) {
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        if (!s.b.valid[q]) continue;
        const Vec<T, V> x = load_vec<T, V>(img + s.b.idx[q] * P.c + c);
#pragma unroll
        for (int e = 0; e < V; ++e) acc[e] += s.b.w[q] * static_cast<acc_t>(x.v[e]);
      }
    }
    Vec<T, V> out;
#pragma unroll
    for (int e = 0; e < V; ++e) out.v[e] = static_cast<T>(acc[e] * s.m);
    store_vec<T, V>(col + col_index(P, s.t.p, s.t.k, c), out);
  }
}

// Add V consecutive values into the fp32/fp64 input-gradient accumulator.
// On the GPU this is a scatter with atomics (several output pixels/taps sample
// the same input pixel); Hopper (sm_90) has 16-byte float4 atomics, which cut
// the number of atomic operations by 4. On the host it is a plain add.
template <typename acc_t, int V>
EVD_HD void accumulate_vec(acc_t* p, const acc_t* v) {
#if defined(__CUDA_ARCH__)
#if __CUDA_ARCH__ >= 900
  constexpr bool kFloat4 = std::is_same<acc_t, float>::value && V % 4 == 0;
#else
  constexpr bool kFloat4 = false;
#endif
  if constexpr (kFloat4) {
#pragma unroll
    for (int e = 0; e < V; e += 4) {
      atomicAdd(reinterpret_cast<float4*>(p + e), make_float4(v[e], v[e + 1], v[e + 2], v[e + 3]));
    }
  } else {
#pragma unroll
    for (int e = 0; e < V; ++e) atomicAdd(p + e, v[e]);
  }
#else
  for (int e = 0; e < V; ++e) p[e] += v[e];
#endif
}

// Backward for one lane of one item, given gcol = dL/dcol (P, Gw, K, Cg):
//   need_input: gin[n, y', x', c] += m * gcol * w_corner for the 4 corners
//               (gin is the (N, H, W, C) accumulator in acc_t)
//   need_coord: part[0] = sum_c m * gcol * d(sample)/dy   (-> dL/d dy)
//               part[1] = sum_c m * gcol * d(sample)/dx   (-> dL/d dx)
//               part[2] = sum_c gcol * sample             (-> dL/d mask)
// over this lane's channels; the caller sums `part` over the team's lanes.
// (DCNv2 eq. 3 differentiated.) With x_q the corner values, w_q the bilinear
// weights and dot_q = sum_c gcol_c * x_q,c, these are
//   part[0] = m * sum_q dw_q/dy * dot_q,  part[1] = m * sum_q dw_q/dx * dot_q,
//   part[2] = sum_q w_q * dot_q,
// so only one dot product per corner is live (few registers).
template <typename T, int V>
EVD_HD void col2im_coord_thread(const Params& P, const T* __restrict__ in,
                                const T* __restrict__ off, const T* __restrict__ msk,
                                const T* __restrict__ gcol,
                                typename OpMath<T>::type* __restrict__ gin, bool need_input,
                                bool need_coord, int64_t item, int64_t lane,
                                typename OpMath<T>::type* part) {
  using acc_t = typename OpMath<T>::type;
  part[0] = part[1] = part[2] = acc_t(0);
  const Tap<T, acc_t> s = make_tap<T>(P, off, msk, item);
  if (!s.b.inside) return;  // the sample is identically 0 here: no gradient flows
  const int64_t img_base = s.t.n * P.h * P.w * P.c;
  acc_t sy = acc_t(0), sx = acc_t(0), sm = acc_t(0);
  for (int64_t v = lane; v < P.nvec; v += P.tpi) {
    const int64_t c = s.t.g * P.cgo + v * V;
    const Vec<T, V> g = load_vec<T, V>(gcol + col_index(P, s.t.p, s.t.k, c));
    if (need_coord) {
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        if (!s.b.valid[q]) continue;
        const Vec<T, V> x = load_vec<T, V>(in + img_base + s.b.idx[q] * P.c + c);
        acc_t dot = acc_t(0);
#pragma unroll
        for (int e = 0; e < V; ++e) dot += static_cast<acc_t>(g.v[e]) * static_cast<acc_t>(x.v[e]);
        sy += s.b.dwdy[q] * dot;
        sx += s.b.dwdx[q] * dot;
        sm += s.b.w[q] * dot;
      }
    }
    if (need_input) {
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        if (!s.b.valid[q]) continue;
        const acc_t scale = s.m * s.b.w[q];  // d col / d input at this corner
        acc_t add[V];
#pragma unroll
        for (int e = 0; e < V; ++e) add[e] = scale * static_cast<acc_t>(g.v[e]);
        accumulate_vec<acc_t, V>(gin + img_base + s.b.idx[q] * P.c + c, add);
      }
    }
  }
  part[0] = s.m * sy;
  part[1] = s.m * sx;
  part[2] = sm;
}

// Write the team-reduced coordinate gradients of one item:
//   goff (N, Ho, Wo, 2*Go*K), gmsk (N, Ho, Wo, Go*K) or null.
template <typename T>
EVD_HD void write_coord_grads(const Params& P, T* __restrict__ goff, T* __restrict__ gmsk,
                              int64_t item, const typename OpMath<T>::type* sums) {
  const Item t = decode_item(P, item);
  const int64_t q = t.g * P.k + t.k;
  goff[t.p * (2 * P.go * P.k) + 2 * q] = static_cast<T>(sums[0]);
  goff[t.p * (2 * P.go * P.k) + 2 * q + 1] = static_cast<T>(sums[1]);
  if (P.has_mask && gmsk != nullptr) gmsk[t.p * (P.go * P.k) + q] = static_cast<T>(sums[2]);
}

// Threads per block of both CUDA kernels (a multiple of 32, so teams never straddle warps).
constexpr int kBlockThreads = 256;

// Thread -> work mapping of the CUDA launch: global thread `gid` is lane `gid mod tpi` of the
// team that owns item `gid / tpi` (tpi is a power of two dividing 32, so a team is tpi
// consecutive lanes of one warp). Threads with item >= P.items idle.
struct ThreadSlot {
  int64_t item;
  int64_t lane;
};
EVD_HD ThreadSlot thread_slot(const Params& P, int64_t gid) {
  ThreadSlot s;
  s.item = gid >> P.tpi_log2;
  s.lane = gid & (P.tpi - 1);
  return s;
}

// Threads launched for P: whole blocks covering items * tpi.
EVD_HD int64_t launch_threads(const Params& P) {
  return (P.items * P.tpi + kBlockThreads - 1) / kBlockThreads * kBlockThreads;
}

// Threads per item: the smallest power of two covering the channel vectors, capped at a warp.
EVD_HD int64_t default_team_size(int64_t nvec) {
  int64_t t = 1;
  while (t < nvec && t < 32) t *= 2;
  return t;
}

}  // namespace evolve_deform
