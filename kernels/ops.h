// Declarations shared by the registration, CPU and CUDA translation units.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <type_traits>

namespace edgedepth {

// Validates shapes, devices and dtypes of the warp inputs; throws a c10::Error naming the problem.
// photometric adds `target`, which must match `src`, and needs H, W >= 2 for reflection padding.
void check_warp_inputs(const char* op, const at::Tensor& src, const at::Tensor& depth, const at::Tensor& T,
                       const at::Tensor& K, const at::Tensor* target = nullptr);

// Error messages are assembled as one std::string, which TORCH_CHECK passes on untouched. Given
// several arguments, TORCH_CHECK formats them with std::ostream inside this library, and that
// crashed (SIGSEGV in ostream::_M_insert<long>) where the library was built with a newer g++ than
// the libstdc++ the Python process had loaded; std::to_string does not depend on locale facets.
inline std::string to_text(const std::string& s) { return s; }
inline std::string to_text(const char* s) { return s; }
inline std::string to_text(c10::IntArrayRef sizes) {
  std::string out = "[";
  for (size_t i = 0; i < sizes.size(); ++i) out += (i ? ", " : "") + std::to_string(sizes[i]);
  return out + "]";
}
inline std::string to_text(c10::ScalarType t) { return c10::toString(t); }
inline std::string to_text(const c10::Device& d) { return d.str(); }
template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T>>>
std::string to_text(T v) {
  return std::to_string(v);
}

template <typename... Args>
std::string message(const Args&... args) {
  return (std::string() + ... + to_text(args));
}

}  // namespace edgedepth
