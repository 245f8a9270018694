// Host (CPU) build of the deformable-convolution kernels, for testing only.
//
// It runs the per-element functions of deform_common.h -- the same code the
// CUDA kernels in deform_kernels.cu call -- in plain loops that emulate the
// launch: every item, every lane of its team, and the team reduction of the
// coordinate gradients as a sum over lanes. The orchestration (layouts, chunks,
// GEMMs) is the shared deform_driver.h. Comparing this module against the
// pure-PyTorch reference therefore checks the kernels' index math, bilinear
// weights and gradient formulas without a GPU (tests/ops/test_host_kernels.py).
// It is single-threaded and slow: not a production CPU backend.
#include <torch/extension.h>

#include "deform_common.h"
#include "deform_driver.h"

namespace evolve_deform {
namespace {

// The launch is emulated thread by thread with the kernels' own mapping (thread_slot over
// launch_threads), team by team so the team reduction can be checked: every team must be tpi
// consecutive threads of one item with lanes 0..tpi-1.
template <typename T, int V>
void host_im2col(const Params& P, const void* in, const void* off, const void* msk, void* col) {
  const int64_t total = launch_threads(P);
  for (int64_t gid = 0; gid < total; ++gid) {
    const ThreadSlot s = thread_slot(P, gid);
    if (s.item < P.items) {
      im2col_thread<T, V>(P, static_cast<const T*>(in), static_cast<const T*>(off),
                          static_cast<const T*>(msk), static_cast<T*>(col), s.item, s.lane);
    }
  }
}

template <typename T, int V>
void host_col2im_coord(const Params& P, const void* in, const void* off, const void* msk,
                       const void* gcol, void* gin, void* goff, void* gmsk, bool need_input,
                       bool need_coord) {
  using acc_t = typename OpMath<T>::type;
  const int64_t total = launch_threads(P);
  TORCH_CHECK(total % P.tpi == 0 && kBlockThreads % P.tpi == 0, "team straddles a block");
  for (int64_t team = 0; team < total; team += P.tpi) {
    const int64_t item = thread_slot(P, team).item;
    acc_t sums[3] = {0, 0, 0};
    for (int64_t l = 0; l < P.tpi; ++l) {
      const ThreadSlot s = thread_slot(P, team + l);
      TORCH_CHECK(s.item == item && s.lane == l, "thread mapping splits a team");
      acc_t part[3] = {0, 0, 0};
      if (s.item < P.items) {
        col2im_coord_thread<T, V>(P, static_cast<const T*>(in), static_cast<const T*>(off),
                                  static_cast<const T*>(msk), static_cast<const T*>(gcol),
                                  static_cast<acc_t*>(gin), need_input, need_coord, s.item, s.lane,
                                  part);
      }
      sums[0] += part[0];  // the warp-shuffle reduction of the kernel
      sums[1] += part[1];
      sums[2] += part[2];
    }
    if (need_coord && item < P.items) {
      write_coord_grads<T>(P, static_cast<T*>(goff), static_cast<T*>(gmsk), item, sums);
    }
  }
}

template <typename T>
void im2col_typed(const Params& P, const void* in, const void* off, const void* msk, void* col) {
  constexpr int VM = MaxVec<T>::value;
  if (P.vec == VM) {
    host_im2col<T, VM>(P, in, off, msk, col);
  } else {
    TORCH_CHECK(P.vec == 1, "deform_conv2d (host): unsupported vector width ", P.vec);
    host_im2col<T, 1>(P, in, off, msk, col);
  }
}

template <typename T>
void col2im_typed(const Params& P, const void* in, const void* off, const void* msk,
                  const void* gcol, void* gin, void* goff, void* gmsk, bool need_input,
                  bool need_coord) {
  constexpr int VM = MaxVec<T>::value;
  if (P.vec == VM) {
    host_col2im_coord<T, VM>(P, in, off, msk, gcol, gin, goff, gmsk, need_input, need_coord);
  } else {
    TORCH_CHECK(P.vec == 1, "deform_conv2d (host): unsupported vector width ", P.vec);
    host_col2im_coord<T, 1>(P, in, off, msk, gcol, gin, goff, gmsk, need_input, need_coord);
  }
}

struct HostExec {
  static void im2col(const Params& P, DType dt, const void* in, const void* off, const void* msk,
                     void* col) {
    switch (dt) {
      case DType::kFloat32:
        return im2col_typed<float>(P, in, off, msk, col);
      case DType::kFloat64:
        return im2col_typed<double>(P, in, off, msk, col);
      case DType::kFloat16:
        return im2col_typed<c10::Half>(P, in, off, msk, col);
      case DType::kBFloat16:
        return im2col_typed<c10::BFloat16>(P, in, off, msk, col);
    }
  }
  static void col2im_coord(const Params& P, DType dt, const void* in, const void* off,
                           const void* msk, const void* gcol, void* gin, void* goff, void* gmsk,
                           bool need_input, bool need_coord) {
    switch (dt) {
      case DType::kFloat32:
        return col2im_typed<float>(P, in, off, msk, gcol, gin, goff, gmsk, need_input, need_coord);
      case DType::kFloat64:
        return col2im_typed<double>(P, in, off, msk, gcol, gin, goff, gmsk, need_input, need_coord);
      case DType::kFloat16:
        return col2im_typed<c10::Half>(P, in, off, msk, gcol, gin, goff, gmsk, need_input, need_coord);
      case DType::kBFloat16:
        return col2im_typed<c10::BFloat16>(P, in, off, msk, gcol, gin, goff, gmsk, need_input,
                                           need_coord);
    }
  }
};

void check_host(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), "deform_conv2d (host build): ", name, " must be a CPU tensor");
}

at::Tensor forward(const at::Tensor& input, const at::Tensor& offset,
                   const std::optional<at::Tensor>& mask, const at::Tensor& weight,
                   const std::optional<at::Tensor>& bias, int64_t sh, int64_t sw, int64_t ph,
                   int64_t pw, int64_t dh, int64_t dw, int64_t max_col_bytes, int64_t vec,
                   int64_t tpi, bool wide_index) {
  check_host(input, "input");
  return deform_forward<HostExec>(input, offset, mask, weight, bias, sh, sw, ph, pw, dh, dw,
                                  Knobs{max_col_bytes, vec, tpi, wide_index});
}

std::vector<at::Tensor> backward(const at::Tensor& grad_out, const at::Tensor& input,
                                 const at::Tensor& offset, const std::optional<at::Tensor>& mask,
                                 const at::Tensor& weight, int64_t sh, int64_t sw, int64_t ph,
                                 int64_t pw, int64_t dh, int64_t dw, bool need_input,
                                 bool need_offset, bool need_mask, bool need_weight, bool need_bias,
                                 int64_t max_col_bytes, int64_t vec, int64_t tpi, bool wide_index) {
  check_host(input, "input");
  return deform_backward<HostExec>(grad_out, input, offset, mask, weight, sh, sw, ph, pw, dh, dw,
                                   need_input, need_offset, need_mask, need_weight, need_bias,
                                   Knobs{max_col_bytes, vec, tpi, wide_index});
}

}  // namespace
}  // namespace evolve_deform

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "evolve deformable convolution: host build of the CUDA kernel logic (tests only)";
  m.def("forward", &evolve_deform::forward, "deformable convolution forward (host loops)");
  m.def("backward", &evolve_deform::backward, "deformable convolution backward (host loops)");
  m.def("default_team_size", &evolve_deform::default_team_size,
        "threads per item the CUDA launch uses for a number of channel vectors");
  m.attr("device") = "host";
}
