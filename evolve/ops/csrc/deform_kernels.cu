// CUDA kernels of the deformable convolution (forward sampling, backward
// scatter + coordinate gradients). The per-thread work is in deform_common.h
// (shared with the host test build); this file only maps threads to
// (item, lane), reduces the coordinate gradients over a team with warp
// shuffles, and dispatches on dtype and vector width.
//
// Design (see docs/ops.md):
//  * channels-last input, one team of `tpi` lanes per (pixel, tap, offset group);
//    lanes read 16-byte channel vectors, so a warp's 4 corner reads and its
//    column write are contiguous (coalesced) -- the sampling position is
//    computed once per item and reused for all channels, as in DCNv3/DCNv4
//    (Wang et al. 2023; Xiong et al. 2024), instead of once per channel as in
//    the original DCNv1/v2 im2col kernels (Dai et al. 2017; Zhu et al. 2019);
//  * the GEMMs are cuBLAS calls made by the ATen driver (tensor cores for
//    fp16/bf16);
//  * offset/mask gradients: per-item reduction over channels with
//    __shfl_xor_sync inside the team, one plain store per item (no atomics);
//  * input gradient: scatter with fp32 (fp64 for double) atomics into a
//    channels-last accumulator, 16-byte float4 atomics on sm_90+; the result is
//    cast to the input dtype once at the end. This makes the input gradient
//    non-deterministic in the last bits (summation order).
#include <cuda_runtime.h>

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "deform_common.h"
#include "deform_kernels.h"

namespace evolve_deform {
namespace {

// At least 3 resident blocks (768 threads) per SM for the scatter kernel: it is
// bound by memory and atomic latency, so occupancy matters more than the few
// registers the cap costs (ptxas -v, CUDA 13.0: no spills for the fp32/fp16/bf16
// instantiations on sm_80 and sm_90 at the 80-register cap).
constexpr int kCol2imMinBlocks = 3;

template <typename T, int V>
__global__ void __launch_bounds__(kBlockThreads)
    im2col_kernel(const Params P, const T* __restrict__ in, const T* __restrict__ off,
                  const T* __restrict__ msk, T* __restrict__ col) {
  const int64_t gid = static_cast<int64_t>(blockIdx.x) * kBlockThreads + threadIdx.x;
  const ThreadSlot slot = thread_slot(P, gid);
  const int64_t item = slot.item, lane = slot.lane;
  if (item < P.items) im2col_thread<T, V>(P, in, off, msk, col, item, lane);
}

template <typename T, int V>
__global__ void __launch_bounds__(kBlockThreads, kCol2imMinBlocks)
    col2im_coord_kernel(const Params P, const T* __restrict__ in, const T* __restrict__ off,
                        const T* __restrict__ msk, const T* __restrict__ gcol,
                        typename OpMath<T>::type* __restrict__ gin, T* __restrict__ goff,
                        T* __restrict__ gmsk, bool need_input, bool need_coord) {
  using acc_t = typename OpMath<T>::type;
  const int64_t gid = static_cast<int64_t>(blockIdx.x) * kBlockThreads + threadIdx.x;
  const ThreadSlot slot = thread_slot(P, gid);
  const int64_t item = slot.item, lane = slot.lane;
  // Every thread of the (full) warp stays alive through the shuffles below;
  // threads past the last item contribute zeros.
  const bool valid = item < P.items;
  acc_t part[3] = {acc_t(0), acc_t(0), acc_t(0)};
  if (valid) {
    col2im_coord_thread<T, V>(P, in, off, msk, gcol, gin, need_input, need_coord, item, lane, part);
  }
  if (!need_coord) return;  // uniform over the launch
  // Teams are tpi consecutive lanes aligned inside a warp (kBlockThreads and 32
  // are multiples of tpi), so xor partners below tpi stay inside the team.
  for (int o = static_cast<int>(P.tpi) / 2; o > 0; o >>= 1) {
#pragma unroll
    for (int r = 0; r < 3; ++r) part[r] += __shfl_xor_sync(0xffffffffu, part[r], o);
  }
  if (valid && lane == 0) write_coord_grads<T>(P, goff, gmsk, item, part);
}

inline unsigned int grid_for(const Params& P) {
  return static_cast<unsigned int>(launch_threads(P) / kBlockThreads);
}

template <typename T, int V>
cudaError_t im2col_launch(const Params& P, const void* in, const void* off, const void* msk,
                          void* col, cudaStream_t stream) {
  if (P.items == 0) return cudaSuccess;
  im2col_kernel<T, V><<<grid_for(P), kBlockThreads, 0, stream>>>(
      P, static_cast<const T*>(in), static_cast<const T*>(off), static_cast<const T*>(msk),
      static_cast<T*>(col));
  return cudaGetLastError();
}

template <typename T, int V>
cudaError_t col2im_launch(const Params& P, const void* in, const void* off, const void* msk,
                          const void* gcol, void* gin, void* goff, void* gmsk, bool need_input,
                          bool need_coord, cudaStream_t stream) {
  using acc_t = typename OpMath<T>::type;
  if (P.items == 0) return cudaSuccess;
  col2im_coord_kernel<T, V><<<grid_for(P), kBlockThreads, 0, stream>>>(
      P, static_cast<const T*>(in), static_cast<const T*>(off), static_cast<const T*>(msk),
      static_cast<const T*>(gcol), static_cast<acc_t*>(gin), static_cast<T*>(goff),
      static_cast<T*>(gmsk), need_input, need_coord);
  return cudaGetLastError();
}

template <typename T>
cudaError_t im2col_typed(const Params& P, const void* in, const void* off, const void* msk,
                         void* col, cudaStream_t stream) {
  constexpr int VM = MaxVec<T>::value;
  if (P.vec == VM) return im2col_launch<T, VM>(P, in, off, msk, col, stream);
  if (P.vec == 1) return im2col_launch<T, 1>(P, in, off, msk, col, stream);
  return cudaErrorInvalidValue;
}

template <typename T>
cudaError_t col2im_typed(const Params& P, const void* in, const void* off, const void* msk,
                         const void* gcol, void* gin, void* goff, void* gmsk, bool need_input,
                         bool need_coord, cudaStream_t stream) {
  constexpr int VM = MaxVec<T>::value;
  if (P.vec == VM) {
    return col2im_launch<T, VM>(P, in, off, msk, gcol, gin, goff, gmsk, need_input, need_coord, stream);
  }
  if (P.vec == 1) {
    return col2im_launch<T, 1>(P, in, off, msk, gcol, gin, goff, gmsk, need_input, need_coord, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace

cudaError_t launch_im2col(const Params& P, DType dt, const void* in, const void* off,
                          const void* msk, void* col, cudaStream_t stream) {
  switch (dt) {
    case DType::kFloat32:
      return im2col_typed<float>(P, in, off, msk, col, stream);
    case DType::kFloat64:
      return im2col_typed<double>(P, in, off, msk, col, stream);
    case DType::kFloat16:
      return im2col_typed<c10::Half>(P, in, off, msk, col, stream);
    case DType::kBFloat16:
      return im2col_typed<c10::BFloat16>(P, in, off, msk, col, stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t launch_col2im_coord(const Params& P, DType dt, const void* in, const void* off,
                                const void* msk, const void* gcol, void* gin, void* goff,
                                void* gmsk, bool need_input, bool need_coord,
                                cudaStream_t stream) {
  switch (dt) {
    case DType::kFloat32:
      return col2im_typed<float>(P, in, off, msk, gcol, gin, goff, gmsk, need_input, need_coord, stream);
    case DType::kFloat64:
      return col2im_typed<double>(P, in, off, msk, gcol, gin, goff, gmsk, need_input, need_coord, stream);
    case DType::kFloat16:
      return col2im_typed<c10::Half>(P, in, off, msk, gcol, gin, goff, gmsk, need_input, need_coord, stream);
    case DType::kBFloat16:
      return col2im_typed<c10::BFloat16>(P, in, off, msk, gcol, gin, goff, gmsk, need_input,
                                         need_coord, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace evolve_deform
