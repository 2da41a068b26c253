// Per-pixel geometry shared by the CPU and CUDA operators.
//
// Everything here is the math of edgedepth/kernels/reference.py, one target pixel at a time and in
// registers: backproject with K^-1 and the depth, move into the source camera with T, project with
// K, sample bilinearly with zero padding (pixel centres at integer coordinates), and the 3x3 SSIM
// with reflection padding. Functions compile for host and device; acc_t is float or double.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define EDGEDEPTH_HD __host__ __device__ __forceinline__
#elif defined(__GNUC__)
#define EDGEDEPTH_HD inline __attribute__((always_inline))
#else
#define EDGEDEPTH_HD inline
#endif

namespace edgedepth {

constexpr double kDepthEps = 1e-3;  // points with source depth <= eps are behind the camera
constexpr double kSsimC1 = 0.01 * 0.01;
constexpr double kSsimC2 = 0.03 * 0.03;
constexpr double kSsimWeight = 0.85;

// One batch element's cameras: K, K^-1 and the top 3x4 of T (row-major).
template <typename acc_t>
struct Camera {
  acc_t K[9];
  acc_t Kinv[9];
  acc_t T[12];
};

template <typename acc_t, typename in_t>
EDGEDEPTH_HD Camera<acc_t> load_camera(const in_t* K, const in_t* T) {
  Camera<acc_t> cam;
  for (int i = 0; i < 9; ++i) cam.K[i] = static_cast<acc_t>(K[i]);
  for (int i = 0; i < 12; ++i) cam.T[i] = static_cast<acc_t>(T[i]);
  const acc_t* m = cam.K;
  const acc_t c00 = m[4] * m[8] - m[5] * m[7];
  const acc_t c01 = m[5] * m[6] - m[3] * m[8];
  const acc_t c02 = m[3] * m[7] - m[4] * m[6];
  const acc_t inv_det = acc_t(1) / (m[0] * c00 + m[1] * c01 + m[2] * c02);
  cam.Kinv[0] = c00 * inv_det;
  cam.Kinv[1] = (m[2] * m[7] - m[1] * m[8]) * inv_det;
  cam.Kinv[2] = (m[1] * m[5] - m[2] * m[4]) * inv_det;
  cam.Kinv[3] = c01 * inv_det;
  cam.Kinv[4] = (m[0] * m[8] - m[2] * m[6]) * inv_det;
  cam.Kinv[5] = (m[2] * m[3] - m[0] * m[5]) * inv_det;
  cam.Kinv[6] = c02 * inv_det;
  cam.Kinv[7] = (m[1] * m[6] - m[0] * m[7]) * inv_det;
  cam.Kinv[8] = (m[0] * m[4] - m[1] * m[3]) * inv_det;
  return cam;
}

// Where one target pixel lands in the source image, plus what the backward pass needs.
template <typename acc_t>
struct Projection {
  acc_t ray[3];    // K^-1 (x, y, 1)
  acc_t point[3];  // ray * depth, target camera
  acc_t proj[3];   // K (R point + t)
  acc_t safe_z;    // proj z, replaced by eps when |z| < eps (that branch has no z gradient)
  acc_t u, v;      // source pixel coordinates
  bool in_front;   // source-camera depth > eps
  bool z_clamped;
};

template <typename acc_t>
EDGEDEPTH_HD Projection<acc_t> project(const Camera<acc_t>& c, acc_t x, acc_t y, acc_t depth) {
  Projection<acc_t> p;
  const acc_t eps = static_cast<acc_t>(kDepthEps);
  acc_t src_pt[3];
  for (int i = 0; i < 3; ++i) {
    p.ray[i] = c.Kinv[3 * i] * x + c.Kinv[3 * i + 1] * y + c.Kinv[3 * i + 2];
    p.point[i] = p.ray[i] * depth;
  }
  for (int i = 0; i < 3; ++i)
    src_pt[i] = c.T[4 * i] * p.point[0] + c.T[4 * i + 1] * p.point[1] + c.T[4 * i + 2] * p.point[2] + c.T[4 * i + 3];
  for (int i = 0; i < 3; ++i)
    p.proj[i] = c.K[3 * i] * src_pt[0] + c.K[3 * i + 1] * src_pt[1] + c.K[3 * i + 2] * src_pt[2];
  p.z_clamped = fabs(p.proj[2]) < eps;
  p.safe_z = p.z_clamped ? eps : p.proj[2];
  p.u = p.proj[0] / p.safe_z;
  p.v = p.proj[1] / p.safe_z;
  p.in_front = src_pt[2] > eps;
  return p;
}

template <typename acc_t>
EDGEDEPTH_HD bool is_valid(const Projection<acc_t>& p, int64_t h, int64_t w) {
  return p.in_front && p.u >= 0 && p.u <= acc_t(w - 1) && p.v >= 0 && p.v <= acc_t(h - 1);
}

// Bilinear footprint of a sample: four corners, their weights, and which lie inside the image.
// Corners outside contribute zero to the value and to every gradient (grid_sample, zeros padding).
template <typename acc_t>
struct Footprint {
  int64_t x0, y0;
  acc_t fx, fy;
  bool active;  // false for points behind the camera: value 0, no gradient
  bool inside[4];  // nw, ne, sw, se
  int64_t offset[4];
};

template <typename acc_t>
EDGEDEPTH_HD Footprint<acc_t> footprint(acc_t u, acc_t v, bool in_front, int64_t h, int64_t w) {
  Footprint<acc_t> f;
  f.active = in_front;
  // align_corners=True maps u to u again, except that a one-pixel-wide axis always samples 0.
  const acc_t ix = (w > 1 && in_front) ? u : acc_t(0);
  const acc_t iy = (h > 1 && in_front) ? v : acc_t(0);
  const acc_t fx0 = floor(ix), fy0 = floor(iy);
  f.fx = ix - fx0;
  f.fy = iy - fy0;
  // Clamp before the integer cast so far-away points cannot overflow it; they stay outside.
  const acc_t lim = acc_t(4) * acc_t(w + h + 4);
  f.x0 = static_cast<int64_t>(fx0 < -lim ? -lim : (fx0 > lim ? lim : fx0));
  f.y0 = static_cast<int64_t>(fy0 < -lim ? -lim : (fy0 > lim ? lim : fy0));
  for (int k = 0; k < 4; ++k) {
    const int64_t xk = f.x0 + (k & 1), yk = f.y0 + (k >> 1);
    f.inside[k] = in_front && xk >= 0 && xk < w && yk >= 0 && yk < h;
    f.offset[k] = f.inside[k] ? yk * w + xk : 0;
  }
  return f;
}

template <typename acc_t>
EDGEDEPTH_HD Footprint<acc_t> footprint(const Projection<acc_t>& p, int64_t h, int64_t w) {
  return footprint(p.u, p.v, p.in_front, h, w);
}

template <typename acc_t>
EDGEDEPTH_HD void corner_weights(const Footprint<acc_t>& f, acc_t wk[4]) {
  wk[0] = (1 - f.fx) * (1 - f.fy);
  wk[1] = f.fx * (1 - f.fy);
  wk[2] = (1 - f.fx) * f.fy;
  wk[3] = f.fx * f.fy;
}

// Value at the footprint of one channel plane, and its derivatives wrt the sample coordinates.
template <typename acc_t, typename in_t>
EDGEDEPTH_HD acc_t sample(const Footprint<acc_t>& f, const in_t* plane) {
  acc_t wk[4];
  corner_weights(f, wk);
  acc_t value = 0;
  for (int k = 0; k < 4; ++k)
    if (f.inside[k]) value += wk[k] * static_cast<acc_t>(plane[f.offset[k]]);
  return value;
}

template <typename acc_t, typename in_t>
EDGEDEPTH_HD void sample_grad_coords(const Footprint<acc_t>& f, const in_t* plane, acc_t g, acc_t* gx, acc_t* gy) {
  acc_t s[4];
  for (int k = 0; k < 4; ++k) s[k] = f.inside[k] ? static_cast<acc_t>(plane[f.offset[k]]) : acc_t(0);
  *gx += g * ((1 - f.fy) * (s[1] - s[0]) + f.fy * (s[3] - s[2]));
  *gy += g * ((1 - f.fx) * (s[2] - s[0]) + f.fx * (s[3] - s[1]));
}

// Chains d loss / d (u, v) of one pixel into d loss / d depth (returned) and adds the 3x4 of
// d loss / d T into gT. The reference's where() gives points behind the camera no gradient.
template <typename acc_t>
EDGEDEPTH_HD acc_t chain_to_depth_and_pose(const Camera<acc_t>& c, const Projection<acc_t>& p, int64_t h, int64_t w,
                                           acc_t gu, acc_t gv, acc_t gT[12]) {
  if (!p.in_front) return 0;
  if (w <= 1) gu = 0;
  if (h <= 1) gv = 0;
  const acc_t inv_z = acc_t(1) / p.safe_z;
  acc_t g_proj[3] = {gu * inv_z, gv * inv_z, p.z_clamped ? acc_t(0) : -(gu * p.u + gv * p.v) * inv_z};
  acc_t g_src[3];
  for (int j = 0; j < 3; ++j) g_src[j] = c.K[j] * g_proj[0] + c.K[3 + j] * g_proj[1] + c.K[6 + j] * g_proj[2];
  acc_t g_point[3] = {0, 0, 0};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      gT[4 * i + j] += g_src[i] * p.point[j];
      g_point[j] += c.T[4 * i + j] * g_src[i];
    }
    gT[4 * i + 3] += g_src[i];
  }
  return g_point[0] * p.ray[0] + g_point[1] * p.ray[1] + g_point[2] * p.ray[2];
}

// Reflection padding by one pixel (F.pad mode="reflect"): -1 -> 1, n -> n-2.
EDGEDEPTH_HD int64_t reflect(int64_t i, int64_t n) { return i < 0 ? -i : (i >= n ? 2 * n - 2 - i : i); }

// Indices p whose reflected 3-window contains q, with multiplicity: the adjoint of the padded
// box filter. Returns how many of the (at most five) slots are filled.
EDGEDEPTH_HD int window_adjoint(int64_t q, int64_t n, int64_t out[5]) {
  int k = 0;
  for (int64_t d = -1; d <= 1; ++d)
    if (q + d >= 0 && q + d < n) out[k++] = q + d;
  if (q == 1) out[k++] = 0;
  if (q == n - 2) out[k++] = n - 1;
  return k;
}

// SSIM over one 3x3 window, written in the reference's order of operations so float32 agrees.
template <typename acc_t>
struct SsimStats {
  acc_t mu_x, mu_y, sigma_x, sigma_y, sigma_xy;
};

template <typename acc_t>
EDGEDEPTH_HD SsimStats<acc_t> ssim_stats(const acc_t x[9], const acc_t y[9]) {
  acc_t sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
  for (int k = 0; k < 9; ++k) {
    sx += x[k];
    sy += y[k];
    sxx += x[k] * x[k];
    syy += y[k] * y[k];
    sxy += x[k] * y[k];
  }
  SsimStats<acc_t> s;
  s.mu_x = sx / 9;
  s.mu_y = sy / 9;
  s.sigma_x = sxx / 9 - s.mu_x * s.mu_x;
  s.sigma_y = syy / 9 - s.mu_y * s.mu_y;
  s.sigma_xy = sxy / 9 - s.mu_x * s.mu_y;
  return s;
}

// (1 - SSIM) / 2 before the clamp.
template <typename acc_t>
EDGEDEPTH_HD acc_t ssim_half_dissimilarity(const SsimStats<acc_t>& s) {
  const acc_t c1 = static_cast<acc_t>(kSsimC1), c2 = static_cast<acc_t>(kSsimC2);
  const acc_t num = (2 * s.mu_x * s.mu_y + c1) * (2 * s.sigma_xy + c2);
  const acc_t den = (s.mu_x * s.mu_x + s.mu_y * s.mu_y + c1) * (s.sigma_x + s.sigma_y + c2);
  return (1 - num / den) / 2;
}

template <typename acc_t>
EDGEDEPTH_HD acc_t clamp01(acc_t e) { return e < 0 ? acc_t(0) : (e > 1 ? acc_t(1) : e); }

// Gradient of g * clamp((1 - SSIM)/2, 0, 1) wrt the raw window moments mean(x), mean(x^2),
// mean(xy), mean(y), mean(y^2), already divided by 9 so that each window element receives
// coef[0] + 2 x coef[1] + y coef[2] (for x) and coef[3] + 2 y coef[4] + x coef[2] (for y).
template <typename acc_t>
EDGEDEPTH_HD void ssim_moment_grads(const SsimStats<acc_t>& s, acc_t g, acc_t coef[5]) {
  const acc_t c1 = static_cast<acc_t>(kSsimC1), c2 = static_cast<acc_t>(kSsimC2);
  const acc_t a1 = 2 * s.mu_x * s.mu_y + c1, a2 = 2 * s.sigma_xy + c2;
  const acc_t b1 = s.mu_x * s.mu_x + s.mu_y * s.mu_y + c1, b2 = s.sigma_x + s.sigma_y + c2;
  // One division per window: every quotient below shares the denominator.
  const acc_t inv_den = acc_t(1) / (b1 * b2), ratio = a1 * a2 * inv_den;
  const acc_t e = (1 - ratio) / 2;
  // torch.clamp passes the gradient where min <= e <= max, boundaries included (& rather than
  // && keeps the CPU loop branch-free, so it vectorises).
  const acc_t g_ratio = ((e >= 0) & (e <= 1)) ? -g / 2 / 9 : acc_t(0);
  const acc_t d_mu_x = (2 * s.mu_y * a2 - ratio * 2 * s.mu_x * b2) * inv_den;
  const acc_t d_mu_y = (2 * s.mu_x * a2 - ratio * 2 * s.mu_y * b2) * inv_den;
  const acc_t d_sigma = -ratio * b1 * inv_den;  // same for sigma_x and sigma_y
  const acc_t d_sigma_xy = 2 * a1 * inv_den;
  coef[0] = g_ratio * (d_mu_x - 2 * s.mu_x * d_sigma - s.mu_y * d_sigma_xy);
  coef[1] = g_ratio * d_sigma;
  coef[2] = g_ratio * d_sigma_xy;
  coef[3] = g_ratio * (d_mu_y - 2 * s.mu_y * d_sigma - s.mu_x * d_sigma_xy);
  coef[4] = g_ratio * d_sigma;
}

template <typename acc_t>
EDGEDEPTH_HD acc_t sign(acc_t a) { return acc_t((a > 0) - (a < 0)); }

}  // namespace edgedepth
