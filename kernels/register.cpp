// One schema for the edgedepth operators; CPU and CUDA kernels register in their own files.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "ops.h"

namespace edgedepth {

void check_warp_inputs(const char* op, const at::Tensor& src, const at::Tensor& depth, const at::Tensor& T,
                       const at::Tensor& K, const at::Tensor* target) {
  TORCH_CHECK(src.dim() == 4, message(op, ": src must be [B,C,H,W], got ", src.sizes()));
  const auto b = src.size(0), h = src.size(2), w = src.size(3);
  TORCH_CHECK(depth.dim() == 4 && depth.size(0) == b && depth.size(1) == 1 && depth.size(2) == h && depth.size(3) == w, message(op, ": depth must be [B,1,H,W] = [", b, ",1,", h, ",", w, "], got ", depth.sizes()));
  TORCH_CHECK(T.dim() == 3 && T.size(0) == b && T.size(1) == 4 && T.size(2) == 4, message(op, ": T must be [B,4,4], got ",
              T.sizes()));
  TORCH_CHECK(K.dim() == 3 && K.size(0) == b && K.size(1) == 3 && K.size(2) == 3, message(op, ": K must be [B,3,3], got ",
              K.sizes()));
  for (const at::Tensor* t : {&depth, &T, &K}) {
    TORCH_CHECK(t->device() == src.device(), message(op, ": all inputs must be on ", src.device(), ", got one on ",
                t->device()));
    TORCH_CHECK(t->scalar_type() == src.scalar_type(), message(op, ": all inputs must have dtype ", src.scalar_type(),
                ", got ", t->scalar_type()));
  }
  if (target != nullptr) {
    TORCH_CHECK(target->sizes() == src.sizes(), message(op, ": target must have the shape of src ", src.sizes(), ", got ",
                target->sizes()));
    TORCH_CHECK(target->device() == src.device() && target->scalar_type() == src.scalar_type(), message(op,
                ": target must match src in device and dtype"));
    TORCH_CHECK(h >= 2 && w >= 2, message(op, ": images must be at least 2x2 for the 3x3 SSIM, got ", h, "x", w));
  }
}

}  // namespace edgedepth

TORCH_LIBRARY(edgedepth, m) {
  m.def("inverse_warp(Tensor src, Tensor depth, Tensor T, Tensor K) -> (Tensor warped, Tensor valid)");
  m.def(
      "inverse_warp_backward(Tensor grad_warped, Tensor src, Tensor depth, Tensor T, Tensor K)"
      " -> (Tensor grad_src, Tensor grad_depth, Tensor grad_T)");
  m.def(
      "photometric_error(Tensor target, Tensor src, Tensor depth, Tensor T, Tensor K)"
      " -> (Tensor error, Tensor valid)");
  m.def(
      "photometric_error_backward(Tensor grad_error, Tensor target, Tensor src, Tensor depth, Tensor T, Tensor K)"
      " -> (Tensor grad_target, Tensor grad_src, Tensor grad_depth, Tensor grad_T)");
}
