// CUDA kernels of the edgedepth warp operators (float32, float64, float16, bfloat16).
//
// Precision: float32 and float64 images are warped with the geometry and the image math in double
// (acc_t = double), float16/bfloat16 in float. As on the CPU: a float32 projection resolves pixel
// coordinates of a few hundred only to about 3e-5 px, so the float32 plain-PyTorch reference is up
// to 3e-4 away from the float64 truth at 101x333 (measured); in double the fused operators stay
// within 1e-6 of it. Datacenter GPUs (H100/H200: FP64 at half the FP32 rate) pay little for it; the
// kernels are bound by memory and atomics. On GPUs with slow FP64 (GeForce, Jetson) compile with
// -DEDGEDEPTH_CUDA_FLOAT_GEOMETRY to do float32 in float (about as accurate as the reference).
//
// One thread per target pixel; a block covers a 16x16 tile of one batch element. The photometric
// kernels first warp the tile plus a one-pixel (reflected) halo into shared memory, so each pixel
// is projected and sampled once per block, and the 3x3 SSIM reads its window from there.
//
// Source-image gradient: the pixel map is data dependent, so the gradient is scattered into the
// four bilinear corners with atomicAdd into a float (or double) buffer; neighbouring threads hit
// neighbouring, mostly distinct addresses, so contention is low, but the summation order varies:
// grad_src (and grad_T, reduced per block then added atomically) are not bitwise deterministic.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <tuple>

#include "ops.h"
#include "warp_geometry.h"

namespace edgedepth {
namespace {

constexpr int kTile = 16;
constexpr int kHalo = kTile + 2;
constexpr int kWarpsPerBlock = kTile * kTile / 32;

// The type of the geometry, image math and gradient accumulators for each input type.
template <typename scalar_t>
struct AccType {
  using type = at::opmath_type<scalar_t>;
};
#ifndef EDGEDEPTH_CUDA_FLOAT_GEOMETRY
template <>
struct AccType<float> {
  using type = double;
};
#endif
template <typename scalar_t>
using acc_type = typename AccType<scalar_t>::type;

struct Dims {
  int64_t c, h, w;
  __device__ int64_t plane() const { return h * w; }
};

dim3 tile_grid(int64_t b, int64_t h, int64_t w) {
  return dim3(static_cast<unsigned>((w + kTile - 1) / kTile), static_cast<unsigned>((h + kTile - 1) / kTile),
              static_cast<unsigned>(b));
}

// Loads the block's camera once into shared memory; every thread of a block has the same b.
template <typename acc_t, typename scalar_t>
__device__ void load_block_camera(Camera<acc_t>* cam, const scalar_t* K, const scalar_t* T) {
  if (threadIdx.x == 0 && threadIdx.y == 0) *cam = load_camera<acc_t>(K + 9 * blockIdx.z, T + 16 * blockIdx.z);
  __syncthreads();
}

template <typename acc_t>
__device__ acc_t warp_sum(acc_t v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// Adds each thread's 3x4 pose gradient into grad_T[b]: a warp reduction, the block's warps summed in
// shared memory, then 12 atomics per block (every thread of the block must call this).
template <typename acc_t>
__device__ void reduce_pose_grad(const acc_t gT[12], acc_t* grad_T) {
  __shared__ acc_t partial[kWarpsPerBlock][12];
  const int t = threadIdx.y * blockDim.x + threadIdx.x, lane = t % 32, warp = t / 32;
  for (int k = 0; k < 12; ++k) {
    const acc_t total = warp_sum(gT[k]);
    if (lane == 0) partial[warp][k] = total;
  }
  __syncthreads();
  if (t < 12) {
    acc_t total = 0;
    for (int w = 0; w < kWarpsPerBlock; ++w) total += partial[w][t];
    atomicAdd(grad_T + 16 * blockIdx.z + t, total);
  }
}

// Backpropagates d loss / d warped of one pixel (grad_of(c, warped_value_c) gives it per channel)
// into the source image (atomics), its depth and the block's pose accumulator.
template <typename scalar_t, typename acc_t, typename GradOf>
__device__ void backprop_pixel(const Camera<acc_t>& cam, const Dims& d, int64_t x, int64_t y, bool inside_image,
                               const scalar_t* src_b, const scalar_t* depth_b, acc_t* grad_src_b, scalar_t* grad_depth_b,
                               acc_t* grad_T, GradOf grad_of) {
  acc_t gT[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  if (inside_image) {
    const int64_t i = y * d.w + x;
    const auto p = project<acc_t>(cam, acc_t(x), acc_t(y), static_cast<acc_t>(depth_b[i]));
    const auto f = footprint(p, d.h, d.w);
    acc_t wk[4];
    corner_weights(f, wk);
    acc_t gu = 0, gv = 0;
    for (int64_t c = 0; c < d.c; ++c) {
      const scalar_t* plane = src_b + c * d.plane();
      const acc_t g = grad_of(c, f.active ? sample<acc_t>(f, plane) : acc_t(0));
      if (!f.active) continue;
      sample_grad_coords<acc_t>(f, plane, g, &gu, &gv);
      for (int k = 0; k < 4; ++k)
        if (f.inside[k]) atomicAdd(grad_src_b + c * d.plane() + f.offset[k], wk[k] * g);
    }
    grad_depth_b[i] = static_cast<scalar_t>(chain_to_depth_and_pose(cam, p, d.h, d.w, gu, gv, gT));
  }
  reduce_pose_grad(gT, grad_T);
}

template <typename scalar_t, typename acc_t>
__global__ void inverse_warp_kernel(const scalar_t* src, const scalar_t* depth, const scalar_t* T, const scalar_t* K,
                                    scalar_t* warped, scalar_t* valid, Dims d) {
  __shared__ Camera<acc_t> cam;
  load_block_camera(&cam, K, T);
  const int64_t x = blockIdx.x * kTile + threadIdx.x, y = blockIdx.y * kTile + threadIdx.y, b = blockIdx.z;
  if (x >= d.w || y >= d.h) return;
  const int64_t i = y * d.w + x;
  const auto p = project<acc_t>(cam, acc_t(x), acc_t(y), static_cast<acc_t>(depth[b * d.plane() + i]));
  const auto f = footprint(p, d.h, d.w);
  for (int64_t c = 0; c < d.c; ++c) {
    const int64_t plane = (b * d.c + c) * d.plane();
    warped[plane + i] = static_cast<scalar_t>(sample<acc_t>(f, src + plane));
  }
  valid[b * d.plane() + i] = static_cast<scalar_t>(is_valid(p, d.h, d.w) ? 1 : 0);
}

template <typename scalar_t, typename acc_t>
__global__ void inverse_warp_backward_kernel(const scalar_t* grad_warped, const scalar_t* src, const scalar_t* depth,
                                             const scalar_t* T, const scalar_t* K, acc_t* grad_src,
                                             scalar_t* grad_depth, acc_t* grad_T, Dims d) {
  __shared__ Camera<acc_t> cam;
  load_block_camera(&cam, K, T);
  const int64_t x = blockIdx.x * kTile + threadIdx.x, y = blockIdx.y * kTile + threadIdx.y, b = blockIdx.z;
  const bool inside = x < d.w && y < d.h;
  const scalar_t* g_b = grad_warped + b * d.c * d.plane();
  const int64_t i = y * d.w + x;
  backprop_pixel<scalar_t, acc_t>(cam, d, x, y, inside, src + b * d.c * d.plane(), depth + b * d.plane(),
                                  grad_src + b * d.c * d.plane(), grad_depth + b * d.plane(), grad_T,
                                  [&](int64_t c, acc_t) { return static_cast<acc_t>(g_b[c * d.plane() + i]); });
}

// Warps the block's tile plus its reflected one-pixel halo into shared memory [c][kHalo][kHalo].
template <typename scalar_t, typename acc_t>
__device__ void warp_tile(const Camera<acc_t>& cam, const Dims& d, const scalar_t* src_b, const scalar_t* depth_b,
                          acc_t* tile) {
  // int64 before the subtraction: blockIdx is unsigned, and 0u * kTile - 1 would wrap to 2^32 - 1
  const int64_t x0 = static_cast<int64_t>(blockIdx.x) * kTile - 1, y0 = static_cast<int64_t>(blockIdx.y) * kTile - 1;
  for (int s = threadIdx.y * kTile + threadIdx.x; s < kHalo * kHalo; s += kTile * kTile) {
    const int64_t ty = s / kHalo, tx = s % kHalo;
    if (y0 + ty > d.h || x0 + tx > d.w) continue;  // beyond the image and its halo: never read
    const int64_t y = reflect(y0 + ty, d.h), x = reflect(x0 + tx, d.w);
    const auto p = project<acc_t>(cam, acc_t(x), acc_t(y), static_cast<acc_t>(depth_b[y * d.w + x]));
    const auto f = footprint(p, d.h, d.w);
    for (int64_t c = 0; c < d.c; ++c) tile[c * kHalo * kHalo + s] = sample<acc_t>(f, src_b + c * d.plane());
  }
  __syncthreads();
}

// The reflected 3x3 windows of warped (from the shared tile) and target around this thread's pixel.
template <typename scalar_t, typename acc_t>
__device__ void windows(const acc_t* tile_c, const scalar_t* target_c, const Dims& d, int64_t x, int64_t y,
                        acc_t x9[9], acc_t y9[9]) {
  int k = 0;
  for (int dy = -1; dy <= 1; ++dy)
    for (int dx = -1; dx <= 1; ++dx, ++k) {
      x9[k] = tile_c[(static_cast<int>(threadIdx.y) + 1 + dy) * kHalo + static_cast<int>(threadIdx.x) + 1 + dx];
      y9[k] = static_cast<acc_t>(target_c[reflect(y + dy, d.h) * d.w + reflect(x + dx, d.w)]);
    }
}

template <typename scalar_t, typename acc_t>
__global__ void photometric_kernel(const scalar_t* target, const scalar_t* src, const scalar_t* depth,
                                   const scalar_t* T, const scalar_t* K, scalar_t* error, scalar_t* valid, Dims d) {
  extern __shared__ unsigned char shared_raw[];
  acc_t* tile = reinterpret_cast<acc_t*>(shared_raw);
  __shared__ Camera<acc_t> cam;
  load_block_camera(&cam, K, T);
  const int64_t x = blockIdx.x * kTile + threadIdx.x, y = blockIdx.y * kTile + threadIdx.y, b = blockIdx.z;
  warp_tile<scalar_t, acc_t>(cam, d, src + b * d.c * d.plane(), depth + b * d.plane(), tile);
  if (x >= d.w || y >= d.h) return;
  acc_t x9[9], y9[9], total = 0;
  for (int64_t c = 0; c < d.c; ++c) {
    windows(tile + c * kHalo * kHalo, target + (b * d.c + c) * d.plane(), d, x, y, x9, y9);
    total += acc_t(kSsimWeight) * clamp01(ssim_half_dissimilarity(ssim_stats(x9, y9))) +
             acc_t(1 - kSsimWeight) * fabs(y9[4] - x9[4]);
  }
  const int64_t i = b * d.plane() + y * d.w + x;
  error[i] = static_cast<scalar_t>(total / acc_t(d.c));
  const auto p = project<acc_t>(cam, acc_t(x), acc_t(y), static_cast<acc_t>(depth[i]));
  valid[i] = static_cast<scalar_t>(is_valid(p, d.h, d.w) ? 1 : 0);
}

// Stage 1 of the photometric backward: the SSIM moment gradients of every window, [B][C][5][H*W].
template <typename scalar_t, typename acc_t>
__global__ void ssim_moment_grad_kernel(const scalar_t* grad_error, const scalar_t* target, const scalar_t* src,
                                        const scalar_t* depth, const scalar_t* T, const scalar_t* K, acc_t* coef,
                                        Dims d) {
  extern __shared__ unsigned char shared_raw[];
  acc_t* tile = reinterpret_cast<acc_t*>(shared_raw);
  __shared__ Camera<acc_t> cam;
  load_block_camera(&cam, K, T);
  const int64_t x = blockIdx.x * kTile + threadIdx.x, y = blockIdx.y * kTile + threadIdx.y, b = blockIdx.z;
  warp_tile<scalar_t, acc_t>(cam, d, src + b * d.c * d.plane(), depth + b * d.plane(), tile);
  if (x >= d.w || y >= d.h) return;
  const int64_t i = y * d.w + x;
  const acc_t g = acc_t(kSsimWeight) / acc_t(d.c) * static_cast<acc_t>(grad_error[b * d.plane() + i]);
  acc_t x9[9], y9[9], m[5];
  for (int64_t c = 0; c < d.c; ++c) {
    windows(tile + c * kHalo * kHalo, target + (b * d.c + c) * d.plane(), d, x, y, x9, y9);
    ssim_moment_grads(ssim_stats(x9, y9), g, m);
    for (int k = 0; k < 5; ++k) coef[((b * d.c + c) * 5 + k) * d.plane() + i] = m[k];
  }
}

// Stage 2: each pixel gathers the moment gradients of the windows containing it (adjoint of the
// reflected box filter), adds the L1 term, writes grad_target and backpropagates through the warp.
template <typename scalar_t, typename acc_t>
__global__ void photometric_backward_kernel(const scalar_t* grad_error, const scalar_t* target, const scalar_t* src,
                                            const scalar_t* depth, const scalar_t* T, const scalar_t* K,
                                            const acc_t* coef, scalar_t* grad_target, acc_t* grad_src,
                                            scalar_t* grad_depth, acc_t* grad_T, Dims d) {
  __shared__ Camera<acc_t> cam;
  load_block_camera(&cam, K, T);
  const int64_t x = blockIdx.x * kTile + threadIdx.x, y = blockIdx.y * kTile + threadIdx.y, b = blockIdx.z;
  const bool inside = x < d.w && y < d.h;
  const int64_t i = y * d.w + x;
  int64_t ry[5], rx[5];
  const int ny = inside ? window_adjoint(y, d.h, ry) : 0, nx = inside ? window_adjoint(x, d.w, rx) : 0;
  const acc_t g_l1 = inside ? acc_t(1 - kSsimWeight) / acc_t(d.c) * static_cast<acc_t>(grad_error[b * d.plane() + i])
                            : acc_t(0);
  auto grad_of = [&](int64_t c, acc_t warped) {
    acc_t m[5] = {0, 0, 0, 0, 0};
    const acc_t* coef_c = coef + (b * d.c + c) * 5 * d.plane();
    for (int a = 0; a < ny; ++a)
      for (int e = 0; e < nx; ++e)
        for (int k = 0; k < 5; ++k) m[k] += coef_c[k * d.plane() + ry[a] * d.w + rx[e]];
    const int64_t j = (b * d.c + c) * d.plane() + i;
    const acc_t t = static_cast<acc_t>(target[j]);
    const acc_t l1 = g_l1 * sign(t - warped);
    grad_target[j] = static_cast<scalar_t>(m[3] + 2 * t * m[4] + warped * m[2] + l1);
    return m[0] + 2 * warped * m[1] + t * m[2] - l1;
  };
  backprop_pixel<scalar_t, acc_t>(cam, d, x, y, inside, src + b * d.c * d.plane(), depth + b * d.plane(),
                                  grad_src + b * d.c * d.plane(), grad_depth + b * d.plane(), grad_T, grad_of);
}

struct Prepared {
  at::Tensor src, depth, T, K;
  Dims dims;
  dim3 grid, block;
};

Prepared prepare(const at::Tensor& src, const at::Tensor& depth, const at::Tensor& T, const at::Tensor& K) {
  return {src.contiguous(), depth.contiguous(), T.contiguous(), K.contiguous(),
          Dims{src.size(1), src.size(2), src.size(3)}, tile_grid(src.size(0), src.size(2), src.size(3)),
          dim3(kTile, kTile)};
}

template <typename acc_t>
size_t tile_bytes(int64_t channels) {
  const size_t bytes = static_cast<size_t>(channels) * kHalo * kHalo * sizeof(acc_t);
  // The default dynamic shared-memory limit; 3-channel images need 3.9 KB (float) or 7.8 KB (double).
  TORCH_CHECK(bytes <= 48 * 1024, message("edgedepth::photometric_error on CUDA supports at most ",
              48 * 1024 / (kHalo * kHalo * sizeof(acc_t)), " channels, got ", channels));
  return bytes;
}

at::ScalarType acc_type_of(at::ScalarType t) {
#ifdef EDGEDEPTH_CUDA_FLOAT_GEOMETRY
  return t == at::kDouble ? at::kDouble : at::kFloat;
#else
  return (t == at::kDouble || t == at::kFloat) ? at::kDouble : at::kFloat;
#endif
}

std::tuple<at::Tensor, at::Tensor> inverse_warp_cuda(const at::Tensor& src, const at::Tensor& depth,
                                                     const at::Tensor& T, const at::Tensor& K) {
  check_warp_inputs("edgedepth::inverse_warp", src, depth, T, K);
  const c10::cuda::CUDAGuard guard(src.device());
  auto in = prepare(src, depth, T, K);
  auto warped = at::empty_like(in.src), valid = at::empty_like(in.depth);
  if (warped.numel() == 0) return {warped, valid};
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, src.scalar_type(), "edgedepth::inverse_warp", [&] {
    using acc_t = acc_type<scalar_t>;
    inverse_warp_kernel<scalar_t, acc_t><<<in.grid, in.block, 0, stream>>>(
        in.src.data_ptr<scalar_t>(), in.depth.data_ptr<scalar_t>(), in.T.data_ptr<scalar_t>(),
        in.K.data_ptr<scalar_t>(), warped.data_ptr<scalar_t>(), valid.data_ptr<scalar_t>(), in.dims);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {warped, valid};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> inverse_warp_backward_cuda(const at::Tensor& grad_warped,
                                                                          const at::Tensor& src,
                                                                          const at::Tensor& depth,
                                                                          const at::Tensor& T, const at::Tensor& K) {
  check_warp_inputs("edgedepth::inverse_warp_backward", src, depth, T, K);
  TORCH_CHECK(grad_warped.sizes() == src.sizes(), message("edgedepth::inverse_warp_backward: grad_warped must have shape ",
              src.sizes()));
  const c10::cuda::CUDAGuard guard(src.device());
  auto in = prepare(src, depth, T, K);
  auto g = grad_warped.to(src.scalar_type()).contiguous();
  const auto acc = acc_type_of(src.scalar_type());
  auto grad_src = at::zeros(in.src.sizes(), in.src.options().dtype(acc));
  auto grad_T = at::zeros(in.T.sizes(), in.T.options().dtype(acc));
  auto grad_depth = at::zeros_like(in.depth);
  if (src.numel() > 0) {
    auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, src.scalar_type(), "edgedepth::inverse_warp_backward",
                                    [&] {
                                      using acc_t = acc_type<scalar_t>;
                                      inverse_warp_backward_kernel<scalar_t, acc_t><<<in.grid, in.block, 0, stream>>>(
                                          g.data_ptr<scalar_t>(), in.src.data_ptr<scalar_t>(),
                                          in.depth.data_ptr<scalar_t>(), in.T.data_ptr<scalar_t>(),
                                          in.K.data_ptr<scalar_t>(), grad_src.data_ptr<acc_t>(),
                                          grad_depth.data_ptr<scalar_t>(), grad_T.data_ptr<acc_t>(), in.dims);
                                    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return {grad_src.to(src.scalar_type()), grad_depth, grad_T.to(src.scalar_type())};
}

std::tuple<at::Tensor, at::Tensor> photometric_error_cuda(const at::Tensor& target, const at::Tensor& src,
                                                          const at::Tensor& depth, const at::Tensor& T,
                                                          const at::Tensor& K) {
  check_warp_inputs("edgedepth::photometric_error", src, depth, T, K, &target);
  const c10::cuda::CUDAGuard guard(src.device());
  auto in = prepare(src, depth, T, K);
  auto tgt = target.contiguous();
  auto error = at::empty_like(in.depth), valid = at::empty_like(in.depth);
  if (src.numel() == 0) return {error, valid};
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, src.scalar_type(), "edgedepth::photometric_error", [&] {
    using acc_t = acc_type<scalar_t>;
    photometric_kernel<scalar_t, acc_t><<<in.grid, in.block, tile_bytes<acc_t>(in.dims.c), stream>>>(
        tgt.data_ptr<scalar_t>(), in.src.data_ptr<scalar_t>(), in.depth.data_ptr<scalar_t>(),
        in.T.data_ptr<scalar_t>(), in.K.data_ptr<scalar_t>(), error.data_ptr<scalar_t>(),
        valid.data_ptr<scalar_t>(), in.dims);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {error, valid};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> photometric_error_backward_cuda(
    const at::Tensor& grad_error, const at::Tensor& target, const at::Tensor& src, const at::Tensor& depth,
    const at::Tensor& T, const at::Tensor& K) {
  check_warp_inputs("edgedepth::photometric_error_backward", src, depth, T, K, &target);
  TORCH_CHECK(grad_error.sizes() == depth.sizes(), message("edgedepth::photometric_error_backward: grad_error must have shape ",
              depth.sizes()));
  const c10::cuda::CUDAGuard guard(src.device());
  auto in = prepare(src, depth, T, K);
  auto tgt = target.contiguous(), ge = grad_error.to(src.scalar_type()).contiguous();
  const auto acc = acc_type_of(src.scalar_type());
  const auto b = src.size(0), c = src.size(1), h = src.size(2), w = src.size(3);
  auto coef = at::empty({b, c, 5, h, w}, in.src.options().dtype(acc));
  auto grad_target = at::empty_like(tgt), grad_depth = at::zeros_like(in.depth);
  auto grad_src = at::zeros(in.src.sizes(), in.src.options().dtype(acc));
  auto grad_T = at::zeros(in.T.sizes(), in.T.options().dtype(acc));
  if (src.numel() > 0) {
    auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(
        at::kHalf, at::kBFloat16, src.scalar_type(), "edgedepth::photometric_error_backward", [&] {
          using acc_t = acc_type<scalar_t>;
          ssim_moment_grad_kernel<scalar_t, acc_t><<<in.grid, in.block, tile_bytes<acc_t>(c), stream>>>(
              ge.data_ptr<scalar_t>(), tgt.data_ptr<scalar_t>(), in.src.data_ptr<scalar_t>(),
              in.depth.data_ptr<scalar_t>(), in.T.data_ptr<scalar_t>(), in.K.data_ptr<scalar_t>(),
              coef.data_ptr<acc_t>(), in.dims);
          C10_CUDA_KERNEL_LAUNCH_CHECK();
          photometric_backward_kernel<scalar_t, acc_t><<<in.grid, in.block, 0, stream>>>(
              ge.data_ptr<scalar_t>(), tgt.data_ptr<scalar_t>(), in.src.data_ptr<scalar_t>(),
              in.depth.data_ptr<scalar_t>(), in.T.data_ptr<scalar_t>(), in.K.data_ptr<scalar_t>(),
              coef.data_ptr<acc_t>(), grad_target.data_ptr<scalar_t>(), grad_src.data_ptr<acc_t>(),
              grad_depth.data_ptr<scalar_t>(), grad_T.data_ptr<acc_t>(), in.dims);
          C10_CUDA_KERNEL_LAUNCH_CHECK();
        });
  }
  return {grad_target, grad_src.to(src.scalar_type()), grad_depth, grad_T.to(src.scalar_type())};
}

}  // namespace
}  // namespace edgedepth

TORCH_LIBRARY_IMPL(edgedepth, CUDA, m) {
  m.impl("inverse_warp", &edgedepth::inverse_warp_cuda);
  m.impl("inverse_warp_backward", &edgedepth::inverse_warp_backward_cuda);
  m.impl("photometric_error", &edgedepth::photometric_error_cuda);
  m.impl("photometric_error_backward", &edgedepth::photometric_error_backward_cuda);
}
