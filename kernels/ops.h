// Declarations shared by the registration, CPU and CUDA translation units.
#pragma once

#include <ATen/core/Tensor.h>

namespace edgedepth {

// Validates shapes, devices and dtypes of the warp inputs; throws a c10::Error naming the problem.
// photometric adds `target`, which must match `src`, and needs H, W >= 2 for reflection padding.
void check_warp_inputs(const char* op, const at::Tensor& src, const at::Tensor& depth, const at::Tensor& T,
                       const at::Tensor& K, const at::Tensor* target = nullptr);

}  // namespace edgedepth
