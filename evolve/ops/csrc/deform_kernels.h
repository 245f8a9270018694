// Launchers of the CUDA kernels in deform_kernels.cu. Plain pointers and the
// Params struct only, so the ATen side (deform_cuda.cpp) and the nvcc side stay
// in separate translation units (nvcc never parses the heavy torch headers).
#pragma once

#include <cuda_runtime_api.h>

#include "deform_common.h"

namespace evolve_deform {

// col (P, Gw, K, Cg) <- deformable sampling of in (N, H, W, C); see im2col_thread.
cudaError_t launch_im2col(const Params& P, DType dt, const void* in, const void* off,
                          const void* msk, void* col, cudaStream_t stream);

// gin (N, H, W, C, fp32/fp64) += scatter of gcol; goff/gmsk <- channel reductions;
// see col2im_coord_thread.
cudaError_t launch_col2im_coord(const Params& P, DType dt, const void* in, const void* off,
                                const void* msk, const void* gcol, void* gin, void* goff,
                                void* gmsk, bool need_input, bool need_coord,
                                cudaStream_t stream);

}  // namespace evolve_deform
