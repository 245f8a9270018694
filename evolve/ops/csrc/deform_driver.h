// Host-side orchestration of the deformable convolution, written once with ATen
// tensor operations and instantiated twice: with the CUDA executor
// (deform_cuda.cpp: kernels in deform_kernels.cu, GEMMs in cuBLAS through
// at::mm/at::bmm) and with the host executor (deform_host.cpp: the same
// per-element code from deform_common.h run in loops on the CPU, used by the
// tests on machines without a GPU).
//
// Algorithm (DCNv1/v2 "im2col + GEMM", Dai et al. 2017, Zhu et al. 2019), with
// the layout chosen for tensor cores and coalesced sampling:
//   forward:  col (P, Gw, K, Cg) = deformable sampling of the channels-last input
//             out (P, Cout)       = col @ W^T   (one GEMM per chunk and weight group;
//                                                fp16/bf16 run on tensor cores)
//   backward: dW   = dOut^T @ col              (col re-sampled, not stored)
//             dcol = dOut @ W
//             d input (atomic scatter into an fp32/fp64 buffer), d offset and
//             d mask (per-item reductions over channels) from dcol in one kernel.
// P = N*Ho*Wo rows are processed in chunks of whole samples so the column buffer
// stays under `max_col_bytes`; with the default budget a whole EVOLVE batch
// (N <= 48, C = 256, 30x54 at stride 16) is one sampling launch and one GEMM.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "deform_common.h"

namespace evolve_deform {

// Shapes of one call, validated.
struct Geometry {
  int64_t n, c, h, w, cout, kh, kw, k, ho, wo, go, gw, cgo, cg;
  int64_t sh, sw, ph, pw, dh, dw;
  bool has_mask;
};

inline Geometry make_geometry(const at::Tensor& input, const at::Tensor& offset,
                              const std::optional<at::Tensor>& mask, const at::Tensor& weight,
                              int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                              int64_t dw) {
  TORCH_CHECK(input.dim() == 4, "deform_conv2d: input must be (N, C, H, W), got ", input.sizes());
  TORCH_CHECK(offset.dim() == 4, "deform_conv2d: offset must be 4-D, got ", offset.sizes());
  TORCH_CHECK(weight.dim() == 4, "deform_conv2d: weight must be 4-D, got ", weight.sizes());
  TORCH_CHECK(sh > 0 && sw > 0 && dh > 0 && dw > 0 && ph >= 0 && pw >= 0,
              "deform_conv2d: stride and dilation must be positive and padding non-negative");
  Geometry g;
  g.n = input.size(0);
  g.c = input.size(1);
  g.h = input.size(2);
  g.w = input.size(3);
  g.cout = weight.size(0);
  g.kh = weight.size(2);
  g.kw = weight.size(3);
  g.k = g.kh * g.kw;
  g.sh = sh;
  g.sw = sw;
  g.ph = ph;
  g.pw = pw;
  g.dh = dh;
  g.dw = dw;
  g.ho = (g.h + 2 * ph - (dh * (g.kh - 1) + 1)) / sh + 1;
  g.wo = (g.w + 2 * pw - (dw * (g.kw - 1) + 1)) / sw + 1;
  TORCH_CHECK(g.ho > 0 && g.wo > 0, "deform_conv2d: empty output (", g.ho, "x", g.wo, ")");
  TORCH_CHECK(weight.size(1) > 0 && g.c % weight.size(1) == 0,
              "deform_conv2d: input channels ", g.c, " not divisible by weight.size(1) ",
              weight.size(1));
  g.gw = g.c / weight.size(1);
  g.cg = weight.size(1);
  TORCH_CHECK(g.cout % g.gw == 0, "deform_conv2d: out channels ", g.cout,
              " not divisible by weight groups ", g.gw);
  TORCH_CHECK(offset.size(1) % (2 * g.k) == 0 && offset.size(1) > 0,
              "deform_conv2d: offset channels ", offset.size(1), " not a multiple of 2*kh*kw");
  g.go = offset.size(1) / (2 * g.k);
  TORCH_CHECK(g.c % g.go == 0, "deform_conv2d: input channels ", g.c,
              " not divisible by offset groups ", g.go);
  g.cgo = g.c / g.go;
  TORCH_CHECK(offset.size(0) == g.n && offset.size(2) == g.ho && offset.size(3) == g.wo,
              "deform_conv2d: offset shape ", offset.sizes(), " does not match output ", g.n, "x",
              g.ho, "x", g.wo);
  g.has_mask = mask.has_value() && mask->defined();
  if (g.has_mask) {
    TORCH_CHECK(mask->dim() == 4 && mask->size(0) == g.n && mask->size(1) == g.go * g.k &&
                    mask->size(2) == g.ho && mask->size(3) == g.wo,
                "deform_conv2d: mask shape ", mask->sizes(), " expected (", g.n, ", ", g.go * g.k,
                ", ", g.ho, ", ", g.wo, ")");
  }
  return g;
}

inline DType to_dtype(at::ScalarType s) {
  switch (s) {
    case at::kFloat:
      return DType::kFloat32;
    case at::kDouble:
      return DType::kFloat64;
    case at::kHalf:
      return DType::kFloat16;
    case at::kBFloat16:
      return DType::kBFloat16;
    default:
      TORCH_CHECK(false, "deform_conv2d: unsupported dtype ", s,
                  " (float32, float64, float16, bfloat16 are supported)");
  }
  return DType::kFloat32;
}

// Kernel configuration knobs; 0 = automatic. Exposed so tests can run every
// code path (scalar and vector accesses, teams narrower/wider than the channel
// count, 64-bit item decoding, several chunks) on small shapes.
struct Knobs {
  int64_t max_col_bytes;  // column-buffer budget per chunk
  int64_t vec;            // 0 auto, 1 scalar, or the widest vector of the dtype
  int64_t tpi;            // 0 auto, else a power of two in [1, 32]
  bool wide_index;        // force 64-bit item decoding
};

inline bool aligned_to(const void* p, int64_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % static_cast<uintptr_t>(bytes) == 0;
}

inline const void* at_offset(const at::Tensor& t, int64_t elems) {
  return static_cast<const char*>(t.data_ptr()) + elems * static_cast<int64_t>(t.element_size());
}
inline void* at_offset_mut(const at::Tensor& t, int64_t elems) {
  return static_cast<char*>(t.data_ptr()) + elems * static_cast<int64_t>(t.element_size());
}

// Launch parameters shared by all chunks (n and items are set per chunk).
inline Params make_params(const Geometry& g, const at::Tensor& in_nhwc, const Knobs& knobs) {
  Params P{};
  P.c = g.c;
  P.h = g.h;
  P.w = g.w;
  P.ho = g.ho;
  P.wo = g.wo;
  P.kh = g.kh;
  P.kw = g.kw;
  P.k = g.k;
  P.sh = g.sh;
  P.sw = g.sw;
  P.ph = g.ph;
  P.pw = g.pw;
  P.dh = g.dh;
  P.dw = g.dw;
  P.go = g.go;
  P.gw = g.gw;
  P.cgo = g.cgo;
  P.cg = g.cg;
  P.has_mask = g.has_mask;
  const int64_t elem = in_nhwc.element_size();
  const int64_t vmax = 16 / elem;
  // The widest vector when channel groups split on vector boundaries and the
  // input is 16-byte aligned (fresh buffers from the allocator always are).
  const bool vec_ok = g.cgo % vmax == 0 && g.cg % vmax == 0 &&
                      aligned_to(in_nhwc.data_ptr(), vmax * elem);
  if (knobs.vec == 0) {
    P.vec = vec_ok ? vmax : 1;
  } else {
    TORCH_CHECK(knobs.vec == 1 || knobs.vec == vmax, "deform_conv2d: vec must be 0, 1 or ", vmax);
    TORCH_CHECK(knobs.vec == 1 || vec_ok, "deform_conv2d: channel groups (", g.cgo, ", ", g.cg,
                ") do not allow vector width ", vmax);
    P.vec = knobs.vec;
  }
  P.nvec = g.cgo / P.vec;
  if (knobs.tpi == 0) {
    P.tpi = default_team_size(P.nvec);
  } else {
    TORCH_CHECK(knobs.tpi >= 1 && knobs.tpi <= 32 && (knobs.tpi & (knobs.tpi - 1)) == 0,
                "deform_conv2d: tpi must be a power of two in [1, 32]");
    P.tpi = knobs.tpi;
  }
  P.tpi_log2 = 0;
  while ((int64_t(1) << P.tpi_log2) < P.tpi) ++P.tpi_log2;
  return P;
}

inline void set_chunk(Params& P, int64_t n_chunk, bool force_wide) {
  P.n = n_chunk;
  P.items = n_chunk * P.ho * P.wo * P.k * P.go;
  P.wide_index = force_wide || P.items * P.tpi >= (int64_t(1) << 31);
}

// Samples per chunk so that one (P_chunk, K*C) buffer stays under the budget.
inline int64_t chunk_samples(const Geometry& g, int64_t elem, int64_t max_col_bytes) {
  const int64_t per_sample = std::max<int64_t>(1, g.ho * g.wo * g.k * g.c * elem);
  const int64_t budget = max_col_bytes > 0 ? max_col_bytes : (int64_t(1) << 30);
  return std::max<int64_t>(1, std::min<int64_t>(g.n, budget / per_sample));
}

inline at::Tensor to_nhwc(const at::Tensor& t) { return t.permute({0, 2, 3, 1}).contiguous(); }

// Executor concept:
//   static void im2col(const Params&, DType, const void* in, const void* off,
//                      const void* msk, void* col);
//   static void col2im_coord(const Params&, DType, const void* in, const void* off,
//                            const void* msk, const void* gcol, void* gin, void* goff,
//                            void* gmsk, bool need_input, bool need_coord);

// Forward. input (N, C, H, W), offset (N, 2*Go*K, Ho, Wo), mask (N, Go*K, Ho, Wo)
// or none, weight (Cout, C/Gw, kh, kw), bias (Cout) or none; all one dtype and
// device. Returns (N, Cout, Ho, Wo) in the input's memory format.
template <class Exec>
at::Tensor deform_forward(const at::Tensor& input, const at::Tensor& offset,
                          const std::optional<at::Tensor>& mask, const at::Tensor& weight,
                          const std::optional<at::Tensor>& bias, int64_t sh, int64_t sw, int64_t ph,
                          int64_t pw, int64_t dh, int64_t dw, const Knobs& knobs) {
  const Geometry g = make_geometry(input, offset, mask, weight, sh, sw, ph, pw, dh, dw);
  const DType dt = to_dtype(input.scalar_type());
  const int64_t L = g.ho * g.wo;
  const at::Tensor in = to_nhwc(input);    // (N, H, W, C)
  const at::Tensor off = to_nhwc(offset);  // (N, Ho, Wo, 2*Go*K)
  at::Tensor msk;                          // (N, Ho, Wo, Go*K)
  if (g.has_mask) msk = to_nhwc(*mask);
  // (Cout, kh, kw, Cg) -> (Gw, Cout/Gw, K*Cg): rows match the column layout.
  const at::Tensor wmat = weight.permute({0, 2, 3, 1}).contiguous().view({g.gw, g.cout / g.gw, g.k * g.cg});
  at::Tensor out = at::empty({g.n * L, g.cout}, input.options());  // (N*Ho*Wo, Cout)
  Params P = make_params(g, in, knobs);
  const int64_t chunk = chunk_samples(g, input.element_size(), knobs.max_col_bytes);
  for (int64_t n0 = 0; n0 < g.n; n0 += chunk) {
    const int64_t nc = std::min(chunk, g.n - n0);
    const int64_t rows = nc * L;
    set_chunk(P, nc, knobs.wide_index);
    at::Tensor col = at::empty({rows, g.gw, g.k * g.cg}, input.options());  // (rows, Gw, K*Cg)
    Exec::im2col(P, dt, at_offset(in, n0 * g.h * g.w * g.c), at_offset(off, n0 * L * 2 * g.go * g.k),
                 g.has_mask ? at_offset(msk, n0 * L * g.go * g.k) : nullptr, col.data_ptr());
    at::Tensor out_c = out.narrow(0, n0 * L, rows);  // (rows, Cout)
    if (g.gw == 1) {
      at::mm_out(out_c, col.view({rows, g.k * g.c}), wmat[0].t());
    } else {
      // (Gw, rows, K*Cg) @ (Gw, K*Cg, Cout/Gw) -> (Gw, rows, Cout/Gw)
      const at::Tensor r = at::bmm(col.transpose(0, 1), wmat.transpose(1, 2));
      out_c.view({rows, g.gw, g.cout / g.gw}).copy_(r.transpose(0, 1));
    }
  }
  if (bias.has_value() && bias->defined()) out.add_(*bias);
  // (N*Ho*Wo, Cout) -> (N, Cout, Ho, Wo)
  return out.view({g.n, g.ho, g.wo, g.cout}).permute({0, 3, 1, 2}).contiguous(input.suggest_memory_format());
}

// Backward. Returns {grad_input, grad_offset, grad_mask, grad_weight, grad_bias};
// an entry is undefined (None in Python) when not requested.
template <class Exec>
std::vector<at::Tensor> deform_backward(const at::Tensor& grad_out, const at::Tensor& input,
                                        const at::Tensor& offset,
                                        const std::optional<at::Tensor>& mask,
                                        const at::Tensor& weight, int64_t sh, int64_t sw,
                                        int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                                        bool need_input, bool need_offset, bool need_mask,
                                        bool need_weight, bool need_bias, const Knobs& knobs) {
  const Geometry g = make_geometry(input, offset, mask, weight, sh, sw, ph, pw, dh, dw);
  TORCH_CHECK(grad_out.dim() == 4 && grad_out.size(0) == g.n && grad_out.size(1) == g.cout &&
                  grad_out.size(2) == g.ho && grad_out.size(3) == g.wo,
              "deform_conv2d backward: grad_output shape ", grad_out.sizes(), " is not (", g.n,
              ", ", g.cout, ", ", g.ho, ", ", g.wo, ")");
  const DType dt = to_dtype(input.scalar_type());
  const at::ScalarType acc_type = input.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const bool reduced = input.scalar_type() == at::kHalf || input.scalar_type() == at::kBFloat16;
  const int64_t L = g.ho * g.wo;
  need_mask = need_mask && g.has_mask;
  const bool need_coord = need_offset || need_mask;
  const bool need_gcol = need_input || need_coord;

  const at::Tensor G = to_nhwc(grad_out.to(input.scalar_type())).view({g.n * L, g.cout});  // (N*Ho*Wo, Cout)
  const at::Tensor in = to_nhwc(input);    // (N, H, W, C)
  const at::Tensor off = to_nhwc(offset);  // (N, Ho, Wo, 2*Go*K)
  at::Tensor msk;
  if (g.has_mask) msk = to_nhwc(*mask);  // (N, Ho, Wo, Go*K)
  const at::Tensor wmat = weight.permute({0, 2, 3, 1}).contiguous().view({g.gw, g.cout / g.gw, g.k * g.cg});

  at::Tensor gin, goff, gmsk, gw_acc, grad_bias;
  if (need_input) gin = at::zeros({g.n, g.h, g.w, g.c}, input.options().dtype(acc_type));  // (N, H, W, C)
  if (need_coord) goff = at::empty({g.n, g.ho, g.wo, 2 * g.go * g.k}, input.options());
  if (need_coord && g.has_mask) gmsk = at::empty({g.n, g.ho, g.wo, g.go * g.k}, input.options());
  if (need_bias) grad_bias = G.sum(0, false, acc_type).to(input.scalar_type());

  Params P = make_params(g, in, knobs);
  const int64_t chunk = chunk_samples(g, input.element_size(), knobs.max_col_bytes);
  const bool multi = chunk < g.n;
  if (g.n > 0 && (need_weight || need_gcol)) {
    for (int64_t n0 = 0; n0 < g.n; n0 += chunk) {
      const int64_t nc = std::min(chunk, g.n - n0);
      const int64_t rows = nc * L;
      set_chunk(P, nc, knobs.wide_index);
      const at::Tensor Gc = G.narrow(0, n0 * L, rows);  // (rows, Cout)
      const void* in_c = at_offset(in, n0 * g.h * g.w * g.c);
      const void* off_c = at_offset(off, n0 * L * 2 * g.go * g.k);
      const void* msk_c = g.has_mask ? at_offset(msk, n0 * L * g.go * g.k) : nullptr;
      if (need_weight) {
        at::Tensor col = at::empty({rows, g.gw, g.k * g.cg}, input.options());  // (rows, Gw, K*Cg)
        Exec::im2col(P, dt, in_c, off_c, msk_c, col.data_ptr());
        at::Tensor part;  // (Gw, Cout/Gw, K*Cg)
        if (g.gw == 1) {
          part = at::mm(Gc.t(), col.view({rows, g.k * g.c})).unsqueeze(0);
        } else {
          // (Gw, Cout/Gw, rows) @ (Gw, rows, K*Cg)
          part = at::bmm(Gc.view({rows, g.gw, g.cout / g.gw}).permute({1, 2, 0}), col.transpose(0, 1));
        }
        if (!gw_acc.defined()) {
          gw_acc = (multi && reduced) ? part.to(at::kFloat) : part;
        } else {
          gw_acc.add_(part);
        }
      }
      if (need_gcol) {
        at::Tensor gcol;  // (rows, Gw, K*Cg)
        if (g.gw == 1) {
          gcol = at::mm(Gc, wmat[0]).contiguous();  // (rows, K*C), row-major for the kernel
        } else {
          // (Gw, rows, Cout/Gw) @ (Gw, Cout/Gw, K*Cg) -> (Gw, rows, K*Cg)
          gcol = at::bmm(Gc.view({rows, g.gw, g.cout / g.gw}).transpose(0, 1), wmat)
                     .transpose(0, 1)
                     .contiguous();
        }
        Exec::col2im_coord(P, dt, in_c, off_c, msk_c, gcol.data_ptr(),
                           need_input ? at_offset_mut(gin, n0 * g.h * g.w * g.c) : nullptr,
                           need_coord ? at_offset_mut(goff, n0 * L * 2 * g.go * g.k) : nullptr,
                           (need_coord && g.has_mask) ? at_offset_mut(gmsk, n0 * L * g.go * g.k) : nullptr,
                           need_input, need_coord);
      }
    }
  }
  at::Tensor grad_input, grad_offset, grad_mask, grad_weight;
  if (need_input) {
    grad_input = gin.to(input.scalar_type()).permute({0, 3, 1, 2}).contiguous(input.suggest_memory_format());
  }
  if (need_offset) {
    if (g.n == 0) goff.zero_();
    grad_offset = goff.permute({0, 3, 1, 2}).contiguous(offset.suggest_memory_format());
  }
  if (need_mask) {
    if (g.n == 0) gmsk.zero_();
    grad_mask = gmsk.permute({0, 3, 1, 2}).contiguous(mask->suggest_memory_format());
  }
  if (need_weight) {
    if (!gw_acc.defined()) gw_acc = at::zeros({g.gw, g.cout / g.gw, g.k * g.cg}, weight.options());
    // (Gw, Cout/Gw, K*Cg) -> (Cout, kh, kw, Cg) -> (Cout, Cg, kh, kw)
    grad_weight = gw_acc.view({g.cout, g.kh, g.kw, g.cg}).permute({0, 3, 1, 2}).contiguous().to(weight.scalar_type());
  }
  return {grad_input, grad_offset, grad_mask, grad_weight, grad_bias};
}

}  // namespace evolve_deform
