// Python binding of the CUDA deformable convolution: the shared ATen driver
// (deform_driver.h) with the CUDA executor (kernels in deform_kernels.cu).
#include <torch/extension.h>

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include "deform_driver.h"
#include "deform_kernels.h"

namespace evolve_deform {
namespace {

struct CudaExec {
  static void im2col(const Params& P, DType dt, const void* in, const void* off, const void* msk,
                     void* col) {
    TORCH_CHECK(P.items * P.tpi / kBlockThreads < (int64_t(1) << 31) - 1,
                "deform_conv2d: launch too large; lower max_col_bytes");
    C10_CUDA_CHECK(launch_im2col(P, dt, in, off, msk, col, c10::cuda::getCurrentCUDAStream()));
  }
  static void col2im_coord(const Params& P, DType dt, const void* in, const void* off,
                           const void* msk, const void* gcol, void* gin, void* goff, void* gmsk,
                           bool need_input, bool need_coord) {
    TORCH_CHECK(P.items * P.tpi / kBlockThreads < (int64_t(1) << 31) - 1,
                "deform_conv2d: launch too large; lower max_col_bytes");
    C10_CUDA_CHECK(launch_col2im_coord(P, dt, in, off, msk, gcol, gin, goff, gmsk, need_input,
                                       need_coord, c10::cuda::getCurrentCUDAStream()));
  }
};

void check_cuda(const at::Tensor& input) {
  TORCH_CHECK(input.is_cuda(), "deform_conv2d (CUDA extension): input must be a CUDA tensor");
}

at::Tensor forward(const at::Tensor& input, const at::Tensor& offset,
                   const std::optional<at::Tensor>& mask, const at::Tensor& weight,
                   const std::optional<at::Tensor>& bias, int64_t sh, int64_t sw, int64_t ph,
                   int64_t pw, int64_t dh, int64_t dw, int64_t max_col_bytes, int64_t vec,
                   int64_t tpi, bool wide_index) {
  check_cuda(input);
  const c10::cuda::CUDAGuard guard(input.device());
  return deform_forward<CudaExec>(input, offset, mask, weight, bias, sh, sw, ph, pw, dh, dw,
                                  Knobs{max_col_bytes, vec, tpi, wide_index});
}

std::vector<at::Tensor> backward(const at::Tensor& grad_out, const at::Tensor& input,
                                 const at::Tensor& offset, const std::optional<at::Tensor>& mask,
                                 const at::Tensor& weight, int64_t sh, int64_t sw, int64_t ph,
                                 int64_t pw, int64_t dh, int64_t dw, bool need_input,
                                 bool need_offset, bool need_mask, bool need_weight, bool need_bias,
                                 int64_t max_col_bytes, int64_t vec, int64_t tpi, bool wide_index) {
  check_cuda(input);
  const c10::cuda::CUDAGuard guard(input.device());
  if (need_input) {
    // The input gradient is a scatter with floating-point atomics.
    at::globalContext().alertNotDeterministic("evolve.ops.deform_conv2d backward (CUDA kernels)");
  }
  return deform_backward<CudaExec>(grad_out, input, offset, mask, weight, sh, sw, ph, pw, dh, dw,
                                   need_input, need_offset, need_mask, need_weight, need_bias,
                                   Knobs{max_col_bytes, vec, tpi, wide_index});
}

int64_t cuda_runtime_version() {
  int v = 0;
  C10_CUDA_CHECK(cudaRuntimeGetVersion(&v));
  return v;
}

}  // namespace
}  // namespace evolve_deform

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "evolve deformable convolution: CUDA kernels";
  m.def("forward", &evolve_deform::forward, "deformable convolution forward (CUDA)");
  m.def("backward", &evolve_deform::backward, "deformable convolution backward (CUDA)");
  m.def("default_team_size", &evolve_deform::default_team_size,
        "threads per item for a number of channel vectors");
  m.def("cuda_runtime_version", &evolve_deform::cuda_runtime_version,
        "CUDA runtime version the extension runs with (needs the CUDA driver)");
  m.attr("device") = "cuda";
}
