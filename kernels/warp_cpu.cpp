// CPU kernels of the edgedepth warp operators (float32, float64).
//
// Work is split with at::parallel_for over tiles of kTileRows target rows of one batch element.
// Per row, a first loop computes the projection of every pixel into small row arrays (straight-line
// arithmetic the compiler vectorises); a second loop samples the source. The photometric operators
// keep a tile of warped rows (plus a one- or two-row halo) in a thread-local buffer and never
// allocate a full warped image in the forward pass.
//
// Source-image gradient: gathering is impossible (the pixel map is data dependent), so every
// target pixel scatters into its four source corners. To avoid races and atomics each source
// plane is written by exactly one thread in pixel order (threads own batch elements, or a
// separate scatter pass over (batch, channel) planes when the batch is smaller than the thread
// count), so all gradients are bitwise deterministic for any thread count.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <tuple>
#include <vector>

#include "ops.h"
#include "warp_geometry.h"

namespace edgedepth {
namespace {

constexpr int64_t kTileRows = 16;

struct Shape {
  int64_t b, c, h, w;
  int64_t tiles_per_image() const { return (h + kTileRows - 1) / kTileRows; }
  int64_t plane() const { return h * w; }
};

Shape shape_of(const at::Tensor& src) { return {src.size(0), src.size(1), src.size(2), src.size(3)}; }

// The geometry (projection, bilinear weights, chain rule) runs in double for float32 images too:
// pixel coordinates of a few hundred lose digits in float, and it costs little on CPU.
using geom_t = double;

template <typename scalar_t>
Camera<geom_t> camera_of(const scalar_t* K, const scalar_t* T, int64_t b) {
  return load_camera<geom_t>(K + 9 * b, T + 16 * b);
}

// Projects one target row: u, v and the in-front flag per pixel (branch-free, vectorisable).
template <typename scalar_t>
void project_row(const Camera<geom_t>& cam, int64_t y, const scalar_t* depth_row, int64_t w, geom_t* u, geom_t* v,
                 bool* front) {
  for (int64_t x = 0; x < w; ++x) {
    const auto p = project<geom_t>(cam, geom_t(x), geom_t(y), geom_t(depth_row[x]));
    u[x] = p.u;
    v[x] = p.v;
    front[x] = p.in_front;
  }
}

// Warps target row y of batch element b into out[c * w + x]; optionally writes the valid row.
template <typename scalar_t>
void warp_row(const Camera<geom_t>& cam, const Shape& s, int64_t b, int64_t y, const scalar_t* src,
              const scalar_t* depth, scalar_t* out, int64_t out_channel_stride, scalar_t* valid_row,
              std::vector<geom_t>& u, std::vector<geom_t>& v, std::vector<char>& front) {
  project_row(cam, y, depth + (b * s.h + y) * s.w, s.w, u.data(), v.data(), reinterpret_cast<bool*>(front.data()));
  const scalar_t* src_b = src + b * s.c * s.plane();
  for (int64_t x = 0; x < s.w; ++x) {
    const auto f = footprint<geom_t>(u[x], v[x], front[x], s.h, s.w);
    for (int64_t c = 0; c < s.c; ++c)
      out[c * out_channel_stride + x] = static_cast<scalar_t>(sample<geom_t>(f, src_b + c * s.plane()));
    if (valid_row != nullptr)
      valid_row[x] = (front[x] && u[x] >= 0 && u[x] <= geom_t(s.w - 1) && v[x] >= 0 && v[x] <= geom_t(s.h - 1));
  }
}

// Runs fn(b, row_begin, row_end) over row tiles of every batch element in parallel.
template <typename Fn>
void for_each_tile(const Shape& s, const Fn& fn) {
  const int64_t tiles = s.tiles_per_image();
  at::parallel_for(0, s.b * tiles, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t b = t / tiles, r0 = (t % tiles) * kTileRows;
      fn(t, b, r0, std::min(r0 + kTileRows, s.h));
    }
  });
}

template <typename scalar_t>
void inverse_warp_kernel(const at::Tensor& src, const at::Tensor& depth, const at::Tensor& T, const at::Tensor& K,
                         at::Tensor& warped, at::Tensor& valid) {
  const Shape s = shape_of(src);
  const scalar_t *src_p = src.data_ptr<scalar_t>(), *depth_p = depth.data_ptr<scalar_t>();
  const scalar_t *T_p = T.data_ptr<scalar_t>(), *K_p = K.data_ptr<scalar_t>();
  scalar_t *out_p = warped.data_ptr<scalar_t>(), *valid_p = valid.data_ptr<scalar_t>();
  for_each_tile(s, [&](int64_t, int64_t b, int64_t r0, int64_t r1) {
    const auto cam = camera_of(K_p, T_p, b);
    std::vector<geom_t> u(s.w), v(s.w);
    std::vector<char> front(s.w);
    for (int64_t y = r0; y < r1; ++y)
      warp_row(cam, s, b, y, src_p, depth_p, out_p + b * s.c * s.plane() + y * s.w, s.plane(),
               valid_p + (b * s.h + y) * s.w, u, v, front);
  });
}

// Gradients of the warp given d loss / d warped [B,C,H,W]: depth and T per pixel (T reduced per
// tile, then over tiles in a fixed order) and src by scattering into the bilinear corners. With at
// least as many batch elements as threads, each thread owns whole batch elements and scatters in
// the same pass; otherwise the scatter is a second pass over (batch, channel) planes. Either way
// every source plane is written by one thread in pixel order: results are bitwise deterministic.
template <typename scalar_t>
void warp_backward_kernel(const at::Tensor& grad_warped, const at::Tensor& src, const at::Tensor& depth,
                          const at::Tensor& T, const at::Tensor& K, at::Tensor& grad_src, at::Tensor& grad_depth,
                          at::Tensor& grad_T) {
  const Shape s = shape_of(src);
  const scalar_t *g_p = grad_warped.data_ptr<scalar_t>(), *src_p = src.data_ptr<scalar_t>();
  const scalar_t *depth_p = depth.data_ptr<scalar_t>(), *T_p = T.data_ptr<scalar_t>(), *K_p = K.data_ptr<scalar_t>();
  scalar_t *gd_p = grad_depth.data_ptr<scalar_t>(), *gs_p = grad_src.data_ptr<scalar_t>();
  const int64_t tiles = s.tiles_per_image();
  std::vector<std::array<geom_t, 12>> tile_gT(s.b * tiles);
  // Rows [r0, r1) of batch element b; scatters into src gradients only when `scatter` is set.
  auto backprop_rows = [&](int64_t tile, int64_t b, int64_t r0, int64_t r1, bool scatter) {
    const auto cam = camera_of(K_p, T_p, b);
    std::array<geom_t, 12> gT{};
    const scalar_t* src_b = src_p + b * s.c * s.plane();
    const scalar_t* g_b = g_p + b * s.c * s.plane();
    scalar_t* gs_b = gs_p + b * s.c * s.plane();
    for (int64_t y = r0; y < r1; ++y) {
      for (int64_t x = 0; x < s.w; ++x) {
        const int64_t i = y * s.w + x;
        const auto p = project<geom_t>(cam, geom_t(x), geom_t(y), geom_t(depth_p[b * s.plane() + i]));
        const auto f = footprint(p, s.h, s.w);
        geom_t gu = 0, gv = 0, wk[4];
        corner_weights(f, wk);
        if (f.active)
          for (int64_t c = 0; c < s.c; ++c) {
            const geom_t g = g_b[c * s.plane() + i];
            sample_grad_coords<geom_t>(f, src_b + c * s.plane(), g, &gu, &gv);
            if (scatter)
              for (int k = 0; k < 4; ++k)
                if (f.inside[k]) gs_b[c * s.plane() + f.offset[k]] += static_cast<scalar_t>(wk[k] * g);
          }
        gd_p[b * s.plane() + i] = static_cast<scalar_t>(chain_to_depth_and_pose(cam, p, s.h, s.w, gu, gv, gT.data()));
      }
    }
    tile_gT[tile] = gT;
  };
  const bool per_batch = s.b >= at::get_num_threads();
  if (per_batch) {
    at::parallel_for(0, s.b, 1, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b)
        for (int64_t t = 0; t < tiles; ++t)
          backprop_rows(b * tiles + t, b, t * kTileRows, std::min((t + 1) * kTileRows, s.h), true);
    });
  } else {
    for_each_tile(s, [&](int64_t tile, int64_t b, int64_t r0, int64_t r1) { backprop_rows(tile, b, r0, r1, false); });
    at::parallel_for(0, s.b * s.c, 1, [&](int64_t begin, int64_t end) {
      std::vector<geom_t> u(s.w), v(s.w);
      std::vector<char> front(s.w);
      for (int64_t bc = begin; bc < end; ++bc) {
        const int64_t b = bc / s.c;
        const auto cam = camera_of(K_p, T_p, b);
        scalar_t* out = gs_p + bc * s.plane();
        const scalar_t* g = g_p + bc * s.plane();
        for (int64_t y = 0; y < s.h; ++y) {
          project_row(cam, y, depth_p + (b * s.h + y) * s.w, s.w, u.data(), v.data(),
                      reinterpret_cast<bool*>(front.data()));
          for (int64_t x = 0; x < s.w; ++x) {
            const auto f = footprint<geom_t>(u[x], v[x], front[x], s.h, s.w);
            geom_t wk[4];
            corner_weights(f, wk);
            const geom_t gi = g[y * s.w + x];
            for (int k = 0; k < 4; ++k)
              if (f.inside[k]) out[f.offset[k]] += static_cast<scalar_t>(wk[k] * gi);
          }
        }
      }
    });
  }
  auto gT_acc = grad_T.accessor<scalar_t, 3>();
  for (int64_t b = 0; b < s.b; ++b) {
    std::array<geom_t, 12> sum{};
    for (int64_t t = 0; t < tiles; ++t)
      for (int k = 0; k < 12; ++k) sum[k] += tile_gT[b * tiles + t][k];
    for (int k = 0; k < 12; ++k) gT_acc[b][k / 4][k % 4] = static_cast<scalar_t>(sum[k]);
  }
}

// Per-thread scratch buffers reused across tiles and calls: tile buffers are large enough that a
// fresh allocation per tile would go through mmap/munmap and page faults every time.
enum class Scratch { kWarped, kMoments };

template <typename scalar_t>
scalar_t* scratch(Scratch slot, size_t n) {
  thread_local std::vector<scalar_t> buffers[2];
  auto& buffer = buffers[static_cast<int>(slot)];
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

// A tile of warped rows [lo, hi) of one batch element, laid out [row][channel][x].
template <typename scalar_t>
struct WarpedRows {
  int64_t lo, hi, c, w;
  scalar_t* data;
  const scalar_t* at(int64_t row, int64_t ch) const { return data + ((row - lo) * c + ch) * w; }
};

template <typename scalar_t>
WarpedRows<scalar_t> warp_rows(const Camera<geom_t>& cam, const Shape& s, int64_t b, int64_t lo, int64_t hi,
                               const scalar_t* src, const scalar_t* depth, scalar_t* valid = nullptr,
                               int64_t valid_lo = 0, int64_t valid_hi = 0) {
  WarpedRows<scalar_t> rows{lo, hi, s.c, s.w, scratch<scalar_t>(Scratch::kWarped, (hi - lo) * s.c * s.w)};
  std::vector<geom_t> u(s.w), v(s.w);
  std::vector<char> front(s.w);
  for (int64_t y = lo; y < hi; ++y)
    warp_row(cam, s, b, y, src, depth, rows.data + (y - lo) * s.c * s.w, s.w,
             (valid != nullptr && y >= valid_lo && y < valid_hi) ? valid + (b * s.h + y) * s.w : nullptr, u, v, front);
  return rows;
}

// Gathers the reflection-padded 3x3 windows of warped (x9) and target (y9) around (y, x).
template <typename scalar_t>
void gather_windows(const WarpedRows<scalar_t>& rows, const scalar_t* target_plane, const Shape& s, int64_t ch,
                    int64_t y, int64_t x, scalar_t x9[9], scalar_t y9[9]) {
  int k = 0;
  for (int64_t dy = -1; dy <= 1; ++dy) {
    const int64_t ry = reflect(y + dy, s.h);
    const scalar_t* wrow = rows.at(ry, ch);
    for (int64_t dx = -1; dx <= 1; ++dx, ++k) {
      const int64_t rx = reflect(x + dx, s.w);
      x9[k] = wrow[rx];
      y9[k] = target_plane[ry * s.w + rx];
    }
  }
}

template <typename scalar_t>
void photometric_kernel(const at::Tensor& target, const at::Tensor& src, const at::Tensor& depth,
                        const at::Tensor& T, const at::Tensor& K, at::Tensor& error, at::Tensor& valid) {
  const Shape s = shape_of(src);
  const scalar_t *tgt_p = target.data_ptr<scalar_t>(), *src_p = src.data_ptr<scalar_t>();
  const scalar_t *depth_p = depth.data_ptr<scalar_t>(), *T_p = T.data_ptr<scalar_t>(), *K_p = K.data_ptr<scalar_t>();
  scalar_t *err_p = error.data_ptr<scalar_t>(), *valid_p = valid.data_ptr<scalar_t>();
  const scalar_t w_ssim = scalar_t(kSsimWeight), w_l1 = scalar_t(1 - kSsimWeight);
  for_each_tile(s, [&](int64_t, int64_t b, int64_t r0, int64_t r1) {
    const auto cam = camera_of(K_p, T_p, b);
    // Rows r0-1 and r1 are the halo (valid is written for the tile's own rows only); reflection
    // at the image border stays inside [lo, hi).
    const auto rows = warp_rows(cam, s, b, std::max<int64_t>(r0 - 1, 0), std::min(r1 + 1, s.h), src_p, depth_p,
                                valid_p, r0, r1);
    scalar_t x9[9], y9[9];
    for (int64_t y = r0; y < r1; ++y) {
      for (int64_t x = 0; x < s.w; ++x) {
        scalar_t total = 0;
        for (int64_t c = 0; c < s.c; ++c) {
          const scalar_t* tgt = tgt_p + (b * s.c + c) * s.plane();
          gather_windows(rows, tgt, s, c, y, x, x9, y9);
          const scalar_t e = clamp01(ssim_half_dissimilarity(ssim_stats(x9, y9)));
          total += w_ssim * e + w_l1 * std::abs(y9[4] - x9[4]);
        }
        err_p[(b * s.h + y) * s.w + x] = total / scalar_t(s.c);
      }
    }
  });
}

// d loss / d warped and d loss / d target for the photometric error. The warp is recomputed for
// the tile plus a two-row halo, SSIM moment gradients for the tile plus one row, and each pixel
// then gathers them through the adjoint of the reflection-padded box filter.
template <typename scalar_t>
void photometric_grad_warped_kernel(const at::Tensor& grad_error, const at::Tensor& target, const at::Tensor& src,
                                    const at::Tensor& depth, const at::Tensor& T, const at::Tensor& K,
                                    at::Tensor& grad_warped, at::Tensor& grad_target) {
  const Shape s = shape_of(src);
  const scalar_t *ge_p = grad_error.data_ptr<scalar_t>(), *tgt_p = target.data_ptr<scalar_t>();
  const scalar_t *src_p = src.data_ptr<scalar_t>(), *depth_p = depth.data_ptr<scalar_t>();
  const scalar_t *T_p = T.data_ptr<scalar_t>(), *K_p = K.data_ptr<scalar_t>();
  scalar_t *gw_p = grad_warped.data_ptr<scalar_t>(), *gt_p = grad_target.data_ptr<scalar_t>();
  const scalar_t w_ssim = scalar_t(kSsimWeight) / scalar_t(s.c), w_l1 = scalar_t(1 - kSsimWeight) / scalar_t(s.c);
  for_each_tile(s, [&](int64_t, int64_t b, int64_t r0, int64_t r1) {
    const auto cam = camera_of(K_p, T_p, b);
    const auto rows = warp_rows(cam, s, b, std::max<int64_t>(r0 - 2, 0), std::min(r1 + 2, s.h), src_p, depth_p);
    const int64_t clo = std::max<int64_t>(r0 - 1, 0), chi = std::min(r1 + 1, s.h);
    // coef[((row - clo) * C + c) * 5 + k][x]: the five moment gradients of each window.
    scalar_t* coef = scratch<scalar_t>(Scratch::kMoments, (chi - clo) * s.c * 5 * s.w);
    scalar_t x9[9], y9[9], m[5];
    for (int64_t y = clo; y < chi; ++y)
      for (int64_t c = 0; c < s.c; ++c) {
        const scalar_t* tgt = tgt_p + (b * s.c + c) * s.plane();
        scalar_t* out = coef + ((y - clo) * s.c + c) * 5 * s.w;
        for (int64_t x = 0; x < s.w; ++x) {
          gather_windows(rows, tgt, s, c, y, x, x9, y9);
          ssim_moment_grads(ssim_stats(x9, y9), w_ssim * ge_p[(b * s.h + y) * s.w + x], m);
          for (int k = 0; k < 5; ++k) out[k * s.w + x] = m[k];
        }
      }
    // The adjoint of the reflected 3x3 box filter, separably: rows into `vert`, then columns
    // into `both` (interior x gets x-1, x, x+1; reflection adds column 0 to 1 and W-1 to W-2).
    std::vector<scalar_t> vert(5 * s.w), both(5 * s.w);
    int64_t ry[5];
    for (int64_t y = r0; y < r1; ++y) {
      const int ny = window_adjoint(y, s.h, ry);
      for (int64_t c = 0; c < s.c; ++c) {
        for (int k = 0; k < 5; ++k) {
          scalar_t* vk = vert.data() + k * s.w;
          scalar_t* bk = both.data() + k * s.w;
          std::fill(vk, vk + s.w, scalar_t(0));
          for (int i = 0; i < ny; ++i) {
            const scalar_t* row = coef + (((ry[i] - clo) * s.c + c) * 5 + k) * s.w;
            for (int64_t x = 0; x < s.w; ++x) vk[x] += row[x];
          }
          for (int64_t x = 0; x < s.w; ++x)
            bk[x] = vk[x] + (x > 0 ? vk[x - 1] : scalar_t(0)) + (x < s.w - 1 ? vk[x + 1] : scalar_t(0));
          bk[1] += vk[0];
          bk[s.w - 2] += vk[s.w - 1];
        }
        const scalar_t* wrow = rows.at(y, c);
        const int64_t base = ((b * s.c + c) * s.h + y) * s.w;
        const scalar_t* ge_row = ge_p + (b * s.h + y) * s.w;
        const scalar_t *m0 = both.data(), *m1 = m0 + s.w, *m2 = m1 + s.w, *m3 = m2 + s.w, *m4 = m3 + s.w;
        for (int64_t x = 0; x < s.w; ++x) {
          const scalar_t wv = wrow[x], tv = tgt_p[base + x];
          const scalar_t l1 = w_l1 * ge_row[x] * sign(tv - wv);
          gw_p[base + x] = m0[x] + 2 * wv * m1[x] + tv * m2[x] - l1;
          gt_p[base + x] = m3[x] + 2 * tv * m4[x] + wv * m2[x] + l1;
        }
      }
    }
  });
}

std::tuple<at::Tensor, at::Tensor> inverse_warp_cpu(const at::Tensor& src, const at::Tensor& depth,
                                                    const at::Tensor& T, const at::Tensor& K) {
  check_warp_inputs("edgedepth::inverse_warp", src, depth, T, K);
  auto src_c = src.contiguous(), depth_c = depth.contiguous(), T_c = T.contiguous(), K_c = K.contiguous();
  auto warped = at::empty_like(src_c);
  auto valid = at::empty_like(depth_c);
  AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "edgedepth::inverse_warp", [&] {
    inverse_warp_kernel<scalar_t>(src_c, depth_c, T_c, K_c, warped, valid);
  });
  return {warped, valid};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> warp_backward_cpu(const at::Tensor& grad_warped,
                                                                 const at::Tensor& src, const at::Tensor& depth,
                                                                 const at::Tensor& T, const at::Tensor& K) {
  auto g_c = grad_warped.contiguous(), src_c = src.contiguous(), depth_c = depth.contiguous();
  auto T_c = T.contiguous(), K_c = K.contiguous();
  auto grad_src = at::zeros_like(src_c), grad_depth = at::empty_like(depth_c), grad_T = at::zeros_like(T_c);
  AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "edgedepth::inverse_warp_backward", [&] {
    warp_backward_kernel<scalar_t>(g_c, src_c, depth_c, T_c, K_c, grad_src, grad_depth, grad_T);
  });
  return {grad_src, grad_depth, grad_T};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> inverse_warp_backward_cpu(const at::Tensor& grad_warped,
                                                                         const at::Tensor& src,
                                                                         const at::Tensor& depth, const at::Tensor& T,
                                                                         const at::Tensor& K) {
  check_warp_inputs("edgedepth::inverse_warp_backward", src, depth, T, K);
  TORCH_CHECK(grad_warped.sizes() == src.sizes(), message("edgedepth::inverse_warp_backward: grad_warped must have shape ",
              src.sizes()));
  return warp_backward_cpu(grad_warped.to(src.scalar_type()), src, depth, T, K);
}

std::tuple<at::Tensor, at::Tensor> photometric_error_cpu(const at::Tensor& target, const at::Tensor& src,
                                                         const at::Tensor& depth, const at::Tensor& T,
                                                         const at::Tensor& K) {
  check_warp_inputs("edgedepth::photometric_error", src, depth, T, K, &target);
  auto tgt_c = target.contiguous(), src_c = src.contiguous(), depth_c = depth.contiguous();
  auto T_c = T.contiguous(), K_c = K.contiguous();
  auto error = at::empty_like(depth_c), valid = at::empty_like(depth_c);
  AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "edgedepth::photometric_error", [&] {
    photometric_kernel<scalar_t>(tgt_c, src_c, depth_c, T_c, K_c, error, valid);
  });
  return {error, valid};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> photometric_error_backward_cpu(
    const at::Tensor& grad_error, const at::Tensor& target, const at::Tensor& src, const at::Tensor& depth,
    const at::Tensor& T, const at::Tensor& K) {
  check_warp_inputs("edgedepth::photometric_error_backward", src, depth, T, K, &target);
  TORCH_CHECK(grad_error.sizes() == depth.sizes(), message("edgedepth::photometric_error_backward: grad_error must have shape ",
              depth.sizes()));
  auto ge_c = grad_error.to(src.scalar_type()).contiguous(), tgt_c = target.contiguous(), src_c = src.contiguous();
  auto depth_c = depth.contiguous(), T_c = T.contiguous(), K_c = K.contiguous();
  auto grad_warped = at::empty_like(src_c), grad_target = at::empty_like(tgt_c);
  AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "edgedepth::photometric_error_backward", [&] {
    photometric_grad_warped_kernel<scalar_t>(ge_c, tgt_c, src_c, depth_c, T_c, K_c, grad_warped, grad_target);
  });
  auto [grad_src, grad_depth, grad_T] = warp_backward_cpu(grad_warped, src_c, depth_c, T_c, K_c);
  return {grad_target, grad_src, grad_depth, grad_T};
}

}  // namespace
}  // namespace edgedepth

TORCH_LIBRARY_IMPL(edgedepth, CPU, m) {
  m.impl("inverse_warp", &edgedepth::inverse_warp_cpu);
  m.impl("inverse_warp_backward", &edgedepth::inverse_warp_backward_cpu);
  m.impl("photometric_error", &edgedepth::photometric_error_cpu);
  m.impl("photometric_error_backward", &edgedepth::photometric_error_backward_cpu);
}
