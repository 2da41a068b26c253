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

// Along a target row the projection is affine in x: with ray = K^-1 (x, y, 1) = r0 + x dr,
//   K (R ray d + t) = d (a + x b) + c   and   source z = (R ray d + t)_z = d (sa + x sb) + sc,
// so a pixel costs a handful of multiply-adds and one reciprocal, in loops the compiler vectorises.
struct RowGeometry {
  geom_t a[3], b[3], c[3], sa, sb, sc, r0[3], dr[3];
};

RowGeometry row_geometry(const Camera<geom_t>& cam, int64_t y) {
  RowGeometry g;
  geom_t Rr0[3], Rdr[3];
  for (int i = 0; i < 3; ++i) {
    g.r0[i] = cam.Kinv[3 * i + 1] * geom_t(y) + cam.Kinv[3 * i + 2];
    g.dr[i] = cam.Kinv[3 * i];
  }
  for (int i = 0; i < 3; ++i) {
    Rr0[i] = cam.T[4 * i] * g.r0[0] + cam.T[4 * i + 1] * g.r0[1] + cam.T[4 * i + 2] * g.r0[2];
    Rdr[i] = cam.T[4 * i] * g.dr[0] + cam.T[4 * i + 1] * g.dr[1] + cam.T[4 * i + 2] * g.dr[2];
  }
  for (int i = 0; i < 3; ++i) {
    g.a[i] = cam.K[3 * i] * Rr0[0] + cam.K[3 * i + 1] * Rr0[1] + cam.K[3 * i + 2] * Rr0[2];
    g.b[i] = cam.K[3 * i] * Rdr[0] + cam.K[3 * i + 1] * Rdr[1] + cam.K[3 * i + 2] * Rdr[2];
    g.c[i] = cam.K[3 * i] * cam.T[3] + cam.K[3 * i + 1] * cam.T[7] + cam.K[3 * i + 2] * cam.T[11];
  }
  g.sa = Rr0[2];
  g.sb = Rdr[2];
  g.sc = cam.T[11];
  return g;
}

// One target row's projection and bilinear footprint, structure of arrays. mask says which of the
// corners (bit k: nw, ne, sw, se) lie inside the source image; (x0, y0) is the nw corner (it may be
// outside the image when that corner is masked out; only masked-in corners are ever read). Flags
// and indices are stored as (integer-valued) doubles and the pointers are __restrict, so that GCC
// vectorises both loops of project_row (mixed element widths or possible aliasing stop it).
struct RowBuffers {
  std::vector<geom_t> xs, d, u, v, inv_z, z_clamped, sz, fx, fy, gu, gv, x0, y0, mask, gd, gs0, gs1, gs2;
  std::vector<geom_t> w00, w01, w10, w11;  // bilinear weights of the four corners
  std::vector<int64_t> off;                // offset of the nw corner (computed once per row)
  explicit RowBuffers(int64_t w)
      : xs(w), d(w), u(w), v(w), inv_z(w), z_clamped(w), sz(w), fx(w), fy(w), gu(w), gv(w), x0(w), y0(w), mask(w),
        gd(w), gs0(w), gs1(w), gs2(w), w00(w), w01(w), w10(w), w11(w), off(w) {
    for (int64_t x = 0; x < w; ++x) xs[x] = geom_t(x);  // int64 -> double does not vectorise before AVX-512
  }
  int corners(int64_t x) const { return static_cast<int>(mask[x]); }
};

// The two loops of project_row, as functions of __restrict pointers: GCC vectorises them only in
// this form (inlined into project_row, with the same pointers as locals, it does not).
void project_affine(const RowGeometry& g, int64_t w, const geom_t* __restrict xs, const geom_t* __restrict dd,
                    geom_t* __restrict u, geom_t* __restrict v, geom_t* __restrict inv_z, geom_t* __restrict zc,
                    geom_t* __restrict szs) {
  const geom_t eps = geom_t(kDepthEps);
  const geom_t a0 = g.a[0], a1 = g.a[1], a2 = g.a[2], b0 = g.b[0], b1 = g.b[1], b2 = g.b[2];
  const geom_t c0 = g.c[0], c1 = g.c[1], c2 = g.c[2], sa = g.sa, sb = g.sb, sc = g.sc;
  for (int64_t x = 0; x < w; ++x) {
    const geom_t X = xs[x], d = dd[x];
    const geom_t px = d * (a0 + X * b0) + c0;
    const geom_t py = d * (a1 + X * b1) + c1;
    const geom_t pz = d * (a2 + X * b2) + c2;
    const bool clamped = std::fabs(pz) < eps;
    const geom_t inv = geom_t(1) / (clamped ? eps : pz);
    u[x] = px * inv;
    v[x] = py * inv;
    inv_z[x] = inv;
    zc[x] = clamped ? geom_t(1) : geom_t(0);
    szs[x] = d * (sa + X * sb) + sc;
  }
}

// align_corners=True maps u to u again, except that a one-pixel-wide axis always samples 0.
// Clamp to +-lim (an integer) before the integer conversion so far-away points cannot overflow
// it; they stay outside. floor = truncation, minus one for negative fractions.
void footprint_row(int64_t h, int64_t w, const geom_t* __restrict u, const geom_t* __restrict v,
                   const geom_t* __restrict szs, geom_t* __restrict fx, geom_t* __restrict fy,
                   geom_t* __restrict x0s, geom_t* __restrict y0s, geom_t* __restrict mask, geom_t* __restrict w00,
                   geom_t* __restrict w01, geom_t* __restrict w10, geom_t* __restrict w11) {
  const geom_t eps = geom_t(kDepthEps);
  const geom_t lim = geom_t(4) * geom_t(w + h + 4), W = geom_t(w), H = geom_t(h);
  const bool wide = w > 1, tall = h > 1;
  for (int64_t x = 0; x < w; ++x) {
    const bool f = szs[x] > eps;
    const geom_t ux = u[x], vx = v[x];  // loaded unconditionally: a conditional load would branch
    const geom_t ix = (wide & f) ? ux : geom_t(0), iy = (tall & f) ? vx : geom_t(0);
    const geom_t lx = ix < -lim ? -lim : ix, ly = iy < -lim ? -lim : iy;
    const geom_t cx = lx > lim ? lim : lx, cy = ly > lim ? lim : ly;
    const geom_t tx = geom_t(static_cast<int32_t>(cx)), ty = geom_t(static_cast<int32_t>(cy));
    const geom_t x0 = cx < tx ? tx - 1 : tx, y0 = cy < ty ? ty - 1 : ty;
    const geom_t ax = ix - x0, ay = iy - y0;
    fx[x] = ax;
    fy[x] = ay;
    w00[x] = (1 - ax) * (1 - ay);
    w01[x] = ax * (1 - ay);
    w10[x] = (1 - ax) * ay;
    w11[x] = ax * ay;
    x0s[x] = x0;
    y0s[x] = y0;
    // bitwise & on the comparisons: && would branch
    const bool in_x0 = (x0 >= 0) & (x0 < W), in_x1 = (x0 >= -1) & (x0 + 1 < W);
    const bool in_y0 = (y0 >= 0) & (y0 < H), in_y1 = (y0 >= -1) & (y0 + 1 < H);
    const geom_t m = ((in_x0 & in_y0) ? geom_t(1) : geom_t(0)) + ((in_x1 & in_y0) ? geom_t(2) : geom_t(0)) +
                     ((in_x0 & in_y1) ? geom_t(4) : geom_t(0)) + ((in_x1 & in_y1) ? geom_t(8) : geom_t(0));
    mask[x] = f ? m : geom_t(0);
  }
}

template <typename scalar_t>
void project_row(const RowGeometry& g, const scalar_t* depth_row, int64_t h, int64_t w, RowBuffers& r) {
  geom_t* dd = r.d.data();
  for (int64_t x = 0; x < w; ++x) dd[x] = geom_t(depth_row[x]);
  project_affine(g, w, r.xs.data(), dd, r.u.data(), r.v.data(), r.inv_z.data(), r.z_clamped.data(), r.sz.data());
  footprint_row(h, w, r.u.data(), r.v.data(), r.sz.data(), r.fx.data(), r.fy.data(), r.x0.data(), r.y0.data(),
                r.mask.data(), r.w00.data(), r.w01.data(), r.w10.data(), r.w11.data());
  for (int64_t x = 0; x < w; ++x) r.off[x] = static_cast<int64_t>(r.y0[x]) * w + static_cast<int64_t>(r.x0[x]);
}

// Bilinear sample of one channel plane at every pixel of the row (zero padding).
template <typename scalar_t>
void sample_row(const RowBuffers& r, const scalar_t* plane, int64_t w, scalar_t* out) {
  for (int64_t x = 0; x < w; ++x) {
    const int m = r.corners(x);
    const geom_t a = r.w00[x], b = r.w01[x], c = r.w10[x], d = r.w11[x];
    const scalar_t* p = plane + r.off[x];
    geom_t value = 0;
    if (m == 15) {
      value = a * geom_t(p[0]) + b * geom_t(p[1]) + c * geom_t(p[w]) + d * geom_t(p[w + 1]);
    } else if (m != 0) {
      if (m & 1) value += a * geom_t(p[0]);
      if (m & 2) value += b * geom_t(p[1]);
      if (m & 4) value += c * geom_t(p[w]);
      if (m & 8) value += d * geom_t(p[w + 1]);
    }
    out[x] = static_cast<scalar_t>(value);
  }
}

// valid = in front of the source camera and inside the source image (noinline, restrict and & on
// the comparisons so that it vectorises).
template <typename scalar_t>
__attribute__((noinline)) void valid_mask_row(const geom_t* __restrict u, const geom_t* __restrict v,
                                              const geom_t* __restrict sz, int64_t h, int64_t w,
                                              scalar_t* __restrict valid) {
  const geom_t umax = geom_t(w - 1), vmax = geom_t(h - 1), eps = geom_t(kDepthEps);
  for (int64_t x = 0; x < w; ++x) {
    const geom_t ux = u[x], vx = v[x];
    const bool inside = (sz[x] > eps) & (ux >= 0) & (ux <= umax) & (vx >= 0) & (vx <= vmax);
    valid[x] = inside ? scalar_t(1) : scalar_t(0);
  }
}

// Warps target row y of batch element b into out[c * out_channel_stride + x]; optionally writes
// the valid row.
template <typename scalar_t>
void warp_row(const Camera<geom_t>& cam, const Shape& s, int64_t b, int64_t y, const scalar_t* src,
              const scalar_t* depth, scalar_t* out, int64_t out_channel_stride, scalar_t* valid_row, RowBuffers& r) {
  project_row(row_geometry(cam, y), depth + (b * s.h + y) * s.w, s.h, s.w, r);
  const scalar_t* src_b = src + b * s.c * s.plane();
  for (int64_t c = 0; c < s.c; ++c) sample_row(r, src_b + c * s.plane(), s.w, out + c * out_channel_stride);
  if (valid_row != nullptr) valid_mask_row(r.u.data(), r.v.data(), r.sz.data(), s.h, s.w, valid_row);
}

// Runs fn(tile, b, row_begin, row_end) over row tiles of every batch element in parallel.
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
    RowBuffers r(s.w);
    for (int64_t y = r0; y < r1; ++y)
      warp_row(cam, s, b, y, src_p, depth_p, out_p + b * s.c * s.plane() + y * s.w, s.plane(),
               valid_p + (b * s.h + y) * s.w, r);
  });
}

// Adds g times the bilinear weights of pixel x into the four corners of one source-gradient plane
// (only the corners inside the image; all four inside, the common case, without branches).
template <typename scalar_t>
void scatter_corners(const RowBuffers& r, int64_t x, int m, int64_t w, geom_t g, scalar_t* plane) {
  scalar_t* q = plane + r.off[x];
  if (m == 15) {
    q[0] += static_cast<scalar_t>(r.w00[x] * g);
    q[1] += static_cast<scalar_t>(r.w01[x] * g);
    q[w] += static_cast<scalar_t>(r.w10[x] * g);
    q[w + 1] += static_cast<scalar_t>(r.w11[x] * g);
  } else {
    if (m & 1) q[0] += static_cast<scalar_t>(r.w00[x] * g);
    if (m & 2) q[1] += static_cast<scalar_t>(r.w01[x] * g);
    if (m & 4) q[w] += static_cast<scalar_t>(r.w10[x] * g);
    if (m & 8) q[w + 1] += static_cast<scalar_t>(r.w11[x] * g);
  }
}

// d loss / d (u, v) of one row from d loss / d warped (channel planes g_b, row y), scattering
// into the source-image gradient planes gs_b when they are given. Pixel-major, channels inside:
// gu and gv stay in registers; each plane still receives its contributions in pixel order, so
// the result does not depend on the loop order. All four corners inside (the common case) takes
// a branch-free path.
template <typename scalar_t>
void backprop_samples_row(RowBuffers& r, const Shape& s, int64_t y, const scalar_t* src_b, const scalar_t* g_b,
                          scalar_t* gs_b) {
  const int64_t w = s.w, plane_size = s.plane(), channels = s.c;
  const scalar_t* g_b_row = g_b + y * w;
  for (int64_t x = 0; x < w; ++x) {
    const int m = r.corners(x);
    geom_t gu = 0, gv = 0;
    if (m != 0) {
      const geom_t fx = r.fx[x], fy = r.fy[x];
      const int64_t o = r.off[x];
      for (int64_t c = 0; c < channels; ++c) {
        const scalar_t* p = src_b + c * plane_size + o;
        const geom_t g = g_b_row[c * plane_size + x];
        geom_t s0, s1, s2, s3;
        if (m == 15) {
          s0 = geom_t(p[0]), s1 = geom_t(p[1]), s2 = geom_t(p[w]), s3 = geom_t(p[w + 1]);
        } else {
          s0 = (m & 1) ? geom_t(p[0]) : 0, s1 = (m & 2) ? geom_t(p[1]) : 0;
          s2 = (m & 4) ? geom_t(p[w]) : 0, s3 = (m & 8) ? geom_t(p[w + 1]) : 0;
        }
        gu += g * ((1 - fy) * (s1 - s0) + fy * (s3 - s2));
        gv += g * ((1 - fx) * (s2 - s0) + fx * (s3 - s1));
        if (gs_b != nullptr) scatter_corners(r, x, m, w, g, gs_b + c * plane_size);
      }
    }
    r.gu[x] = gu;
    r.gv[x] = gv;
  }
}

// Chains d loss / d (u, v) of a row into d loss / d depth and the source-point gradient per pixel
// (vectorised: selects, no branches; points behind the camera get no gradient, as in the
// reference's where()), written to gd and gs0..2 (= K^T d loss / d projection).
void chain_arrays(const Camera<geom_t>& cam, const RowGeometry& g, int64_t w, int64_t h, const geom_t* __restrict xs,
                  const geom_t* __restrict gu, const geom_t* __restrict gv,
                  const geom_t* __restrict u, const geom_t* __restrict v, const geom_t* __restrict inv_z,
                  const geom_t* __restrict zc, const geom_t* __restrict sz, geom_t* __restrict gd,
                  geom_t* __restrict gs0, geom_t* __restrict gs1, geom_t* __restrict gs2) {
  const geom_t eps = geom_t(kDepthEps);
  // A one-pixel-wide axis has no coordinate gradient (factors, not selects: keeps the loop flat).
  const geom_t wide = w > 1 ? geom_t(1) : geom_t(0), tall = h > 1 ? geom_t(1) : geom_t(0);
  const geom_t k0 = cam.K[0], k1 = cam.K[1], k2 = cam.K[2], k3 = cam.K[3], k4 = cam.K[4], k5 = cam.K[5];
  const geom_t k6 = cam.K[6], k7 = cam.K[7], k8 = cam.K[8];
  const geom_t t0 = cam.T[0], t1 = cam.T[1], t2 = cam.T[2], t4 = cam.T[4], t5 = cam.T[5], t6 = cam.T[6];
  const geom_t t8 = cam.T[8], t9 = cam.T[9], t10 = cam.T[10];
  const geom_t r00 = g.r0[0], r01 = g.r0[1], r02 = g.r0[2], d0 = g.dr[0], d1 = g.dr[1], d2 = g.dr[2];
  for (int64_t x = 0; x < w; ++x) {
    // Behind the camera: gu = gv = 0 there (no corner is sampled), so every product below is 0;
    // the factor only makes that exact. (A select here stays a branch and stops vectorisation.)
    const geom_t front = sz[x] > eps ? geom_t(1) : geom_t(0);
    const geom_t gux = gu[x], gvx = gv[x], ux = u[x], vx = v[x], inv = inv_z[x], X = xs[x];
    const geom_t a = wide * gux, c = tall * gvx;
    const geom_t gp0 = a * inv, gp1 = c * inv, gp2 = (geom_t(1) - zc[x]) * (-(a * ux + c * vx) * inv);
    const geom_t s0 = k0 * gp0 + k3 * gp1 + k6 * gp2;  // K^T gp
    const geom_t s1 = k1 * gp0 + k4 * gp1 + k7 * gp2;
    const geom_t s2 = k2 * gp0 + k5 * gp1 + k8 * gp2;
    const geom_t p0 = t0 * s0 + t4 * s1 + t8 * s2;  // R^T (K^T gp)
    const geom_t p1 = t1 * s0 + t5 * s1 + t9 * s2;
    const geom_t p2 = t2 * s0 + t6 * s1 + t10 * s2;
    const geom_t depth_grad = p0 * (r00 + X * d0) + p1 * (r01 + X * d1) + p2 * (r02 + X * d2);
    gd[x] = front * depth_grad;
    gs0[x] = front * s0;
    gs1[x] = front * s1;
    gs2[x] = front * s2;
  }
}

// d loss / d depth of a row (written) and its d loss / d T (added to the 3x4 in gT). With
// point = d (r0 + x dr): sum_x gsrc_i point_j = r0_j sum_x gsrc_i d + dr_j sum_x gsrc_i d x, so
// the pose needs nine sums per row; they run in a fixed order (deterministic).
template <typename scalar_t>
void chain_row(const Camera<geom_t>& cam, const RowGeometry& g, RowBuffers& r, const Shape& s,
               const scalar_t* depth_row, scalar_t* grad_depth_row, geom_t gT[12]) {
  const int64_t w = s.w;
  chain_arrays(cam, g, w, s.h, r.xs.data(), r.gu.data(), r.gv.data(), r.u.data(), r.v.data(),
               r.inv_z.data(), r.z_clamped.data(), r.sz.data(), r.gd.data(), r.gs0.data(), r.gs1.data(),
               r.gs2.data());
  const geom_t* gd = r.gd.data();
  for (int64_t x = 0; x < w; ++x) grad_depth_row[x] = static_cast<scalar_t>(gd[x]);
  const geom_t* gs[3] = {r.gs0.data(), r.gs1.data(), r.gs2.data()};
  const geom_t* xs = r.xs.data();
  const geom_t* dd = r.d.data();
  for (int i = 0; i < 3; ++i) {
    geom_t sum_d = 0, sum_dx = 0, sum = 0;  // sum gsrc_i d, sum gsrc_i d x, sum gsrc_i
    for (int64_t x = 0; x < w; ++x) {
      const geom_t gi = gs[i][x], gid = gi * dd[x];
      sum_d += gid;
      sum_dx += gid * xs[x];
      sum += gi;
    }
    for (int j = 0; j < 3; ++j) gT[4 * i + j] += g.r0[j] * sum_d + g.dr[j] * sum_dx;
    gT[4 * i + 3] += sum;
  }
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
  auto backprop_rows = [&](RowBuffers& r, int64_t tile, int64_t b, int64_t r0, int64_t r1, bool scatter) {
    const auto cam = camera_of(K_p, T_p, b);
    std::array<geom_t, 12> gT{};
    const int64_t offset = b * s.c * s.plane();
    for (int64_t y = r0; y < r1; ++y) {
      const auto geometry = row_geometry(cam, y);
      const scalar_t* depth_row = depth_p + b * s.plane() + y * s.w;
      project_row(geometry, depth_row, s.h, s.w, r);
      backprop_samples_row(r, s, y, src_p + offset, g_p + offset, scatter ? gs_p + offset : nullptr);
      chain_row(cam, geometry, r, s, depth_row, gd_p + b * s.plane() + y * s.w, gT.data());
    }
    tile_gT[tile] = gT;
  };
  const bool per_batch = s.b >= at::get_num_threads();
  if (per_batch) {
    at::parallel_for(0, s.b, 1, [&](int64_t begin, int64_t end) {
      RowBuffers r(s.w);
      for (int64_t b = begin; b < end; ++b)
        for (int64_t t = 0; t < tiles; ++t)
          backprop_rows(r, b * tiles + t, b, t * kTileRows, std::min((t + 1) * kTileRows, s.h), true);
    });
  } else {
    for_each_tile(s, [&](int64_t tile, int64_t b, int64_t r0, int64_t r1) {
      RowBuffers r(s.w);
      backprop_rows(r, tile, b, r0, r1, false);
    });
    at::parallel_for(0, s.b * s.c, 1, [&](int64_t begin, int64_t end) {
      RowBuffers r(s.w);
      for (int64_t bc = begin; bc < end; ++bc) {
        const int64_t b = bc / s.c;
        const auto cam = camera_of(K_p, T_p, b);
        scalar_t* out = gs_p + bc * s.plane();
        const scalar_t* g = g_p + bc * s.plane();
        for (int64_t y = 0; y < s.h; ++y) {
          project_row(row_geometry(cam, y), depth_p + (b * s.h + y) * s.w, s.h, s.w, r);
          const scalar_t* g_row = g + y * s.w;
          for (int64_t x = 0; x < s.w; ++x) {
            const int m = r.corners(x);
            if (m != 0) scatter_corners(r, x, m, s.w, geom_t(g_row[x]), out);
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
enum class Scratch { kWarped, kMoments, kSums };

template <typename scalar_t>
scalar_t* scratch(Scratch slot, size_t n) {
  thread_local std::vector<scalar_t> buffers[3];
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
  RowBuffers r(s.w);
  for (int64_t y = lo; y < hi; ++y)
    warp_row(cam, s, b, y, src, depth, rows.data + (y - lo) * s.c * s.w, s.w,
             (valid != nullptr && y >= valid_lo && y < valid_hi) ? valid + (b * s.h + y) * s.w : nullptr, r);
  return rows;
}

// Row loops as noinline functions of __restrict pointers: GCC 12 vectorises them only in this form
// (inlined into the tile lambdas, the same loops stay scalar; checked with -fopt-info-vec).

// x, y, x^2, y^2, xy of one row (x = warped, y = target), q[k * w + x].
template <typename scalar_t>
__attribute__((noinline)) void pixel_moments_row(const scalar_t* __restrict xr, const scalar_t* __restrict yr,
                                                 int64_t w, scalar_t* __restrict q) {
  for (int64_t x = 0; x < w; ++x) {
    q[x] = xr[x];
    q[w + x] = yr[x];
    q[2 * w + x] = xr[x] * xr[x];
    q[3 * w + x] = yr[x] * yr[x];
    q[4 * w + x] = xr[x] * yr[x];
  }
}

// d loss / d warped (gw) and d loss / d target (gt) of one row from the gathered window-moment
// gradients m[k * w + x] and the L1 term.
template <typename scalar_t>
__attribute__((noinline)) void pixel_grads_row(const scalar_t* __restrict m, const scalar_t* __restrict wrow,
                                               const scalar_t* __restrict trow, const scalar_t* __restrict ge_row,
                                               scalar_t w_l1, int64_t w, scalar_t* __restrict gw,
                                               scalar_t* __restrict gt) {
  const scalar_t *m0 = m, *m1 = m0 + w, *m2 = m1 + w, *m3 = m2 + w, *m4 = m3 + w;
  for (int64_t x = 0; x < w; ++x) {
    const scalar_t wv = wrow[x], tv = trow[x];
    const scalar_t l1 = w_l1 * ge_row[x] * sign(tv - wv);
    gw[x] = m0[x] + 2 * wv * m1[x] + tv * m2[x] - l1;
    gt[x] = m3[x] + 2 * tv * m4[x] + wv * m2[x] + l1;
  }
}

// The five raw 3x3 window sums (x, y, x^2, y^2, xy; x = warped, y = target) of one channel for
// window rows [wlo, whi), reflection-padded, computed separably: horizontal 3-tap sums of every
// warped row in [lo, hi) (which must contain the reflected neighbours), then vertical sums.
// Layout: sums[((row - wlo) * 5 + k) * w + x].
template <typename scalar_t>
void window_sums(const WarpedRows<scalar_t>& rows, const scalar_t* target_plane, const Shape& s, int64_t ch,
                 int64_t wlo, int64_t whi, scalar_t* sums) {
  const int64_t w = s.w, n_rows = rows.hi - rows.lo;
  scalar_t* hsum = scratch<scalar_t>(Scratch::kSums, n_rows * 5 * w);
  std::vector<scalar_t> q(5 * w);
  for (int64_t y = rows.lo; y < rows.hi; ++y) {
    const scalar_t *xr = rows.at(y, ch), *yr = target_plane + y * w;
    pixel_moments_row(xr, yr, w, q.data());
    for (int k = 0; k < 5; ++k) {
      const scalar_t* a = q.data() + k * w;
      scalar_t* out = hsum + ((y - rows.lo) * 5 + k) * w;
      for (int64_t x = 1; x < w - 1; ++x) out[x] = a[x - 1] + a[x] + a[x + 1];
      out[0] = a[1] + a[0] + a[1];
      out[w - 1] = a[w - 2] + a[w - 1] + a[w - 2];
    }
  }
  for (int64_t y = wlo; y < whi; ++y) {
    const int64_t up = reflect(y - 1, s.h) - rows.lo, mid = y - rows.lo, down = reflect(y + 1, s.h) - rows.lo;
    for (int k = 0; k < 5; ++k) {
      const scalar_t *a = hsum + (up * 5 + k) * w, *m = hsum + (mid * 5 + k) * w, *d = hsum + (down * 5 + k) * w;
      scalar_t* out = sums + ((y - wlo) * 5 + k) * w;
      for (int64_t x = 0; x < w; ++x) out[x] = a[x] + m[x] + d[x];
    }
  }
}

template <typename scalar_t>
SsimStats<scalar_t> stats_at(const scalar_t* sums_row, int64_t w, int64_t x) {
  const scalar_t ninth = scalar_t(1) / scalar_t(9);
  SsimStats<scalar_t> st;
  st.mu_x = sums_row[x] * ninth;
  st.mu_y = sums_row[w + x] * ninth;
  st.sigma_x = sums_row[2 * w + x] * ninth - st.mu_x * st.mu_x;
  st.sigma_y = sums_row[3 * w + x] * ninth - st.mu_y * st.mu_y;
  st.sigma_xy = sums_row[4 * w + x] * ninth - st.mu_x * st.mu_y;
  return st;
}

// The five SSIM moment gradients of every window of a row, out[k * w + x].
template <typename scalar_t>
__attribute__((noinline)) void moment_grads_row(const scalar_t* __restrict sums_row,
                                                const scalar_t* __restrict ge_row, scalar_t w_ssim, int64_t w,
                                                scalar_t* __restrict out) {
  for (int64_t x = 0; x < w; ++x) {
    scalar_t m[5];
    ssim_moment_grads(stats_at(sums_row, w, x), w_ssim * ge_row[x], m);
    out[x] = m[0];
    out[w + x] = m[1];
    out[2 * w + x] = m[2];
    out[3 * w + x] = m[3];
    out[4 * w + x] = m[4];
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
    scalar_t* sums = scratch<scalar_t>(Scratch::kMoments, (r1 - r0) * 5 * s.w);
    scalar_t* total = err_p + (b * s.h + r0) * s.w;  // accumulated over channels in place
    std::fill(total, total + (r1 - r0) * s.w, scalar_t(0));
    for (int64_t c = 0; c < s.c; ++c) {
      const scalar_t* tgt = tgt_p + (b * s.c + c) * s.plane();
      window_sums(rows, tgt, s, c, r0, r1, sums);
      for (int64_t y = r0; y < r1; ++y) {
        const scalar_t *sums_row = sums + (y - r0) * 5 * s.w, *wrow = rows.at(y, c), *trow = tgt + y * s.w;
        scalar_t* out = total + (y - r0) * s.w;
        for (int64_t x = 0; x < s.w; ++x) {
          const scalar_t e = clamp01(ssim_half_dissimilarity(stats_at(sums_row, s.w, x)));
          out[x] += w_ssim * e + w_l1 * std::abs(trow[x] - wrow[x]);
        }
      }
    }
    const scalar_t inv_c = scalar_t(1) / scalar_t(s.c);
    for (int64_t i = 0; i < (r1 - r0) * s.w; ++i) total[i] *= inv_c;
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
    // coef[((row - clo) * C + c) * 5 + k][x]: the five moment gradients of each window, from the
    // window sums of one channel at a time in `sums`.
    scalar_t* coef = scratch<scalar_t>(Scratch::kMoments, (chi - clo) * s.c * 5 * s.w);
    std::vector<scalar_t> sums((chi - clo) * 5 * s.w);
    for (int64_t c = 0; c < s.c; ++c) {
      const scalar_t* tgt = tgt_p + (b * s.c + c) * s.plane();
      window_sums(rows, tgt, s, c, clo, chi, sums.data());
      for (int64_t y = clo; y < chi; ++y) {
        const scalar_t* sums_row = sums.data() + (y - clo) * 5 * s.w;
        const scalar_t* ge_row = ge_p + (b * s.h + y) * s.w;
        scalar_t* out = coef + ((y - clo) * s.c + c) * 5 * s.w;
        moment_grads_row(sums_row, ge_row, w_ssim, s.w, out);
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
          for (int64_t x = 1; x < s.w - 1; ++x) bk[x] = vk[x] + vk[x - 1] + vk[x + 1];
          bk[0] = vk[0] + vk[1];
          bk[s.w - 1] = vk[s.w - 1] + vk[s.w - 2];
          bk[1] += vk[0];
          bk[s.w - 2] += vk[s.w - 1];
        }
        const scalar_t* wrow = rows.at(y, c);
        const int64_t base = ((b * s.c + c) * s.h + y) * s.w;
        const scalar_t* ge_row = ge_p + (b * s.h + y) * s.w;
        pixel_grads_row(both.data(), wrow, tgt_p + base, ge_row, w_l1, s.w, gw_p + base, gt_p + base);
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
